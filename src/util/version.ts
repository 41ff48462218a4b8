// API version comparison the way the daemon does it (Go's `versions.compare` / `LessThan`):
// dot-separated parts read as strconv.Atoi reads them (anything but an optionally signed integer
// is 0), missing parts 0. The one implementation the gate (per request, allocation-free), the
// config loader and `learn` share.

/** The parts of `v` as the daemon reads them (`"1.x"` → [1, 0]). */
export function versionParts(v: string): number[] {
  const parts: number[] = [];
  let start = 0;
  for (;;) {
    let end = v.indexOf(".", start);
    if (end < 0) end = v.length;
    parts.push(atoi(v, start, end));
    if (end === v.length) return parts;
    start = end + 1;
  }
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = versionParts(a);
  if (versionBelow(a, versionParts(b))) return -1;
  return versionBelow(b, pa) ? 1 : 0;
}

/** `v` < `min` (already split with versionParts), without allocating: the gate runs it per request. */
export function versionBelow(v: string, min: readonly number[]): boolean {
  const n = v.length;
  let start = 0;
  let vDone = false;
  for (let k = 0; !vDone || k < min.length; k++) {
    let x = 0;
    if (!vDone) {
      let end = v.indexOf(".", start);
      if (end < 0) end = n;
      x = atoi(v, start, end);
      if (end === n) vDone = true;
      else start = end + 1;
    }
    const y = k < min.length ? min[k]! : 0;
    if (x !== y) return x < y;
  }
  return false;
}

/** strconv.Atoi of s[start, end) as versions.compare uses it: anything but an optionally signed integer is 0. */
function atoi(s: string, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (i < end && (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d)) {
    neg = s.charCodeAt(i) === 0x2d;
    i++;
  }
  if (i >= end) return 0;
  let x = 0;
  for (; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return 0;
    x = x * 10 + c;
  }
  return neg ? -x : x;
}
