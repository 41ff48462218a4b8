// Operating dockgate: per-client limits (rate, connections, streams) seen through real clients,
// fairness between listeners under a flood, hot reload (in-process and of a real `dockgate serve`
// by SIGHUP and by file watch) that never cuts open streams, and the admin endpoint.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pino from "pino";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { createGate } from "../../src/policy/engine.js";
import { docker } from "../harness/docker.js";
import { tempSocket } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const silent = pino({ level: "silent" });
const PING = "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n";

const OPS_ALLOW = "[ping, system:read, events, containers:read, containers:write, containers:attach, images:read]";

/**
 * A config in YAML: each profile is its `allow` list, or its lines as written under the profile
 * (allow, limits, ownership, ...); `top` lines (e.g. admin) go at the end.
 */
function yamlFor(
  listeners: Array<{ name: string; socket: string; profile: string }>,
  profiles: Record<string, string | string[]>,
  top: string[] = [],
): string {
  return [
    `upstream: ${daemon}`,
    "log:",
    "  level: silent",
    "listeners:",
    ...listeners.flatMap((l) => [`  - name: ${l.name}`, "    unix:", `      path: ${l.socket}`, '      mode: "0600"', `    profile: ${l.profile}`]),
    "profiles:",
    ...Object.entries(profiles).flatMap(([name, p]) => [`  ${name}:`, ...(typeof p === "string" ? [`allow: ${p}`] : p).map((l) => `    ${l}`)]),
    ...top,
    "",
  ].join("\n");
}

function configOf(yaml: string): Config {
  return parseConfigText(yaml, path.join(os.tmpdir(), "dockgate-operations.yaml"), { checkFiles: false });
}

async function start(config: Config): Promise<Gateway> {
  return startGateway(config, createGate(config), silent);
}

