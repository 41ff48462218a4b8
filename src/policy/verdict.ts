// The contract between the proxy core and the policy: the core parses and normalizes a request,
// asks the gate once, and forwards only what the verdict allows. Nothing else decides.

/** Who is talking: fixed per accepted connection by the listener it came in on. */
export interface Client {
  /** Listener name from the config (or "default"). */
  readonly listener: string;
  /** Profile name the listener (or the client's identity) selected. */
  readonly profile: string;
  /** Human-readable peer description for logs: "unix", "tcp 10.0.0.5:5123", "tls CN=ci-runner". */
  readonly peer: string;
  /**
   * Who owns what this client creates (ownership) and whose budget it spends (limits): the
   * listener name, or `listener/identity` when a TLS identity selected the profile.
   */
  readonly owner: string;
  /** The unix socket path the client connected through (unix listeners only). */
  readonly socket?: string;
}

/** One request as the daemon's router will read it. */
export interface RequestView {
  method: string;
  /** Decoded, cleaned path without the `/vX.Y` prefix, e.g. `/containers/abc/json`. */
  path: string;
  /** `1.41` when the target had a `/v1.41` prefix, otherwise undefined (daemon default). */
  apiVersion: string | undefined;
  /** Operation id from the API spec (`ContainerCreate`, ...); `Grpc` for BuildKit's `/grpc`. */
  operation: string;
  /** Path parameters by the spec's names (`id`, `name`). */
  params: Readonly<Record<string, string>>;
  /** Query pairs in order, decoded the way Go's url.ParseQuery decodes them. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Header values by lower-case name (repeats joined with ", "). */
  headers: Readonly<Record<string, string>>;
}

/** Why a request was refused: `rule` is a stable id users can grep the README for. */
export interface Denial {
  status: number;
  /** Full message for the client, already prefixed with `dockgate: `. */
  message: string;
  rule: string;
  field?: string;
}

/**
 * A body inspection: the core buffers at most `maxBytes` of the request body (more is a 400/413
 * denial, never a pass), then calls `inspect` with exactly the bytes it will forward.
 */
export interface BodyCheck {
  maxBytes: number;
  inspect(body: Buffer): BodyResult | Promise<BodyResult>;
}

/** `body`: the bytes to forward instead (a rewritten body); what the daemon acts on. */
export type BodyResult = { ok: true; body?: Buffer; audit?: Denial; rewrite?: Rewrite } | { ok: false; denial: Denial };

/**
 * Changes to the request or its response that the policy requires (ownership, redaction).
 * The core applies them to what it forwards: the daemon receives the rewritten request only.
 */
export interface Rewrite {
  /** Replaces the path (decoded, without the version prefix; the core re-adds the prefix and re-encodes). */
  path?: string;
  /** Replaces the query pairs. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Rewrites a successful (2xx) response body before the client sees it; it is buffered up to maxBytes. */
  response?: ResponseTransform;
}

export interface ResponseTransform {
  maxBytes: number;
  /** Returns the body to send instead. Throwing fails the request (the client connection is closed). */
  transform(body: Buffer, status: number): Buffer;
  /**
   * For a stream of newline-terminated JSON documents (events): each line (without its newline,
   * at most maxBytes) is rewritten and sent as it comes, instead of buffering the whole body.
   */
  line?(line: Buffer): Buffer;
}

/**
 * A check of a streamed (never wholly buffered) request body. The core opens one BodyStream per
 * request, feeds it the body's bytes in order, and sends the daemon exactly the bytes each step
 * hands back, in order; nothing (not even the head) goes upstream before the first bytes are
 * handed back, so the stream decides what is held. A denial before anything went upstream is
 * answered as any denial; after, the upstream request is cut before its body ends (the daemon
 * acts on nothing) and the client gets the denial, then the connection closes.
 */
export interface BodyStreamCheck {
  /** The bytes handed back may differ from the client's (decompressed): they go upstream chunked. */
  rewrites: boolean;
  open(): BodyStream;
}

/**
 * One step of a BodyStream: bytes to send upstream now, or a denial. `creates`, on the last step,
 * names the images the body makes the daemon create (docker load's tags): per-job tenants record
 * them before the body's end is sent (listen/tenants.ts).
 */
export type BodyStep = { ok: true; forward: readonly Buffer[]; audit?: Denial; creates?: readonly string[]; more?: true } | { ok: false; denial: Denial };

/**
 * A step with `more` holds further bytes for the input it was given (a decompressed body, in
 * bounded steps): the session sends `forward`, waits until the daemon took it, and calls pull()
 * until a step without `more`, before the next chunk or, after end(), as the body's last step.
 */
export interface BodyStream {
  /** The body's next bytes. */
  push(chunk: Buffer): BodyStep | Promise<BodyStep>;
  /** The body ended: what was held, or a denial. */
  end(): BodyStep | Promise<BodyStep>;
  /** The rest of a step that said `more`. */
  pull?(): BodyStep | Promise<BodyStep>;
}

/**
 * `audit` is set when the profile is in audit mode and the request would have been denied: the
 * request goes through and the core logs the would-be denial (never shown to the client).
 * Verdict objects may be shared between requests: treat them as read-only.
 */
export type Verdict =
  | { kind: "allow"; audit?: Denial; rewrite?: Rewrite; bodyStream?: BodyStreamCheck }
  | { kind: "inspect"; check: BodyCheck; rewrite?: Rewrite }
  | { kind: "deny"; denial: Denial };

export interface Gate {
  /**
   * Synchronous for everything that needs no daemon lookup (the hot path); a Promise when the
   * decision depends on the daemon's state (ownership). The connection reads nothing more until
   * it settles, so replies stay in order.
   */
  decide(request: RequestView, client: Client): Verdict | Promise<Verdict>;
}
