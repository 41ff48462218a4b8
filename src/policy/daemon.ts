// dockgate's own requests to the Docker daemon (ownership lookups, volume creation, the event
// subscription that invalidates the ownership cache), over undici on the upstream unix socket.
//
// These are not client requests: they never pass through the gate, they use the daemon's default
// API version (no /vX.Y prefix: the fields read here exist in every version since 1.24), and
// every request has a deadline, so a hung daemon turns into a failed lookup (a 502 denial), never
// into a request that waits forever or, worse, is allowed.
//
// One DaemonClient per upstream socket, the only way dockgate talks to the daemon: the gate's
// lookups, the admin endpoint's health check, tenants and limits all get it passed in (the
// gateway resolves it for the config's upstream). It is shared by every gate built for that
// socket (config reloads build a new gate; the pool and the event subscription carry over).
// closeDaemonClients() ends them all. Its own failures (the event subscription dropping or
// refused, an event that is not JSON) are logged, never swallowed: while the subscription is
// down, the ownership cache stops trusting what it could not hear about.
//
// undici is imported on the first request, not at start: it is the largest module dockgate loads
// (about 5 MB of heap, 14 MB of RSS, 0.2 s), and a serve whose profiles never ask the daemon
// anything (no ownership, no image checks) does not need it.

import net from "node:net";
import type { Client, Pool } from "undici";
import type { Logger } from "../observe/log.js";

type Undici = typeof import("undici");
let undici: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undici ??= import("undici"));

/** How long one lookup may take before the decision fails (502). */
export const LOOKUP_TIMEOUT_MS = 10_000;
/** Backoff between event subscription attempts: first retry, cap. */
const EVENTS_RETRY_MS = 250;
const EVENTS_RETRY_MAX_MS = 10_000;

export interface DaemonReply {
  status: number;
  body: Buffer;
}

/** A daemon event as `GET /events` streams it (JSON lines). */
export interface DaemonEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export type EventListener = (event: DaemonEvent) => void;
/** Called when the subscription (re)connects (`true`: from now on events arrive) or drops (`false`). */
export type StateListener = (live: boolean) => void;

export class DaemonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DaemonError";
  }
}

