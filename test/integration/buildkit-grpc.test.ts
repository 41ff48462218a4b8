// BuildKit's control API over /grpc through the shipped ci profile, with a client written here on
// node:http2 (the h2c upgrade, then gRPC): real Solve requests of raw LLB (a source op of the test
// image and an exec op) exported to an image whose contents are checked, with and without the
// network.host entitlement; ListWorkers, DiskUsage, Prune; refused methods get gRPC
// PERMISSION_DENIED with dockgate's message. Images a Solve fetches are under the image policy: a
// source op or named context on a loopback registry is refused and a trap listener on that port
// sees no connection (while the same Solve sent to the daemon directly connects to it).

import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import type { TestProxy } from "../harness/proxy.js";
import { startTrap, type Trap } from "../harness/trap.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const RUN = `dgt-${process.pid}-grpc`;
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");

let proxy: TestProxy;

// ── protobuf encoding (the test's own) ──
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
const v = (no: number, n: number) => Buffer.concat([varint(no * 8), varint(n)]);
const b = (no: number, data: Buffer | string) => {
  const d = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([varint(no * 8 + 2), varint(d.length), d]);
};
const entry = (k: string, val: string) => Buffer.concat([b(1, k), b(2, val)]);
const frame = (payload: Buffer) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
};
const digest = (op: Buffer) => "sha256:" + createHash("sha256").update(op).digest("hex");
const platform = b(10, Buffer.concat([b(1, "amd64"), b(2, "linux")]));

/** LLB: FROM the test image, RUN sh -c <script>; the result's root. */
function llb(script: string, opts: { hostNetwork?: boolean; from?: string } = {}): Buffer {
  const ref = opts.from ?? (image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`);
  const source = Buffer.concat([b(3, b(1, `docker-image://${ref}`)), platform]);
  const meta = Buffer.concat([b(1, "sh"), b(1, "-c"), b(1, script), b(2, "PATH=/bin:/usr/bin:/sbin:/usr/sbin"), b(3, "/")]);
  const mount = Buffer.concat([b(3, "/")]); // input 0, output 0 (zero values)
  const exec = Buffer.concat([b(1, meta), b(2, mount), opts.hostNetwork ? v(3, 1) : Buffer.alloc(0)]);
  const execOp = Buffer.concat([b(1, b(1, digest(source))), b(2, exec), platform]);
  const terminal = b(1, b(1, digest(execOp)));
  return Buffer.concat([b(1, source), b(1, execOp), b(1, terminal)]);
}

function solve(ref: string, def: Buffer, tag: string, entitlements: string[] = []): Buffer {
  return Buffer.concat([b(1, ref), b(2, def), b(3, "moby"), b(4, entry("name", tag)), ...entitlements.map((e) => b(9, e))]);
}

// ── an h2c /grpc client ──
interface Reply {
  status: number;
  message: string;
  data: Buffer;
}

async function grpcClient(socket: string): Promise<http2.ClientHttp2Session> {
  const s = net.createConnection(socket);
  const rest = await new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    s.on("error", reject);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.removeAllListeners("data");
      s.pause();
      const head = buf.toString("latin1", 0, end);
      if (!head.startsWith("HTTP/1.1 101")) reject(new Error(buf.toString()));
      else resolve(buf.subarray(end + 4));
    });
    s.write("POST /v1.41/grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  });
  // The bytes already read (the server's SETTINGS) come first.
  const d = new Duplex({ read: () => s.resume(), write: (c, _e, cb) => s.write(c, cb), final: (cb) => (s.end(), cb()), destroy: (e, cb) => (s.destroy(), cb(e)) });
  if (rest.length) d.push(rest);
  s.on("data", (c: Buffer) => d.push(c) || s.pause());
  s.on("end", () => d.push(null));
  return http2.connect("http://docker", { createConnection: () => d });
}

function call(c: http2.ClientHttp2Session, method: string, payload: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = c.request({ ":method": "POST", ":path": method, "content-type": "application/grpc", te: "trailers" });
    const parts: Buffer[] = [];
    let status: number | undefined;
    let message = "";
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        status = Number(h["grpc-status"]);
        message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", (x: Buffer) => parts.push(x));
    req.on("error", reject);
    req.on("close", () => resolve({ status: status ?? -1, message, data: Buffer.concat(parts) }));
    req.end(frame(payload));
  });
}