function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  return (async () => {
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
}

/** A long-running docker CLI command through `socket`, its output collected as it comes. */
function dockerLive(socket: string, args: string[]): { proc: ChildProcess; out: () => string; err: () => string; exited: Promise<number> } {
  const proc = spawn("docker", args, { env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number>((resolve) => proc.on("close", (code) => resolve(code ?? 128)));
  return { proc, out: () => out, err: () => err, exited };
}

/**
 * Makes the daemon write on every open event stream. A client that goes away in the middle of a
 * (non-hijacked) streaming response is only noticed by dockgate's session when the next write to
 * it fails (reported to the session's owner), so tests that wait for a stream's release nudge it.
 */
async function nudgeEventStreams(): Promise<void> {
  await docker(daemon, ["run", "--rm", image, "true"]);
}

function httpGet(target: { socketPath: string } | { host: string; port: number }, urlPath: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, path: urlPath, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on("error", reject);
  });
}

function sample(metrics: string, series: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

function adminTarget(gateway: Gateway): { host: string; port: number } {
  const [, host, port] = /^tcp:(.+):(\d+)$/.exec(gateway.admin!.address)!;
  return { host: host!, port: Number(port) };
}

// ---- limits ------------------------------------------------------------------------------

describe("limits through real clients", () => {
  it("over the rate limit, docker ps prints the 429 as an error from the daemon", async () => {
    const socket = tempSocket();
    const config = configOf(yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: [`allow: ${OPS_ALLOW}`, "limits: { requestsPerSecond: 1 }"] }));
    const gateway = await start(config);
    try {
      // The CLI pings first (the one token), then lists: refused.
      const r = await docker(socket, ["ps"]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe("Error response from daemon: dockgate: rate limit of 1 requests/s exceeded for client ops (rule limits.rate)");
      const text = gateway.metrics.render();
      expect(sample(text, 'dockgate_denials_total{profile="ops",rule="limits.rate"}')).toBeGreaterThanOrEqual(1);
      // The bucket refills: about a second later one request goes through again (refused ones
      // spend no token, so asking until it does measures the refill).
      await waitFor(async () => (await rawExchange(socket, PING, 1))[0]?.status === 200, 10_000, "a request allowed again after the refill");
    } finally {
      await gateway.stop(1);
    }
  });

  it("a connection over maxConnections gets a 429 JSON reply to its request and is closed", async () => {
    const socket = tempSocket();
    const config = configOf(yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: [`allow: ${OPS_ALLOW}`, "limits: { maxConnections: 2 }"] }));
    const gateway = await start(config);
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = net.createConnection(socket);
        await new Promise((r) => s.once("connect", r));
        held.push(s);
      }
      await waitFor(() => gateway.limiter.connectionsOf("ops") === 2, 5000, "two connections counted");
      const [refused, more] = await rawExchange(socket, PING + PING, 2);
      expect(more).toBeUndefined(); // closed after the one reply
      expect(refused!.status).toBe(429);
      expect(refused!.headers["content-type"]).toBe("application/json");
      expect(refused!.headers.connection).toBe("close");
      expect(JSON.parse(refused!.body)).toEqual({
        message: "dockgate: connection limit of 2 connections exceeded for client ops (rule limits.connections)",
      });
      const cli = await docker(socket, ["version", "--format", "{{.Server.Version}}"]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain("dockgate: connection limit of 2 connections exceeded for client ops (rule limits.connections)");
      held.pop()!.destroy();
      await waitFor(() => gateway.limiter.connectionsOf("ops") === 1, 5000, "connection released");
      const [ok] = await rawExchange(socket, PING, 1);
      expect(ok!.status).toBe(200);
    } finally {
      for (const s of held) s.destroy();
      await gateway.stop(1);
    }
  });

  it("over maxStreams, docker logs -f is refused while docker events is open, and works once it is closed", async () => {
    const socket = tempSocket();
    const config = configOf(yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: [`allow: ${OPS_ALLOW}`, "limits: { maxStreams: 1 }"] }));
    const gateway = await start(config);
    const name = `dg-streams-${process.pid}`;
    expect((await docker(daemon, ["run", "-d", "--name", name, image, "sh", "-c", "echo hello; sleep 300"])).code).toBe(0);
    const events = dockerLive(socket, ["events", "--format", "{{.Action}}"]);
    try {
      await waitFor(() => gateway.limiter.streamsOf("ops") === 1, 10_000, "events counted as a stream");
      const refused = await docker(socket, ["logs", "-f", name], { timeoutMs: 20_000 });
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim()).toBe("Error response from daemon: dockgate: stream limit of 1 concurrent streams reached for client ops (rule limits.streams)");
      // Not a stream: logs without -f.
      const once = await docker(socket, ["logs", name]);
      expect(once.stdout).toBe("hello\n");
      expect(sample(gateway.metrics.render(), "dockgate_active_streams")).toBe(1);

      events.proc.kill();
      await events.exited;
      await nudgeEventStreams();
      await waitFor(() => gateway.limiter.streamsOf("ops") === 0, 10_000, "stream released when its connection closed");
      const follow = dockerLive(socket, ["logs", "-f", name]);
      await waitFor(() => follow.out().includes("hello"), 10_000, "docker logs -f output");
      follow.proc.kill();
      await follow.exited;
    } finally {
      events.proc.kill();
      await docker(daemon, ["rm", "-f", name]);
      await gateway.stop(1);
    }
  });
});

describe("container limit", () => {
  it("counts the client's labelled containers on the daemon: docker create over maxContainers is refused", async () => {
    const socket = tempSocket();
    const label = `dg.test.owner.${process.pid}`;
    const config = configOf(
      yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: [`allow: ${OPS_ALLOW}`, `ownership: { label: ${label} }`, "limits: { maxContainers: 2 }"] }),
    );
    const gateway = await start(config);
    const names = [1, 2, 3].map((i) => `dg-max-${process.pid}-${i}`);
    try {
      // Ownership labels what the client creates with its owner name (here the listener's, "ops").
      for (const name of names.slice(0, 2)) {
        const r = await docker(socket, ["create", "--name", name, image, "true"]);
        expect(r.code, r.stderr).toBe(0);
      }
      // Someone else's container does not count.
      expect((await docker(daemon, ["create", "--name", `${names[2]}-other`, "--label", `${label}=other`, image, "true"])).code).toBe(0);
      const over = await docker(socket, ["create", "--name", names[2]!, image, "true"]);
      expect(over.code).toBe(1);
      expect(over.stderr.trim()).toBe("Error response from daemon: dockgate: container limit of 2 containers reached for client ops (rule limits.containers)");
      expect((await docker(daemon, ["rm", names[0]!])).code).toBe(0);
      const again = await docker(socket, ["create", "--name", names[2]!, image, "true"]);
      expect(again.code, again.stderr).toBe(0);
      const labels = await docker(daemon, ["inspect", "--format", `{{index .Config.Labels "${label}"}}`, names[2]!]);
      expect(labels.stdout.trim()).toBe("ops");
    } finally {
      await docker(daemon, ["rm", "-f", ...names, `${names[2]}-other`]);
      await gateway.stop(1);
    }
  });
});

