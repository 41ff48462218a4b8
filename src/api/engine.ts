// The Docker Engine's vocabulary that both the config and the policy speak: capability and
// security option names, namespaces, API version comparison, sizes as `docker run -m` reads them,
// response fields redaction may name, and host paths as the daemon cleans them. The config
// validates against these; the inspections (src/policy) decide with them.

/** Linux namespaces as named in `hostNamespaces` / `namespaceJoins`. */
export type NamespaceName = "network" | "pid" | "ipc" | "uts" | "userns" | "cgroup";
export const NAMESPACE_NAMES: readonly NamespaceName[] = ["network", "pid", "ipc", "uts", "userns", "cgroup"];

/** Docker's default capability set (oci/caps/defaults.go). Adding one of these is a no-op. */
export const DEFAULT_CAPABILITIES: ReadonlySet<string> = new Set([
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]);

/** Every Linux capability (for validating the capAdd setting). */
export const KNOWN_CAPABILITIES: ReadonlySet<string> = new Set([
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]);

/** The daemon's normalization (oci/caps NormalizeLegacyCapabilities): upper-case, `CAP_` prefix, `ALL` kept. */
export function normalizeCapability(name: string): string {
  const up = name.toUpperCase();
  if (up === "ALL" || up.startsWith("CAP_")) return up;
  return "CAP_" + up;
}

/** Security option keys the daemon knows (daemon parseSecurityOpt, plus the CLI-only systempaths). */
export const SECURITY_OPT_KEYS: readonly string[] = ["seccomp", "apparmor", "label", "no-new-privileges", "writable-cgroups", "systempaths"];

/** `key:value` (deprecated separator) and `key=value` → `key=value`; a bare word stays as is. */
export function normalizeSecurityOpt(opt: string): string {
  const eq = opt.indexOf("=");
  if (eq >= 0) return opt;
  const colon = opt.indexOf(":");
  if (colon >= 0) return opt.slice(0, colon) + "=" + opt.slice(colon + 1);
  return opt;
}

// ── API versions ──

/** The lowest API version dockgate understands the semantics of (the daemon's own floor). */
export const MIN_API_VERSION_FLOOR = "1.24";

// Compared the way the daemon does (Go's `versions.compare` / `LessThan`): dot-separated parts
// read as strconv.Atoi reads them (anything but an optionally signed integer is 0), missing parts
// 0. The gate checks per request (versionBelow, allocation-free), the config and learn compare.

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

// ── response fields and sizes ──

/** Top-level fields of `GET /info` (API 1.24 .. 1.51). */
export const INFO_FIELDS: readonly string[] = [
  "ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver",
  "DriverStatus", "SystemStatus", "Plugins", "MemoryLimit", "SwapLimit", "KernelMemory", "KernelMemoryTCP",
  "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit", "IPv4Forwarding", "BridgeNfIptables",
  "BridgeNfIp6tables", "Debug", "NFd", "OomKillDisable", "NGoroutines", "SystemTime", "LoggingDriver",
  "CgroupDriver", "CgroupVersion", "NEventsListener", "KernelVersion", "OperatingSystem", "OSVersion", "OSType",
  "Architecture", "IndexServerAddress", "RegistryConfig", "NCPU", "MemTotal", "GenericResources",
  "DockerRootDir", "HttpProxy", "HttpsProxy", "NoProxy", "Name", "Labels", "ExperimentalBuild", "ServerVersion",
  "ClusterStore", "ClusterAdvertise", "Runtimes", "DefaultRuntime", "Swarm", "LiveRestoreEnabled", "Isolation",
  "InitBinary", "ContainerdCommit", "RuncCommit", "InitCommit", "SecurityOptions", "ProductLicense",
  "DefaultAddressPools", "FirewallBackend", "CDISpecDirs", "DiscoveredDevices", "Containerd", "Warnings",
];

/** Top-level fields of `GET /system/df`. */
export const SYSTEM_DF_FIELDS: readonly string[] = ["LayersSize", "Images", "Containers", "Volumes", "BuildCache", "BuilderSize"];

/**
 * A size as `docker run --memory` reads it (go-units RAMInBytes): a decimal number and an
 * optional binary unit b, k, m, g, t, p (case-insensitive, optionally followed by "b" or "ib").
 * "512m" = 536870912. Undefined when it is not a size or not a whole number of bytes.
 */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])(?:i?b)?|b)?$/i.exec(s.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? "").toLowerCase();
  const mult = unit === "" ? 1 : 1024 ** ("kmgtp".indexOf(unit) + 1);
  const v = Number(m[1]) * mult;
  if (!Number.isSafeInteger(Math.round(v))) return undefined;
  return Math.round(v);
}

// ── host paths ──

/**
 * Go's path.Clean for an absolute path: collapses `//`, `.` and `..` (never above `/`) and drops a
 * trailing `/`. The caller checks that `p` starts with `/`.
 */
export function cleanAbsolute(p: string): string {
  const parts = p.split("/");
  const out: string[] = [];
  for (const s of parts) {
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
