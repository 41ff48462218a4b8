// One client connection and its own upstream connection to the daemon.
//
// Client → daemon: every request is parsed strictly, normalized, routed and decided by the gate
// before any of its bytes leave; the head the daemon receives is rebuilt from that parse, bodies
// are re-framed (Content-Length or re-chunked) so nothing unparsed can ride along. Inspected
// bodies are buffered (bounded) and forwarded exactly as inspected.
// Daemon → client: responses come back in request order on the same connection, so they are
// piped through untouched while a small reader follows their framing (to log each one, to slot
// dockgate's own replies in order, and to notice a hijack). After a hijack both directions are
// raw byte pipes with half-close.
// Backpressure: whichever side cannot keep up pauses the other; per connection dockgate holds at
// most one socket read, one head, and one inspected body.

import net from "node:net";
import { performance } from "node:perf_hooks";
import { matchRoute } from "../api/routes.js";
import { ChunkedDecoder } from "../http/chunked.js";
import { CONTINUE_RESPONSE, errorResponse, HttpError } from "../http/errors.js";
import { HeadReader, parseRequestHead, type RequestHead } from "../http/request-head.js";
import { encodeTarget, parseTarget, TargetError } from "../http/target.js";
import type { BodyResult, BodyStep, BodyStream, BodyStreamCheck, Client, Denial, Gate, RequestView, ResponseTransform, Rewrite, Verdict } from "../policy/verdict.js";
import { HTTP11_REQUIRED_REPLY, HTTP2_REFUSAL_MESSAGE, isHttp2Preface } from "./h2-preface.js";
import { parseResponseHead } from "./response-head.js";

/** Operations whose successful response turns the connection into a raw stream. */
const HIJACKING = new Set(["ContainerAttach", "ExecStart", "Session", "Grpc", "ContainerAttachWebsocket"]);
/** Hijacking operations that take no request body (the spec defines none). */
const HIJACK_WITHOUT_BODY = new Set(["ContainerAttach", "Session", "Grpc", "ContainerAttachWebsocket"]);
const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");
const CRLF = Buffer.from("\r\n", "latin1");
/** Replies owed to the client before dockgate stops reading more pipelined requests. */
const MAX_QUEUED = 64;
const MAX_RESPONSE_HEAD = 65536;
/**
 * After dockgate's last reply, how long a client that is still sending may go on before the
 * connection is cut: its bytes are read and dropped meanwhile, so it reads the reply instead of
 * a reset (a 413 or 431 for a request it is still writing).
 */
const LINGER_MS = 2000;

export interface SessionLimits {
  maxHeaderBytes: number;
  /**
   * How long a request head may take to arrive, from the connection's accept (first request) or
   * from its first byte (later ones), while nothing else is owed to the client; then 408 and close.
   */
  headerTimeoutSeconds: number;
}

/** What the log gets for each request, once its response is complete. */
export interface ExchangeRecord {
  client: Client;
  method: string;
  path: string;
  operation: string | undefined;
  decision: "allow" | "deny" | "error";
  rule: string | undefined;
  field: string | undefined;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  hijacked: boolean;
  message: string | undefined;
  /** Set when an audit-mode profile allowed what enforce mode would deny. */
  audit: Denial | undefined;
  /** The request as the gate saw it (undefined when it never got that far): limits release its hold by it. */
  request: RequestView | undefined;
}

/**
 * A connection the daemon switched to another protocol (101), handed over whole: dockgate relays
 * it itself (BuildKit's HTTP/2 /session). `fromClient` / `fromUpstream` are bytes already read
 * past the switch; `done` releases the connection (both sockets closed, the exchange logged).
 */
export interface Takeover {
  view: RequestView;
  client: Client;
  clientSocket: net.Socket;
  upstream: net.Socket;
  fromClient: Buffer | null;
  fromUpstream: Buffer;
  done(): void;
}

export interface SessionHooks {
  /** Operations whose 101 is handed to a relay instead of piped raw. */
  upgrades?: ReadonlyMap<string, (t: Takeover) => void>;
  gate: Gate;
  upstreamPath: string;
  limits: SessionLimits;
  onExchange(record: ExchangeRecord): void;
  onClosed(session: Session): void;
}

interface Exchange {
  record: ExchangeRecord;
  start: number;
  /** dockgate's own reply; undefined when the daemon answers. */
  local: Buffer | undefined;
  /** 100 Continue written on the daemon's behalf: not a response of its own. */
  interim: boolean;
  closeAfter: boolean;
  headRequest: boolean;
  hijackable: boolean;
  /** The policy rewrites this exchange's successful response before the client sees it. */
  transform: ResponseTransform | undefined;
  /** The request of an exchange whose 101 a hooks.upgrades relay takes over. */
  upgradeView?: RequestView;
}

const enum In {
  Head,
  Fixed,
  Chunked,
  /** Waiting for an asynchronous decision (a daemon lookup): nothing more is read meanwhile. */
  Deciding,
  AwaitResponse,
  Raw,
  Stopped,
}

const enum Out {
  Head,
  Fixed,
  Chunked,
  UntilClose,
  Raw,
  /** Collecting a 2xx body for the policy's response transform. */
  Transform,
}

type BodyTarget = "forward" | "collect" | "discard" | "stream";

