// The proxy core end to end: real clients (the docker CLI, dockerode) through dockgate against
// a real daemon, with a gate that allows everything, so what is tested is forwarding itself:
// streams, hijack with half-close, uploads and downloads, pipelining, aborts.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { docker } from "../harness/docker.js";
import { allowAll, startProxyWithGate, type TestProxy } from "../harness/proxy.js";
import { rawExchange, writable } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
let proxy: TestProxy;

beforeAll(async () => {
  proxy = await startProxyWithGate(daemon, allowAll);
});
afterAll(async () => {
  await proxy?.stop();
});

/** Runs the docker CLI through dockgate with stdin from a buffer; resolves with raw stdout. */
function dockerPiped(args: string[], input: Buffer | string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: Buffer; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const p = spawn("docker", args, { env: { ...process.env, ...env, DOCKER_HOST: `unix://${proxy.socket}` } });
    const out: Buffer[] = [];
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => out.push(c));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr, ms: Date.now() - started }));
    p.stdin.end(input);
  });
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

describe("docker CLI through dockgate", () => {
  it("printf data | docker run -i --rm IMAGE cat prints data and exits promptly", async () => {
    const r = await dockerPiped(["run", "-i", "--rm", image, "cat"], "data");
    expect(r.stderr).toBe("");
    expect(r.stdout.toString()).toBe("data");
    expect(r.code).toBe(0);
    // "promptly": stdin EOF reached the container through the half-close (no hang until a timeout).
    expect(r.ms).toBeLessThan(20_000);
  });

  it("several MB through docker run -i md5sum hash the same as locally", async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const r = await dockerPiped(["run", "-i", "--rm", image, "md5sum"], data);
    expect(r.code).toBe(0);
    expect(r.stdout.toString().split(/\s+/)[0]).toBe(md5(data));
  });

  it("docker exec -i passes stdin and returns output", async () => {
    const name = `dg-exec-${process.pid}`;
    expect((await docker(proxy.socket, ["run", "-d", "--name", name, image, "sleep", "300"])).code).toBe(0);
    try {
      const r = await dockerPiped(["exec", "-i", name, "sh", "-c", "tr a-z A-Z"], "hello exec\n");
      expect(r.stdout.toString()).toBe("HELLO EXEC\n");
      expect(r.code).toBe(0);
    } finally {
      await docker(daemon, ["rm", "-f", name]);
    }
  });

  it("docker logs -f and docker events deliver lines live", async () => {
    const name = `dg-live-${process.pid}`;
    // --since a moment ago: the start event is there however late the stream is subscribed
    // (no wait for that); the destroy event at the end arrives live.
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const events = spawn("docker", ["events", "--since", since, "--format", "{{.Action}} {{.Actor.Attributes.name}}", "--filter", `container=${name}`], {
      env: { ...process.env, DOCKER_HOST: `unix://${proxy.socket}` },
    });
    let eventText = "";
    events.stdout.on("data", (c: Buffer) => (eventText += c.toString()));
    expect((await docker(proxy.socket, ["run", "-d", "--name", name, image, "sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done"])).code).toBe(0);
    const logs = spawn("docker", ["logs", "-f", name], { env: { ...process.env, DOCKER_HOST: `unix://${proxy.socket}` } });
    const seen: number[] = [];
    logs.stdout.on("data", (c: Buffer) => {
      for (const _ of c.toString().matchAll(/line\d+/g)) seen.push(Date.now());
    });
    try {
      await waitFor(() => eventText.includes(`start ${name}`), 5000);
      await waitFor(() => seen.length >= 3, 5000);
      // More lines keep arriving while the container runs (it never ends): live, not batched
      // until the stream ends.
      const before = seen.length;
      await waitFor(() => seen.length > before + 2, 10_000);
    } finally {
      logs.kill();
      await docker(daemon, ["rm", "-f", name]);
      await waitFor(() => eventText.includes(`destroy ${name}`), 5000);
      events.kill();
    }
  });

  it("legacy-builder docker build of a small context", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-build-"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${image}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copy.txt\n`);
    fs.writeFileSync(path.join(dir, "hello.txt"), "built through dockgate\n");
    const tag = `dg-built:${process.pid}`;
    const r = await dockerPiped(["build", "-q", "-t", tag, dir], "", { DOCKER_BUILDKIT: "0" });
    expect(r.code, r.stderr).toBe(0);
    const run = await docker(proxy.socket, ["run", "--rm", tag, "cat", "/copy.txt"]);
    expect(run.stdout).toBe("built through dockgate\n");
    await docker(daemon, ["rmi", "-f", tag]);
  });

  it("docker cp both ways keeps a multi-MB file intact", async () => {
    const name = `dg-cp-${process.pid}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-cp-"));
    const data = randomBytes(6 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, "in.bin"), data);
    expect((await docker(proxy.socket, ["create", "--name", name, image, "true"])).code).toBe(0);
    try {
      const up = await docker(proxy.socket, ["cp", path.join(dir, "in.bin"), `${name}:/in.bin`]);
      expect(up.code, up.stderr).toBe(0);
      const down = await docker(proxy.socket, ["cp", `${name}:/in.bin`, path.join(dir, "out.bin")]);
      expect(down.code, down.stderr).toBe(0);
      expect(md5(fs.readFileSync(path.join(dir, "out.bin")))).toBe(md5(data));
    } finally {
      await docker(daemon, ["rm", "-f", name]);
    }
  });

  it("docker save | docker load round-trips an image", async () => {
    const tag = `dg-saved:${process.pid}`;
    expect((await docker(daemon, ["tag", image, tag])).code).toBe(0);
    const saved = await dockerPiped(["save", tag], "");
    expect(saved.code).toBe(0);
    expect(saved.stdout.length).toBeGreaterThan(100_000);
    await docker(daemon, ["rmi", tag]);
    const loaded = await dockerPiped(["load"], saved.stdout);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout.toString()).toContain(tag);
    await docker(daemon, ["rmi", tag]);
  });
});

describe("dockerode through dockgate", () => {
  it("lists, creates, attaches with stdin half-close, waits and removes", async () => {
    const client = new Docker({ socketPath: proxy.socket });
    expect((await client.ping()).toString()).toBe("OK");
    const container = await client.createContainer({ Image: image, Cmd: ["cat"], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true });
    try {
      const stream = await container.attach({ stream: true, stdin: true, stdout: true, hijack: true });
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      const ended = new Promise((r) => stream.on("end", r));
      await container.start();
      stream.end("via dockerode\n");
      await ended;
      // Multiplexed frames: 8-byte header then payload.
      const all = Buffer.concat(chunks);
      expect(all.subarray(8).toString()).toBe("via dockerode\n");
      const result = await container.wait();
      expect(result.StatusCode).toBe(0);
    } finally {
      await container.remove({ force: true });
    }
  });
});

describe("HTTP handling", () => {
  it("answers two pipelined requests on one connection in order", async () => {
    const replies = await rawExchange(
      proxy.socket,
      "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /v1.41/version HTTP/1.1\r\nHost: d\r\n\r\n",
      2,
    );
    expect(replies[0]!.status).toBe(200);
    expect(replies[0]!.body).toBe("OK");
    expect(replies[1]!.status).toBe(200);
    expect(JSON.parse(replies[1]!.body).ApiVersion).toBeDefined();
  });

  it("HEAD /_ping then GET /_ping both work", async () => {
    const replies = await rawExchange(proxy.socket, "HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", 2);
    expect(replies.map((r) => r.status)).toEqual([200, 200]);
    expect(replies[0]!.body).toBe("");
    expect(replies[1]!.body).toBe("OK");
  });

  const smuggling: Array<[string, string]> = [
    ["CL and TE together", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"],
    ["two Content-Length", "Content-Length: 2\r\nContent-Length: 2\r\n"],
    ["Content-Length with sign", "Content-Length: +2\r\n"],
    ["TE other than chunked", "Transfer-Encoding: gzip, chunked\r\n"],
    ["obs-fold", "X-A: a\r\n b\r\nContent-Length: 2\r\n"],
    ["space before colon", "Content-Length : 2\r\n"],
  ];
  for (const [label, headers] of smuggling) {
    it(`rejects ${label} with 400 and the daemon creates nothing`, async () => {
      const name = `dg-smuggle-${Math.random().toString(36).slice(2, 8)}`;
      const body = JSON.stringify({ Image: image, Cmd: ["true"] });
      const smuggled = `POST /containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const req = `POST /containers/create?name=${name}x HTTP/1.1\r\nHost: d\r\n${headers}\r\n{}\r\n${smuggled}`;
      const replies = await rawExchange(proxy.socket, req, 1);
      expect(replies[0]!.status).toBe(400);
      expect(replies[0]!.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(replies[0]!.body).message).toMatch(/^dockgate: /);
      const ps = await docker(daemon, ["ps", "-a", "--format", "{{.Names}}"]);
      expect(ps.stdout).not.toContain(name);
    });
  }

  it("rejects a bare-LF request and forwards nothing", async () => {
    const replies = await rawExchange(proxy.socket, "GET /_ping HTTP/1.1\nHost: d\n\n", 1);
    expect(replies[0]!.status).toBe(400);
  });

  it("reads a dot-segment or encoded path as the daemon would, or refuses it", async () => {
    const [dots] = await rawExchange(proxy.socket, "GET /containers/../_ping HTTP/1.1\r\nHost: d\r\n\r\n", 1);
    expect(dots!.status).toBe(400);
    const [encoded] = await rawExchange(proxy.socket, "GET /v1.41/%5fping HTTP/1.1\r\nHost: d\r\n\r\n", 1);
    expect(encoded!.status).toBe(200);
    expect(proxy.records.at(-1)!.operation).toBe("SystemPing");
  });

  it("a client that aborts a large download frees the upstream connection", async () => {
    const name = `dg-abort-${process.pid}`;
    expect((await docker(daemon, ["run", "--name", name, image, "sh", "-c", "head -c 50000000 /dev/zero"])).code).toBe(0);
    try {
      const before = await upstreamConnections();
      const socket = net.createConnection(proxy.socket);
      socket.write(`GET /containers/${name}/logs?stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n`);
      let got = 0;
      await new Promise<void>((resolve) =>
        socket.on("data", (c: Buffer) => {
          got += c.length;
          if (got > 1_000_000) resolve();
        }),
      );
      socket.pause();
      expect(await upstreamConnections()).toBeGreaterThan(before);
      socket.destroy();
      await waitFor(async () => (await upstreamConnections()) === before, 5000);
    } finally {
      await docker(daemon, ["rm", "-f", name]);
    }
  });
});