// ---- fairness ------------------------------------------------------------------------------

/** One client connection after another, each sending /_ping back to back until `until`. */
async function hammer(socketPath: string, until: number, tally: (status: number, body: string) => void): Promise<void> {
  while (Date.now() < until) {
    await new Promise<void>((resolve) => {
      const s = net.createConnection(socketPath);
      let buf = Buffer.alloc(0);
      const send = () => {
        if (Date.now() >= until) s.end();
        else s.write(PING);
      };
      s.on("connect", send);
      s.on("data", (c: Buffer) => {
        buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
        for (;;) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.toString("latin1", 0, end);
          const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          tally(Number(head.split(" ")[1]), buf.toString("utf8", end + 4, end + 4 + len));
          buf = buf.subarray(end + 4 + len);
          if (/\r\nconnection: close/i.test(head)) return;
          send();
        }
      });
      s.on("error", () => {});
      s.on("close", () => resolve());
    });
  }
}

describe("a flood on one listener", () => {
  it("does not starve another listener: every request of the quiet client is answered", async () => {
    const flood = tempSocket();
    const quiet = tempSocket();
    const config = configOf(
      yamlFor(
        [
          { name: "flood", socket: flood, profile: "busy" },
          { name: "quiet", socket: quiet, profile: "calm" },
        ],
        { busy: ["allow: [ping]", "limits: { requestsPerSecond: 100, burst: 20, maxConnections: 12 }"], calm: "[ping, system:read]" },
      ),
    );
    const gateway = await start(config);
    try {
      const counts = { ok: 0, rate: 0, connections: 0, other: 0 };
      const until = Date.now() + 4000;
      // 24 workers: half over the connection limit, all together far over the rate limit.
      const workers = Array.from({ length: 24 }, () =>
        hammer(flood, until, (status, body) => {
          if (status === 200) counts.ok++;
          else if (status === 429 && body.includes("(rule limits.rate)")) counts.rate++;
          else if (status === 429 && body.includes("(rule limits.connections)")) counts.connections++;
          else counts.other++;
        }),
      );
      await waitFor(() => counts.rate > 0, 10_000, "the flood hitting its rate limit");
      const quietStatuses: number[] = [];
      while (Date.now() < until - 300) {
        const replies = await rawExchange(quiet, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /version HTTP/1.1\r\nHost: d\r\n\r\n", 2, 10_000);
        quietStatuses.push(...replies.map((r) => r.status), ...(replies.length < 2 ? [0] : []));
      }
      await Promise.all(workers);
      expect(counts.other).toBe(0);
      expect(counts.ok).toBeGreaterThan(0);
      expect(counts.rate).toBeGreaterThan(counts.ok); // the flood really hit its limit
      expect(counts.connections).toBeGreaterThan(0);
      expect(quietStatuses.length).toBeGreaterThan(10);
      expect(quietStatuses.every((s) => s === 200)).toBe(true);
    } finally {
      await gateway.stop(1);
    }
  });
});

// ---- admin -------------------------------------------------------------------------------

describe("admin endpoint", () => {
  it("answers /healthz after pinging the daemon and /metrics whose counters move", async () => {
    const socket = tempSocket();
    // Port 0 (an ephemeral port) is set by hand: the loader asks for a real one.
    const config: Config = {
      ...configOf(yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: "[ping, events]" })),
      admin: { kind: "tcp", host: "127.0.0.1", port: 0 },
    };
    const gateway = await start(config);
    try {
      const target = adminTarget(gateway);
      const health = await httpGet(target, "/healthz");
      expect(health.status).toBe(200);
      expect(health.type).toBe("application/json");
      expect(JSON.parse(health.body)).toEqual({ status: "ok", daemon: "ok" });

      const before = (await httpGet(target, "/metrics")).body;
      const allowed = 'dockgate_requests_total{profile="ops",operation="SystemPing",decision="allow"}';
      const deniedSeries = 'dockgate_requests_total{profile="ops",operation="SystemInfo",decision="deny"}';
      const replies = await rawExchange(socket, PING + PING + "GET /info HTTP/1.1\r\nHost: d\r\n\r\n", 3);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 403]);
      const events = dockerLive(socket, ["events"]);
      await waitFor(async () => sample((await httpGet(target, "/metrics")).body, "dockgate_active_streams") === 1, 10_000, "active stream gauge");

      const after = await httpGet(target, "/metrics");
      expect(after.status).toBe(200);
      expect(after.type).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(sample(after.body, allowed) - sample(before, allowed)).toBe(2);
      expect(sample(after.body, deniedSeries) - sample(before, deniedSeries)).toBe(1);
      expect(sample(after.body, 'dockgate_denials_total{profile="ops",rule="endpoint.allow"}')).toBeGreaterThanOrEqual(1);
      expect(sample(after.body, "dockgate_active_connections")).toBeGreaterThanOrEqual(1);
      expect(sample(after.body, 'dockgate_request_duration_seconds_count{profile="ops"}')).toBeGreaterThanOrEqual(3);
      events.proc.kill();
      await events.exited;
      await nudgeEventStreams();
      await waitFor(async () => sample((await httpGet(target, "/metrics")).body, "dockgate_active_streams") === 0, 10_000, "stream gauge back to 0");

      // A reload is counted; a refused one (a socket path in use) too.
      await gateway.reload(config, createGate(config));
      const busy = tempSocket();
      const squatter = net.createServer().listen(busy);
      await new Promise((r) => squatter.once("listening", r));
      const bad: Config = {
        ...configOf(yamlFor([{ name: "ops", socket, profile: "ops" }, { name: "x", socket: busy, profile: "ops" }], { ops: "[ping]" })),
        admin: config.admin,
      };
      await expect(gateway.reload(bad, createGate(bad))).rejects.toThrow(/listener x: .*in use by another live process/);
      squatter.close();
      const reloads = (await httpGet(target, "/metrics")).body;
      expect(sample(reloads, 'dockgate_reloads_total{result="ok"}')).toBe(1);
      expect(sample(reloads, 'dockgate_reloads_total{result="refused"}')).toBe(1);
      expect((await httpGet(target, "/nope")).status).toBe(404);
    } finally {
      await gateway.stop(1);
    }
  });

  it("on a unix socket with its mode, /healthz is 503 when the daemon is unreachable", async () => {
    const socket = tempSocket();
    const adminSocket = tempSocket();
    const config = {
      ...configOf(yamlFor([{ name: "ops", socket, profile: "ops" }], { ops: "[ping]" }, ["admin:", `  unix: { path: ${adminSocket}, mode: "0600" }`])),
      upstream: path.join(os.tmpdir(), `dg-no-daemon-${process.pid}.sock`),
    };
    const gateway = await start(config);
    try {
      expect(fs.statSync(adminSocket).mode & 0o777).toBe(0o600);
      const health = await httpGet({ socketPath: adminSocket }, "/healthz");
      expect(health.status).toBe(503);
      const body = JSON.parse(health.body);
      expect(body.status).toBe("unavailable");
      expect(body.daemon).toMatch(/^cannot reach the Docker daemon at .*: ENOENT$/);
      const [reply] = await rawExchange(socket, PING, 1);
      expect(reply!.status).toBe(502);
      expect(sample((await httpGet({ socketPath: adminSocket }, "/metrics")).body, "dockgate_upstream_errors_total")).toBe(1);
    } finally {
      await gateway.stop(1);
    }
    expect(fs.existsSync(adminSocket)).toBe(false);
  });
});

