// `dockgate learn`: the smallest profile that allows the traffic a request log shows.
//
//   dockgate learn [--profile NAME] LOGFILE...        (`-` reads standard input)
//
// The input is `dockgate serve`'s log: one pino JSON line per request (src/observe/log.ts), best
// taken from a profile in audit mode (config/audit.yaml), whose log also names, for each request
// that enforce mode would have refused, the rule and field that would have refused it. Lines that
// are not JSON request records (lifecycle lines, other programs' output) are skipped; a prefix
// before the JSON (a journald or `docker logs -t` timestamp) is tolerated.
//
// For each profile in the log (or the one named), the output is YAML for a `profiles:` section:
//
//   - `allow:` the operation ids that were used: allowed, or passed by audit mode (whatever the
//     rule), with at least one answer below 400. Sorted; each with its group and route. Operations
//     that only ever failed at the daemon (status >= 400: "no such container" probes, conflicts)
//     or were denied are listed commented out, so failed calls do not inflate the grant.
//   - `rules:` only the settings the audited traffic needed, read from the audit records' rule ids
//     and messages. Settings that reach the host (privileged, host namespaces, devices,
//     capabilities, bind paths, security options, ...) are written COMMENTED OUT under a
//     `# REVIEW:` line: the output is safe to enforce as is, and a human decides what to add.
//     Only narrow allowlist additions with no path to the host (exact sysctl names, exact fetch
//     URLs) are written active. When a value cannot be read reliably from the message, the
//     `# REVIEW:` line quotes the message instead of guessing.
//   - BuildKit (Session, Grpc) and SwarmJoin are never granted active: they are not inspected.
//
// Rules are proposed against the safe defaults (DEFAULT_RULES): the audited profile's own rules,
// ownership, mutate, redact, limits and minApiVersion are not in the log and are not carried
// over. An inspection reports the first violation of a request only: a request that needed two
// settings shows the second only once the first is granted (audit again after reviewing).
//
// Exit 0: YAML written; 1: unreadable input, or no request records (of the named profile); 2: usage.

import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parseOptions } from "./args.js";
import { SPEC_ROUTES } from "../api/spec-routes.js";
import { GROUPS, groupsOf, isOperation } from "../config/groups.js";
import { MIN_API_VERSION_FLOOR, compareVersions } from "../api/engine.js";
import {
  DEFAULT_RULES,
  KNOWN_CAPABILITIES,
  NAMESPACE_NAMES,
  RULES,
  SECURITY_OPT_KEYS,
  normalizeCapability,
  normalizeSecurityOpt,
  type RuleSettings,
} from "../policy/rules.js";

const USAGE = `usage: dockgate learn [--profile NAME] LOGFILE...

  LOGFILE         dockgate serve's JSON log (- for standard input); several files are merged
  --profile NAME  learn only this profile (default: every profile in the log)

Writes YAML for a config's \`profiles:\` section: the operations the traffic used, and the rule
settings it needed (those that reach the host commented out under # REVIEW: lines).
`;

// ─── reading the log ─────────────────────────────────────────────────────────────────────────

/** The fields of a request record that learning uses. */
export interface RequestRecord {
  profile: string;
  listener: string | undefined;
  op: string;
  method: string | undefined;
  decision: "allow" | "deny" | "error";
  rule: string | undefined;
  field: string | undefined;
  status: number | undefined;
  message: string | undefined;
  audit: { rule: string; field: string | undefined; message: string | undefined } | undefined;
  /** Milliseconds since the epoch; undefined when the line has no usable `time`. */
  time: number | undefined;
}

const DECISIONS: ReadonlySet<string> = new Set(["allow", "deny", "error"]);

/** A string field, flattened to one line (it may end up in a comment). */
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v.replace(/[\u0000-\u001f\u007f]+/g, " ") : undefined;
}

/** A request record from one log line, or undefined for anything else. */
export function parseLine(line: string): RequestRecord | undefined {
  const start = line.indexOf("{");
  if (start < 0) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(start));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const op = str(o["op"]);
  const profile = str(o["profile"]);
  const decision = str(o["decision"]);
  if (op === undefined || op === "" || profile === undefined || decision === undefined || !DECISIONS.has(decision)) return undefined;
  let audit: RequestRecord["audit"];
  const a = o["audit"];
  if (typeof a === "object" && a !== null && !Array.isArray(a)) {
    const ar = a as Record<string, unknown>;
    const rule = str(ar["rule"]);
    if (rule !== undefined) audit = { rule, field: str(ar["field"]), message: str(ar["message"]) };
  }
  let time: number | undefined;
  const t = o["time"];
  if (typeof t === "number" && Number.isFinite(t)) time = t;
  else if (typeof t === "string" && !Number.isNaN(Date.parse(t))) time = Date.parse(t);
  const status = o["status"];
  return {
    profile,
    listener: str(o["listener"]),
    op,
    method: str(o["method"]),
    decision: decision as RequestRecord["decision"],
    rule: str(o["rule"]),
    field: str(o["field"]),
    status: typeof status === "number" && Number.isInteger(status) ? status : undefined,
    message: str(o["message"]),
    audit,
    time,
  };
}