function onDaemon(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn("docker", args, { env: { ...process.env, DOCKER_HOST: `unix://${daemon}` } });
    let stdout = "";
    p.stdout.on("data", (x: Buffer) => (stdout += x.toString()));
    p.on("close", (code) => resolve({ code: code ?? 1, stdout }));
  });
}

function imageStatus(tag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: daemon, path: `/images/${tag}/json` }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

let client: http2.ClientHttp2Session;

beforeAll(async () => {
  proxy = await startProxyWithConfig(CI_CONFIG, daemon);
  client = await grpcClient(proxy.socket);
});

afterAll(async () => {
  client?.destroy();
  await proxy?.stop();
  const ids = (await onDaemon(["images", "-q", "--filter", `reference=${RUN}*`])).stdout.split("\n").filter(Boolean);
  if (ids.length) await onDaemon(["rmi", "-f", ...new Set(ids)]);
});

describe("/grpc through the ci profile", () => {
  it("ListWorkers, DiskUsage and Prune are relayed", async () => {
    const workers = await call(client, "/moby.buildkit.v1.Control/ListWorkers", Buffer.alloc(0));
    expect(workers.status, workers.message).toBe(0);
    expect(workers.data.length).toBeGreaterThan(5);
    const du = await call(client, "/moby.buildkit.v1.Control/DiskUsage", Buffer.alloc(0));
    expect(du.status, du.message).toBe(0);
    const prune = await call(client, "/moby.buildkit.v1.Control/Prune", Buffer.alloc(0));
    expect(prune.status, prune.message).toBe(0);
  });

  it("a Solve of raw LLB (source + exec) builds an image with the exec's output", async () => {
    const tag = `${RUN}:llb`;
    const r = await call(client, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-ok`, llb("echo llb-built > /llb.txt"), tag));
    expect(r.status, r.message).toBe(0);
    const out = await onDaemon(["run", "--rm", tag, "cat", "/llb.txt"]);
    expect(out.stdout).toBe("llb-built\n");
  });

  it("Status is answered for the client's own build only", async () => {
    const other = await call(client, "/moby.buildkit.v1.Control/Status", b(1, "someone-elses-build"));
    expect(other.status).toBe(7);
    expect(other.message).toMatch(/not a build this client started \(rule buildkit\.session\)/);
  });

  it("the network.host entitlement is refused with PERMISSION_DENIED; no image", async () => {
    const tag = `${RUN}:hostnet`;
    const r = await call(client, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-ent`, llb("cat /proc/net/dev > /net.txt"), tag, ["network.host"]));
    expect(r.status).toBe(7);
    expect(r.message).toBe("dockgate: BuildKit call denied for profile ci: Solve: entitlement network.host (building on the host's network) is not allowed (rule build.network)");
    expect(await imageStatus(tag)).toBe(404);
  });

  it("an exec op on the host network, and security.insecure, are refused; no image", async () => {
    const tag = `${RUN}:hostexec`;
    const r = await call(client, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-hx`, llb("cat /proc/net/dev > /net.txt", { hostNetwork: true }), tag));
    expect(r.status).toBe(7);
    expect(r.message).toMatch(/an exec op on the host network .*\(rule build\.network\)/);
    const insecure = await call(client, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-in`, llb("true"), tag, ["security.insecure"]));
    expect(insecure.message).toMatch(/entitlement security\.insecure is never allowed \(rule buildkit\.entitlement\)/);
    expect(await imageStatus(tag)).toBe(404);
  });

  it("a custom frontend, unknown methods and undecodable requests are refused", async () => {
    const fe = await call(client, "/moby.buildkit.v1.Control/Solve", Buffer.concat([b(1, `${RUN}-fe`), b(6, "gateway.v0"), b(7, entry("source", "docker/dockerfile:1"))]));
    expect(fe.message).toMatch(/frontend image "docker\/dockerfile:1" is not in buildkitFrontends \(rule buildkit\.frontend\)/);
    const session = await call(client, "/moby.buildkit.v1.Control/Session", Buffer.alloc(0));
    expect(session.status).toBe(7);
    expect(session.message).toMatch(/\(rule buildkit\.method\)/);
    const garbage = await call(client, "/moby.buildkit.v1.Control/Solve", Buffer.from([0x0a, 0xff, 0x01]));
    expect(garbage.message).toMatch(/cannot decode.*\(rule buildkit\.decode\)/);
  });
});

