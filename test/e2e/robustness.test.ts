// dockgate under slow, stubborn or unlucky clients, against the real daemon: request heads that
// drip in (408 after limits.headerTimeoutSeconds; idle keep-alive is not timed), refusals of
// requests still being sent (the client gets the reply, not a reset), HEAD replies without a body.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import type { ExchangeRecord } from "../../src/forward/session.js";
import { startGateway } from "../../src/listen/gateway.js";
import { createGate } from "../../src/policy/engine.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import { allowAll, startProxyWithGate, tempSocket, type TestProxy } from "../harness/proxy.js";
import { writable } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const CI = fileURLToPath(new URL("../../config/ci.yaml", import.meta.url));

/** A raw client connection that keeps everything it receives. */
class RawClient {
  readonly socket: net.Socket;
  received = "";
  ended = false;
  closed = false;
  error: string | undefined;

  constructor(path: string) {
    this.socket = net.createConnection({ path, allowHalfOpen: true });
    this.socket.on("data", (c: Buffer) => (this.received += c.toString("latin1")));
    this.socket.on("end", () => (this.ended = true));
    this.socket.on("close", () => (this.closed = true));
    this.socket.on("error", (err: NodeJS.ErrnoException) => (this.error ??= err.code ?? err.message));
  }

  /** Waits until `cond` holds, or fails after `ms` saying what was received. */
  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`${what} not seen within ${ms} ms; received ${JSON.stringify(this.received.slice(0, 300))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** GET on the daemon itself (not through dockgate): the status code. */
function daemonStatus(urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: daemon, path: urlPath, headers: { host: "docker" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

const PING = "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n";

describe("request head timeout", () => {
  let proxy: TestProxy;
  const TIMEOUT = 2;
  beforeAll(async () => {
    proxy = await startProxyWithGate(daemon, allowAll, 65536, TIMEOUT);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("ten clients dripping a head one byte per second each get a 408 JSON reply and are closed before their head is complete", async () => {
    const clients = Array.from({ length: 10 }, () => new RawClient(proxy.socket));
    const sent = clients.map(() => 0);
    const drip = setInterval(() => {
      clients.forEach((c, i) => {
        if (c.closed || c.ended || sent[i]! >= PING.length) return;
        c.socket.write(PING[sent[i]!]!);
        sent[i]!++;
      });
    }, 1000);
    try {
      // Every client is answered well before it could have finished: 32 bytes at 1 byte/s.
      for (const c of clients) await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    } finally {
      clearInterval(drip);
    }
    for (const [i, c] of clients.entries()) {
      expect(c.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(c.received).toContain("Content-Type: application/json\r\n");
      expect(JSON.parse(c.received.slice(c.received.indexOf("\r\n\r\n") + 4)).message).toContain(`request head not received within ${TIMEOUT} s`);
      expect(sent[i]).toBeLessThan(PING.length);
      c.socket.destroy();
    }
    expect(proxy.records.filter((r) => r.rule === "http.timeout" && r.status === 408)).toHaveLength(10);
  });

  it("a client that connects and sends nothing gets the 408 too (the first head is timed from the accept)", async () => {
    const c = new RawClient(proxy.socket);
    await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    expect(c.received).toMatch(/^HTTP\/1\.1 408 /);
    c.socket.destroy();
  });

  it("a later request on a keep-alive connection that drips its head gets the 408 after its first answer", async () => {
    const c = new RawClient(proxy.socket);
    c.socket.write(PING);
    await c.until(() => c.received.endsWith("OK"), 10_000, "the first ping's answer");
    let sent = 0;
    const drip = setInterval(() => {
      if (!c.ended && sent < PING.length) c.socket.write(PING[sent++]!);
    }, 1000);
    try {
      await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    } finally {
      clearInterval(drip);
    }
    expect(c.received.slice(c.received.indexOf("\r\n\r\nOK") + 6)).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(PING.length);
    c.socket.destroy();
  });

  it("an idle keep-alive connection between requests is not timed: it is still served after a header timeout elapsed elsewhere", async () => {
    const idle = new RawClient(proxy.socket);
    idle.socket.write(PING);
    await idle.until(() => idle.received.endsWith("OK"), 10_000, "the first ping's answer");
    // A connection opened now that sends nothing gets its 408 only once the timeout has passed:
    // by then the idle one has been idle for longer than the timeout.
    const witness = new RawClient(proxy.socket);
    await witness.until(() => witness.ended, 20_000, "the witness's 408");
    witness.socket.destroy();
    expect(idle.ended).toBe(false);
    idle.socket.write(PING);
    await idle.until(() => idle.received.split("HTTP/1.1 200 OK").length === 3, 10_000, "the second ping's answer");
    idle.socket.destroy();
  });
});

describe("refusing a request that is still being sent", () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxyWithConfig(CI, daemon);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("a client writing a chunked create body far over maxBodyBytes reads the 413 JSON, without a reset or EPIPE, and nothing is created", async () => {
    const name = `dg-linger-${process.pid}`;
    const c = new RawClient(proxy.socket);
    c.socket.write(`POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.from(`10000\r\n${" ".repeat(0x10000)}\r\n`, "latin1");
    // 16 MiB, written whatever comes back (as a client that does not read while it writes).
    for (let i = 0; i < 256 && !c.closed; i++) {
      if (!c.socket.write(chunk)) await writable(c.socket);
    }
    c.socket.end();
    await c.until(() => c.closed, 20_000, "the connection's close");
    expect(c.error).toBeUndefined();
    expect(c.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(c.received.slice(c.received.indexOf("\r\n\r\n") + 4)).message).toContain("exceeds the inspection limit of 1048576 bytes");
    expect(await daemonStatus(`/containers/${name}/json`)).toBe(404);
  });

  it("the docker CLI sending a request head over maxHeaderBytes prints dockgate's 431 message, not a broken pipe", async () => {
    const filters = Array.from({ length: 8 }, (_, i) => ["--filter", `label=k${i}=${"v".repeat(100_000)}`]).flat();
    const r = await docker(proxy.socket, ["ps", ...filters]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("dockgate: request head larger than 65536 bytes");
    expect(r.stderr).not.toMatch(/broken pipe|connection reset/);
  });
});