// ─── what a violation needs ──────────────────────────────────────────────────────────────────

type SettingName = keyof RuleSettings;

/** What one refusal (audit or enforce) asks of the rules. */
export type Finding =
  /** A rule setting that would have allowed it; `value` is one list entry, or true. */
  | { kind: "setting"; setting: SettingName; value: string | true; detail: string }
  /** A setting governs it, but its value could not be read reliably from the message. */
  | { kind: "review"; setting: SettingName; detail: string }
  /** The default rules already allow it (the audited profile was stricter than the defaults). */
  | { kind: "default"; detail: string }
  /** No setting allows it: enforce mode refuses it whatever the profile says. */
  | { kind: "never"; detail: string }
  /** Ownership, limits or hardening of the logged profile: not rules, and not carried over. */
  | { kind: "outside"; detail: string }
  /** The operation is not granted (rule endpoint.allow): handled by `allow:`. */
  | { kind: "endpoint" };

/** Rule id → the `rules:` setting that allows it, from the catalog's `needs`. */
const RULE_SETTING: ReadonlyMap<string, SettingName> = new Map(
  RULES.flatMap((r) => (r.needs?.startsWith("rules.") ? [[r.id, r.needs.slice("rules.".length) as SettingName] as const] : [])),
);

/** The sentence of a denial message: `dockgate: Op denied for profile P: <detail> (rule r)`. */
export function detailOf(message: string | undefined): string {
  if (message === undefined) return "";
  const m = /^dockgate: \S+ denied(?: for profile \S+)?: ([\s\S]*?)(?: \(rule [^)]*\))?$/.exec(message);
  return (m ? m[1]! : message).replace(/[\r\n\t]+/g, " ");
}

const QUOTED = String.raw`("(?:[^"\\]|\\.)*")`;

/** A JSON-quoted string from a message, unless dockgate shortened it (quote() cuts at 120 with "…"). */
function unquote(q: string | undefined): string | undefined {
  if (q === undefined) return undefined;
  let s: unknown;
  try {
    s = JSON.parse(q);
  } catch {
    return undefined;
  }
  if (typeof s !== "string" || s === "") return undefined;
  if (s.endsWith("…") && s.length > 120) return undefined;
  return s;
}

function quotedAfter(detail: string, before: string, after = ""): string | undefined {
  const m = new RegExp(`${before}${QUOTED}${after}`).exec(detail);
  return unquote(m?.[1]);
}

/** The parser's check for fetchUrls entries (src/policy/rules.ts). */
function fetchUrlOk(s: string): boolean {
  return (
    !/\s/.test(s) &&
    (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\s]+/.test(s) || /^[^@\s/]+@[^:\s/]+:/.test(s) || /^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::[0-9]+)?\//.test(s))
  );
}

function namedValue(setting: SettingName, value: string | undefined, detail: string, ok: (v: string) => boolean = () => true): Finding {
  return value !== undefined && ok(value) && !/[\r\n]/.test(value)
    ? { kind: "setting", setting, value, detail }
    : { kind: "review", setting, detail };
}

