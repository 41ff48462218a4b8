// dockgate's own requests to the Docker daemon (image and ownership lookups, volume creation,
// the event subscription that invalidates the ownership cache), on the upstream unix socket.
//
// These are not client requests: they never pass through the gate, they use the daemon's default
// API version (no /vX.Y prefix: the fields read here exist in every version since 1.24), and
// every request has a deadline, so a hung daemon turns into a failed lookup (a 502 denial), never
// into a request that waits forever or, worse, is allowed.
//
// One DaemonClient per upstream socket, the only way dockgate talks to the daemon: the gate's
// lookups, the admin endpoint's health check, tenants and limits all get it passed in (the
// gateway resolves it for the config's upstream). It is shared by every gate built for that
// socket (config reloads build a new gate; the connections and the event subscription carry over).
// closeDaemonClients() ends them all. Its own failures (the event subscription dropping or
// refused, an event that is not JSON) are logged, never swallowed: while the subscription is
// down, the ownership cache stops trusting what it could not hear about.
//
// Lookups (request / getJson / postJson) are plain HTTP/1.1 exchanges on kept-alive connections
// of the client's own (Connection below): every container create asks the daemon for its
// image's id (name → id is never cached), and through an undici Pool that lookup cost about 2x
// the CPU of the exchange itself (AbortSignal.timeout and its DOMException, undici's timers and
// dispatcher; measured with bench: about 230 µs of dockgate CPU per lookup warm, against 115 µs
// here, and over 1 ms per container create cold). The event subscription, a long-lived stream
// only ownership profiles open, stays on undici: it is imported with the first subscription, not
// at start (the largest module dockgate would load: about 5 MB of heap, 14 MB of RSS, 0.2 s).

import net from "node:net";
import type { Client } from "undici";
import { ChunkedDecoder } from "../http/chunked.js";
import { parseResponseHead, type ResponseHead } from "../forward/response-head.js";
import type { Logger } from "../observe/log.js";

type Undici = typeof import("undici");
let undici: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undici ??= import("undici"));

/** How long one lookup may take before the decision fails (502). */
export const LOOKUP_TIMEOUT_MS = 10_000;
/** Backoff between event subscription attempts: first retry, cap. */
const EVENTS_RETRY_MS = 250;
const EVENTS_RETRY_MAX_MS = 10_000;
/** Idle connections kept for the next lookups (more in flight at once are opened and then closed). */
const MAX_IDLE = 16;
/** A response head longer than this is not the daemon's. */
const MAX_HEAD_BYTES = 64 * 1024;
const REQUEST_PATH = /^\/[\x21-\x7e]*$/;

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
  /** Kept-alive connections with no exchange on them, most recently used last. */
  private readonly idle: Connection[] = [];
  /** Every open lookup connection (idle or busy), for close(). */
  private readonly open = new Set<Connection>();
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

  /** One request; throws DaemonError when the daemon cannot be reached or does not answer within `timeoutMs`. */
  async request(method: string, path: string, body?: unknown, timeoutMs = LOOKUP_TIMEOUT_MS): Promise<DaemonReply> {
    if (this.closed) throw new DaemonError("the daemon client is closed");
    // The path goes into the request line as is: nothing that could end it or start a header.
    if (!REQUEST_PATH.test(path)) throw new DaemonError(`not a request path for the daemon: ${JSON.stringify(path)}`);
    const payload = body === undefined ? "" : JSON.stringify(body);
    const head =
      payload === ""
        ? `${method} ${path} HTTP/1.1\r\nHost: docker\r\n\r\n`
        : `${method} ${path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n`;
    const deadline = Date.now() + timeoutMs;
    try {
      const reused = this.idle.pop();
      try {
        return await this.exchange(reused ?? this.connect(), head + payload, deadline);
      } catch (err) {
        // A kept-alive connection the daemon closed meanwhile fails before any answer: a GET goes
        // again on a new one (what the daemon never received it cannot have acted on; a POST is
        // not repeated, it fails: a 502 denial).
        if (reused === undefined || !(err instanceof Unanswered) || method !== "GET" || this.closed) throw err;
        return await this.exchange(this.connect(), head + payload, deadline);
      }
    } catch (err) {
      const why = err instanceof TimedOut
        ? `no answer within ${timeoutMs / 1000} s`
        : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      throw new DaemonError(`cannot reach the Docker daemon at ${this.socketPath}: ${why}`);
    }
  }

  private connect(): Connection {
    const conn = new Connection(net.connect(this.socketPath), (c) => {
      this.open.delete(c);
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.open.add(conn);
    return conn;
  }

  private async exchange(conn: Connection, text: string, deadline: number): Promise<DaemonReply> {
    const reply = await conn.exchange(text, deadline - Date.now());
    if (conn.reusable && !this.closed && this.idle.length < MAX_IDLE) this.idle.push(conn);
    else conn.close();
    return reply;
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

  /** The event stream's own connection (not a lookup connection: it stays open). */
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
    for (const c of this.open) c.close();
    this.idle.length = 0;
    await ev?.client?.destroy().catch(() => {});
  }
}

/** The connection was gone before any byte of an answer (the daemon may not have read the request). */
class Unanswered extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}
class TimedOut extends Error {}