export class DaemonClient {
  private pool: Pool | undefined;
  private events: { client: Client | undefined; listeners: Set<EventListener>; states: Set<StateListener>; live: boolean } | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socketPath: string,
    /** Where the client's own failures are logged (the first user that has a logger gives it). */
    private logger?: Logger,
  ) {}

  /** Where this client's failures are logged (undefined: nowhere yet). */
  get log(): Logger | undefined {
    return this.logger;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Logs this client's failures to `logger` from now on, unless it has a logger already. */
  logTo(logger: Logger): this {
    this.logger ??= logger;
    return this;
  }

  private async getPool(): Promise<Pool> {
    if (this.pool !== undefined) return this.pool;
    const { Pool } = await loadUndici();
    this.pool ??= new Pool("http://docker", {
      socketPath: this.socketPath,
      connections: 16,
      headersTimeout: LOOKUP_TIMEOUT_MS,
      bodyTimeout: LOOKUP_TIMEOUT_MS,
      connectTimeout: LOOKUP_TIMEOUT_MS,
    });
    return this.pool;
  }

  /** One request; throws DaemonError when the daemon cannot be reached or does not answer within `timeoutMs`. */
  async request(method: string, path: string, body?: unknown, timeoutMs = LOOKUP_TIMEOUT_MS): Promise<DaemonReply> {
    if (this.closed) throw new DaemonError("the daemon client is closed");
    const payload = body === undefined ? undefined : JSON.stringify(body);
    try {
      const pool = await this.getPool();
      if (this.closed) throw new DaemonError("the daemon client is closed");
      const res = await pool.request({
        method: method as "GET",
        path,
        headers: payload === undefined ? { host: "docker" } : { host: "docker", "content-type": "application/json" },
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const data = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, body: data };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      const code = e.code ?? e.cause?.code;
      const why = e.name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
        ? `no answer within ${timeoutMs / 1000} s`
        : code ?? e.message;
      throw new DaemonError(`cannot reach the Docker daemon at ${this.socketPath}: ${why}`);
    }
  }

  /** GET a JSON document: `json` is undefined unless the status is 2xx. */
  async getJson<T>(path: string): Promise<{ status: number; json: T | undefined; message: string | undefined }> {
    const r = await this.request("GET", path);
    return parseReply<T>(r);
  }

  async postJson<T>(path: string, body: unknown): Promise<{ status: number; json: T | undefined; message: string | undefined }> {
    const r = await this.request("POST", path, body);
    return parseReply<T>(r);
  }

  /**
   * Subscribes to the daemon's events matching `filters` (one subscription per client: the first
   * call's filters are used). The stream reconnects with backoff; `onState` hears about drops and
   * reconnects, so a cache can stop trusting what it could not hear about.
   */
  subscribe(filters: Record<string, string[]>, onEvent: EventListener, onState?: StateListener): () => void {
    if (this.events === undefined) {
      this.events = { client: undefined, listeners: new Set(), states: new Set(), live: false };
      void this.runEvents(filters, EVENTS_RETRY_MS);
    }
    const ev = this.events;
    ev.listeners.add(onEvent);
    if (onState) ev.states.add(onState);
    return () => {
      ev.listeners.delete(onEvent);
      if (onState) ev.states.delete(onState);
    };
  }

  /** The event stream's own connection (not the pool's: it stays open). */
  private async eventsClient(): Promise<Client> {
    const { Client } = await loadUndici();
    // The stream's socket does not keep the process alive (a one-shot `dockgate explain` exits).
    const socketPath = this.socketPath;
    return new Client("http://docker", {
      headersTimeout: LOOKUP_TIMEOUT_MS,
      bodyTimeout: 0,
      connect(_options, callback) {
        const socket = net.connect(socketPath);
        socket.unref();
        let settled = false;
        socket.once("connect", () => {
          if (!settled) {
            settled = true;
            callback(null, socket);
          }
        });
        socket.once("error", (err) => {
          if (!settled) {
            settled = true;
            callback(err, null);
          }
        });
      },
      });
  }

  /** Whether the event subscription is connected right now. */
  get eventsLive(): boolean {
    return this.events?.live ?? false;
  }

  private setLive(live: boolean): void {
    const ev = this.events;
    if (!ev || ev.live === live) return;
    ev.live = live;
    for (const s of ev.states) s(live);
  }

  private async runEvents(filters: Record<string, string[]>, backoff: number): Promise<void> {
    const ev = this.events;
    if (!ev || this.closed) return;
    let delivered = false;
    try {
      const client = (ev.client ??= await this.eventsClient());
      if (this.closed) return;
      const query = `filters=${encodeURIComponent(JSON.stringify(filters))}`;
      const res = await client.request({ method: "GET", path: `/events?${query}`, headers: { host: "docker" } });
      if (res.statusCode !== 200) {
        await res.body.text().catch(() => "");
        throw new DaemonError(`events: HTTP ${res.statusCode}`);
      }
      this.setLive(true);
      let pending = "";
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (this.closed) break;
        pending += chunk.toString("utf8");
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line === "") continue;
          let event: DaemonEvent;
          try {
            event = JSON.parse(line) as DaemonEvent;
          } catch (err) {
            this.logger?.error({ upstream: this.socketPath, err: (err as Error).message, bytes: line.length }, "daemon event is not JSON: skipped");
            continue;
          }
          delivered = true;
          for (const l of ev.listeners) l(event);
        }
      }
      if (!this.closed) throw new DaemonError("events: the daemon ended the stream");
    } catch (err) {
      // Dropped or refused: said once per attempt, then reconnected below.
      if (!this.closed) {
        const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
        this.logger?.warn(
          { upstream: this.socketPath, err: e.code ?? e.cause?.code ?? e.message, retryMs: delivered ? EVENTS_RETRY_MS : backoff },
          "daemon event subscription lost: reconnecting (ownership lookups ask the daemon meanwhile)",
        );
      }
    }
    this.setLive(false);
    if (this.closed) return;
    const next = delivered ? EVENTS_RETRY_MS : Math.min(backoff * 2, EVENTS_RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => void this.runEvents(filters, next), delivered ? EVENTS_RETRY_MS : backoff);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const ev = this.events;
    this.events = undefined;
    await Promise.all([this.pool?.destroy().catch(() => {}), ev?.client?.destroy().catch(() => {})]);
  }
}

function parseReply<T>(r: DaemonReply): { status: number; json: T | undefined; message: string | undefined } {
  if (r.status >= 200 && r.status < 300) {
    try {
      return { status: r.status, json: JSON.parse(r.body.toString("utf8")) as T, message: undefined };
    } catch {
      throw new DaemonError(`the daemon answered ${r.status} with a body that is not JSON`);
    }
  }
  let message: string | undefined;
  try {
    const m = (JSON.parse(r.body.toString("utf8")) as { message?: unknown }).message;
    if (typeof m === "string") message = m;
  } catch {
    message = r.body.toString("utf8").trim() || undefined;
  }
  return { status: r.status, json: undefined, message };
}

const clients = new Map<string, DaemonClient>();

/** The shared client for an upstream socket (logging to `logger` when it had no logger yet). */
export function daemonClient(socketPath: string, logger?: Logger): DaemonClient {
  let c = clients.get(socketPath);
  if (c === undefined) {
    c = new DaemonClient(socketPath, logger);
    clients.set(socketPath, c);
  } else if (logger !== undefined) c.logTo(logger);
  return c;
}

/** Closes every shared client (tests, shutdown). */
export async function closeDaemonClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.all(all.map((c) => c.close()));
}
