// Absolute slash-separated paths as the daemon reads them (Go's path.Clean): one implementation
// for bind sources, socket paths, allow entries and working directories.

/**
 * Go's path.Clean for an absolute path: collapses `//`, `.` and `..` (never above `/`) and drops a
 * trailing `/`. The caller checks that `p` starts with `/`.
 */
export function cleanAbsolute(p: string): string {
  const out: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") out.pop();
    else out.push(s);
  }
  return "/" + out.join("/");
}

/** `path` equals `prefix` or lies below it (both cleaned, absolute). */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}