/** What would have allowed a request refused with `rule` (and `message`). */
export function analyze(rule: string, message: string | undefined): Finding {
  const detail = detailOf(message);
  if (/^(?:ownership|limits|hardening)\./.test(rule)) return { kind: "outside", detail };
  switch (rule) {
    case "endpoint.allow":
      return { kind: "endpoint" };
    case "api.min-version": {
      const v = /API version (\S+) is below/.exec(detail)?.[1];
      if (v !== undefined && compareVersions(v, MIN_API_VERSION_FLOOR) >= 0) return { kind: "default", detail };
      return { kind: "never", detail };
    }
    case "containers.bind-mounts": {
      // The allowlist is empty by default, so "not in the allowed bind paths" is the message to
      // expect; "may only be mounted read-only" / "below the writable bind path" come from a
      // logged profile with its own bindMounts, and are left to the reviewer.
      if (/must be an absolute host path|invalid bind specification/.test(detail)) return { kind: "never", detail };
      const m = new RegExp(`host path ${QUOTED}(?: \\(${QUOTED}\\))? is not in the allowed bind paths$`).exec(detail);
      if (!m) return { kind: "review", setting: "bindMounts", detail };
      const path = unquote(m[2] ?? m[1]);
      return namedValue("bindMounts", path, detail, (p) => p.startsWith("/") && !p.split("/").some((s) => s === "." || s === ".."));
    }
    case "containers.capabilities": {
      const m = new RegExp(`capability ${QUOTED}(?: \\(([A-Z0-9_]+)\\))? is not allowed`).exec(detail);
      const raw = unquote(m?.[1]);
      const cap = m?.[2] ?? (raw === undefined ? undefined : normalizeCapability(raw));
      return namedValue("capAdd", cap, detail, (c) => c === "ALL" || KNOWN_CAPABILITIES.has(c));
    }
    case "containers.host-namespaces": {
      const ns = /host's (\w+) namespace/.exec(detail)?.[1] ?? (/host's network/.test(detail) ? "network" : undefined);
      return namedValue("hostNamespaces", ns, detail, (n) => (NAMESPACE_NAMES as readonly string[]).includes(n));
    }
    case "containers.namespace-joins": {
      const ns = /another container's (\w+) namespace/.exec(detail)?.[1];
      return namedValue("namespaceJoins", ns, detail, (n) => (NAMESPACE_NAMES as readonly string[]).includes(n));
    }
    case "build.network": {
      if (/another container's network namespace/.test(detail)) return { kind: "setting", setting: "namespaceJoins", value: "network", detail };
      return /host's network/.test(detail) ? { kind: "setting", setting: "buildNetworkHost", value: true, detail } : { kind: "review", setting: "buildNetworkHost", detail };
    }
    case "containers.security-opt": {
      let opt: string | undefined;
      if (detail.includes("seccomp=<custom profile>") || /custom seccomp profiles/.test(detail)) opt = "seccomp=*";
      else if (/running without seccomp/.test(detail)) opt = "seccomp=unconfined";
      else if (/running without AppArmor/.test(detail)) opt = "apparmor=unconfined";
      else if (/disabling SELinux labeling/.test(detail)) opt = "label=disable";
      else if (/custom SELinux labels/.test(detail)) opt = "label=*";
      else if (/credential specs|is not a known (?:seccomp|AppArmor) mode/.test(detail)) return { kind: "never", detail };
      else {
        const raw = quotedAfter(detail, "security option ", " is not allowed");
        if (raw !== undefined) opt = raw === "disable" ? "label=disable" : raw === "writable-cgroups" ? "writable-cgroups=true" : normalizeSecurityOpt(raw);
      }
      return namedValue("securityOpt", opt, detail, (o) => {
        const eq = o.indexOf("=");
        return eq > 0 && SECURITY_OPT_KEYS.includes(o.slice(0, eq));
      });
    }
    case "containers.sysctls": {
      const name = quotedAfter(detail, "sysctl ", " is not allowed")?.replaceAll("/", ".");
      return namedValue("sysctls", name, detail, (n) => !n.includes("*") && /^[A-Za-z0-9_.-]+$/.test(n));
    }
    case "containers.runtime":
      return namedValue("runtimes", quotedAfter(detail, "runtime ", " is not allowed"), detail);
    case "containers.log-driver":
      return namedValue("logDrivers", quotedAfter(detail, "log driver ", " is not allowed"), detail);
    case "volumes.driver":
      return namedValue("volumeDrivers", quotedAfter(detail, "volume driver ", " is not allowed"), detail);
    case "networks.driver": {
      if (/IPAM driver/.test(detail)) return { kind: "never", detail };
      if (/default \(bridge\) network driver/.test(detail)) return { kind: "default", detail };
      return namedValue("networkDrivers", quotedAfter(detail, "network driver ", " is not allowed"), detail);
    }
    case "networks.options":
      return namedValue("networkOptions", quotedAfter(detail, "network option ", "="), detail);
    case "build.remote":
      return namedValue("fetchUrls", quotedAfter(detail, "^remote=", ":"), detail, fetchUrlOk);
    case "images.fetch-url":
      return namedValue("fetchUrls", quotedAfter(detail, "^fromSrc=", ":"), detail, fetchUrlOk);
    case "volumes.driver-options":
      return { kind: "setting", setting: "volumeDriverOptions", value: "any", detail };
    case "services.plugin":
      if (/network attachment tasks|only container tasks/.test(detail)) return { kind: "never", detail };
      return { kind: "setting", setting: "plugins", value: true, detail };
    case "exec.root":
      return { kind: "default", detail };
  }
  const setting = RULE_SETTING.get(rule);
  if (setting !== undefined && typeof DEFAULT_RULES[setting] === "boolean") {
    // Boolean settings whose default is false: allowPrivileged, devices, gpus, systemPaths,
    // cgroupParent, volumesFrom, oomOverrides, annotations, plugins, buildNetworkHost.
    return DEFAULT_RULES[setting] ? { kind: "default", detail } : { kind: "setting", setting, value: true, detail };
  }
  if (setting !== undefined) return { kind: "review", setting, detail };
  return { kind: "never", detail };
}

// ─── what each setting means ─────────────────────────────────────────────────────────────────

/**
 * Settings written active when the traffic needed them: exact names with no way to the host.
 * sysctls: only namespaced sysctls are accepted by runc. fetchUrls: the exact URL the daemon
 * already fetched for this client (and paths below it).
 */
const ACTIVE_SETTINGS: ReadonlySet<SettingName> = new Set<SettingName>(["sysctls", "fetchUrls"]);

