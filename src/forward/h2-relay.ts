// An HTTP/2 relay between two sockets that already switched protocols (a 101 to h2c), with every
// call decided before it is forwarded: BuildKit's /session, where the daemon is the HTTP/2
// client calling gRPC services that the docker CLI serves.
//
// dockgate terminates HTTP/2 on both sides (node:http2): an HTTP/2 server on the caller's socket,
// a client on the callee's. Each stream the caller opens is shown to `decide` (its :path and
// headers): refused calls get a gRPC status of dockgate's own (grpc-status + grpc-message, in a
// trailers-only response) and never reach the callee; passed ones are forwarded as a new stream
// with the same headers, bodies piped both ways with HTTP/2 flow control, trailers relayed. A
// `filter` may read (and hold back) the response body, and refuse mid-stream: the caller then gets
// dockgate's status instead of the rest, and the callee's stream is cancelled.

import http2 from "node:http2";
import type net from "node:net";
import { Duplex } from "node:stream";
import { grpcMessage } from "../policy/buildkit/wire.js";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** What a filter makes of response bytes: the bytes to forward now, or a refusal. */
export type FilterResult = { ok: true; out: Buffer[] } | { ok: false; message: string };

export interface ResponseFilter {
  data(chunk: Buffer): FilterResult;
  /** The callee's response body ended (before its trailers are relayed). */
  end(): FilterResult;
}

export type CallDecision =
  | { kind: "pass"; filter?: ResponseFilter }
  | { kind: "refuse"; code: number; message: string }
  /** Read the whole request body first (at most maxBytes), then decide on exactly those bytes. */
  | { kind: "inspect"; maxBytes: number; check(body: Buffer): Decided | Promise<Decided> };

type Decided = Exclude<CallDecision, { kind: "inspect" }>;

export interface RelayOptions {
  /** The side that opens streams (an HTTP/2 client), and bytes already read from it. */
  caller: net.Socket;
  callerBytes: Buffer | null;
  /** The side that serves them (an HTTP/2 server), and bytes already read from it. */
  callee: net.Socket;
  calleeBytes: Buffer | null;
  decide(headers: http2.IncomingHttpHeaders): CallDecision;
  /** A decided call, for the log. */
  onCall?(path: string, decision: CallDecision): void;
  /** Called once, when either side is gone (both are closed by then). */
  onClose(): void;
}

/** gRPC status codes dockgate answers with. */
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_UNIMPLEMENTED = 12;
const GRPC_INTERNAL = 13;

function statusHeaders(code: number, message: string): http2.OutgoingHttpHeaders {
  return { "grpc-status": String(code), "grpc-message": grpcMessage(message) };
}

/**
 * A request's headers as sent, repeats kept apart: gRPC metadata repeats keys (file sync's
 * `followpaths` is one key per path), which node:http2's header object joins with ", ".
 */
function requestHeaders(raw: readonly string[]): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    if (k.startsWith(":") && ![":method", ":path", ":authority", ":scheme"].includes(k)) continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Headers to forward: the pseudo-headers a request (or response) may carry, plus all regular ones. */
function forwardable(h: http2.IncomingHttpHeaders, pseudo: readonly string[]): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    if (k.startsWith(":") ? pseudo.includes(k) : true) out[k] = v;
  }
  return out;
}

/**
 * The socket as a stream that first yields `prefix` (bytes read before the switch). node:http2
 * reads a net.Socket's handle directly, past anything unshift() would put back.
 */