describe("native HTTP/2 on the API socket (PRI * HTTP/2.0)", () => {
  it("is answered with GOAWAY HTTP_1_1_REQUIRED (not an auth failure); the client falls back to /grpc", async () => {
    const native = http2.connect("http://docker", { createConnection: () => net.createConnection(proxy.socket) });
    const goaway = new Promise<{ code: number; data: string }>((resolve) => native.on("goaway", (code, _last, data) => resolve({ code, data: data?.toString() ?? "" })));
    native.on("error", () => {});
    const outcome = await new Promise<{ status?: number; error?: string }>((resolve) => {
      const req = native.request({ ":method": "POST", ":path": "/moby.buildkit.v1.Control/ListWorkers", "content-type": "application/grpc", te: "trailers" });
      req.on("response", (h) => resolve({ status: Number(h[":status"]) }));
      req.on("error", (e: Error) => resolve({ error: e.message }));
      req.on("close", () => resolve({ error: "closed" }));
      req.end(frame(Buffer.alloc(0)));
    });
    expect(outcome.status).toBeUndefined(); // no HTTP status at all, so no 401/403 to read as an auth failure
    const g = await goaway;
    expect(g.code).toBe(http2.constants.NGHTTP2_HTTP_1_1_REQUIRED);
    expect(g.data).toContain("use HTTP/1.1 (BuildKit: POST /grpc)");
    native.destroy();
    expect(proxy.records.some((r) => r.rule === "http2.native" && r.method === "PRI")).toBe(true);
    // The fallback: h2c over /grpc, relayed.
    const fallback = await grpcClient(proxy.socket);
    try {
      const workers = await call(fallback, "/moby.buildkit.v1.Control/ListWorkers", Buffer.alloc(0));
      expect(workers.status, workers.message).toBe(0);
    } finally {
      fallback.destroy();
    }
  });
});

describe("/grpc Solve under the image policy (ci: no loopback registries)", () => {
  let trap: Trap;
  let port: number;
  beforeAll(async () => {
    trap = await startTrap();
    port = trap.port;
  });
  afterAll(async () => {
    await trap?.close();
  });

  it("a docker-image source and a named context on a loopback registry are refused; no connection, no image", async () => {
    const tag = `${RUN}:loopback`;
    const src = await call(client, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-lo`, llb("true", { from: `127.0.0.1:${port}/dgbk-evil:1` }), tag));
    expect(src.status).toBe(7);
    expect(src.message).toMatch(new RegExp(`Solve: source="127\\.0\\.0\\.1:${port}/dgbk-evil:1": registry .* \\(rule images\\.local-registry\\)$`));
    const named = await call(client, "/moby.buildkit.v1.Control/Solve", Buffer.concat([b(1, `${RUN}-nc`), b(6, "dockerfile.v0"), b(7, entry("context:base", `docker-image://localhost:${port}/dgbk-evil`))]));
    expect(named.status).toBe(7);
    expect(named.message).toMatch(/context:base="localhost:\d+\/dgbk-evil".*\(rule images\.local-registry\)$/);
    expect(await imageStatus(tag)).toBe(404);
    expect(trap.connections()).toBe(0);
  });

  it("control: the same source Solve sent to the daemon directly connects to the trap", async () => {
    const direct = await grpcClient(daemon);
    try {
      const r = await call(direct, "/moby.buildkit.v1.Control/Solve", solve(`${RUN}-lo-direct`, llb("true", { from: `127.0.0.1:${port}/dgbk-evil:1` }), `${RUN}:loopback-direct`));
      expect(r.status).not.toBe(0);
      await trap.connectedSince(0);
    } finally {
      direct.destroy();
    }
  });
});