/** Why granting a setting needs a human: shown in its `# REVIEW:` line. */
const SETTING_RISK: Readonly<Record<SettingName, string>> = {
  allowPrivileged: "a privileged container (or exec) has full access to the host: every device, the kernel, every file",
  bindMounts: "a bind mount gives the container this host path; readOnly: false allows exactly this path, read-write; readOnly: true allows it and everything below it, read-only only (enough when the client mounts it :ro)",
  capAdd: "capabilities beyond Docker's defaults weaken the container's confinement (CAP_SYS_ADMIN is close to root on the host)",
  devices: "host device nodes inside the container (disks, /dev/mem, ...)",
  gpus: "host devices (GPUs, CDI devices) inside the container",
  hostNamespaces: "the container shares the host's namespace (network: every host interface and localhost port; pid: see and signal host processes; ...)",
  namespaceJoins: "the container joins another container's namespace, which may itself be privileged or on the host's network",
  securityOpt: "weakens seccomp / AppArmor / SELinux confinement of the container",
  systemPaths: "unmasks /proc and /sys paths that Docker hides from containers",
  sysctls: "namespaced kernel parameters of the container",
  cgroupParent: "places the container outside the daemon's cgroup and its resource limits",
  runtimes: "another OCI runtime, with whatever the daemon's administrator configured it to do",
  volumesFrom: "inherits every volume and bind mount of another container, including host paths it mounted",
  oomOverrides: "protects the container from the OOM killer at the host's expense",
  logDrivers: "the daemon ships the container's logs over the network with its own identity, to an address the client chooses",
  annotations: "annotations are passed to the OCI runtime, which may act on them",
  volumeDrivers: "a volume plugin mounts whatever it is asked to, as root on the host",
  volumeDriverOptions: "any driver options: the local driver then mounts host disks, NFS shares or any host path (o=bind,device=/)",
  execRoot: "exec as root inside containers",
  fetchUrls: "the daemon fetches this URL (and paths below it) on the client's behalf",
  buildNetworkHost: "build steps run on the host's network",
  buildkit: "BuildKit builds through /build and /session (inspected: see the README's build section)",
  buildkitFrontends: "the daemon pulls this frontend image and runs it as the build's frontend, with the build's session and entitlements",
  networkDrivers: "macvlan / ipvlan and plugin drivers attach containers to the host's interfaces",
  networkOptions: "bridge options can take over or reconfigure host bridges",
  plugins: "plugins run as root on the host with the privileges they declare",
  images: "the daemon pulls from, pushes to and logs in to these registries from the host's network (a loopback or link-local registry reaches the host's own services and metadata endpoints)",
  compressedArchives: "Docker Engine before 29.5.1 decompresses archive uploads with a program from inside the container, as host root (GHSA-x86f-5xw2-fm2r)",
};

/** Operations never granted active: what they do is not inspected and reaches the host. */
const DANGEROUS_OPERATIONS: ReadonlyMap<string, string> = new Map([
  ["Session", "BuildKit builds are inspected (see the README's Builds section), but RUN steps run whatever the Dockerfile says and the build cache is shared; grant `buildkit` deliberately"],
  ["Grpc", "BuildKit builds are inspected (see the README's Builds section), but RUN steps run whatever the Dockerfile says and the build cache is shared; grant `buildkit` deliberately"],
  ["SwarmJoin", "joining a swarm lets its managers run any service on this host, uninspected"],
]);

// ─── aggregation ─────────────────────────────────────────────────────────────────────────────

interface OpStats {
  /** Requests with an answer below 400 (or none logged), allowed or passed by audit mode. */
  ok: number;
  /** Daemon answers >= 400: status → count. */
  failed: Map<number, number>;
  /** Refused by the profile (enforce mode): rule → count. */
  denied: Map<string, number>;
  /** dockgate errors (daemon unreachable, inspection failure): rule → count. */
  errors: Map<string, number>;
  /** Passed only because of audit mode (rule endpoint.allow). */
  notGranted: number;
  methods: Set<string>;
}

interface Proposal {
  setting: SettingName;
  value: string | true;
  /** Requests that needed it and then succeeded at the daemon. */
  needed: number;
  /** Requests that needed it but failed at the daemon, or were denied. */
  other: number;
  /** "Op field: detail" → count (a few, for comments). */
  seen: Map<string, number>;
}

interface Remark {
  kind: "never" | "review" | "default" | "outside";
  setting?: SettingName;
  rule: string;
  count: number;
  seen: Map<string, number>;
}

export interface ProfileLearned {
  name: string;
  listeners: Set<string>;
  requests: number;
  allowed: number;
  audited: number;
  denied: number;
  failed: number;
  errors: number;
  first: number | undefined;
  last: number | undefined;
  ops: Map<string, OpStats>;
  proposals: Map<string, Proposal>;
  remarks: Map<string, Remark>;
  unknownOps: Map<string, number>;
}