export class Session {
  private upstream: net.Socket | null = null;
  private pending: Buffer | null = null;
  private inState = In.Head;
  private bodyTarget: BodyTarget = "forward";
  private bodyRemaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private collected: Buffer[] = [];
  private collectedBytes = 0;
  private collectLimit = 0;
  private collecting: { exchange: Exchange; inspect: (body: Buffer) => In | Promise<In> } | null = null;
  /** Where the client side goes once the current body is read. */
  private afterBody = In.Head;
  private readonly queue: Exchange[] = [];
  private outState = Out.Head;
  private outHead = "";
  private outRemaining = 0;
  private outDecoder: ChunkedDecoder | null = null;
  private clientEnded = false;
  private draining = false;
  /** dockgate's side of the connection is ending (closeClientAfterWrites ran). */
  private closing = false;
  private closed = false;
  /** The head being received, across reads. */
  private readonly heads = new HeadReader();
  /** Runs while a request head is awaited (see SessionLimits.headerTimeoutSeconds). */
  private headTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly client: net.Socket,
    private identity: Client,
    private readonly hooks: SessionHooks,
  ) {
    client.on("data", (buf: Buffer) => this.onClientData(buf));
    client.on("end", () => this.onClientEnd());
    client.on("error", () => this.destroy());
    client.on("close", () => this.destroy());
    client.on("drain", () => {
      this.upstream?.resume();
      this.resumeReading();
    });
    // Like Go's ReadHeaderTimeout: the first request's head is timed from the accept.
    this.armHeadTimer();
  }

  /**
   * A reload gave the connection a new identity: the next request is decided and logged as
   * `next`; exchanges in flight keep the identity that decided them.
   */
  reidentify(next: Client): void {
    this.identity = next;
  }

  /** True when nothing is in flight: a graceful shutdown may close it at once. */
  get idle(): boolean {
    return this.queue.length === 0 && this.inState === In.Head && this.pending === null && this.heads.empty;
  }

  /** Graceful shutdown: finish what is in flight, then close. */
  drain(): void {
    this.draining = true;
    if (this.idle) this.closeClientAfterWrites();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    const streaming = this.queue[0];
    // A response cut by the close (a stream, or a client that left) still gets its log line.
    if (streaming !== undefined && streaming.local === undefined && streaming.record.status !== 0) this.log(streaming, "allow");
    this.inState = In.Stopped;
    this.clearHeadTimer();
    this.client.destroy();
    this.upstream?.destroy();
    this.hooks.onClosed(this);
  }

  // ---- client → daemon -------------------------------------------------------------------

  private onClientData(buf: Buffer): void {
    switch (this.inState) {
      case In.Raw:
        if (!this.upstream!.write(buf)) this.client.pause();
        return;
      case In.Stopped:
        return;
      default:
        this.pending = this.pending === null ? buf : Buffer.concat([this.pending, buf]);
        this.process();
    }
  }

  private process(): void {
    try {
      while (this.pending !== null && !this.closed) {
        switch (this.inState) {
          case In.Head:
            if (!this.readHead()) return;
            break;
          case In.Fixed:
            if (this.streamed?.busy) return this.applyBackpressure();
            this.readFixedBody();
            break;
          case In.Chunked:
            if (this.streamed?.busy) return this.applyBackpressure();
            this.readChunkedBody();
            break;
          case In.Deciding:
          case In.AwaitResponse:
          case In.Raw:
          case In.Stopped:
            return;
        }
      }
    } catch (err) {
      this.failRequest(err);
      return;
    }
    this.applyBackpressure();
  }

  private take(n: number): Buffer {
    const buf = this.pending!;
    if (n >= buf.length) {
      this.pending = null;
      return buf;
    }
    this.pending = buf.subarray(n);
    return buf.subarray(0, n);
  }

  /** Parses and decides one request head; false when more bytes are needed. */
  private readHead(): boolean {
    const buf = this.pending!;
    let got;
    try {
      got = this.heads.push(buf, this.hooks.limits.maxHeaderBytes);
    } catch (err) {
      this.failRequest(err, this.heads.beginsWith("HEAD ", buf));
      return false;
    }
    if (got === null) {
      // Held by the reader: the next read continues where this one stopped.
      this.pending = null;
      this.armHeadTimer();
      return false;
    }
    this.clearHeadTimer();
    this.pending = got.next < buf.length ? buf.subarray(got.next) : null;
    this.headBytes = got.head;
    if (this.queue.length === 0 && isHttp2Preface(got.head)) {
      this.refuseHttp2();
      return false;
    }
    const text = got.head.toString("latin1", 0, got.head.length - 4);
    let head: RequestHead;
    try {
      head = parseRequestHead(text);
    } catch (err) {
      // The reply to a HEAD request never has a body, even when its head is malformed.
      this.failRequest(err, text.startsWith("HEAD "));
      return false;
    }
    this.onRequest(head);
    return true;
  }

  private armHeadTimer(): void {
    const seconds = this.hooks.limits.headerTimeoutSeconds;
    if (this.headTimer !== null || this.closed || !(seconds > 0)) return;
    this.headTimer = setTimeout(() => this.onHeadTimeout(seconds), seconds * 1000);
  }

  private clearHeadTimer(): void {
    if (this.headTimer === null) return;
    clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  private onHeadTimeout(seconds: number): void {
    this.headTimer = null;
    if (this.closed || this.inState !== In.Head) return;
    if (this.queue.length > 0 || this.client.isPaused()) {
      // The wait is dockgate's (replies still owed, or reading paused), not the client's: the
      // head gets another full period once that is over.
      this.armHeadTimer();
      return;
    }
    this.failRequest(new HttpError(408, `request head not received within ${seconds} s`), false, "http.timeout");
  }

  private onRequest(head: RequestHead): void {
    const exchange = this.newExchange(head.method, head.target);
    exchange.headRequest = head.method === "HEAD";
    exchange.closeAfter = head.close;
    const hasBody = head.chunked || (head.contentLength ?? 0) > 0;

    let view: RequestView;
    try {
      view = this.view(head);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 400;
      this.deny(exchange, head, hasBody, status, (err as Error).message, status === 403 ? "endpoint.unknown" : "request.target");
      return;
    }
    exchange.record.path = view.path;
    exchange.record.operation = view.operation;
    exchange.record.request = view;
    exchange.hijackable = HIJACKING.has(view.operation);
    if (this.hooks.upgrades?.has(view.operation)) exchange.upgradeView = view;

    if (head.formBody && hasBody) {
      const rule = "request.form-body";
      exchange.record.rule = rule;
      exchange.record.field = "Content-Type";
      const message =
        `dockgate: ${view.operation} denied for profile ${this.identity.profile}: a request body of type ` +
        `"${head.byName["content-type"]}" is not accepted: the daemon would read it as query parameters (rule ${rule})`;
      this.deny(exchange, head, hasBody, 403, message, rule);
      return;
    }

    const verdict = this.hooks.gate.decide(view, this.identity);
    if (verdict instanceof Promise) {
      this.inState = In.Deciding;
      verdict.then(
        (v) => this.resumeWith(() => this.apply(exchange, head, view, hasBody, v)),
        (err: Error) =>
          this.resumeWith(() =>
            this.deny(exchange, head, hasBody, 502, `dockgate: ${view.operation}: the decision needed the daemon and failed: ${err.message}`, "policy.lookup"),
          ),
      );
      return;
    }
    this.apply(exchange, head, view, hasBody, verdict);
  }

  /** Continues reading requests after an asynchronous step settled. */
  private resumeWith(step: () => void): void {
    if (this.closed) return;
    this.inState = In.Head;
    try {
      step();
    } catch (err) {
      this.failRequest(err);
      return;
    }
    this.settled();
  }

  /** After an asynchronous step: read on, and apply a client EOF that arrived meanwhile. */
  private settled(): void {
    this.process();
    if (this.closed) return;
    if (this.clientEnded) this.onClientEnd();
    else this.resumeReading();
  }

  private apply(exchange: Exchange, head: RequestHead, view: RequestView, hasBody: boolean, verdict: Verdict): void {
    if (verdict.kind === "deny") {
      const d = verdict.denial;
      exchange.record.rule = d.rule;
      exchange.record.field = d.field;
      this.deny(exchange, head, hasBody, d.status, d.message, d.rule);
      return;
    }
    this.rewrite(exchange, view, verdict.rewrite);
    if (verdict.kind === "allow") {
      exchange.record.audit = verdict.audit;
      if (verdict.bodyStream !== undefined && hasBody) this.streamBody(exchange, head, view, verdict.bodyStream);
      else this.forwardRequest(exchange, head, view, hasBody);
      return;
    }

    // Inspect: collect the body (bounded), then decide on exactly those bytes.
    const check = verdict.check;
    if (head.contentLength !== null && head.contentLength > check.maxBytes) {
      exchange.record.rule = "body.size";
      this.deny(exchange, head, true, 413, `dockgate: ${view.operation} body of ${head.contentLength} bytes exceeds the inspection limit of ${check.maxBytes} bytes`, "body.size");
      return;
    }
    this.collectBody(exchange, head, check.maxBytes, (body) => {
      const result = check.inspect(body);
      return result instanceof Promise
        ? result.then((r) => this.afterInspection(exchange, head, view, body, r))
        : this.afterInspection(exchange, head, view, body, result);
    });
  }

  /** Applies the policy's rewrite of target and response to what is forwarded for this exchange. */
  private rewrite(exchange: Exchange, view: RequestView, rewrite: Rewrite | undefined): void {
    if (rewrite === undefined) return;
    if (rewrite.path !== undefined || rewrite.query !== undefined) {
      const prefix = view.apiVersion === undefined ? "" : `/v${view.apiVersion}`;
      this.forwardTarget = encodeTarget(prefix + (rewrite.path ?? view.path), rewrite.query ?? view.query);
    }
    if (rewrite.response !== undefined) exchange.transform = rewrite.response;
  }

  private afterInspection(exchange: Exchange, head: RequestHead, view: RequestView, body: Buffer, result: BodyResult): In {
    if (!result.ok) {
      const d = result.denial;
      exchange.record.rule = d.rule;
      exchange.record.field = d.field;
      exchange.record.message = d.message;
      this.settleLocal(exchange, errorResponse(d.status, d.message, false, exchange.headRequest), "deny");
      return In.Head;
    }
    exchange.record.audit = result.audit;
    this.rewrite(exchange, view, result.rewrite);
    const out = result.body ?? body;
    exchange.record.bytesIn = out.length;
    const upstream = this.connectUpstream();
    upstream.cork();
    upstream.write(this.upstreamHead(head, view, `Content-Length: ${out.length}\r\n`), "latin1");
    if (out.length > 0) upstream.write(out);
    upstream.uncork();
    return exchange.hijackable ? In.AwaitResponse : In.Head;
  }

  /** Queues the exchange and reads its whole body (at most `limit` bytes) before `then` acts. */
  private collectBody(exchange: Exchange, head: RequestHead, limit: number, then: (body: Buffer) => In | Promise<In>): void {
    if (head.expectContinue) this.enqueueLocal(this.interim());
    this.queue.push(exchange);
    this.collectLimit = limit;
    this.collected = [];
    this.collectedBytes = 0;
    this.collecting = { exchange, inspect: then };
    this.beginBody(head, "collect", In.Head);
  }

  private view(head: RequestHead): RequestView {
    let target;
    try {
      target = parseTarget(head.target);
    } catch (err) {
      if (err instanceof TargetError) throw new HttpError(400, `dockgate: ${err.message}`);
      throw err;
    }
    const route = matchRoute(head.method, target.path);
    if (!route.ok) {
      const status = route.status === 404 ? 403 : 400;
      throw new HttpError(status, `dockgate: ${route.reason}${status === 403 ? " (rule endpoint.unknown)" : ""}`);
    }
    const m = route.match;
    const path = m.apiVersion === undefined ? target.path : target.path.slice(m.apiVersion.length + 2);
    this.forwardTarget = target.forward;
    return {
      method: head.method,
      path,
      apiVersion: m.apiVersion,
      operation: m.operation,
      params: m.params,
      query: target.query,
      headers: head.byName,
    };
  }

  /** The canonical target of the request being handled (set by view(), or by a rewrite). */
  private forwardTarget = "";
  /** The bytes of the head being handled, as the client sent them. */
  private headBytes: Buffer | null = null;

  private upstreamHead(head: RequestHead, view: RequestView, framing: string): string {
    let text = `${head.method} ${this.forwardTarget} HTTP/1.${head.minor}\r\n`;
    for (const [name, value] of head.headers) text += `${name}: ${value}\r\n`;
    if (HIJACKING.has(view.operation) && head.upgrade !== undefined) {
      text += `Connection: Upgrade\r\nUpgrade: ${head.upgrade}\r\n`;
    }
    return text + framing + "\r\n";
  }

  private forwardRequest(exchange: Exchange, head: RequestHead, view: RequestView, hasBody: boolean): void {
    if (hasBody && HIJACK_WITHOUT_BODY.has(view.operation)) {
      // The daemon never reads this body and hijacks right after the head, so body bytes that
      // arrive late would become the container's stdin (dockerode sends its options as one).
      // Read it whole, drop it, and forward the bare head: what the daemon does, without the race.
      this.collectBody(exchange, head, this.hooks.limits.maxHeaderBytes, () => {
        this.connectUpstream().write(this.upstreamHead(head, view, ""), "latin1");
        return In.AwaitResponse;
      });
      return;
    }
    if (head.expectContinue && hasBody) this.enqueueLocal(this.interim());
    this.queue.push(exchange);
    const upstream = this.connectUpstream();
    const next = exchange.hijackable ? In.AwaitResponse : In.Head;
    if (!hasBody) {
      if (head.canonical && head.contentLength === null && this.forwardTarget === head.target && !HIJACKING.has(view.operation)) {
        // The common case: the client's head is exactly what a rebuild would produce (no
        // hop-by-hop fields, canonical target, no body), so its own bytes go on as they are.
        upstream.write(this.headBytes!);
      } else {
        upstream.write(this.upstreamHead(head, view, head.contentLength === 0 ? "Content-Length: 0\r\n" : ""), "latin1");
      }
      this.afterRequest(exchange, next);
      return;
    }
    const framing = head.chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${head.contentLength}\r\n`;
    upstream.write(this.upstreamHead(head, view, framing), "latin1");
    this.currentExchange = exchange;
    this.beginBody(head, "forward", next);
  }

  /** The exchange whose request body is being forwarded (for its byte count). */
  private currentExchange: Exchange | null = null;

  private afterRequest(exchange: Exchange, next: In): void {
    if (exchange.closeAfter) {
      this.inState = In.Stopped;
      this.pending = null;
      return;
    }
    this.inState = next;
  }

  private deny(exchange: Exchange, head: RequestHead, hasBody: boolean, status: number, message: string, rule: string): void {
    exchange.record.rule ??= rule;
    exchange.record.message = message;
    const reply = errorResponse(status, message, false, exchange.headRequest);
    if (hasBody && head.expectContinue) {
      // The client may or may not send the body it announced: the connection cannot go on.
      exchange.closeAfter = true;
    }
    this.queue.push(exchange);
    this.settleLocal(exchange, reply, status >= 500 ? "error" : "deny");
    if (exchange.closeAfter) {
      this.inState = In.Stopped;
      this.pending = null;
      return;
    }
    if (hasBody) this.beginBody(head, "discard", In.Head);
  }

  private beginBody(head: RequestHead, target: BodyTarget, next: In): void {
    this.bodyTarget = target;
    this.afterBody = next;
    if (head.chunked) {
      this.decoder = new ChunkedDecoder((chunk) => this.onBodyChunk(chunk, true));
      this.inState = In.Chunked;
    } else if ((head.contentLength ?? 0) > 0) {
      this.bodyRemaining = head.contentLength!;
      this.inState = In.Fixed;
    } else {
      this.endBody();
    }
  }

  private readFixedBody(): void {
    const chunk = this.take(this.bodyRemaining);
    this.bodyRemaining -= chunk.length;
    this.onBodyChunk(chunk, false);
    if (this.bodyRemaining === 0) this.endBody();
  }

  private readChunkedBody(): void {
    const buf = this.pending!;
    const used = this.decoder!.push(buf, 0);
    this.take(used);
    if (this.decoder!.done) {
      if (this.bodyTarget === "forward") this.upstream!.write(LAST_CHUNK);
      this.decoder = null;
      this.endBody();
    }
  }

  private onBodyChunk(chunk: Buffer, rechunk: boolean): void {
    if (chunk.length === 0) return;
    switch (this.bodyTarget) {
      case "forward":
        if (this.currentExchange) this.currentExchange.record.bytesIn += chunk.length;
        this.writeBody(chunk, rechunk);
        return;
      case "collect":
        this.collectedBytes += chunk.length;
        if (this.collectedBytes > this.collectLimit) {
          throw new HttpError(413, `request body exceeds the inspection limit of ${this.collectLimit} bytes`);
        }
        this.collected.push(chunk);
        return;
      case "discard":
        return;
      case "stream":
        this.streamFeed(chunk);
        return;
    }
  }

  /** Body bytes upstream, as they are or as one chunk (chunked framing). */
  private writeBody(buf: Buffer, chunked: boolean): void {
    const upstream = this.upstream!;
    if (!chunked) {
      upstream.write(buf);
      return;
    }
    upstream.cork();
    upstream.write(`${buf.length.toString(16)}\r\n`, "latin1");
    upstream.write(buf);
    upstream.write(CRLF);
    upstream.uncork();
  }

  // ---- streamed body inspection (BodyStreamCheck) ------------------------------------------
  // A request allowed on condition of its body, read as it streams: every chunk goes to the
  // policy's BodyStream and only the bytes it hands back go upstream (the head with the first of
  // them). While a step is pending nothing more is read from the client (bounded memory). The
  // body's end is held until the stream's last step: a request that is still being forwarded when
  // the stream refuses is cut (upstream destroyed before its body ended) and answered with the
  // denial, so the daemon never completes it.

  private streamed: {
    exchange: Exchange;
    head: RequestHead;
    view: RequestView;
    check: BodyStreamCheck;
    stream: BodyStream;
    /** Chunks (null: the body's end) waiting for the pending step. */
    backlog: Array<Buffer | null>;
    busy: boolean;
    /** Set while the last step said `more`: whether it belonged to the body's end. */
    pulling: boolean | undefined;
    /** The head went upstream: the body is being forwarded. */
    sent: boolean;
    next: In;
  } | null = null;

  private streamBody(exchange: Exchange, head: RequestHead, view: RequestView, check: BodyStreamCheck): void {
    if (head.expectContinue) this.enqueueLocal(this.interim());
    this.queue.push(exchange);
    const next = exchange.hijackable ? In.AwaitResponse : In.Head;
    this.streamed = { exchange, head, view, check, stream: check.open(), backlog: [], busy: false, pulling: undefined, sent: false, next };
    this.beginBody(head, "stream", next);
  }

  /** Hands the body's next chunk (null: its end) to the stream, in order. */
  private streamFeed(chunk: Buffer | null): void {
    const s = this.streamed!;
    s.backlog.push(chunk);
    if (!s.busy) this.streamDrain(s);
  }

  private streamDrain(s: NonNullable<Session["streamed"]>): void {
    while (this.streamed === s && !this.closed) {
      // A step that said `more` is followed by pull()s (once the daemon took what it sent)
      // before the next chunk; `pulling` is whether those belong to the body's end.
      const pulling = s.pulling;
      if (pulling === undefined && s.backlog.length === 0) return;
      const atEnd = pulling ?? s.backlog[0] === null;
      let step: BodyStep | Promise<BodyStep>;
      try {
        if (pulling !== undefined) step = s.stream.pull!();
        else {
          const item = s.backlog.shift()!;
          step = item === null ? s.stream.end() : s.stream.push(item);
        }
      } catch {
        this.destroy();
        return;
      }
      if (step instanceof Promise) {
        s.busy = true;
        step.then(
          (r) => {
            s.busy = false;
            if (this.streamed !== s || this.closed) return;
            this.streamStep(s, r, atEnd);
            if (!s.busy) this.streamDrain(s);
            if (!s.busy) this.settled();
          },
          () => this.destroy(),
        );
        return;
      }
      this.streamStep(s, step, atEnd);
      if (s.busy) return;
    }
  }

  /** Applies one step; after a `more` step, waits for the daemon to take it before pulling on. */
  private streamStep(s: NonNullable<Session["streamed"]>, step: BodyStep, atEnd: boolean): void {
    const more = step.ok && step.more === true;
    s.pulling = more ? atEnd : undefined;
    this.streamApply(s, step, atEnd && !more);
    const upstream = this.upstream;
    if (!more || this.streamed !== s || this.closed || upstream === null || !upstream.writableNeedDrain) return;
    s.busy = true;
    upstream.once("drain", () => {
      s.busy = false;
      if (this.streamed !== s || this.closed) return;
      this.streamDrain(s);
      if (!s.busy) this.settled();
    });
  }

  private streamApply(s: NonNullable<Session["streamed"]>, step: BodyStep, atEnd: boolean): void {
    const { exchange, head, view } = s;
    const chunked = head.chunked || s.check.rewrites;
    if (!step.ok) {
      const d = step.denial;
      exchange.record.rule = d.rule;
      exchange.record.field = d.field;
      exchange.record.message = d.message;
      this.streamed = null;
      if (s.sent) {
        // Part of the body is upstream: cut that request before its end reaches the daemon. A
        // clean denial is possible only while nothing of a response is on its way to the client.
        const ahead = this.queue.slice(0, this.queue.indexOf(exchange));
        if (this.outState !== Out.Head || this.outHead !== "" || ahead.some((e) => e.local === undefined)) {
          this.destroy();
          return;
        }
        const upstream = this.upstream!;
        this.upstream = null;
        upstream.destroy();
        this.currentExchange = null;
        exchange.closeAfter = true;
      }
      this.bodyTarget = "discard";
      if (exchange.closeAfter) this.afterBody = In.Stopped;
      // The body was read to its end already (this step or one still queued): read on.
      if (atEnd || s.backlog.includes(null)) this.inState = this.afterBody;
      this.settleLocal(exchange, errorResponse(d.status, d.message, false, exchange.headRequest), "deny");
      return;
    }
    exchange.record.audit ??= step.audit;
    if (!s.sent && (step.forward.length > 0 || atEnd)) {
      const framing = chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${head.contentLength}\r\n`;
      this.connectUpstream().write(this.upstreamHead(head, view, framing), "latin1");
      s.sent = true;
      this.currentExchange = exchange;
    }
    for (const buf of step.forward) {
      if (buf.length === 0) continue;
      exchange.record.bytesIn += buf.length;
      this.writeBody(buf, chunked);
    }
    if (!atEnd) return;
    if (chunked) this.upstream!.write(LAST_CHUNK);
    this.streamed = null;
    this.currentExchange = null;
    this.afterRequest(exchange, s.next);
  }

  private endBody(): void {
    if (this.bodyTarget === "stream") {
      // Nothing more is read until the stream's last step forwarded the body's end (or refused).
      this.inState = In.Deciding;
      this.streamFeed(null);
      return;
    }
    this.inState = this.afterBody;
    if (this.bodyTarget === "collect" && this.collecting) {
      const { exchange, inspect } = this.collecting;
      this.collecting = null;
      // A private copy: the bytes inspected are the bytes forwarded, whatever reuses the reads.
      const body = Buffer.concat(this.collected);
      this.collected = [];
      const next = inspect(body);
      if (next instanceof Promise) {
        this.inState = In.Deciding;
        next.then(
          (n) => this.resumeWith(() => this.afterRequest(exchange, n)),
          (err: Error) =>
            this.resumeWith(() => {
              const message = `dockgate: inspection needed the daemon and failed: ${err.message}`;
              exchange.record.rule = "policy.lookup";
              exchange.record.message = message;
              this.settleLocal(exchange, errorResponse(502, message, false, exchange.headRequest), "error");
              this.afterRequest(exchange, In.Head);
            }),
        );
        return;
      }
      this.afterRequest(exchange, next);
      return;
    }
    if (this.bodyTarget === "forward" && this.currentExchange) {
      const exchange = this.currentExchange;
      this.currentExchange = null;
      this.afterRequest(exchange, this.afterBody);
    }
  }

  /** HTTP/2 with prior knowledge: the HTTP/2 answer that makes clients fall back (h2-preface.ts). */
  private refuseHttp2(): void {
    const ex = this.newExchange("PRI", "*");
    ex.record.rule = "http2.native";
    ex.record.message = HTTP2_REFUSAL_MESSAGE;
    ex.record.decision = "deny";
    ex.record.bytesOut = HTTP11_REQUIRED_REPLY.length;
    this.pending = null;
    this.inState = In.Stopped;
    this.client.write(HTTP11_REQUIRED_REPLY);
    this.log(ex, "deny");
    this.closeClientAfterWrites();
  }

  /** A malformed request: answer 4xx in order and close, never forward. */
  private failRequest(err: unknown, headRequest = false, rule?: string): void {
    const status = err instanceof HttpError ? err.status : 400;
    const message = `dockgate: ${(err as Error).message.replace(/^dockgate: /, "")}`;
    this.pending = null;
    this.inState = In.Stopped;
    if ((this.bodyTarget === "forward" || this.streamed?.sent === true) && this.currentExchange) {
      // Part of this body already went upstream: no clean answer is possible, and the daemon's
      // request must be cut before it acts on a body the client never finished.
      this.destroy();
      return;
    }
    // A request whose body was being collected (or sniffed) is already queued, unforwarded: this is its reply.
    const held = this.collecting?.exchange ?? this.streamed?.exchange;
    const exchange = held ?? this.newExchange("-", "-");
    if (!held) this.queue.push(exchange);
    this.collecting = null;
    this.streamed = null;
    exchange.closeAfter = true;
    exchange.record.message = message;
    exchange.record.rule ??= rule ?? (status === 413 ? "body.size" : "http.malformed");
    this.settleLocal(exchange, errorResponse(status, message, true, headRequest || exchange.headRequest), status === 413 ? "deny" : "error");
  }

  private applyBackpressure(): void {
    if (!this.closed && this.mustWait()) this.client.pause();
  }

  /**
   * Reading from the client stops while the daemon cannot take more, while the client does not
   * read its replies (dockgate's own denials included: a client pipelining refused requests
   * without reading must not grow dockgate's memory), while too many replies are owed, or while
   * bytes pile up behind a pending decision or hijack.
   */
  private mustWait(): boolean {
    if (this.upstream !== null && this.upstream.writableNeedDrain) return true;
    if (this.inState === In.Raw) return false;
    if (this.client.writableNeedDrain || this.queue.length > MAX_QUEUED) return true;
    const waiting = this.inState === In.AwaitResponse || this.inState === In.Deciding || this.streamed?.busy === true;
    return waiting && (this.pending?.length ?? 0) > this.hooks.limits.maxHeaderBytes;
  }

  private resumeReading(): void {
    if (!this.closed && !this.mustWait()) this.client.resume();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.inState === In.Raw) {
      this.upstream?.end();
      return;
    }
    if (this.inState === In.Fixed || this.inState === In.Chunked) {
      // The client stopped in the middle of a body: the request must not complete upstream.
      this.destroy();
      return;
    }
    if (this.inState === In.Deciding || this.inState === In.AwaitResponse) {
      // Not yet: what the client sent before its EOF still counts (a request being decided, or
      // stdin for a hijack); settled() or the switch to raw applies the EOF once that is resolved.
      return;
    }
    this.inState = In.Stopped;
    this.pending = null;
    // Pass the EOF on, as if the client had talked to the daemon: Go's server cancels the
    // requests of a client that went away, so an events or logs-follow stream ends instead of
    // holding the upstream connection until its next write fails. Responses still come back.
    if (this.queue.some((e) => e.local === undefined)) this.upstream?.end();
    this.finishIfDone();
  }

  // ---- daemon → client -------------------------------------------------------------------

  private connectUpstream(): net.Socket {
    if (this.upstream) return this.upstream;
    const upstream = net.createConnection({ path: this.hooks.upstreamPath, allowHalfOpen: true });
    this.upstream = upstream;
    upstream.on("data", (buf: Buffer) => this.onUpstreamData(buf));
    upstream.on("end", () => this.onUpstreamEnd(upstream));
    upstream.on("error", (err) => this.onUpstreamError(upstream, err));
    upstream.on("drain", () => this.resumeReading());
    return upstream;
  }

  private onUpstreamData(buf: Buffer): void {
    try {
      this.readUpstream(buf);
    } catch {
      // Malformed framing from the daemon, or a response too large to filter: nothing after
      // this point can be delivered correctly.
      this.destroy();
    }
  }

  private readUpstream(buf: Buffer): void {
    let flushFrom = 0;
    let i = 0;
    while (i < buf.length) {
      const ex = this.queue[0];
      if (ex === undefined || ex.local !== undefined) {
        // Bytes nobody asked for: the stream is out of step, nothing after this can be trusted.
        this.destroy();
        return;
      }
      if (ex.transform !== undefined) {
        // This response is rewritten, not piped: pass on what came before it, then hold it.
        if (i > flushFrom) this.writeClient(buf.subarray(flushFrom, i));
        i = this.readTransformed(ex, ex.transform, buf, i);
        if (i < 0 || this.closed) return;
        flushFrom = i;
        continue;
      }
      switch (this.outState) {
        case Out.Head: {
          const used = this.readResponseHead(buf, i);
          if (used < 0) {
            this.destroy();
            return;
          }
          ex.record.bytesOut += used;
          i += used;
          if (this.outHead !== "" && this.outHead.endsWith("\r\n\r\n")) {
            this.onResponseHead(ex);
            if (this.closed) return;
            if (this.handingOver) {
              this.writeClient(buf.subarray(flushFrom, i));
              this.handOver(ex, buf.subarray(i));
              return;
            }
            if (this.responseHasEnded()) flushFrom = this.completeResponse(buf, flushFrom, i);
          }
          break;
        }
        case Out.Fixed: {
          const n = Math.min(this.outRemaining, buf.length - i);
          this.outRemaining -= n;
          ex.record.bytesOut += n;
          i += n;
          if (this.outRemaining === 0) flushFrom = this.completeResponse(buf, flushFrom, i);
          break;
        }
        case Out.Chunked: {
          const j = this.outDecoder!.push(buf, i);
          ex.record.bytesOut += j - i;
          i = j;
          if (this.outDecoder!.done) flushFrom = this.completeResponse(buf, flushFrom, i);
          break;
        }
        case Out.UntilClose:
        case Out.Raw:
        case Out.Transform:
          ex.record.bytesOut += buf.length - i;
          i = buf.length;
          break;
      }
      if (flushFrom < 0) return; // the client connection is closing after the last response
    }
    if (flushFrom < buf.length) this.writeClient(buf.subarray(flushFrom));
  }

  private transformChunks: Buffer[] = [];
  private transformBytes = 0;

  /**
   * Reads the response of an exchange whose body the policy rewrites: a 2xx body is collected
   * (bounded) and replaced; anything else passes on as it came. Returns the index in buf after
   * what was consumed, or -1 when the client connection is closing.
   */
  private readTransformed(ex: Exchange, transform: ResponseTransform, buf: Buffer, i: number): number {
    if (this.outState === Out.Head) {
      const used = this.readResponseHead(buf, i);
      if (used < 0) {
        this.destroy();
        return -1;
      }
      i += used;
      if (!this.outHead.endsWith("\r\n\r\n")) return i;
      let head;
      try {
        head = parseResponseHead(this.outHead);
      } catch {
        this.destroy();
        return -1;
      }
      const transformable =
        head.status >= 200 && head.status < 300 && !ex.headRequest && (head.chunked || head.contentLength !== null);
      if (!transformable) {
        // Errors, interim and bodiless responses go to the client untouched.
        const text = this.outHead;
        this.writeClient(Buffer.from(text, "latin1"));
        ex.record.bytesOut += text.length;
        if (head.status >= 200 || head.status === 101) ex.transform = undefined;
        this.onResponseHead(ex);
        return this.responseHasEnded() ? this.completeResponse(buf, i, i) : i;
      }
      ex.record.status = head.status;
      this.transformChunks = [];
      this.transformBytes = 0;
      this.outState = Out.Transform;
      if (transform.line !== undefined && head.chunked) {
        // A stream: the head goes on as it is, each complete line as one chunk of its own.
        const text = this.outHead;
        this.outHead = "";
        this.writeClient(Buffer.from(text, "latin1"));
        ex.record.bytesOut += text.length;
        this.outDecoder = new ChunkedDecoder((c) => this.streamLines(ex, c, transform));
        this.outRemaining = -1;
        return i;
      }
      if (head.chunked) {
        this.outDecoder = new ChunkedDecoder((c) => this.collectTransformed(c, transform));
        this.outRemaining = -1;
      } else {
        this.outRemaining = head.contentLength!;
        if (this.outRemaining === 0) return this.finishTransformed(ex, transform, buf, i);
      }
      return i;
    }
    if (this.outRemaining >= 0) {
      const n = Math.min(this.outRemaining, buf.length - i);
      this.collectTransformed(buf.subarray(i, i + n), transform);
      this.outRemaining -= n;
      i += n;
      if (this.outRemaining === 0) return this.finishTransformed(ex, transform, buf, i);
      return i;
    }
    i = this.outDecoder!.push(buf, i);
    if (!this.outDecoder!.done) return i;
    if (transform.line === undefined) return this.finishTransformed(ex, transform, buf, i);
    this.streamLines(ex, Buffer.from("\n"), transform); // a last line without its newline
    this.writeClient(Buffer.from("0\r\n\r\n", "latin1"));
    return this.completeResponse(buf, i, i);
  }

  /** Rewrites each complete line of a streamed body and sends it as a chunk (a partial one waits). */
  private streamLines(ex: Exchange, data: Buffer, transform: ResponseTransform): void {
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      this.collectTransformed(data.subarray(start, nl), transform);
      const line = Buffer.concat(this.transformChunks);
      this.transformChunks = [];
      this.transformBytes = 0;
      start = nl + 1;
      if (line.length === 0) continue;
      // Throwing (a line that is not what it should be) closes the client: nothing unfiltered passes.
      const out = Buffer.concat([transform.line!(line), Buffer.from("\n")]);
      ex.record.bytesOut += out.length;
      this.writeClient(Buffer.concat([Buffer.from(`${out.length.toString(16)}\r\n`, "latin1"), out, Buffer.from("\r\n", "latin1")]));
    }
    if (start < data.length) this.collectTransformed(data.subarray(start), transform);
  }

  private collectTransformed(chunk: Buffer, transform: ResponseTransform): void {
    this.transformBytes += chunk.length;
    if (this.transformBytes > transform.maxBytes) {
      throw new Error(`response larger than ${transform.maxBytes} bytes cannot be filtered`);
    }
    this.transformChunks.push(Buffer.from(chunk));
  }

  private finishTransformed(ex: Exchange, transform: ResponseTransform, buf: Buffer, i: number): number {
    let body: Buffer;
    try {
      body = transform.transform(Buffer.concat(this.transformChunks), ex.record.status);
    } catch {
      // The client must never get the unfiltered body: no answer beats the wrong one.
      this.destroy();
      return -1;
    }
    this.transformChunks = [];
    const kept = this.outHead
      .slice(0, -4)
      .split("\r\n")
      .filter((line) => !/^(content-length|transfer-encoding)\s*:/i.test(line));
    const head = Buffer.from(`${kept.join("\r\n")}\r\nContent-Length: ${body.length}\r\n\r\n`, "latin1");
    this.outHead = "";
    ex.record.bytesOut = head.length + body.length;
    this.writeClient(Buffer.concat([head, body]));
    return this.completeResponse(buf, i, i);
  }

  /**
   * Accumulates response-head text from buf[i..] into outHead, up to and including its blank
   * line; returns how many bytes of buf it took, or -1 for a head beyond any sane size.
   */
  private readResponseHead(buf: Buffer, i: number): number {
    if (this.outHead === "") {
      const end = buf.indexOf(CRLFCRLF, i);
      if (end >= 0) {
        this.outHead = buf.toString("latin1", i, end + 4);
        return end + 4 - i;
      }
    }
    // The head is split across reads: stitch it together (the bytes pass through meanwhile).
    const before = this.outHead.length;
    const take = Math.min(buf.length - i, MAX_RESPONSE_HEAD - before);
    if (take <= 0) return -1;
    this.outHead += buf.toString("latin1", i, i + take);
    const p = this.outHead.indexOf("\r\n\r\n", Math.max(0, before - 3));
    if (p < 0) return take;
    this.outHead = this.outHead.slice(0, p + 4);
    return p + 4 - before;
  }

  /** True right after the head of a response that has no body (HEAD, 204, 304, length 0). */
  private responseHasEnded(): boolean {
    return this.outState === Out.Fixed && this.outRemaining === 0;
  }

  private writeClient(buf: Buffer): void {
    if (!this.client.write(buf)) this.upstream?.pause();
  }

  private onResponseHead(ex: Exchange): void {
    let head;
    try {
      head = parseResponseHead(this.outHead);
    } catch {
      this.destroy();
      return;
    }
    this.outHead = "";
    ex.record.status = head.status;
    if (head.status >= 100 && head.status < 200 && head.status !== 101) return; // interim: keep reading
    const switching =
      head.status === 101 || (ex.hijackable && head.status === 200 && head.contentLength === null && !head.chunked);
    if (switching) {
      ex.record.hijacked = true;
      this.outState = Out.Raw;
      if (head.status === 101 && ex.upgradeView !== undefined) {
        this.inState = In.Stopped;
        this.handingOver = true; // readUpstream calls handOver() with the bytes after this head
      } else this.startRawClientSide();
      return;
    }
    if (ex.headRequest || head.status === 204 || head.status === 304) {
      this.outState = Out.Fixed;
      this.outRemaining = 0;
    } else if (head.chunked) {
      this.outState = Out.Chunked;
      this.outDecoder = new ChunkedDecoder(() => {});
    } else if (head.contentLength !== null) {
      this.outState = Out.Fixed;
      this.outRemaining = head.contentLength;
    } else {
      this.outState = Out.UntilClose;
    }
  }

  /**
   * The response at the head of the queue ended at buf[end]. Writes what is owed to the client
   * so far, logs the exchange, writes any of dockgate's own replies that come next in order, and
   * returns the index from which the rest of buf still has to be written (-1: nothing more, the
   * client connection is closing).
   */
  private completeResponse(buf: Buffer, flushFrom: number, end: number): number {
    if (end > flushFrom) this.writeClient(flushFrom === 0 && end === buf.length ? buf : buf.subarray(flushFrom, end));
    const ex = this.queue.shift()!;
    this.outState = Out.Head;
    this.outDecoder = null;
    this.log(ex, "allow");
    if (ex.closeAfter) {
      this.closeClientAfterWrites();
      return -1;
    }
    if (ex.hijackable && this.inState === In.AwaitResponse) {
      // Not hijacked after all (an error, or a detached exec): back to parsing requests.
      this.inState = In.Head;
      setImmediate(() => {
        if (!this.closed) this.settled();
      });
    }
    this.writeQueuedLocals();
    this.finishIfDone();
    this.resumeReading();
    return end;
  }

  private handingOver = false;

  /** Gives both sockets to the operation's relay (hooks.upgrades); this session only waits for the end. */
  private handOver(ex: Exchange, fromUpstream: Buffer): void {
    const upstream = this.upstream!;
    for (const s of [this.client, upstream]) {
      s.removeAllListeners("data");
      s.removeAllListeners("end");
      s.removeAllListeners("drain");
    }
    const fromClient = this.pending;
    this.pending = null;
    this.hooks.upgrades!.get(ex.record.operation!)!({
      view: ex.upgradeView!,
      client: this.identity,
      clientSocket: this.client,
      upstream,
      fromClient,
      fromUpstream,
      done: () => this.destroy(),
    });
  }

  private startRawClientSide(): void {
    this.inState = In.Raw;
    const upstream = this.upstream!;
    const rest = this.pending;
    this.pending = null;
    if (rest !== null && rest.length > 0) upstream.write(rest);
    if (this.clientEnded) upstream.end();
    this.client.resume();
  }

  private onUpstreamEnd(upstream: net.Socket): void {
    if (upstream !== this.upstream) return;
    const ex = this.queue[0];
    if (this.outState === Out.Raw) {
      // The daemon finished the stream (e.g. the container exited): finish the client too.
      this.log(this.queue.shift()!, "allow");
      this.client.end();
      this.client.once("finish", () => this.destroy());
      return;
    }
    // Half-open sockets are not closed by Node on their own: release this one now.
    upstream.destroy();
    this.upstream = null;
    if (this.outState === Out.UntilClose && ex) {
      this.queue.shift();
      this.outState = Out.Head;
      this.log(ex, "allow");
    } else if (ex && ex.local === undefined) {
      // Cut in the middle of a response, or with requests still unanswered.
      this.destroy();
      return;
    }
    if (this.queue.some((e) => e.local === undefined)) {
      this.destroy();
      return;
    }
    this.writeQueuedLocals();
    this.finishIfDone();
  }

  private onUpstreamError(upstream: net.Socket, err: NodeJS.ErrnoException): void {
    if (upstream !== this.upstream) return;
    const ex = this.queue[0];
    const answered = ex !== undefined && (ex.record.bytesOut > 0 || ex.local !== undefined);
    if (ex === undefined || answered || this.outState !== Out.Head) {
      this.destroy();
      return;
    }
    // Nothing of a response has reached the client: it gets a clean 502 and the connection closes.
    this.upstream = null;
    upstream.destroy();
    const message = `dockgate: cannot reach the Docker daemon at ${this.hooks.upstreamPath}: ${err.code ?? err.message}`;
    this.queue.length = 0;
    ex.record.message = message;
    ex.record.rule = "upstream.unreachable";
    ex.closeAfter = true;
    this.queue.push(ex);
    this.inState = In.Stopped;
    this.pending = null;
    this.settleLocal(ex, errorResponse(502, message, true, ex.headRequest), "error");
  }

  // ---- ordering of replies -----------------------------------------------------------------

  private newExchange(method: string, target: string): Exchange {
    return {
      record: {
        client: this.identity,
        method,
        path: target,
        operation: undefined,
        decision: "allow",
        rule: undefined,
        field: undefined,
        status: 0,
        bytesIn: 0,
        bytesOut: 0,
        durationMs: 0,
        hijacked: false,
        message: undefined,
        audit: undefined,
        request: undefined,
      },
      start: performance.now(),
      local: undefined,
      interim: false,
      closeAfter: false,
      headRequest: false,
      hijackable: false,
      transform: undefined,
    };
  }

  private interim(): Exchange {
    const ex = this.newExchange("-", "-");
    ex.interim = true;
    ex.local = CONTINUE_RESPONSE;
    return ex;
  }

  private enqueueLocal(ex: Exchange): void {
    this.queue.push(ex);
    this.writeQueuedLocals();
  }

  /** Turns a queued exchange into one dockgate answers itself, and writes it when its turn comes. */
  private settleLocal(ex: Exchange, reply: Buffer, decision: "deny" | "error"): void {
    ex.local = reply;
    ex.record.decision = decision;
    ex.record.status = Number(reply.toString("latin1", 9, 12));
    ex.record.bytesOut = reply.length;
    this.writeQueuedLocals();
  }

  private writeQueuedLocals(): void {
    while (this.queue.length > 0 && this.queue[0]!.local !== undefined && this.outState === Out.Head && this.outHead === "") {
      const ex = this.queue.shift()!;
      this.writeClient(ex.local!);
      if (!ex.interim) this.log(ex, ex.record.decision);
      if (ex.closeAfter) {
        this.closeClientAfterWrites();
        return;
      }
    }
  }

  private closeClientAfterWrites(): void {
    this.inState = In.Stopped;
    this.pending = null;
    this.queue.length = 0;
    if (this.closing) return;
    this.closing = true;
    this.client.end();
    this.client.once("finish", () => this.linger());
  }

  /**
   * Everything is written and dockgate's FIN is sent. Destroying the socket now would reset a
   * client still sending (a body being refused, an endless head), and a reset can discard the
   * reply before the client reads it: read and drop until its FIN, or LINGER_MS.
   */
  private linger(): void {
    if (this.clientEnded || this.closed) {
      this.destroy();
      return;
    }
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    this.client.once("end", () => {
      clearTimeout(timer);
      this.destroy();
    });
    this.client.resume();
  }

  private finishIfDone(): void {
    if (this.queue.length > 0 || this.closed || this.inState === In.Deciding) return;
    if (this.clientEnded || this.draining || this.inState === In.Stopped) {
      this.closeClientAfterWrites();
    }
  }

  private log(ex: Exchange, decision: ExchangeRecord["decision"]): void {
    ex.record.decision = decision;
    ex.record.durationMs = performance.now() - ex.start;
    this.hooks.onExchange(ex.record);
  }
}