describe("replies to HEAD requests", () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxyWithGate(daemon, allowAll);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  for (const [label, request] of [
    ["a malformed header line", "HEAD /_ping HTTP/1.1\r\nHost: d\r\nNo colon here\r\n\r\n"],
    ["a bare LF", "HEAD /_ping HTTP/1.1\nHost: d\r\n\r\n"],
    ["a head over maxHeaderBytes", `HEAD /_ping HTTP/1.1\r\nHost: d\r\nX-Pad: ${"p".repeat(70_000)}\r\n\r\n`],
  ] as const) {
    it(`the 400/431 for a HEAD request with ${label} has a head and no body`, async () => {
      const c = new RawClient(proxy.socket);
      c.socket.end(request);
      await c.until(() => c.closed, 10_000, "the connection's close");
      expect(c.received).toMatch(/^HTTP\/1\.1 4(00|31) /);
      expect(c.received).toMatch(/\r\nContent-Length: [1-9][0-9]*\r\n/);
      expect(c.received.endsWith("\r\n\r\n")).toBe(true);
    });
  }
});

/** A gateway on one unix listener "ops" with profile "ops" given as YAML lines; records are kept. */
async function gatewayWith(profileLines: string[]) {
  const socket = tempSocket();
  const yaml = [
    `upstream: ${daemon}`,
    "log: { level: silent }",
    "listeners:",
    "  - name: ops",
    `    unix: { path: ${socket}, mode: "0600" }`,
    "    profile: ops",
    "profiles:",
    "  ops:",
    ...profileLines.map((l) => `    ${l}`),
    "",
  ].join("\n");
  const config = parseConfigText(yaml, path.join(os.tmpdir(), "dockgate-robustness.yaml"), { checkFiles: false });
  const records: ExchangeRecord[] = [];
  const gateway = await startGateway(config, createGate(config), pino({ level: "silent" }), (r) => records.push(r));
  return { socket, gateway, records };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("stream limit and pipelined requests", () => {
  it("events, an attach refused before the gate (form body), a wait on one connection: the wait still counts, a third stream is refused", async () => {
    const { socket, gateway, records } = await gatewayWith(["allow: [ping, events, containers:read, containers:attach, ContainerWait]", "limits: { maxStreams: 2 }"]);
    const name = `dg-pipelined-${process.pid}`;
    expect((await docker(daemon, ["run", "-d", "--name", name, image, "sleep", "300"])).code).toBe(0);
    const conns: RawClient[] = [];
    try {
      const now = Math.floor(Date.now() / 1000);
      const c = new RawClient(socket);
      conns.push(c);
      c.socket.write(
        `GET /v1.41/events?since=${now - 5}&until=${now} HTTP/1.1\r\nHost: d\r\n\r\n` +
          `POST /v1.41/containers/${name}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b` +
          `POST /v1.41/containers/${name}/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`,
      );
      // The events stream ended (its until passed) and the attach got its 403: both records are in.
      await until(() => records.some((r) => r.operation === "ContainerAttach"), 20_000, "the attach's refusal");
      expect(records.map((r) => [r.operation, r.status, r.rule])).toEqual([
        ["SystemEvents", 200, undefined],
        ["ContainerAttach", 403, "request.form-body"],
      ]);
      // The wait is still open: it holds one stream.
      expect(gateway.limiter.streamsOf("ops")).toBe(1);
      expect(gateway.metrics.render()).toContain("dockgate_active_streams 1\n");

      const second = new RawClient(socket);
      conns.push(second);
      second.socket.write("GET /v1.41/events HTTP/1.1\r\nHost: d\r\n\r\n");
      await second.until(() => second.received.startsWith("HTTP/1.1 200 "), 10_000, "the second stream's answer");
      expect(gateway.limiter.streamsOf("ops")).toBe(2);

      const third = new RawClient(socket);
      conns.push(third);
      third.socket.write("GET /v1.41/events HTTP/1.1\r\nHost: d\r\n\r\n");
      await third.until(() => third.received.includes("limits.streams"), 10_000, "the third stream's refusal");
      expect(third.received).toMatch(/^HTTP\/1\.1 429 /);

      // The first connection goes away with its wait open: its hold goes with it.
      c.socket.destroy();
      await until(() => gateway.limiter.streamsOf("ops") === 1, 10_000, "the wait's hold released by the close");
    } finally {
      for (const c of conns) c.socket.destroy();
      await docker(daemon, ["rm", "-f", name]);
      await gateway.stop(1);
    }
  });
});

describe("a log reader that stalls", () => {
  it("dockgate serve with stdout a pipe nobody reads answers 50,000 keep-alive /_ping; the dropped lines are counted and announced", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-stall-"));
    const socket = path.join(dir, "dg.sock");
    const admin = path.join(dir, "admin.sock");
    const config = path.join(dir, "config.yaml");
    fs.writeFileSync(
      config,
      [
        `upstream: ${daemon}`,
        "log: { level: info }",
        "listeners:",
        "  - name: ops",
        `    unix: { path: ${socket}, mode: "0600" }`,
        "    profile: ops",
        "profiles:",
        "  ops: { allow: [ping] }",
        `admin: { unix: { path: ${admin}, mode: "0600" } }`,
        "",
      ].join("\n"),
    );
    const main = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
    const proc = spawn(process.execPath, [main, "serve", "--config", config, "--no-watch"], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.pause(); // the stuck log shipper: nothing reads dockgate's stdout
    let stderr = "";
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      await until(() => fs.existsSync(socket) && fs.existsSync(admin), 15_000, `dockgate listening (stderr: ${stderr})`);
      const TOTAL = 50_000;
      const BATCH = 100;
      // Answers counted as they come (each /_ping answer's body is "OK" after its blank line).
      const c = net.createConnection(socket);
      let answered = 0;
      let tail = "";
      c.on("data", (d: Buffer) => {
        const text = tail + d.toString("latin1");
        answered += text.split("\r\n\r\nOK").length - 1;
        tail = text.slice(-5);
      });
      for (let sent = 0; sent < TOTAL; sent += BATCH) {
        c.write(PING.repeat(BATCH));
        await until(() => answered >= sent + BATCH, 20_000, `answer ${sent + BATCH} of ${TOTAL} (${answered} so far)`);
      }
      expect(answered).toBe(TOTAL);
      c.destroy();
      const metrics = await new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: admin, path: "/metrics" }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve(body));
          })
          .on("error", reject);
      });
      const dropped = Number(/^dockgate_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
      expect(dropped).toBeGreaterThan(0);
      expect(metrics).toMatch(/^dockgate_requests_total\{profile="ops",operation="SystemPing",decision="allow"\} 50000$/m);

      // The reader wakes up: the notice that dropping started, the lines kept, and the one that
      // says the destination caught up, with the count.
      let out = "";
      proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      proc.stdout!.resume();
      await until(() => out.includes("log destination caught up"), 20_000, "the caught-up notice");
      const notices = out.split("\n").filter((l) => l.includes("log destination"));
      expect(notices).toHaveLength(2);
      expect(JSON.parse(notices[0]!).msg).toContain("cannot keep up: dropping log lines");
      expect(JSON.parse(notices[1]!).dropped).toBe(dropped);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

describe("reload under an open keep-alive connection", () => {
  it("the log lines of later requests on the same connection name the new profile (the identity is replaced, not mutated)", async () => {
    const socket = tempSocket();
    const yaml = (profile: string) =>
      [
        `upstream: ${daemon}`,
        "listeners:",
        "  - name: ops",
        `    unix: { path: ${socket}, mode: "0600" }`,
        `    profile: ${profile}`,
        "profiles:",
        "  first: { allow: [ping] }",
        "  second: { allow: [ping] }",
        "",
      ].join("\n");
    const configOf = (profile: string) => parseConfigText(yaml(profile), path.join(os.tmpdir(), "dockgate-reload.yaml"), { checkFiles: false });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info", base: undefined }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const first = configOf("first");
    const gateway = await startGateway(first, createGate(first), logger);
    const c = new RawClient(socket);
    try {
      const pings = () => lines.filter((l) => l.msg === "request" && l.path === "/_ping");
      c.socket.write(PING);
      await until(() => pings().length === 1, 10_000, "the first request's log line");
      const second = configOf("second");
      await gateway.reload(second, createGate(second));
      c.socket.write(PING);
      await until(() => pings().length === 2, 10_000, "the second request's log line");
      expect(pings().map((l) => l.profile)).toEqual(["first", "second"]);
      expect(c.ended).toBe(false); // the same connection served both
      expect(gateway.metrics.render()).toContain('dockgate_requests_total{profile="second",operation="SystemPing",decision="allow"} 1\n');
    } finally {
      c.socket.destroy();
      await gateway.stop(1);
    }
  });
});