// ---- reload in process -----------------------------------------------------------------

describe("reload (in process)", () => {
  it("adds and removes listeners, re-resolves kept connections, and lets a removed listener's stream finish", async () => {
    const a = tempSocket();
    const b = tempSocket();
    const c = tempSocket();
    const v1 = configOf(
      yamlFor(
        [
          { name: "a", socket: a, profile: "wide" },
          { name: "b", socket: b, profile: "wide" },
        ],
        { wide: OPS_ALLOW, narrow: "[ping, events]" },
      ),
    );
    const gateway = await start(v1);
    const name = `dg-reload-${process.pid}`;
    const events = dockerLive(b, ["events", "--filter", `container=${name}`, "--format", "{{.Action}}"]);
    const keepAlive = net.createConnection(a);
    try {
      await waitFor(() => gateway.limiter.activeStreams === 1, 10_000, "events stream open");
      // A keep-alive connection on `a`, idle between requests across the reload.
      const ask = (request: string) =>
        new Promise<number>((resolve) => {
          keepAlive.once("data", (d: Buffer) => resolve(Number(d.toString("latin1").split(" ")[1])));
          keepAlive.write(request);
        });
      expect(await ask("GET /version HTTP/1.1\r\nHost: d\r\n\r\n")).toBe(200);

      // v2: `a` now selects the narrow profile, `b` is gone, `c` is new.
      const v2 = configOf(
        yamlFor(
          [
            { name: "a", socket: a, profile: "narrow" },
            { name: "c", socket: c, profile: "wide" },
          ],
          { wide: OPS_ALLOW, narrow: "[ping, events]" },
        ),
      );
      const summary = await gateway.reload(v2, createGate(v2));
      expect(summary).toEqual({ added: ["c"], removed: ["b"], updated: ["a"] });
      expect(await ask("GET /version HTTP/1.1\r\nHost: d\r\n\r\n")).toBe(403); // same connection, new profile
      expect(await ask(PING)).toBe(200);
      expect((await rawExchange(c, "GET /version HTTP/1.1\r\nHost: d\r\n\r\n", 1))[0]!.status).toBe(200);
      // `b` accepts no more.
      await expect(
        new Promise((resolve, reject) => net.createConnection(b).on("connect", resolve).on("error", reject)),
      ).rejects.toThrow(/ENOENT|ECONNREFUSED/);
      // Its open stream was not cut: it still delivers events.
      expect((await docker(daemon, ["run", "--name", name, image, "true"])).code).toBe(0);
      await waitFor(() => events.out().includes("die"), 10_000, "event on the removed listener's stream");
      expect(events.proc.exitCode).toBeNull();
    } finally {
      keepAlive.destroy();
      events.proc.kill();
      await docker(daemon, ["rm", "-f", name]);
      await gateway.stop(1);
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One keep-alive TCP connection: ask() writes a request and resolves with the reply's status (0: closed). */
function tcpClient(port: number): Promise<{ ask(request: string): Promise<number>; closed: Promise<void>; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port });
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.on("error", () => {});
    socket.once("connect", () =>
      resolve({
        socket,
        closed,
        ask: (request) =>
          new Promise<number>((done) => {
            const onData = (d: Buffer) => {
              socket.off("close", onClose);
              done(Number(d.toString("latin1").split(" ")[1]));
            };
            const onClose = () => {
              socket.off("data", onData);
              done(0);
            };
            socket.once("data", onData);
            socket.once("close", onClose);
            socket.write(request);
          }),
      }),
    );
    socket.once("error", reject);
  });
}

describe("reload of a TCP listener", () => {
  it("keeps the port open, checks new connections against the new allow list and drains excluded ones", async () => {
    const port = await freePort();
    const yaml = (allow: string) =>
      [
        `upstream: ${daemon}`,
        "log:",
        "  level: silent",
        "listeners:",
        "  - name: net",
        `    tcp: { host: 127.0.0.1, port: ${port}, allow: [${allow}] }`,
        "    profile: p",
        "profiles:",
        "  p:",
        "    allow: [ping]",
        "",
      ].join("\n");
    const v1 = configOf(yaml("127.0.0.1/32"));
    const gateway = await start(v1);
    try {
      const kept = await tcpClient(port);
      expect(await kept.ask(PING)).toBe(200);
      const v2 = configOf(yaml("10.0.0.0/8"));
      expect(await gateway.reload(v2, createGate(v2))).toEqual({ added: [], removed: [], updated: ["net"] });
      // The idle connection from 127.0.0.1 is no longer allowed: it is closed.
      await kept.closed;
      // New connections are accepted at the TCP level (the port never closed), then refused.
      const refused = await tcpClient(port);
      expect(await refused.ask(PING)).toBe(0);
      const v3 = configOf(yaml("127.0.0.0/8"));
      await gateway.reload(v3, createGate(v3));
      const again = await tcpClient(port);
      expect(await again.ask(PING)).toBe(200);
      again.socket.destroy();
    } finally {
      await gateway.stop(1);
    }
  });
});

// ---- reload of a real `dockgate serve` ----------------------------------------------------

interface Served {
  proc: ChildProcess;
  socket: string;
  file: string;
  stdout: () => string;
  stop(): Promise<void>;
}

function serve(yaml: (socket: string) => string, args: string[] = []): Promise<Served> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-serve-"));
  const socket = path.join(dir, "dg.sock");
  const file = path.join(dir, "dockgate.yaml");
  fs.writeFileSync(file, yaml(socket));
  const proc = spawn(process.execPath, [path.join(ROOT, "dist/cli/main.js"), "serve", "--config", file, "--upstream", daemon, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => proc.on("close", () => resolve()));
  return waitFor(() => fs.existsSync(socket) || proc.exitCode !== null, 20_000, "dockgate serve listening").then(() => {
    if (proc.exitCode !== null) throw new Error(`dockgate serve exited: ${stderr}`);
    return {
      proc,
      socket,
      file,
      stdout: () => stdout,
      async stop() {
        if (proc.exitCode === null) proc.kill("SIGTERM");
        await exited;
      },
    };
  });
}

/** Replaces the file the way editors do: write a temporary file, rename it over the original. */
function replaceFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** How many reloads dockgate's log says it refused so far. */
function refusals(stdout: string): number {
  return logLines(stdout).filter((l) => typeof l.msg === "string" && l.msg.startsWith("config reload refused")).length;
}

function logLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const serveYaml = (allow: string, extraProfileLine = "") => (socket: string) =>
  [
    "log:",
    "  level: info",
    "listeners:",
    "  - name: ops",
    "    unix:",
    `      path: ${socket}`,
    '      mode: "0600"',
    "    profile: ops",
    "profiles:",
    "  ops:",
    `    allow: ${allow}`,
    ...(extraProfileLine ? [`    ${extraProfileLine}`] : []),
    "admin:",
    `  unix: { path: ${path.join(path.dirname(socket), "admin.sock")}, mode: "0600" }`,
    // A killed `docker events` client is only noticed on the stream's next write, so its session
    // would hold SIGTERM for the whole grace period.
    "shutdown:",
    "  graceSeconds: 1",
    "",
  ].join("\n");

describe("reload of dockgate serve", () => {
  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: ROOT });
  }, 120_000);

  const ALLOW_V2 = "[ping, system:read, events, containers:read, containers:write, containers:attach]";
  const IMAGES_DENIED = "Error response from daemon: dockgate: ImageList denied for profile ops: operation is not allowed (rule endpoint.allow)";

  it("SIGHUP changes what the profile allows without dropping docker events or an attached docker run -i", async () => {
    const served = await serve(serveYaml(OPS_ALLOW), ["--no-watch"]);
    const name = `dg-hup-${process.pid}`;
    const events = dockerLive(served.socket, ["events", "--filter", `container=${name}`, "--format", "{{.Action}}"]);
    const run = dockerLive(served.socket, ["run", "-i", "--name", name, image, "cat"]);
    try {
      expect((await docker(served.socket, ["images", "-q"])).code).toBe(0);
      await waitFor(() => events.out().includes("start"), 20_000, "container started (seen on the events stream)");
      run.proc.stdin!.write("before\n");
      await waitFor(() => run.out() === "before\n", 10_000, "echo before the reload");

      fs.writeFileSync(served.file, serveYaml(ALLOW_V2)(served.socket));
      served.proc.kill("SIGHUP");
      await waitFor(async () => (await docker(served.socket, ["images", "-q"])).stderr.trim() === IMAGES_DENIED, 15_000, "new profile in force");
      expect(served.proc.exitCode).toBeNull(); // SIGHUP did not kill it

      // The attached session and the event stream survived the reload.
      run.proc.stdin!.write("after\n");
      await waitFor(() => run.out() === "before\nafter\n", 10_000, "echo after the reload");
      run.proc.stdin!.end();
      expect(await run.exited).toBe(0);
      await waitFor(() => events.out().includes("die"), 10_000, "die event on the stream opened before the reload");
      expect(events.proc.exitCode).toBeNull();

      // An invalid edit is refused: the running config (v2) keeps serving.
      const invalid = serveYaml("[ping, system:read, imagez:read]")(served.socket);
      fs.writeFileSync(served.file, invalid);
      served.proc.kill("SIGHUP");
      await waitFor(() => refusals(served.stdout()) === 1, 15_000, "the invalid edit refused");
      expect((await docker(served.socket, ["ps", "-a", "--filter", `name=${name}`, "--format", "{{.Names}}"])).stdout.trim()).toBe(name);
      expect((await docker(served.socket, ["images", "-q"])).stderr.trim()).toBe(IMAGES_DENIED);
      expect(served.proc.exitCode).toBeNull();

      // The admin endpoint (from the config file) counted both reloads and the denials.
      const admin = { socketPath: path.join(path.dirname(served.socket), "admin.sock") };
      expect(JSON.parse((await httpGet(admin, "/healthz")).body)).toEqual({ status: "ok", daemon: "ok" });
      await waitFor(async () => sample((await httpGet(admin, "/metrics")).body, 'dockgate_reloads_total{result="refused"}') === 1, 10_000, "refusal counted");
      const metrics = (await httpGet(admin, "/metrics")).body;
      expect(sample(metrics, 'dockgate_reloads_total{result="ok"}')).toBe(1);
      expect(sample(metrics, 'dockgate_requests_total{profile="ops",operation="ImageList",decision="allow"}')).toBe(1);
      expect(sample(metrics, 'dockgate_requests_total{profile="ops",operation="ImageList",decision="deny"}')).toBeGreaterThanOrEqual(2);
      expect(sample(metrics, "dockgate_hijacked_connections_total")).toBe(1); // the docker run -i attach, ended
      expect(sample(metrics, "dockgate_active_streams")).toBe(1); // docker events
    } finally {
      events.proc.kill();
      run.proc.kill();
      await served.stop();
      await docker(daemon, ["rm", "-f", name]);
    }
    const logs = logLines(served.stdout());
    const reloaded = logs.filter((l) => l.msg === "config reloaded");
    expect(reloaded).toHaveLength(1);
    expect(reloaded[0]).toMatchObject({ trigger: "SIGHUP", updated: [], added: [], removed: [] });
    const refused = logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("config reload refused"));
    expect(refused, served.stdout()).toBeDefined();
    const line = served.file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect((refused!.errors as string[])[0]).toMatch(new RegExp(`^${line}:11:\\d+: .*imagez:read`));
  });

  it("a replaced config file is picked up without a signal; an invalid replacement is refused", async () => {
    const served = await serve(serveYaml(OPS_ALLOW));
    try {
      expect((await docker(served.socket, ["images", "-q"])).code).toBe(0);
      replaceFile(served.file, serveYaml(ALLOW_V2)(served.socket));
      await waitFor(async () => (await docker(served.socket, ["images", "-q"])).stderr.trim() === IMAGES_DENIED, 15_000, "watched change applied");

      replaceFile(served.file, serveYaml(OPS_ALLOW, "mode: enforcing")(served.socket));
      await waitFor(() => refusals(served.stdout()) === 1, 15_000, "the invalid replacement refused");
      expect((await docker(served.socket, ["images", "-q"])).stderr.trim()).toBe(IMAGES_DENIED);
      expect((await docker(served.socket, ["version", "--format", "{{.Server.Version}}"])).code).toBe(0);

      replaceFile(served.file, serveYaml(OPS_ALLOW)(served.socket));
      await waitFor(async () => (await docker(served.socket, ["images", "-q"])).code === 0, 15_000, "fixed file applied");
    } finally {
      await served.stop();
    }
    const logs = logLines(served.stdout());
    expect(logs.filter((l) => l.msg === "config reloaded").map((l) => l.trigger)).toEqual(["watch", "watch"]);
    const refused = logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("config reload refused"));
    expect(refused).toHaveLength(1);
    expect((refused[0]!.errors as string[])[0]).toMatch(/dockgate\.yaml:12:\d+: .*enforcing/);
  });
});