const CONNECTION_CLOSE = /\r\nconnection:[^\r]*\bclose\b/i;

/**
 * One kept-alive connection to the daemon, one exchange at a time: writes a request, reads the
 * answer framed by Content-Length or chunked (the daemon's reply heads, parsed as the forwarder
 * parses them), or up to the close. Reusable only after a complete, framed answer with nothing
 * after it and no `Connection: close`. Idle, it does not keep the process alive.
 */
class Connection {
  private pending:
    | { resolve: (r: DaemonReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
    | undefined;
  private buffered: Buffer | undefined;
  private head: ResponseHead | undefined;
  private chunks: Buffer[] = [];
  private received = 0;
  private chunked: ChunkedDecoder | undefined;
  private keepAlive = false;
  private ended = false;
  private error: Error | undefined;
  reusable = false;

  constructor(
    private readonly socket: net.Socket,
    onGone: (c: Connection) => void,
  ) {
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("error", (e) => (this.error ??= e));
    socket.on("close", () => {
      this.ended = true;
      this.reusable = false;
      onGone(this);
      this.onEnd();
    });
  }

  exchange(text: string, timeoutMs: number): Promise<DaemonReply> {
    this.reusable = false;
    this.head = undefined;
    this.buffered = undefined;
    this.chunks = [];
    this.received = 0;
    this.chunked = undefined;
    return new Promise<DaemonReply>((resolve, reject) => {
      if (this.ended) {
        reject(new Unanswered("the daemon closed the connection"));
        return;
      }
      const timer = setTimeout(() => this.fail(new TimedOut()), Math.max(0, timeoutMs));
      this.pending = { resolve, reject, timer };
      this.socket.ref();
      this.socket.write(text, "utf8");
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    const p = this.pending;
    if (p === undefined) {
      // Bytes nobody asked for: this connection cannot be trusted for the next answer.
      this.socket.destroy();
      return;
    }
    try {
      let buf = this.buffered === undefined ? d : Buffer.concat([this.buffered, d]);
      this.buffered = undefined;
      if (this.head === undefined) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > MAX_HEAD_BYTES) throw new Error("oversized response head");
          this.buffered = buf;
          return;
        }
        const text = buf.toString("latin1", 0, end + 4);
        const head = parseResponseHead(text);
        buf = buf.subarray(end + 4);
        if (head.status >= 100 && head.status < 200) {
          // 100 Continue and friends precede the answer.
          if (buf.length > 0) this.onData(buf);
          return;
        }
        this.head = head;
        this.keepAlive = text.startsWith("HTTP/1.1") && !CONNECTION_CLOSE.test(text);
        if (head.status === 204 || head.status === 304) {
          this.finish(buf.length === 0);
          return;
        }
        if (head.chunked) this.chunked = new ChunkedDecoder((c) => this.chunks.push(c));
      }
      const head = this.head;
      if (this.chunked !== undefined) {
        const used = this.chunked.push(buf, 0);
        if (this.chunked.done) this.finish(used === buf.length);
      } else if (head.contentLength !== null) {
        const take = Math.min(buf.length, head.contentLength - this.received);
        if (take > 0) this.chunks.push(buf.subarray(0, take));
        this.received += take;
        if (this.received === head.contentLength) this.finish(take === buf.length);
      } else if (buf.length > 0) {
        // Neither: the body ends with the connection.
        this.chunks.push(buf);
      }
    } catch (err) {
      this.fail(new Error(`malformed answer from the daemon: ${(err as Error).message}`));
    }
  }

  /** The answer is complete; `clean`: nothing followed it. */
  private finish(clean: boolean): void {
    const p = this.pending!;
    this.pending = undefined;
    clearTimeout(p.timer);
    this.reusable = clean && this.keepAlive && !this.ended;
    if (this.reusable) this.socket.unref();
    else this.socket.destroy();
    p.resolve({ status: this.head!.status, body: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks) });
  }

  private onEnd(): void {
    if (this.pending === undefined) return;
    const head = this.head;
    if (head !== undefined && !head.chunked && head.contentLength === null) {
      this.finish(false);
      return;
    }
    const got = head !== undefined || this.buffered !== undefined;
    const e = this.error;
    if (got) this.fail(e ?? new Error("the daemon closed the connection mid-answer"));
    else this.fail(new Unanswered(e?.message ?? "the daemon closed the connection", (e as NodeJS.ErrnoException | undefined)?.code));
  }

  private fail(err: Error): void {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    this.reusable = false;
    this.socket.destroy();
    p.reject(err);
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