/** Open connections from this process to the daemon's socket (dockgate runs in-process here). */
async function upstreamConnections(): Promise<number> {
  // Each upstream connection is one unix socket fd of this process; count via the sessions' view.
  return fs.readdirSync(`/proc/${process.pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${process.pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("HTTP/1.0 clients", () => {
  it("get the daemon's HTTP/1.0 answer, bodies of unknown length ending with the close", async () => {
    const [ping] = await rawExchange(proxy.socket, "GET /_ping HTTP/1.0\r\n\r\n", 1);
    expect(ping!.status).toBe(200);
    const raw = await new Promise<string>((resolve) => {
      const s = net.createConnection(proxy.socket);
      let text = "";
      s.on("data", (c: Buffer) => (text += c.toString("latin1")));
      s.on("close", () => resolve(text));
      s.write(`GET /v1.41/events?since=0&until=1 HTTP/1.0\r\nHost: x\r\n\r\n`);
    });
    expect(raw.startsWith("HTTP/1.0 200")).toBe(true);
    expect(raw.toLowerCase()).not.toContain("transfer-encoding: chunked");
  });
});

describe("resources under hostile or unlucky clients", () => {
  function openFds(): number {
    return fs.readdirSync(`/proc/${process.pid}/fd`).length;
  }

  it("releases the upstream socket when the daemon closes it (HTTP/1.0 bodies ending at close)", async () => {
    const before = openFds();
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve) => {
        const s = net.createConnection(proxy.socket);
        s.on("data", () => {});
        s.on("close", () => resolve());
        s.write("GET /v1.41/events?since=0&until=1 HTTP/1.0\r\n\r\n");
      });
    }
    await waitFor(() => openFds() <= before + 2, 5000);
  });

  it("stops reading a client that pipelines refused requests without reading the replies", async () => {
    const denyAll: import("../../src/policy/verdict.js").Gate = {
      decide: () => ({ kind: "deny", denial: { status: 403, message: `dockgate: denied ${"x".repeat(2000)}`, rule: "test.deny" } }),
    };
    const strict = await startProxyWithGate(daemon, denyAll);
    const s = net.createConnection(strict.socket);
    s.on("error", () => {});
    try {
      s.pause(); // never read
      const req = Buffer.from("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n".repeat(200));
      let sent = 0;
      const deadline = Date.now() + 3000;
      // Write until the socket refuses more (dockgate stopped reading) or the deadline passes.
      while (Date.now() < deadline && sent < 200 * 1024 * 1024) {
        if (!s.write(req)) await writable(s, 200);
        sent += req.length;
        if (s.writableLength > 8 * 1024 * 1024) break;
      }
      // Each refusal is ~2 kB against a 32-byte request: without backpressure, dockgate would
      // have queued hundreds of megabytes of replies; with it, the client's writes back up.
      expect(s.writableLength).toBeGreaterThan(0);
      // dockgate stops answering once the client's socket is full: the count settles (unchanged
      // over five looks 100 ms apart) at a small part of the requests sent (the replies that fit
      // in the socket buffers), instead of growing to all of them.
      let last = -1;
      let same = 0;
      for (const end = Date.now() + 20_000; same < 5 && Date.now() < end; ) {
        const now = strict.records.length;
        same = now === last ? same + 1 : 0;
        last = now;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(same).toBe(5);
      // (A reply is 64 times the size of its request: the same buffers hold far fewer of them.)
      expect(strict.records.length).toBeLessThan(sent / 32 / 2);
    } finally {
      s.destroy();
      await strict.stop();
    }
  });
});
