// The admin endpoint (off unless `admin` is configured): a unix socket or a loopback TCP port,
// never a client listener, with two read-only resources:
//
//   GET /healthz   200 {"status":"ok","daemon":"ok"} when the daemon answers /_ping,
//                  503 {"status":"unavailable","daemon":"<why>"} when it does not
//   GET /metrics   Prometheus text format (see src/observe/metrics.ts)
//   /tenants       per-job tenants, when the config has `tenants` (see src/listen/tenants.ts);
//                  only on a unix admin socket (the loader refuses tenants with admin.tcp)

import { chmodSync } from "node:fs";
import http from "node:http";
import type { AdminListen } from "../config/types.js";
import type { Metrics } from "../observe/metrics.js";
import type { DaemonClient } from "../policy/daemon.js";
import { listenUnix } from "./listeners.js";
import { isLoopback } from "./loopback.js";
import type { Tenants } from "./tenants.js";

const PING_TIMEOUT_MS = 3000;

export interface AdminServer {
  /** The config it serves (a mode change is applied in place by update()). */
  readonly listen: AdminListen;
  /** Applies a new config with the same adminKey (a unix socket's mode). */
  update(listen: AdminListen): void;
  /** Human-readable address for logs (`tcp:127.0.0.1:9102` with the port actually bound). */
  readonly address: string;
  close(): Promise<void>;
}

export interface AdminContext {
  metrics: Metrics;
  /** The client of the daemon dockgate serves now (a reload may change the upstream). */
  daemon(): DaemonClient;
  /** The tenants API, when configured. */
  tenants?(): Tenants | undefined;
}

/** Same key: the same socket, kept across a reload. */
export function adminKey(listen: AdminListen): string {
  return listen.kind === "unix" ? `unix:${listen.path}` : `tcp:${listen.host}:${listen.port}`;
}

export async function openAdmin(listen: AdminListen, context: AdminContext): Promise<AdminServer> {
  if (listen.kind === "tcp" && !isLoopback(listen.host)) {
    throw new Error(`admin endpoint must listen on loopback or a unix socket, not ${listen.host}`);
  }
  const server = http.createServer((req, res) => void handle(req, res, listen, context));
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  if (listen.kind === "unix") {
    await listenUnix(server, listen.path, listen.mode);
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: listen.host, port: listen.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }
  const bound = server.address();
  const address =
    listen.kind === "unix" ? `unix:${listen.path}` : `tcp:${listen.host}:${typeof bound === "object" && bound ? bound.port : listen.port}`;
  let current = listen;
  return {
    get listen() {
      return current;
    },
    update(next) {
      if (next.kind === "unix" && current.kind === "unix" && next.mode !== current.mode) chmodSync(next.path, next.mode);
      current = next;
    },
    address,
    async close() {
      server.close();
      server.closeIdleConnections();
    },
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, listen: AdminListen, context: AdminContext): Promise<void> {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const tenants = context.tenants?.();
  if (tenants !== undefined && listen.kind === "unix" && (path === "/tenants" || path.startsWith("/tenants/"))) {
    await tenants.handle(req, res, path);
    return;
  }
  if (path !== "/healthz" && path !== "/metrics") {
    reply(res, 404, "application/json", JSON.stringify({ message: `no such admin resource: ${path} (try /healthz or /metrics)` }) + "\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    reply(res, 405, "application/json", JSON.stringify({ message: `${req.method} is not allowed on ${path}` }) + "\n");
    return;
  }
  if (path === "/metrics") {
    reply(res, 200, "text/plain; version=0.0.4; charset=utf-8", context.metrics.render());
    return;
  }
  const problem = await ping(context.daemon());
  if (problem === undefined) {
    reply(res, 200, "application/json", '{"status":"ok","daemon":"ok"}\n');
  } else {
    reply(res, 503, "application/json", JSON.stringify({ status: "unavailable", daemon: problem }) + "\n");
  }
}

function reply(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  res.end(body);
}

/** GET /_ping through the daemon client: undefined when the daemon answered OK, else why not. */
async function ping(daemon: DaemonClient): Promise<string | undefined> {
  try {
    const reply = await daemon.request("GET", "/_ping", undefined, PING_TIMEOUT_MS);
    if (reply.status === 200) return undefined;
    return `daemon answered ${reply.status} ${reply.body.toString("utf8").trim().slice(0, 200)}`.trim();
  } catch (err) {
    return (err as Error).message;
  }
}