function bump<K>(m: Map<K, number>, k: K, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

const MAX_SEEN = 3;

function remember(seen: Map<string, number>, what: string): void {
  if (seen.has(what) || seen.size < MAX_SEEN) bump(seen, what);
}

/** Aggregates request records, line by line. */
export class Learner {
  lines = 0;
  /** Lines that are not request records. */
  ignored = 0;
  /** Request records of other profiles than the one asked for. */
  otherProfiles = new Map<string, number>();
  readonly profiles = new Map<string, ProfileLearned>();

  constructor(readonly only?: string) {}

  addLine(line: string): void {
    this.lines++;
    const r = parseLine(line);
    if (r === undefined) {
      if (line.trim() !== "") this.ignored++;
      return;
    }
    this.add(r);
  }

  add(r: RequestRecord): void {
    if (this.only !== undefined && r.profile !== this.only) {
      bump(this.otherProfiles, r.profile);
      return;
    }
    let p = this.profiles.get(r.profile);
    if (p === undefined) {
      p = {
        name: r.profile, listeners: new Set(), requests: 0, allowed: 0, audited: 0, denied: 0, failed: 0, errors: 0,
        first: undefined, last: undefined, ops: new Map(), proposals: new Map(), remarks: new Map(), unknownOps: new Map(),
      };
      this.profiles.set(r.profile, p);
    }
    p.requests++;
    if (r.listener !== undefined) p.listeners.add(r.listener);
    if (r.time !== undefined) {
      if (p.first === undefined || r.time < p.first) p.first = r.time;
      if (p.last === undefined || r.time > p.last) p.last = r.time;
    }
    if (!isOperation(r.op)) {
      bump(p.unknownOps, r.op);
      return;
    }
    let o = p.ops.get(r.op);
    if (o === undefined) {
      o = { ok: 0, failed: new Map(), denied: new Map(), errors: new Map(), notGranted: 0, methods: new Set() };
      p.ops.set(r.op, o);
    }
    if (r.method !== undefined) o.methods.add(r.method);

    const failedAtDaemon = r.decision === "allow" && r.status !== undefined && r.status >= 400;
    if (r.decision === "allow") {
      if (r.audit) p.audited++;
      else p.allowed++;
      if (failedAtDaemon) {
        p.failed++;
        bump(o.failed, r.status!);
      } else {
        o.ok++;
      }
      if (r.audit) this.violation(p, r, r.audit.rule, r.audit.field, r.audit.message, !failedAtDaemon);
    } else if (r.decision === "deny") {
      p.denied++;
      bump(o.denied, r.rule ?? "?");
      if (r.rule !== undefined) this.violation(p, r, r.rule, r.field, r.message, false);
    } else {
      p.errors++;
      bump(o.errors, r.rule ?? "?");
    }
  }

  private violation(p: ProfileLearned, r: RequestRecord, rule: string, field: string | undefined, message: string | undefined, succeeded: boolean): void {
    const f = analyze(rule, message);
    if (f.kind === "endpoint") {
      if (r.decision === "allow") p.ops.get(r.op)!.notGranted++;
      return;
    }
    // The detail names the field itself (`HostConfig.Binds[0]: host path ...`).
    const where = `${r.op}: ${f.detail || `${field ?? "?"}: rule ${rule}`}`;
    if (f.kind === "setting") {
      const key = `${f.setting}\u0000${f.value === true ? "" : f.value}`;
      let pr = p.proposals.get(key);
      if (pr === undefined) p.proposals.set(key, (pr = { setting: f.setting, value: f.value, needed: 0, other: 0, seen: new Map() }));
      if (succeeded) pr.needed++;
      else pr.other++;
      remember(pr.seen, where);
      return;
    }
    const key = `${f.kind}\u0000${rule}`;
    let rm = p.remarks.get(key);
    if (rm === undefined) {
      rm = { kind: f.kind, rule, count: 0, seen: new Map() };
      if (f.kind === "review") rm.setting = f.setting;
      p.remarks.set(key, rm);
    }
    rm.count++;
    remember(rm.seen, where);
  }
}

// ─── rendering ───────────────────────────────────────────────────────────────────────────────

/** Route templates by operation, for comments. */
const ROUTES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>([["Grpc", "POST /grpc"]]);
  for (const r of SPEC_ROUTES) if (!m.has(r.operation)) m.set(r.operation, `${r.method} ${r.path}`);
  return m;
})();

/** The narrowest group an operation belongs to. */
export function groupOf(op: string): string | undefined {
  let best: string | undefined;
  for (const g of groupsOf(op)) {
    if (best === undefined || GROUPS.get(g)!.operations.length < GROUPS.get(best)!.operations.length) best = g;
  }
  return best;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function iso(ms: number | undefined): string {
  return ms === undefined ? "?" : new Date(ms).toISOString();
}

/** A YAML scalar for a string: plain when unambiguous, else double-quoted (JSON is valid YAML). */
function scalar(s: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_.\/=-]*$/.test(s) && !/^(?:true|false|yes|no|on|off|null|y|n)$/i.test(s)) return s;
  return JSON.stringify(s);
}

