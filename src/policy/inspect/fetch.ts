// URL allowlisting for what the daemon fetches on a client's behalf (ImageBuild remote, ImageCreate
// fromSrc): otherwise any client can make the daemon request internal addresses (SSRF).

/**
 * `url` is allowed if it equals an allowed prefix, or starts with one at a boundary: the prefix
 * ends in `/` or `:`, or the next character is `/`, `?` or `#` (so `https://example.com` does not
 * admit `https://example.com.evil.org` or `https://example.com@evil.org`). The rest may not hold
 * dot segments, encoded dots or backslashes, which would climb out of the prefix's path.
 */
export function urlAllowed(url: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) {
    if (url === p) return true;
    if (!url.startsWith(p)) continue;
    const last = p.charCodeAt(p.length - 1);
    const next = url.charCodeAt(p.length);
    const boundary = last === 0x2f || last === 0x3a || next === 0x2f || next === 0x3f || next === 0x23;
    if (!boundary) continue;
    const rest = url.slice(p.length);
    if (/\\|%2e|%2f|%5c/i.test(rest)) continue;
    if (/(^|\/)\.\.?(\/|$|[?#])/.test(rest)) continue;
    if (/\s/.test(rest)) continue;
    return true;
  }
  return false;
}