function withPrefix(socket: net.Socket, prefix: Buffer | null): net.Socket | Duplex {
  if (prefix === null || prefix.length === 0) return socket;
  const d = new Duplex({
    read: () => socket.resume(),
    write: (chunk: Buffer, _enc, cb) => socket.write(chunk, cb),
    final: (cb) => {
      socket.end();
      cb();
    },
    destroy: (err, cb) => {
      socket.destroy();
      cb(err);
    },
  });
  d.push(prefix);
  socket.on("data", (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("close", () => d.destroy());
  return d;
}

/** Starts the relay; the function returned closes it (both sides). */
export function relayH2(o: RelayOptions): () => void {
  const server = http2.performServerHandshake(withPrefix(o.caller, o.callerBytes));
  const callee = withPrefix(o.callee, o.calleeBytes);
  const client = http2.connect("http://buildkit-session", { createConnection: () => callee });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    server.destroy();
    client.destroy();
    o.caller.destroy();
    o.callee.destroy();
    o.onClose();
  };
  for (const s of [server, client]) {
    s.on("error", close);
    s.on("close", close);
    s.on("goaway", close);
  }
  o.caller.resume();
  o.callee.resume();

  server.on("stream", (stream, headers, flags, rawHeaders: string[]) => {
    stream.on("error", () => {});
    let decision: CallDecision;
    try {
      decision = o.decide(headers);
    } catch (err) {
      decision = { kind: "refuse", code: GRPC_INTERNAL, message: `dockgate: the call could not be checked: ${(err as Error).message}` };
    }
    o.onCall?.(String(headers[":path"] ?? ""), decision);
    const refuseCall = (code: number, message: string): void => {
      if (!stream.destroyed) stream.respond({ ":status": 200, "content-type": "application/grpc", ...statusHeaders(code, message) }, { endStream: true });
    };
    if (decision.kind === "refuse") {
      refuseCall(decision.code, decision.message);
      return;
    }
    if (decision.kind === "inspect") {
      const { maxBytes, check } = decision;
      const parts: Buffer[] = [];
      let size = 0;
      stream.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          stream.removeAllListeners("data");
          refuseCall(GRPC_PERMISSION_DENIED, `dockgate: the request is larger than the ${maxBytes} bytes dockgate reads`);
          return;
        }
        parts.push(c);
      });
      stream.on("end", () => {
        if (size > maxBytes) return;
        const body = Buffer.concat(parts);
        const settle = (d: Decided): void => {
          if (stream.destroyed) return;
          if (d.kind === "refuse") refuseCall(d.code, d.message);
          else forward(d, body);
        };
        let r: Decided | Promise<Decided>;
        try {
          r = check(body);
        } catch (err) {
          r = { kind: "refuse", code: GRPC_INTERNAL, message: `dockgate: the call could not be checked: ${(err as Error).message}` };
        }
        if (r instanceof Promise) r.then(settle, (err: Error) => settle({ kind: "refuse", code: GRPC_INTERNAL, message: `dockgate: the call could not be checked: ${err.message}` }));
        else settle(r);
      });
      return;
    }
    forward(decision, undefined);

    /** Forwards the call: the request body as inspected (`body`), or piped as it comes. */
    function forward(d: Extract<CallDecision, { kind: "pass" }>, body: Buffer | undefined): void {
      const filter = d.filter;
      const req = client.request(requestHeaders(rawHeaders), {
        endStream: body === undefined ? (flags & NGHTTP2_FLAG_END_STREAM) !== 0 : body.length === 0,
      });
      req.on("error", () => {});
      if (body === undefined) stream.pipe(req);
      else if (body.length > 0) req.end(body);
      let trailers: http2.OutgoingHttpHeaders | undefined;
      let refusal: string | undefined;
      const refuse = (message: string): void => {
        refusal = message;
        // The caller gets the refusal first; the callee's stream is cancelled once the caller's
        // has closed (stream 'close' below), and sends nothing meanwhile. Cancelling it first let
        // the docker CLI 20.10 end its build before the daemon read the status: the CLI printed
        // "context canceled" instead of the reason (seen once in nine CI runs).
        req.pause();
        if (!stream.headersSent) {
          stream.respond({ ":status": 200, "content-type": "application/grpc", ...statusHeaders(GRPC_PERMISSION_DENIED, message) }, { endStream: true });
        } else stream.end();
      };
      const send = (r: FilterResult): boolean => {
        if (!r.ok) {
          refuse(r.message);
          return false;
        }
        for (const b of r.out) if (!stream.write(b)) req.pause();
        return true;
      };
      stream.on("drain", () => req.resume());
      stream.on("wantTrailers", () => {
        stream.sendTrailers(refusal !== undefined ? statusHeaders(GRPC_PERMISSION_DENIED, refusal) : (trailers ?? statusHeaders(GRPC_INTERNAL, "dockgate: the session ended the call without a status")));
      });
      // node:http2 may emit a response's first data before its 'response' event (which it defers
      // a tick): what comes before the headers are relayed waits for them.
      let responded = false;
      let early: Array<() => void> | null = [];
      const inOrder = (step: () => void): void => {
        if (early !== null) early.push(step);
        else step();
      };
      req.on("response", (h, rflags) => {
        if (refusal !== undefined || responded) return;
        responded = true;
        const out = forwardable(h, [":status"]);
        if ((rflags & NGHTTP2_FLAG_END_STREAM) !== 0) {
          stream.respond(out, { endStream: true }); // trailers-only: the status is in these headers
          early = null;
          return;
        }
        stream.respond(out, { waitForTrailers: true });
        const queued = early ?? [];
        early = null;
        for (const step of queued) step();
      });
      req.on("trailers", (t) => (trailers = forwardable(t, [])));
      req.on("data", (chunk: Buffer) =>
        inOrder(() => {
          if (refusal !== undefined || stream.destroyed) return;
          if (filter) send(filter.data(chunk));
          else if (!stream.write(chunk)) req.pause();
        }),
      );
      req.on("end", () =>
        inOrder(() => {
          if (refusal !== undefined || stream.destroyed) return;
          if (filter && !send(filter.end())) return;
          if (stream.headersSent && !stream.writableEnded) stream.end();
        }),
      );
      req.on("close", () => {
        const step = (): void => {
          if (refusal === undefined && !stream.destroyed && !stream.writableEnded && !stream.headersSent) {
            stream.close(req.rstCode || NGHTTP2_CANCEL);
          } else if (refusal === undefined && !stream.destroyed && !stream.writableEnded) {
            stream.end();
          }
        };
        // Closed without a response (reset): nothing queued can be relayed any more.
        if (!responded) {
          early = null;
          step();
        } else inOrder(step);
      });
      stream.on("close", () => {
        if (!req.destroyed) req.close(NGHTTP2_CANCEL);
      });
    }
  });
  return close;
}