/** One line of comment text: no line breaks, not endless. */
function commentText(s: string, max = 240): string {
  const flat = s.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function statusList(m: Map<number, number>): string {
  return [...m].sort((a, b) => a[0] - b[0]).map(([s, n]) => (n === 1 ? `${s}` : `${s} ×${n}`)).join(", ");
}

function ruleList(m: Map<string, number>): string {
  return [...m].map(([r, n]) => (n === 1 ? r : `${r} ×${n}`)).join(", ");
}

function seenLines(pad: string, seen: Map<string, number>, total: number, indent = "  "): string[] {
  const out = [...seen].map(([what, n]) => `${pad}# ${indent}${commentText(what)}${n > 1 ? ` (×${n})` : ""}`);
  const shown = [...seen.values()].reduce((a, b) => a + b, 0);
  if (total > shown) out.push(`${pad}# ${indent}... and ${plural(total - shown, "more request")}`);
  return out;
}

/** List settings whose default is non-empty: the proposal keeps the defaults. */
function listDefault(setting: SettingName): readonly string[] {
  const d = DEFAULT_RULES[setting];
  return Array.isArray(d) ? (d as readonly string[]) : [];
}

function renderSetting(setting: SettingName, ps: Proposal[], pad: string, commented: boolean): string[] {
  const c = commented ? "# " : "";
  const out: string[] = [];
  const note = (p: Proposal) => `${plural(p.needed + p.other, "request")}${p.other > 0 && p.needed === 0 ? ", none of them succeeded" : ""}`;
  if (setting === "bindMounts") {
    out.push(`${pad}${c}bindMounts:`, `${pad}${c}  allow:`);
    const paths = ps.map((p) => p.value as string);
    for (const p of ps) {
      const path = p.value as string;
      const inside = paths.find((o) => o !== path && (o === "/" || path.startsWith(`${o}/`)));
      const extra = inside !== undefined ? `; inside ${inside}: keep one of the two, or make ${inside} readOnly: true` : "";
      out.push(`${pad}${c}    - { path: ${JSON.stringify(path)}, readOnly: false }   # ${note(p)}${extra}`);
    }
    return out;
  }
  if (ps.length === 1 && ps[0]!.value === true) {
    return [`${pad}${c}${setting}: true   # ${note(ps[0]!)}`];
  }
  if (setting === "volumeDriverOptions") {
    return [`${pad}${c}volumeDriverOptions: any   # ${note(ps[0]!)}`];
  }
  const defaults = listDefault(setting);
  out.push(`${pad}${c}${setting}:${defaults.length > 0 ? "   # the defaults, and what the traffic used" : ""}`);
  for (const d of defaults) out.push(`${pad}${c}  - ${scalar(d)}`);
  for (const p of ps) {
    if (defaults.includes(p.value as string)) continue;
    out.push(`${pad}${c}  - ${scalar(p.value as string)}   # ${note(p)}`);
  }
  return out;
}

const SETTING_ORDER = Object.keys(DEFAULT_RULES) as SettingName[];

export function renderProfile(p: ProfileLearned): string[] {
  const out: string[] = [];
  const P = "    "; // keys of the profile
  const L = "      "; // entries of its lists and maps

  out.push(`  ${scalar(p.name)}:`);
  const span = `${iso(p.first)} .. ${iso(p.last)}`;
  const listeners = [...p.listeners].sort();
  out.push(`${P}# ${plural(p.requests, "request")}${listeners.length ? ` through listener${listeners.length === 1 ? "" : "s"} ${listeners.join(", ")}` : ""}, ${span}:`);
  const parts = [`${p.allowed} allowed`];
  if (p.audited > 0) parts.push(`${p.audited} passed by audit mode (enforce mode would have denied them)`);
  if (p.denied > 0) parts.push(`${p.denied} denied`);
  if (p.errors > 0) parts.push(`${p.errors} dockgate errors`);
  if (p.failed > 0) parts.push(`${p.failed} of the allowed and audited failed at the daemon (status >= 400)`);
  out.push(`${P}#   ${parts.join("; ")}`);
  out.push(`${P}description: ${JSON.stringify(`learned by dockgate learn from ${plural(p.requests, "request")}, ${span}`)}`);
  out.push(`${P}mode: enforce`);

  // ── allow ──
  const granted: string[] = [];
  const dangerous: string[] = [];
  const failedOnly: string[] = [];
  const deniedOnly: string[] = [];
  for (const op of [...p.ops.keys()].sort()) {
    const o = p.ops.get(op)!;
    if (o.ok > 0) (DANGEROUS_OPERATIONS.has(op) ? dangerous : granted).push(op);
    else if (o.failed.size > 0) failedOnly.push(op);
    else deniedOnly.push(op);
  }
  const width = Math.max(0, ...[...p.ops.keys()].map((op) => op.length));
  const entry = (op: string, c: string, tail: string) => {
    const group = groupOf(op) ?? "no group";
    const route = ROUTES.get(op) ?? [...p.ops.get(op)!.methods].join("/");
    return `${L}${c}- ${op.padEnd(width)}   # ${group}: ${route}${tail}`;
  };
  const counts = (o: OpStats) => {
    const bits = [plural(o.ok, "request")];
    if (o.failed.size > 0) bits.push(`also failed: ${statusList(o.failed)}`);
    if (o.denied.size > 0) bits.push(`also denied: ${ruleList(o.denied)}`);
    if (o.notGranted > 0) bits.push(`${o.notGranted} passed by audit mode`);
    return ` (${bits.join("; ")})`;
  };

  out.push(granted.length > 0 ? `${P}allow:` : `${P}allow: []`);
  if (granted.length > 0) {
    const groups = [...new Set(granted.map((op) => groupOf(op)).filter((g): g is string => g !== undefined))].sort();
    out.push(`${L}# ${plural(granted.length, "operation")}, from these groups:`);
    const gw = Math.max(...groups.map((g) => g.length));
    for (const g of groups) out.push(`${L}#   ${g.padEnd(gw)}  ${commentText(GROUPS.get(g)!.describe)}`);
  }
  for (const op of granted) out.push(entry(op, "", counts(p.ops.get(op)!)));
  for (const op of dangerous) {
    out.push(`${L}# REVIEW: ${op} was used, but is not granted: ${DANGEROUS_OPERATIONS.get(op)}`);
    out.push(entry(op, "# ", counts(p.ops.get(op)!)));
  }
  if (failedOnly.length > 0) {
    out.push(`${L}# Not granted: these only ever failed at the daemon (status >= 400), so the traffic got`);
    out.push(`${L}# nothing from them (enforce mode answers 403 instead). Uncomment one if the application`);
    out.push(`${L}# relies on the error answer (e.g. "no such image" before a pull):`);
    for (const op of failedOnly) {
      const o = p.ops.get(op)!;
      const n = [...o.failed.values()].reduce((a, b) => a + b, 0);
      out.push(entry(op, "# ", ` (${plural(n, "request")}: ${statusList(o.failed)})`));
    }
  }
  if (deniedOnly.length > 0) {
    out.push(`${L}# Not granted: every request for these was refused${p.errors > 0 ? " or ended in a dockgate error" : ""}:`);
    for (const op of deniedOnly) {
      const o = p.ops.get(op)!;
      const why = [o.denied.size > 0 ? `denied: ${ruleList(o.denied)}` : "", o.errors.size > 0 ? `errors: ${ruleList(o.errors)}` : ""].filter(Boolean).join("; ");
      out.push(entry(op, "# ", ` (${why})`));
    }
  }

  // ── rules ──
  const bySetting = new Map<SettingName, Proposal[]>();
  for (const pr of p.proposals.values()) {
    const list = bySetting.get(pr.setting) ?? [];
    list.push(pr);
    bySetting.set(pr.setting, list);
  }
  const reviews = [...p.remarks.values()].filter((r) => r.kind === "review");
  if (bySetting.size === 0 && reviews.length === 0) {
    out.push(`${P}# rules: the safe defaults; the traffic needed no setting beyond them`);
  } else {
    out.push(`${P}rules:`);
    out.push(`${L}# Only what the traffic needed; everything else keeps the safe defaults.`);
    for (const setting of SETTING_ORDER) {
      const ps = bySetting.get(setting);
      if (ps === undefined) continue;
      ps.sort((a, b) => String(a.value).localeCompare(String(b.value)));
      const needed = ps.some((x) => x.needed > 0);
      const active = ACTIVE_SETTINGS.has(setting) && needed;
      const total = ps.reduce((a, x) => a + x.needed + x.other, 0);
      const seen = new Map<string, number>();
      for (const x of ps) for (const [k, n] of x.seen) if (seen.has(k) || seen.size < MAX_SEEN) bump(seen, k, n);
      if (active) {
        out.push(`${L}# ${setting}: ${SETTING_RISK[setting]}. Needed by:`);
      } else {
        out.push(`${L}# REVIEW: ${setting} is not granted: ${SETTING_RISK[setting]}.`);
        out.push(`${L}#   ${needed ? "Uncomment to grant it." : "Only requests that failed or were denied asked for it."} Needed by:`);
      }
      out.push(...seenLines(L, seen, total));
      out.push(...renderSetting(setting, ps, L, !active));
    }
    for (const r of reviews) {
      out.push(`${L}# REVIEW: set ${r.setting} by hand if appropriate (${SETTING_RISK[r.setting!]}); the value could not be read reliably from (rule ${r.rule}, ${plural(r.count, "request")}):`);
      out.push(...seenLines(L, r.seen, r.count));
    }
  }

  // ── what no profile allows, and what needs nothing ──
  const never = [...p.remarks.values()].filter((r) => r.kind === "never");
  if (never.length > 0) {
    out.push(`${P}# REVIEW: enforce mode refuses these whatever the profile says (no setting allows them):`);
    out.push(`${P}# change the client, or expect these requests to fail.`);
    for (const r of never) {
      out.push(`${P}#   rule ${r.rule} (${plural(r.count, "request")}):`);
      out.push(...seenLines(P, r.seen, r.count, "    "));
    }
  }
  const outside = [...p.remarks.values()].filter((r) => r.kind === "outside");
  if (outside.length > 0) {
    out.push(`${P}# REVIEW: refused by the logged profile's ownership, limits or mutate settings, which are not`);
    out.push(`${P}# in this profile: if you copy them over, expect these requests to be refused again:`);
    for (const r of outside) {
      out.push(`${P}#   rule ${r.rule} (${plural(r.count, "request")}):`);
      out.push(...seenLines(P, r.seen, r.count, "    "));
    }
  }
  const defaults = [...p.remarks.values()].filter((r) => r.kind === "default");
  if (defaults.length > 0) {
    out.push(`${P}# Refused by the logged profile, but allowed by the defaults this profile uses:`);
    for (const r of defaults) {
      out.push(`${P}#   rule ${r.rule} (${plural(r.count, "request")}):`);
      out.push(...seenLines(P, r.seen, r.count, "    "));
    }
  }
  if (p.unknownOps.size > 0) {
    out.push(`${P}# Not granted: operation ids this dockgate does not know (a newer version's log?): ${ruleList(p.unknownOps)}`);
  }
  return out;
}

/** The whole output: a header and a `profiles:` section. */
export function render(learner: Learner, sources: readonly string[]): string {
  const profiles = [...learner.profiles.values()].sort((a, b) => a.name.localeCompare(b.name));
  const total = profiles.reduce((a, p) => a + p.requests, 0);
  const out: string[] = [
    `# Learned by \`dockgate learn\` from ${commentText(sources.map((s) => (s === "-" ? "standard input" : s)).join(", "), 1000)}:`,
    `#   ${plural(total, "request record")} of ${plural(profiles.length, "profile")}${learner.ignored > 0 ? `; ${plural(learner.ignored, "line")} that are not request records ignored` : ""}${learner.otherProfiles.size > 0 ? `; other profiles skipped: ${ruleList(learner.otherProfiles)}` : ""}`,
    "#",
    "# Commented-out lines are NOT granted. Read every `# REVIEW:` line and uncomment what you decide",
    "# to grant. Then put the profile in a config with a listener that names it (`profile: NAME`),",
    "# check it with `dockgate check CONFIG`, and serve it. The audited profile's ownership, mutate,",
    "# redact, limits and minApiVersion are not in the log: copy them over by hand.",
    "profiles:",
  ];
  profiles.forEach((p, i) => {
    if (i > 0) out.push("");
    out.push(...renderProfile(p));
  });
  return `${out.join("\n")}\n`;
}

/** Learn from log text (tests, and small inputs). */
export function learnText(text: string, options: { profile?: string; sources?: string[] } = {}): { yaml: string; learner: Learner } {
  const learner = new Learner(options.profile);
  for (const line of text.split(/\r?\n/)) learner.addLine(line);
  return { yaml: render(learner, options.sources ?? ["-"]), learner };
}

// ─── the command ─────────────────────────────────────────────────────────────────────────────

async function feed(learner: Learner, input: Readable): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let failure: Error | undefined;
  input.once("error", (err: Error) => {
    failure = err;
    rl.close();
  });
  for await (const line of rl) learner.addLine(line);
  if (failure) throw failure;
}

