// Strict parsing of a request head (request line + header fields, CRLF CRLF excluded).
// Anything two HTTP implementations could read differently is an error here: bare CR or LF,
// obs-fold, whitespace before a colon, invalid names, control characters, repeated or malformed
// framing headers, Content-Length together with Transfer-Encoding, codings other than "chunked",
// and a Host that Go's net/http server refuses (missing in HTTP/1.1, repeated, or with a byte
// outside httpguts.ValidHostHeader's set).
// The head dockgate forwards is rebuilt from this parse, so the daemon reads what was checked.
// HeadReader collects a head from successive socket reads, looking at each byte once.

import { HttpError } from "./errors.js";

export interface RequestHead {
  method: string;
  target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: 0 | 1;
  /** End-to-end header fields in order, as [name as sent, trimmed value]. Framing and hop-by-hop fields are not here. */
  headers: Array<[string, string]>;
  /** All fields by lower-case name, repeats joined with ", " (for the policy's view). */
  byName: Record<string, string>;
  /** null when the request has no Content-Length. */
  contentLength: number | null;
  chunked: boolean;
  expectContinue: boolean;
  /** The client asked to close after this request (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Value of the Upgrade field, when the client asked to upgrade. */
  upgrade: string | undefined;
  /**
   * The body is a form (urlencoded or multipart): Go's Request.FormValue, which the daemon's
   * handlers use, reads form bodies as parameters that win over the query dockgate checked.
   */
  formBody: boolean;
  /**
   * Nothing was dropped or reframed: an HTTP/1.1 head without hop-by-hop fields or a body, which
   * rebuilt from this parse would say exactly what its bytes say.
   */
  canonical: boolean;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE_BYTE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^[0-9]{1,15}$/;
/**
 * golang.org/x/net/http/httpguts ValidHostHeader: the bytes of uri-host [":" port] (letters,
 * digits, unreserved, sub-delims, "%", ":", "[", "]"), checked byte by byte; empty is valid.
 */
const VALID_HOST = /^[0-9A-Za-z!$%&'()*+,\-.:;=[\]_~]*$/;

/** Fields whose repetition could be read two ways (Go takes the first value, others the last). */
const SINGLE = new Set(["host", "content-length", "transfer-encoding", "content-type", "expect", "upgrade"]);
/** Hop-by-hop fields (RFC 9110 7.6.1): consumed here, never forwarded as sent. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "expect",
]);

export function parseRequestHead(text: string): RequestHead {
  let eol = text.indexOf("\r\n");
  const requestLine = REQUEST_LINE.exec(eol < 0 ? text : text.slice(0, eol));
  if (!requestLine) throw new HttpError(400, "malformed request line");
  const minor = requestLine[3] === "1" ? 1 : 0;

  // One pass over the lines with indexOf (this runs for every request): a field is a token, a
  // colon right after it, and a value without control characters; bare CR or LF anywhere fails
  // one of those checks.
  const fields: Array<[string, string, string]> = [];
  const byName: Record<string, string> = {};
  while (eol >= 0) {
    const from = eol + 2;
    eol = text.indexOf("\r\n", from);
    const line = eol < 0 ? text.slice(from) : text.slice(from, eol);
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      if (line[0] === " " || line[0] === "\t") throw new HttpError(400, "obsolete line folding in header");
      throw new HttpError(400, `malformed header line ${JSON.stringify(line.slice(0, 40))}`);
    }
    let v0 = colon + 1;
    let v1 = line.length;
    while (v0 < v1 && (line.charCodeAt(v0) === 0x20 || line.charCodeAt(v0) === 0x09)) v0++;
    while (v1 > v0 && (line.charCodeAt(v1 - 1) === 0x20 || line.charCodeAt(v1 - 1) === 0x09)) v1--;
    const value = line.slice(v0, v1);
    if (BAD_VALUE_BYTE.test(value)) throw new HttpError(400, `control character in header ${name}`);
    const lower = name.toLowerCase();
    const seen = byName[lower];
    if (seen !== undefined) {
      if (SINGLE.has(lower)) throw new HttpError(400, `repeated ${name} header`);
      byName[lower] = `${seen}, ${value}`;
    } else {
      byName[lower] = value;
    }
    fields.push([name, value, lower]);
  }

  // Go's server (net/http readRequest): Host is required in HTTP/1.1, and a value with a byte
  // ValidHostHeader refuses is "malformed Host header", answered before any handler runs.
  const host = byName["host"];
  if (minor === 1 && host === undefined) throw new HttpError(400, "missing Host header");
  if (host !== undefined && !VALID_HOST.test(host)) throw new HttpError(400, `malformed Host header ${JSON.stringify(host.slice(0, 80))}`);

  const te = byName["transfer-encoding"];
  const cl = byName["content-length"];
  let chunked = false;
  let contentLength: number | null = null;
  if (te !== undefined) {
    if (cl !== undefined) throw new HttpError(400, "both Content-Length and Transfer-Encoding");
    if (minor === 0) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (te.toLowerCase() !== "chunked") throw new HttpError(400, `unsupported Transfer-Encoding "${te}"`);
    chunked = true;
  } else if (cl !== undefined) {
    if (!DIGITS.test(cl)) throw new HttpError(400, `malformed Content-Length "${cl}"`);
    contentLength = Number(cl);
  }

  const media = (byName["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  const formBody = media === "application/x-www-form-urlencoded" || media.startsWith("multipart/");

  const expect = byName["expect"];
  if (expect !== undefined && expect.toLowerCase() !== "100-continue") {
    throw new HttpError(417, `unsupported Expect "${expect}"`);
  }

  const connection = (byName["connection"] ?? "").toLowerCase();
  const tokens = connection === "" ? [] : connection.split(",").map((t) => t.trim());
  // HTTP/1.0 connections end with their response: the daemon answers a 1.0 request without
  // chunking, so only the close marks the end of a body of unknown length.
  const close = minor === 0 || tokens.includes("close");
  const nominated = new Set(tokens);
  nominated.delete("host"); // Go requires Host; no Connection option can take it away

  const headers: Array<[string, string]> = [];
  for (const [name, value, lower] of fields) {
    if (HOP_BY_HOP.has(lower) || nominated.has(lower)) continue;
    headers.push([name, value]);
  }
  const canonical = minor === 1 && headers.length === fields.length;

  return {
    method: requestLine[1]!,
    target: requestLine[2]!,
    minor,
    headers,
    byName,
    contentLength,
    chunked,
    expectContinue: expect !== undefined,
    close,
    upgrade: byName["upgrade"],
    formBody,
    canonical,
  };
}

/** Far enough before a head's first byte that no LF in it can look like the end of a blank line. */
const NO_LF = -3;

/**
 * Collects one request head from successive reads in linear time: each byte is looked at once
 * (native indexOf for LF, then O(1) per line end), and the pieces are joined once, when the
 * blank line arrives. Rescanning the whole head on every read would make a head sent in small
 * pieces cost quadratic CPU. A line ending without CR is refused as soon as it arrives (no
 * valid head can contain one), a head longer than `max` as soon as it is longer.
 */
export class HeadReader {
  private chunks: Buffer[] = [];
  /** Bytes held in chunks. */
  private held = 0;
  /** Absolute position (from the head's first byte) of the last LF seen; NO_LF before any. */
  private lastLf = NO_LF;
  /** The last byte held, for a CR LF split across reads. */
  private lastByte = -1;
  /** Bytes examined over the reader's life (tests use it to show the work is linear). */
  scanned = 0;

  /** Whether the head being read (the bytes held, then buf) begins with `prefix`. */
  beginsWith(prefix: string, buf: Buffer): boolean {
    let start = "";
    for (const piece of [...this.chunks, buf]) {
      start += piece.toString("latin1", 0, prefix.length - start.length);
      if (start.length >= prefix.length) break;
    }
    return start === prefix;
  }

  /** No byte of an unfinished head is held. */
  get empty(): boolean {
    return this.held === 0;
  }

  /**
   * Takes buf. Returns the complete head (its bytes as sent, CRLF CRLF included) and the index
   * in buf right after it; null when buf was taken whole and more is needed.
   * Throws 431 for a head longer than `max` bytes (the blank line excluded), 400 for a bare LF.
   */
  push(buf: Buffer, max: number): { head: Buffer; next: number } | null {
    const base = this.held; // absolute position of buf[0]
    let i = buf.indexOf(0x0a);
    while (i >= 0) {
      const at = base + i;
      const before = i > 0 ? buf[i - 1] : this.lastByte;
      if (before !== 0x0d) throw new HttpError(400, "line ending without CR in request head");
      if (at - this.lastLf === 2) {
        // CR LF CR LF: the head ends here.
        if (at - 3 > max) throw new HttpError(431, `request head larger than ${max} bytes`);
        this.scanned += i + 1;
        const next = i + 1;
        const head = this.chunks.length === 0 ? buf.subarray(0, next) : Buffer.concat([...this.chunks, buf.subarray(0, next)]);
        this.chunks = [];
        this.held = 0;
        this.lastLf = NO_LF;
        this.lastByte = -1;
        return { head, next };
      }
      this.lastLf = at;
      i = buf.indexOf(0x0a, i + 1);
    }
    this.scanned += buf.length;
    if (base + buf.length > max + 3) throw new HttpError(431, `request head larger than ${max} bytes`);
    if (buf.length > 0) {
      this.chunks.push(buf);
      this.held += buf.length;
      this.lastByte = buf[buf.length - 1]!;
    }
    return null;
  }
}
