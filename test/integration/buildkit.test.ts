// BuildKit builds through the shipped ci profile (config/ci.yaml) with the Debian docker CLI 20.10
// (/usr/bin/docker, built-in BuildKit: /session + /build?version=2), against the real daemon.
// What works is checked by running or reading the result; what is refused by the daemon's state
// (no image) and by the message the CLI prints.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { createGate } from "../../src/policy/engine.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { startProxy, tempSocket, type TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const RUN = `dgt-${process.pid}-bk`;
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const DOCKER_20 = "/usr/bin/docker";
const PATH = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", process.env.PATH ?? ""].join(":");

let proxy: TestProxy;
/** The same profile on a second listener: another client. */
let other: string;
let work: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(args: string[], socket = proxy.socket, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: "1", BUILDKIT_PROGRESS: "plain", PATH, ...env };
    delete e.DOCKER_CONTEXT;
    delete e.DOCKER_CONFIG;
    const p = spawn(DOCKER_20, args, { env: e, stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await docker(args);
  expect(r.code, `docker ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Status of GET `target` asked of the daemon directly. */
function daemonStatus(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: daemon, path: target, headers: { Host: "docker" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

beforeAll(async () => {
  expect(spawnSync(DOCKER_20, ["--version"], { encoding: "utf8" }).stdout).toMatch(/^Docker version 20\.10\./);
  const loaded = loadConfig(CI_CONFIG);
  const only = loaded.listeners[0]!;
  other = tempSocket();
  const config: Config = {
    ...loaded,
    upstream: daemon,
    listeners: [
      { ...only, listen: { kind: "unix", path: tempSocket(), mode: 0o600 } },
      { ...only, name: "ci-other", listen: { kind: "unix", path: other, mode: 0o600 } },
    ],
  };
  proxy = await startProxy(config, createGate(config));
  work = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-bk-"));
});

afterAll(async () => {
  await proxy?.stop();
  const images = spawnSync(DOCKER_20, ["images", "-q", "--filter", `reference=${RUN}*`], { env: { ...process.env, DOCKER_HOST: `unix://${daemon}` }, encoding: "utf8" });
  const ids = images.stdout.split("\n").filter(Boolean);
  if (ids.length) spawnSync(DOCKER_20, ["rmi", "-f", ...new Set(ids)], { env: { ...process.env, DOCKER_HOST: `unix://${daemon}` } });
  fs.rmSync(work, { recursive: true, force: true });
});

describe("BuildKit builds through the ci profile (docker CLI 20.10, DOCKER_BUILDKIT=1)", () => {
  it("a multi-stage build with RUN, COPY, ARG and --target; the image runs", async () => {
    const ctx = context(
      "multi",
      [
        `FROM ${image} AS base`,
        "ARG GREETING=unset",
        "COPY input.txt /input.txt",
        'RUN echo "$GREETING from $(cat /input.txt)" > /built.txt',
        `FROM ${image} AS final`,
        "COPY --from=base /built.txt /built.txt",
        'CMD ["cat", "/built.txt"]',
        `FROM ${image} AS after`,
        "RUN false",
        "",
      ].join("\n"),
      { "input.txt": "the context" },
    );
    await ok(["build", "--target", "final", "--build-arg", "GREETING=hello", "-t", `${RUN}:multi`, ctx]);
    expect(await ok(["run", "--rm", `${RUN}:multi`])).toBe("hello from the context\n");
    // Built through ci: the same image the daemon has.
    expect(await daemonStatus(`/images/${RUN}:multi/json`)).toBe(200);
  });

  it("--output type=local and type=tar write the result to the client", async () => {
    const ctx = context("out", [`FROM ${image} AS b`, "RUN mkdir /out && echo exported > /out/result.txt", "FROM scratch", "COPY --from=b /out/ /", ""].join("\n"));
    const dest = path.join(work, "local-out");
    await ok(["build", "--output", `type=local,dest=${dest}`, ctx]);
    expect(fs.readFileSync(path.join(dest, "result.txt"), "utf8")).toBe("exported\n");
    const tar = path.join(work, "out.tar");
    await ok(["build", "--output", `type=tar,dest=${tar}`, ctx]);
    const listing = spawnSync("tar", ["-xOf", tar, "result.txt"], { encoding: "utf8" });
    expect(listing.stdout).toBe("exported\n");
  });

  it("a build reads a --secret in RUN", async () => {
    const secret = path.join(work, "secret.txt");
    fs.writeFileSync(secret, "s3cr3t-value");
    const ctx = context("secret", [`FROM ${image}`, "RUN --mount=type=secret,id=token cp /run/secrets/token /token-copy", 'CMD ["cat", "/token-copy"]', ""].join("\n"));
    await ok(["build", "--secret", `id=token,src=${secret}`, "-t", `${RUN}:secret`, ctx]);
    expect(await ok(["run", "--rm", `${RUN}:secret`])).toBe("s3cr3t-value");
  });
});

describe("BuildKit builds refused through the ci profile", () => {
  it("--network host: refused before anything ran; no image (the CLI's session ends too)", async () => {
    const ctx = context("hostnet", [`FROM ${image}`, "RUN cat /proc/net/dev > /netdev", ""].join("\n"));
    const r = await docker(["build", "--network", "host", "-t", `${RUN}:hostnet`, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dockgate: ImageBuild denied for profile ci: networkmode="host": building on the host's network is not allowed \(rule build\.network\)/);
    expect(await daemonStatus(`/images/${RUN}:hostnet/json`)).toBe(404);
  });

  it("a custom frontend in the Dockerfile (# syntax=): refused, the CLI prints why; no image", async () => {
    const ctx = context("syntax", ["# syntax=docker/dockerfile:1.4", `FROM ${image}`, "RUN true", ""].join("\n"));
    const r = await docker(["build", "-t", `${RUN}:syntax`, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('selects the BuildKit frontend "docker/dockerfile:1.4" (# syntax=), which is not in buildkitFrontends (rule buildkit.frontend)');
    expect(await daemonStatus(`/images/${RUN}:syntax/json`)).toBe(404);
  });

  it("a custom frontend through BUILDKIT_SYNTAX: refused; no image", async () => {
    const ctx = context("syntax-arg", [`FROM ${image}`, "RUN true", ""].join("\n"));
    const r = await docker(["build", "--build-arg", "BUILDKIT_SYNTAX=docker/dockerfile:1.4", "-t", `${RUN}:syntaxarg`, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dockgate: ImageBuild denied for profile ci: buildargs BUILDKIT_SYNTAX="docker\/dockerfile:1.4" selects a custom BuildKit frontend.*\(rule buildkit\.frontend\)/);
    expect(await daemonStatus(`/images/${RUN}:syntaxarg/json`)).toBe(404);
  });
});

/** Opens /session on `socket` with session id `id` and keeps the connection; resolves after the 101. */
function openSession(socket: string, id: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socket);
    let head = "";
    s.on("error", reject);
    s.on("data", (c: Buffer) => {
      head += c.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        s.removeAllListeners("data");
        if (head.startsWith("HTTP/1.1 101")) resolve(s);
        else reject(new Error(head));
      }
    });
    s.write(
      `POST /v1.41/session HTTP/1.1\r\nHost: docker\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n` +
        `X-Docker-Expose-Session-Uuid: ${id}\r\nX-Docker-Expose-Session-Name: test\r\nX-Docker-Expose-Session-Sharedkey: k\r\n` +
        `X-Docker-Expose-Session-Grpc-Method: /grpc.health.v1.Health/Check\r\n\r\n`,
    );
  });
}

/** POST /build?version=2 with `query` on `socket`: status and body. */
function buildRequest(socket: string, query: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: "POST", path: `/v1.41/build?${query}`, headers: { Host: "docker", "Content-Type": "application/x-tar" } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("BuildKit sessions belong to the client that opened them", () => {
  it("a build naming another client's open session is refused; no image", async () => {
    const id = `${RUN}-other-session`;
    const s = await openSession(other, id);
    try {
      const tag = `${RUN}:stolen`;
      const r = await buildRequest(proxy.socket, `version=2&remote=client-session&session=${id}&t=${tag}`);
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).message).toBe(
        `dockgate: ImageBuild denied for profile ci: session "${id}" was opened by another client; a build may only use its own client's session (rule buildkit.session)`,
      );
      expect(await daemonStatus(`/images/${tag}/json`)).toBe(404);
      // The same session id cannot be opened twice, by anyone.
      await expect(openSession(proxy.socket, id)).rejects.toThrow(/403 Forbidden[\s\S]*already open \(rule buildkit\.session\)/);
    } finally {
      s.destroy();
    }
  });

  it("a build naming a session nobody opened is refused", async () => {
    const r = await buildRequest(proxy.socket, `version=2&remote=client-session&session=${RUN}-nobody`);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toMatch(/session ".*-nobody" is not open: a BuildKit build needs a \/session opened by the same client \(rule buildkit\.session\)/);
  });

  it("unknown build parameters are refused, not passed", async () => {
    const r = await buildRequest(proxy.socket, `version=2&remote=client-session&session=x&frontend=gateway.v0`);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toMatch(/query parameter "frontend" is not one the daemon reads for a build.*\(rule buildkit\.parameter\)/);
  });
});

describe("BuildKit through ci-tenant (ownership)", () => {
  it("the built image carries the owner label", async () => {
    const tenant = await startProxyWithConfig(path.resolve(import.meta.dirname, "../../config/ci-tenant.yaml"), daemon);
    try {
      const ctx = context("tenant", [`FROM ${image}`, "RUN echo tenant > /t", ""].join("\n"));
      const r = await docker(["build", "-t", `${RUN}:tenant`, ctx], tenant.socket);
      expect(r.code, r.stderr).toBe(0);
      const labels = spawnSync(DOCKER_20, ["image", "inspect", "-f", "{{json .Config.Labels}}", `${RUN}:tenant`], { env: { ...process.env, DOCKER_HOST: `unix://${daemon}` }, encoding: "utf8" });
      expect(JSON.parse(labels.stdout)).toMatchObject({ "dockgate.owner": "ci" });
    } finally {
      await tenant.stop();
    }
  });
});

describe("what the daemon itself refuses to BuildKit builds through /build", () => {
  // The daemon's built-in Dockerfile frontend on 20.10 does not know RUN --network; newer ones do,
  // and the solve lacks the network.host entitlement unless networkmode=host (a rule) asked for it.
  it("RUN --network=host without --network host is refused by the daemon; no image", async () => {
    const ctx = context("run-hostnet", [`FROM ${image}`, "RUN --network=host cat /proc/net/dev", ""].join("\n"));
    const r = await docker(["build", "-t", `${RUN}:runhostnet`, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unknown flag: network|network\.host is not allowed/);
    expect(await daemonStatus(`/images/${RUN}:runhostnet/json`)).toBe(404);
  });
});