function usage(message: string): number {
  process.stderr.write(`dockgate learn: ${message}\n${USAGE}`);
  return 2;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, { profile: { type: "string", short: "p" }, help: { type: "boolean", short: "h" } });
  if (typeof parsed === "string") return usage(parsed);
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const profile = parsed.values.profile;
  const files = parsed.positionals;
  if (files.length === 0) return usage("no log file given (use - for standard input)");
  if (files.filter((f) => f === "-").length > 1) return usage("standard input (-) can be read once");

  const learner = new Learner(profile);
  for (const file of files) {
    try {
      if (file === "-") {
        await feed(learner, process.stdin);
      } else {
        const handle = await open(file, "r");
        try {
          await feed(learner, handle.createReadStream({ autoClose: false }));
        } finally {
          await handle.close();
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (err as Error).message;
      process.stderr.write(`dockgate learn: ${file}: ${why}\n`);
      return 1;
    }
  }
  if (learner.profiles.size === 0) {
    const seen = [...learner.otherProfiles.keys()].sort();
    process.stderr.write(
      profile !== undefined
        ? `dockgate learn: no request records of profile ${profile}${seen.length ? ` (the log has ${seen.join(", ")})` : ""}\n`
        : `dockgate learn: no request records in ${files.map((f) => (f === "-" ? "standard input" : f)).join(", ")} (${plural(learner.lines, "line")} read; is the log level info or lower?)\n`,
    );
    return 1;
  }
  process.stdout.write(render(learner, files));
  return 0;
}
