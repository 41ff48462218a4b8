// Reads a request-target exactly as the daemon will: Go's net/url.ParseRequestURI, then
// gorilla/mux matching on the decoded URL.Path (the daemon sets neither SkipClean nor
// UseEncodedPath), then url.ParseQuery for the query. Anything Go would read differently from
// a plain reading (fragments, semicolons, bad escapes, non-canonical paths that mux answers with
// a redirect) is refused instead of guessed. The target dockgate forwards is re-encoded from what
// was decoded here, so the daemon decodes exactly the path and query that were decided on.

export interface Target {
  /** Decoded path, clean, starting with "/". */
  path: string;
  /** Query pairs decoded as url.ParseQuery does ("+" is a space). */
  query: Array<[string, string]>;
  /** Canonical origin-form target to forward. */
  forward: string;
}

export class TargetError extends Error {}

// Bytes the request line may carry in its target: visible ASCII only. Space, controls and
// non-ASCII never reach the parser's URL logic.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
// Characters that need no escaping in a forwarded path or query component; a target made only of
// these (and no "%" or "+") is already canonical, which keeps the common case allocation-free.
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*,=:@/]*$/;
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$'()*,:@/=&]*$/;

// net/url parseAuthority / parseHost: userinfo up to the last "@" (validUserinfo, valid escapes);
// host bytes that shouldEscape(c, encodeHost) lets through, a "%" escape only of a byte >= 0x80
// or "%25" (IPv6 zones); an IP literal in brackets; an optional ":port" of digits. Go refuses the
// request otherwise, before any handler runs.
const USERINFO = /^(?:[A-Za-z0-9\-._:~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})*$/;
const HOST_BYTES = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"]|%[89A-Fa-f][0-9A-Fa-f]|%25)*$/;
const PORT = /^(?::[0-9]*)?$/;

function validAuthority(authority: string): boolean {
  const at = authority.lastIndexOf("@");
  if (at >= 0 && !USERINFO.test(authority.slice(0, at))) return false;
  const host = authority.slice(at + 1);
  let port: string;
  if (host[0] === "[") {
    const close = host.lastIndexOf("]");
    if (close < 0) return false;
    port = host.slice(close + 1);
  } else {
    const colon = host.lastIndexOf(":");
    port = colon < 0 ? "" : host.slice(colon);
  }
  return PORT.test(port) && HOST_BYTES.test(host);
}

export function parseTarget(raw: string): Target {
  if (!VISIBLE_ASCII.test(raw)) throw new TargetError("request target has spaces, control or non-ASCII characters");
  let rest = raw;
  if (rest[0] !== "/") {
    // Absolute-form ("http://host/path"): Go takes the path after the authority.
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(rest);
    if (!m) throw new TargetError("request target is neither an absolute path nor an absolute URL");
    if (!validAuthority(m[1]!)) throw new TargetError(`invalid host or userinfo in absolute URL "${m[1]}"`);
    rest = rest.slice(m[0].length);
    if (rest[0] !== "/") throw new TargetError("absolute URL without a path");
  }
  if (rest.includes("#")) throw new TargetError("request target contains '#'");

  const q = rest.indexOf("?");
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const rawQuery = q < 0 ? "" : rest.slice(q + 1);

  let path: string;
  let forwardPath: string;
  if (PLAIN_PATH.test(rawPath)) {
    path = rawPath;
    forwardPath = rawPath;
  } else {
    path = percentDecode(rawPath, false);
    forwardPath = encodePath(path);
  }
  if (/[\x00-\x1f\x7f]/.test(path)) throw new TargetError("decoded path contains control characters");
  if (!isCleanPath(path)) {
    // mux would answer 301 to the cleaned path instead of routing: nobody legitimate sends this.
    throw new TargetError(`path "${path}" is not in canonical form (empty, "." or ".." segments, or "//")`);
  }

  if (rawQuery === "") return { path, query: [], forward: forwardPath };
  if (rawQuery.includes(";")) throw new TargetError("query contains ';' (Go drops such pairs)");
  const query: Array<[string, string]> = [];
  let forwardQuery: string;
  if (PLAIN_QUERY.test(rawQuery)) {
    for (const part of rawQuery.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      query.push(eq < 0 ? [part, ""] : [part.slice(0, eq), part.slice(eq + 1)]);
    }
    forwardQuery = rawQuery;
  } else {
    for (const part of rawQuery.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const k = eq < 0 ? part : part.slice(0, eq);
      const v = eq < 0 ? "" : part.slice(eq + 1);
      query.push([percentDecode(k, true), percentDecode(v, true)]);
    }
    forwardQuery = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  }
  return { path, query, forward: forwardQuery === "" ? forwardPath : `${forwardPath}?${forwardQuery}` };
}

/** Go's url.unescape: "%XX" must be two hex digits; in query mode "+" is a space. Result must be UTF-8. */
function percentDecode(s: string, plusIsSpace: boolean): string {
  if (!s.includes("%") && !(plusIsSpace && s.includes("+"))) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) throw new TargetError(`invalid percent-escape near "${s.slice(i, i + 3)}"`);
      bytes.push(parseInt(h, 16));
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      bytes.push(0x20);
    } else {
      bytes.push(c);
    }
  }
  try {
    return UTF8.decode(Uint8Array.from(bytes));
  } catch {
    throw new TargetError("percent-escapes decode to invalid UTF-8");
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function encodePath(path: string): string {
  return path
    .split("/")
    .map((seg) => encodeURIComponent(seg))
    .join("/");
}

/** True when gorilla/mux's cleanPath leaves the path unchanged (so it routes instead of redirecting). */
export function isCleanPath(p: string): boolean {
  if (p.length === 0 || p[0] !== "/") return false;
  // path.Clean removes "//", "/./", "/../" and a trailing "/." or "/.."; mux keeps a trailing "/".
  return !/\/\/|\/\.\.?(\/|$)/.test(p);
}

/** The origin-form target for a decoded path and query pairs (what a policy rewrite forwards). */
export function encodeTarget(path: string, query: ReadonlyArray<readonly [string, string]>): string {
  const encoded = encodePath(path);
  if (query.length === 0) return encoded;
  return `${encoded}?${query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`;
}
