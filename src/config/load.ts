// Loading and validating dockgate's YAML config. Every problem is reported with the position of
// the YAML node it is about, as `file:line:col: message`, all at once; a config with any problem
// is refused as a whole (dockgate does not start on a half-understood config).
//
// ── The config file ──────────────────────────────────────────────────────────────────────────
//
//   upstream: /var/run/docker.sock     # the daemon's socket (default); `unix:///path` also accepted
//   log:
//     level: info                      # trace | debug | info | warn | error | fatal | silent
//   limits:
//     maxHeaderBytes: 65536            # request line + headers (1024 .. 1048576). Real clients
//                                      # need room: dockerode puts create options in the query.
//     maxBodyBytes: 1048576            # largest body buffered for inspection (1024 .. 67108864);
//                                      # an inspected body above it is refused, never passed on
//     headerTimeoutSeconds: 30         # a request head must arrive within this (1 .. 3600), else
//                                      # 408 and close; idle keep-alive connections are not timed
//   shutdown:
//     graceSeconds: 10                 # in-flight requests and streams after SIGTERM (0 .. 3600)
//
//   listeners:                         # at least one
//     - name: ci                       # unique; [A-Za-z0-9][A-Za-z0-9_.-]*
//       description: "..."             # optional, free text
//       # exactly one of unix / tcp / tls:
//       unix:
//         path: /run/dockgate/ci.sock  # absolute; unique; not the upstream socket
//         mode: "0660"                 # octal (default "0660"); plain 0660 is read as octal too
//         owner: root                  # optional user name or uid
//         group: docker                # optional group name or gid
//       tcp:                           # plain TCP: only for loopback or a trusted network
//         host: 127.0.0.1              # default 127.0.0.1
//         port: 2375                   # required
//         allow: [127.0.0.1/32]        # required, non-empty: client address CIDRs (or bare IPs)
//       tls:                           # mutual TLS: clients must present a certificate from `ca`
//         host: 0.0.0.0                # default 127.0.0.1
//         port: 2376
//         cert: server.pem             # PEM files; relative paths are relative to this file
//         key: server-key.pem
//         ca: clients-ca.pem
//         allow: [10.0.0.0/8]          # optional client address CIDRs
//       profile: ci                    # profile for every client of this listener
//       identities:                    # optional (tls, unix): the client's identity selects another profile
//         "CN=runner-1": ci            # tls: CN=<subject CN>, DNS:<san>, IP:<san>, URI:<san>, email:<san>
//         "uid:1001": ci               # unix: the peer's SO_PEERCRED: uid:N, gid:N, user:NAME, group:NAME
//                                      # (names resolved at load and on reload; uid before gid; the
//                                      # primary gid only; unreadable credentials refuse the connection)
//
//   profiles:                          # at least one
//     ci:                              # name: [A-Za-z0-9][A-Za-z0-9_.-]*
//       description: "..."             # optional, free text
//       allow: [ping, containers:read, ContainerCreate]   # groups and operation ids (required)
//       deny: [ContainerExport]        # optional: removed from what `allow` granted
//       mode: enforce                  # enforce (default) | audit: allow everything, log denials
//       minApiVersion: "1.24"          # lowest /vX.Y accepted (default and floor: 1.24)
//       rules: {}                      # per-profile inspection settings (see the rules reference)
//       ownership: true                # tenancy (default off); or { label: dockgate.owner }: see below
//       mutate:                        # hardening forced onto every container this profile creates
//         labels: { team: ci }         # added (a client's label of the same key is overwritten)
//         noNewPrivileges: true        # SecurityOpt += no-new-privileges
//         dropAllCapabilities: true    # CapDrop = [ALL]; CapAdd keeps what rules.capAdd allows
//         memory: { default: 512m, max: 2g }   # bytes, or sizes as `docker run -m` reads them:
//                                      # b, k, m, g, t (binary: 512m = 536870912); min 6m
//         cpus: { default: 1, max: 2.5 }       # CPUs (decimals, ≥ 0.01) → NanoCpus (1.5 = 1500000000);
//                                      # or nanoCpus: { default: 1000000000 } — not both
//         pids: { default: 512, max: 4096 }    # PidsLimit
//                                      # default: set when the client sets none (or 0); max: above is denied
//         user: "65534:65534"          # Config.User when the client's is empty or root (not root itself)
//         readOnlyRootfs: true         # HostConfig.ReadonlyRootfs
//         network: ci-net              # forced HostConfig.NetworkMode (not host / container:<x>)
//       redact:                        # what this profile's clients may not read in responses
//         containerEnv: all            # container inspect Config.Env: "all" keeps names only (NAME=),
//                                      # a list [PATH, HOME] keeps the values of those names only
//         info: [Name, RegistryConfig] # top-level fields of GET /info replaced by null (case-sensitive;
//         systemDf: [Volumes]          # of GET /system/df: LayersSize, Images, Containers, Volumes, BuildCache)
//       limits:                        # per client (one listener, or one listener + TLS/unix identity)
//         requestsPerSecond: 50        # sustained rate (decimals allowed) ...
//         burst: 100                   # ... plus this many at once (needs requestsPerSecond)
//         maxConnections: 32           # simultaneous connections
//         maxStreams: 8                # simultaneous attach/exec/logs -f/events/stats streams
//         maxContainers: 20            # live containers owned by the client (needs ownership)
//
//   admin:                             # optional /healthz and /metrics endpoint (no authentication):
//     unix: { path: /run/dockgate/admin.sock, mode: "0660" }
//     tcp: { host: 127.0.0.1, port: 9323 }  # one of unix / tcp; tcp must be loopback (127.x, ::1, localhost)
//
//   tenants:                           # optional per-job sockets through the admin API (needs admin.unix)
//     directory: /run/dockgate/tenants # absolute; sockets are <directory>/<name>.sock
//     profiles: [ci]                   # profiles tenants may use (each with ownership)
//     defaultProfile: ci               # optional, one of profiles
//     socket: { mode: "0660", owner: root, group: ci }   # tenant sockets (default mode 0660)
//     max: 100                         # tenants at once (1 .. 10000, default 100)
//     defaultTtlSeconds: 14400         # optional (1 .. 604800)
//     onRestart: restore               # restore | clean: tenants found on the daemon at start
//
// Ownership: every container, network, volume and exec created through the profile gets the label
// `<label>: <owner>` (owner = the listener name, or `listener/identity` when an identity selected the
// profile), lists and events show only the client's own objects, and any other object is reported
// as missing (`No such container: x`). Label keys: letters, digits, ".", "_", "-", "/", not in
// Docker's reserved com.docker.* / io.docker.* / org.dockerproject.* namespaces.
//
// Unknown keys, groups and operation ids are errors, with a "did you mean" when one is close.

import { readFileSync, realpathSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import {
  type Document,
  LineCounter,
  type Node,
  type Pair,
  type Scalar,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  visit,
} from "yaml";
import { type BindPath, DEFAULT_RULES, parseRuleSettings, type RuleSettings } from "../policy/rules.js";
import { NO_HARDENING } from "../policy/mutate.js";
import { bindingEntry } from "../policy/inspect/hostpath.js";
import { isUnder } from "../policy/inspect/util.js";
import { GROUPS, OPERATIONS, OPERATION_ALIASES, expandGrant } from "./groups.js";
import { didYouMean } from "./suggest.js";
import type {
  AdminListen,
  ClientLimits,
  Config,
  HardeningConfig,
  ListenAddress,
  ListenerConfig,
  OwnershipConfig,
  ProfileConfig,
  RedactConfig,
  TcpListen,
  TenantsConfig,
  TlsListen,
  UnixListen,
} from "./types.js";

/** A tenant's time to live is at most a week (also what one Node.js timer can wait). */
export const MAX_TENANT_TTL_SECONDS = 7 * 24 * 3600;

export const DEFAULTS: Readonly<{
  upstream: string;
  logLevel: Config["logLevel"];
  maxHeaderBytes: number;
  maxBodyBytes: number;
  headerTimeoutSeconds: number;
  shutdownGraceSeconds: number;
  unixMode: number;
  host: string;
  minApiVersion: string;
  profileMode: ProfileConfig["mode"];
}> = Object.freeze({
  upstream: "/var/run/docker.sock",
  logLevel: "info",
  maxHeaderBytes: 65536,
  maxBodyBytes: 1048576,
  headerTimeoutSeconds: 30,
  shutdownGraceSeconds: 10,
  unixMode: 0o660,
  host: "127.0.0.1",
  minApiVersion: "1.24",
  profileMode: "enforce",
});

/** The lowest API version dockgate understands the semantics of (the daemon's own floor). */
export const MIN_API_VERSION_FLOOR = "1.24";

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface ConfigProblem {
  file: string;
  /** 1-based; absent when the problem is about the file as a whole (unreadable). */
  line?: number;
  col?: number;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return p.line === undefined ? `${p.file}: ${p.message}` : `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** A config that cannot be used. `message` is one `file:line:col: problem` line per problem. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface LoadOptions {
  /**
   * Check that TLS cert/key/ca files exist and look like PEM, and resolve user and group names
   * against /etc/passwd and /etc/group. Default true; tests of pure syntax may turn it off
   * (names then only resolve when numeric).
   */
  checkFiles?: boolean;
}

/** Read and validate a config file. Throws ConfigError. */
export function loadConfig(file: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((err as Error).message);
    throw new ConfigError([{ file, message: `cannot read config: ${why}` }]);
  }
  return parseConfigText(text, file, options);
}

/** Validate config text; `file` names it in messages and anchors relative paths. */
export function parseConfigText(text: string, file: string, options: LoadOptions = {}): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    version: "1.2",
    merge: false,
  });
  const r = new Reader(file, lineCounter, doc, options.checkFiles ?? true);
  for (const e of [...doc.errors, ...doc.warnings]) {
    r.errorAt(e.pos[0], e.code === "MULTIPLE_DOCS" ? "a config is a single YAML document (remove the second `---`)" : yamlMessage(e.message));
  }
  if (r.problems.length === 0) {
    // An alias to no anchor is not a YAML error to the parser; report it before anything cascades.
    visit(doc, { Alias: (_key, node) => void r.deref(node) });
  }
  if (r.problems.length > 0) throw new ConfigError(r.sorted());
  const config = r.readRoot();
  if (r.problems.length > 0 || config === undefined) throw new ConfigError(r.sorted());
  if (r.warnings.length > 0) config.warnings = byPosition(r.warnings).map(formatProblem);
  return config;
}

function yamlMessage(message: string): string {
  // The yaml package appends " at line L, column C" to some messages; we print positions first.
  return `invalid YAML: ${message.replace(/ at line \d+, column \d+.*$/s, "")}`;
}

interface Entry {
  key: Scalar;
  value: Node | null;
  pair: Pair;
}
type Entries = Map<string, Entry>;
type Where = Node | Pair | null | undefined;

class Reader {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];
  private passwd: Map<string, number> | undefined;
  private groupFile: Map<string, number> | undefined;
  /** Each profile's `rules:` value node, for positions of its bindMounts entries. */
  private readonly rulesNodes = new Map<string, Node | null>();

  constructor(
    readonly file: string,
    readonly lc: LineCounter,
    readonly doc: Document,
    readonly checkFiles: boolean,
  ) {}

  // ── positions and reporting ──

  private offsetOf(node: Where): number {
    if (!node) return 0;
    if ("range" in node && node.range) return node.range[0];
    if ("key" in node) {
      const k = node.key as Node | null;
      if (k && typeof k === "object" && "range" in k && k.range) return k.range[0];
    }
    return 0;
  }

  private problemAt(offset: number, message: string): ConfigProblem {
    const { line, col } = this.lc.linePos(offset);
    return { file: this.file, line: Math.max(line, 1), col: Math.max(col, 1), message };
  }

  errorAt(offset: number, message: string): void {
    this.problems.push(this.problemAt(offset, message));
  }

  error(node: Where, message: string): void {
    this.errorAt(this.offsetOf(node), message);
  }

  warn(node: Where, message: string): void {
    this.warnings.push(this.problemAt(this.offsetOf(node), `warning: ${message}`));
  }

  sorted(): ConfigProblem[] {
    return byPosition(this.problems);
  }

  // ── typed access ──

  private badAliases = new Set<unknown>();

  deref(node: unknown): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(this.doc) as Node | undefined;
      if (target === undefined && !this.badAliases.has(node)) {
        this.badAliases.add(node);
        this.error(node, `invalid YAML: alias *${node.source} refers to no anchor &${node.source} before it`);
      }
      return target ?? null;
    }
    return node as Node;
  }

  /** A map's entries, after checking every key is a known one. */
  map(node: Node | null, where: string, keys: readonly string[], at?: Where): Entries | undefined {
    if (!isMap(node)) {
      this.error(node ?? at, `${where} must be a map, not ${describe(node)}`);
      return undefined;
    }
    const out: Entries = new Map();
    for (const pair of node.items) {
      const key = this.deref(pair.key);
      if (!isScalar(key) || typeof key.value !== "string") {
        this.error(key ?? node, `${where}: keys must be strings, not ${describe(key)}`);
        continue;
      }
      const name = key.value;
      if (!keys.includes(name)) {
        this.error(key, `unknown key "${name}" in ${where}${didYouMean(name, keys)}`);
        continue;
      }
      out.set(name, { key, value: this.deref(pair.value), pair });
    }
    return out;
  }

  /** A map with free-form string keys (profiles, identities). */
  freeMap(node: Node | null, where: string, at?: Where): Entry[] | undefined {
    if (!isMap(node)) {
      this.error(node ?? at, `${where} must be a map, not ${describe(node)}`);
      return undefined;
    }
    const out: Entry[] = [];
    for (const pair of node.items) {
      const key = this.deref(pair.key);
      if (!isScalar(key) || (typeof key.value !== "string" && typeof key.value !== "number")) {
        this.error(key ?? node, `${where}: keys must be strings, not ${describe(key)}`);
        continue;
      }
      out.push({ key, value: this.deref(pair.value), pair });
    }
    return out;
  }

  seq(node: Node | null, where: string, at?: Where): Node[] | undefined {
    if (!isSeq(node)) {
      this.error(node ?? at, `${where} must be a list, not ${describe(node)}`);
      return undefined;
    }
    return node.items.map((n) => this.deref(n)).filter((n): n is Node => n !== null);
  }

  str(node: Node | null, where: string, at?: Where): string | undefined {
    if (isScalar(node) && typeof node.value === "string") {
      if (node.value.length === 0) {
        this.error(node, `${where} must not be empty`);
        return undefined;
      }
      return node.value;
    }
    const hint = isScalar(node) && node.value !== null && typeof node.value !== "object" ? ' (quote it: "...")' : "";
    this.error(node ?? at, `${where} must be a string, not ${describe(node)}${hint}`);
    return undefined;
  }

  int(node: Node | null, where: string, min: number, max: number, at?: Where): number | undefined {
    if (!isScalar(node) || typeof node.value !== "number" || !Number.isInteger(node.value)) {
      this.error(node ?? at, `${where} must be an integer, not ${describe(node)}`);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.error(node, `${where} must be between ${min} and ${max}, not ${node.value}`);
      return undefined;
    }
    return node.value;
  }

  oneOf<T extends string>(node: Node | null, where: string, choices: readonly T[], at?: Where): T | undefined {
    const s = this.str(node, where, at);
    if (s === undefined) return undefined;
    if (!(choices as readonly string[]).includes(s)) {
      this.error(node, `${where} must be one of ${choices.join(", ")}, not "${s}"${didYouMean(s, choices)}`);
      return undefined;
    }
    return s as T;
  }

  /** The scalar as written (plain `0660` stays "0660"; a float `1.40` stays "1.40"). */
  sourceText(node: Node | null): string | undefined {
    if (!isScalar(node) || node.value === null || typeof node.value === "object") return undefined;
    if (typeof node.value === "string") return node.value;
    return node.source ?? String(node.value);
  }

  requireKey(entries: Entries, key: string, where: string, at: Where): Entry | undefined {
    const e = entries.get(key);
    if (!e) this.error(at, `${where} needs "${key}"`);
    return e;
  }

  // ── the document ──

  readRoot(): Config | undefined {
    const root = this.deref(this.doc.contents);
    if (root === null || (isScalar(root) && root.value === null)) {
      this.errorAt(0, "the config is empty: it needs at least `listeners` and `profiles`");
      return undefined;
    }
    const top = this.map(root, "the config", ["upstream", "log", "limits", "shutdown", "listeners", "profiles", "admin", "tenants"]);
    if (!top) return undefined;

    let upstream: string = DEFAULTS.upstream;
    const up = top.get("upstream");
    if (up) {
      const s = this.str(up.value, "upstream", up.key);
      if (s !== undefined) {
        const path = s.startsWith("unix://") ? s.slice("unix://".length) : s;
        if (!isAbsolute(path)) this.error(up.value, `upstream must be an absolute socket path (or unix:///path), not "${s}"`);
        else upstream = path;
      }
    }

    let logLevel = DEFAULTS.logLevel;
    const log = top.get("log");
    if (log) {
      const m = this.map(log.value, "log", ["level"], log.key);
      const lv = m?.get("level");
      if (lv) logLevel = this.oneOf(lv.value, "log.level", LOG_LEVELS, lv.key) ?? logLevel;
    }

    let maxHeaderBytes = DEFAULTS.maxHeaderBytes;
    let maxBodyBytes = DEFAULTS.maxBodyBytes;
    let headerTimeoutSeconds = DEFAULTS.headerTimeoutSeconds;
    const limits = top.get("limits");
    if (limits) {
      const m = this.map(limits.value, "limits", ["maxHeaderBytes", "maxBodyBytes", "headerTimeoutSeconds"], limits.key);
      const h = m?.get("maxHeaderBytes");
      if (h) maxHeaderBytes = this.int(h.value, "limits.maxHeaderBytes", 1024, 1048576, h.key) ?? maxHeaderBytes;
      const b = m?.get("maxBodyBytes");
      if (b) maxBodyBytes = this.int(b.value, "limits.maxBodyBytes", 1024, 64 * 1048576, b.key) ?? maxBodyBytes;
      const t = m?.get("headerTimeoutSeconds");
      if (t) headerTimeoutSeconds = this.int(t.value, "limits.headerTimeoutSeconds", 1, 3600, t.key) ?? headerTimeoutSeconds;
    }

    let shutdownGraceSeconds = DEFAULTS.shutdownGraceSeconds;
    const shutdown = top.get("shutdown");
    if (shutdown) {
      const m = this.map(shutdown.value, "shutdown", ["graceSeconds"], shutdown.key);
      const gs = m?.get("graceSeconds");
      if (gs) shutdownGraceSeconds = this.int(gs.value, "shutdown.graceSeconds", 0, 3600, gs.key) ?? shutdownGraceSeconds;
    }

    // Profiles are read first (listeners refer to them), but missing sections are reported in
    // the order the file is usually written.
    const le = this.requireKey(top, "listeners", "the config", root);
    const pe = this.requireKey(top, "profiles", "the config", root);
    const profiles = new Map<string, ProfileConfig>();
    const profileNodes = new Map<string, Scalar>();
    if (pe) {
      const entries = this.freeMap(pe.value, "profiles", pe.key);
      if (entries && entries.length === 0) this.error(pe.value ?? pe.key, "profiles must define at least one profile");
      for (const e of entries ?? []) {
        const name = String(e.key.value);
        if (!NAME_RE.test(name)) {
          this.error(e.key, `profile name "${name}" must match ${NAME_RE.source}`);
          continue;
        }
        profileNodes.set(name, e.key);
        const p = this.readProfile(name, e);
        if (p) profiles.set(name, p);
      }
    }

    const listeners: ListenerConfig[] = [];
    const used = new Set<string>();
    if (le) {
      const items = this.seq(le.value, "listeners", le.key);
      if (items && items.length === 0) this.error(le.value ?? le.key, "listeners must define at least one listener");
      const names = new Map<string, Node>();
      const addresses: { listen: ListenAddress; node: Node; listener: string }[] = [];
      for (const [i, item] of (items ?? []).entries()) {
        const l = this.readListener(item, `listeners[${i}]`, profileNodes, upstream, used);
        if (!l) continue;
        const nameNode = l.nodes.name;
        const prev = names.get(l.config.name);
        if (prev) this.error(nameNode, `duplicate listener name "${l.config.name}" (first at line ${this.lc.linePos(this.offsetOf(prev)).line})`);
        else names.set(l.config.name, nameNode);
        const clash = addresses.find((x) => sameAddress(x.listen, l.config.listen));
        if (clash) {
          const what = l.config.listen.kind === "unix" ? `socket path ${l.config.listen.path}` : `port ${l.config.listen.port}`;
          this.error(l.nodes.address, `listener "${l.config.name}" uses the same ${what} as listener "${clash.listener}" (line ${this.lc.linePos(this.offsetOf(clash.node)).line})`);
        }
        addresses.push({ listen: l.config.listen, node: l.nodes.address, listener: l.config.name });
        listeners.push(l.config);
      }
    }

    let admin: AdminListen | undefined;
    const ad = top.get("admin");
    if (ad) admin = this.readAdmin(ad, upstream, listeners);

    let tenants: TenantsConfig | undefined;
    const te = top.get("tenants");
    if (te) tenants = this.readTenants(te, profiles, profileNodes, used, admin, ad, listeners);
    this.checkSocketBinds(listeners, profiles, admin, upstream, tenants);

    for (const [name, node] of profileNodes) {
      if (!used.has(name) && profiles.has(name)) this.warn(node, `profile "${name}" is not used by any listener`);
    }

    return {
      source: isAbsolute(this.file) ? this.file : resolve(this.file),
      upstream,
      logLevel,
      limits: { maxHeaderBytes, maxBodyBytes, headerTimeoutSeconds },
      shutdownGraceSeconds,
      listeners,
      profiles,
      admin,
      ...(tenants ? { tenants } : {}),
    };
  }

  /**
   * A client that can bind-mount a socket into a container can talk through it: another
   * listener's socket makes it that listener's client (another tenant), the admin socket an
   * administrator, the upstream socket the daemon's. Refused: a bindMounts entry (the exact path,
   * or a read-only directory above it: a socket is connectable through a read-only mount) that
   * exposes one of these to a listener's clients, compared as written and with symlinks of
   * existing directories resolved. `{ ownSocket: true }` is the way to let each client mount
   * its own socket. Per-job tenant sockets are made at run time in tenants.directory: an entry
   * inside that directory, or a read-only one above it, would expose some tenant's socket to
   * every other client (tenants' own included).
   */
  private checkSocketBinds(
    listeners: readonly ListenerConfig[],
    profiles: ReadonlyMap<string, ProfileConfig>,
    admin: AdminListen | undefined,
    upstream: string,
    tenants: TenantsConfig | undefined,
  ): void {
    type Socket = { path: string; what: string; owner?: string; exposedBy: (allow: readonly BindPath[]) => number };
    const single = (path: string) => (allow: readonly BindPath[]) => exposingEntry(path, allow);
    const sockets: Socket[] = [{ path: upstream, what: `the upstream (daemon) socket ${upstream}`, exposedBy: single(upstream) }];
    if (admin?.kind === "unix") sockets.push({ path: admin.path, what: `the admin socket ${admin.path}`, exposedBy: single(admin.path) });
    for (const l of listeners) {
      if (l.listen.kind === "unix") sockets.push({ path: l.listen.path, what: `listener "${l.name}"'s socket ${l.listen.path}`, owner: l.name, exposedBy: single(l.listen.path) });
    }
    const clients: { name: string; what: string; profiles: readonly string[] }[] = listeners.map((l) => ({
      name: l.name,
      what: `listener "${l.name}"`,
      profiles: [l.profile, ...Object.values(l.identities ?? {})],
    }));
    if (tenants !== undefined) {
      const dir = tenants.directory;
      const inside = (allow: readonly BindPath[]) => {
        const i = allow.findIndex((e) => e.path !== dir && isUnder(e.path, dir));
        return i >= 0 ? i : exposingEntry(`${dir}/tenant.sock`, allow);
      };
      sockets.push({ path: dir, what: `the per-job tenant sockets in ${dir}`, exposedBy: inside });
      clients.push({ name: "\0tenants", what: "per-job tenant sockets", profiles: tenants.profiles });
    }
    const reported = new Set<string>();
    for (const l of clients) {
      for (const profileName of new Set(l.profiles)) {
        const allow = profiles.get(profileName)?.rules.bindMounts.allow ?? [];
        if (allow.length === 0) continue;
        for (const sock of sockets) {
          if (sock.owner === l.name) continue;
          const i = sock.exposedBy(allow);
          if (i < 0) continue;
          const entry = allow[i]!;
          const key = `${profileName}\0${entry.path}\0${sock.path}\0${l.name}`;
          if (reported.has(key)) continue;
          reported.add(key);
          const node = this.bindEntryNode(profileName, entry.path);
          const how = entry.path === sock.path ? "" : ` (below the read-only entry ${entry.path})`;
          this.error(
            node,
            `profiles.${profileName}.rules.bindMounts.allow: ${entry.path} lets clients of ${l.what} bind-mount ${sock.what}${how} and talk through it as its clients do; ` +
              (sock.owner !== undefined || sock.path === tenants?.directory ? `use { ownSocket: true } to let each client mount the socket it connected through` : `remove the entry`),
          );
        }
      }
    }
  }

  /** The YAML node of the bindMounts allow entry for `path` in a profile's rules (or the nearest one above). */
  private bindEntryNode(profile: string, path: string): Node | null {
    const rules = this.rulesNodes.get(profile) ?? null;
    const valueOf = (m: Node | null, key: string): Node | null => {
      if (!isMap(m)) return null;
      const pair = m.items.find((p) => {
        const k = this.deref(p.key);
        return isScalar(k) && String(k.value) === key;
      });
      return pair ? this.deref(pair.value) : null;
    };
    const allowNode = valueOf(valueOf(rules, "bindMounts"), "allow");
    for (const item of isSeq(allowNode) ? allowNode.items : []) {
      const n = this.deref(item);
      const pathNode = valueOf(n, "path");
      const written = isScalar(n) ? n.value : isScalar(pathNode) ? pathNode.value : undefined;
      if (typeof written === "string" && cleanSlashes(written) === path) return n;
    }
    return allowNode ?? rules;
  }

  private readTenants(
    e: Entry,
    profiles: ReadonlyMap<string, ProfileConfig>,
    profileNodes: ReadonlyMap<string, Scalar>,
    used: Set<string>,
    admin: AdminListen | undefined,
    adminEntry: Entry | undefined,
    listeners: readonly ListenerConfig[],
  ): TenantsConfig | undefined {
    const where = "tenants";
    const m = this.map(e.value, where, ["directory", "profiles", "defaultProfile", "socket", "max", "defaultTtlSeconds", "onRestart"], e.key);
    if (!m) return undefined;
    const before = this.problems.length;
    // Creating a tenant hands out a socket with a profile: only whoever may open the admin socket
    // (its file mode) may do that, never anyone who can reach a loopback port.
    if (admin === undefined) this.error(e.key, `${where} needs the admin endpoint on a unix socket (admin.unix): tenants are created through it`);
    else if (admin.kind !== "unix") this.error(adminEntry?.key ?? e.key, `${where} needs admin.unix, not admin.tcp: a loopback port has no authentication, and creating a tenant hands out a socket`);

    const out: TenantsConfig = { directory: "", profiles: [], defaultProfile: undefined, mode: DEFAULTS.unixMode, max: 100, defaultTtlSeconds: undefined, onRestart: "restore" };
    const d = this.requireKey(m, "directory", where, e.key);
    const dir = d ? this.str(d.value, `${where}.directory`, d.key) : undefined;
    if (dir !== undefined) {
      if (!isAbsolute(dir)) this.error(d!.value, `${where}.directory must be an absolute path, not "${dir}"`);
      // <directory>/<name>.sock with a name of up to 63 characters must fit in sun_path.
      else if (Buffer.byteLength(resolve(dir)) > 107 - 1 - 63 - 5) this.error(d!.value, `${where}.directory is too long for unix socket paths (at most ${107 - 69} bytes)`);
      else out.directory = resolve(dir);
      const clash = listeners.find((l) => l.listen.kind === "unix" && dirname(l.listen.path) === resolve(dir));
      if (clash) this.warn(d!.value, `${where}.directory also holds the socket of listener "${clash.name}": a tenant of the same name would be refused`);
    }
    const pr = this.requireKey(m, "profiles", where, e.key);
    for (const [i, item] of (pr ? this.seq(pr.value, `${where}.profiles`, pr.key) ?? [] : []).entries()) {
      const name = this.profileRef(item, `${where}.profiles[${i}]`, profileNodes, used);
      if (name === undefined) continue;
      if (profiles.get(name)?.ownership === undefined) {
        this.error(item, `${where}.profiles[${i}]: profile "${name}" has no ownership: a tenant's objects are found and removed by their owner label`);
        continue;
      }
      out.profiles.push(name);
    }
    if (pr && out.profiles.length === 0 && this.problems.length === before) this.error(pr.value ?? pr.key, `${where}.profiles must name at least one profile`);
    const dp = m.get("defaultProfile");
    if (dp) {
      const name = this.str(dp.value, `${where}.defaultProfile`, dp.key);
      if (name !== undefined && !out.profiles.includes(name)) this.error(dp.value, `${where}.defaultProfile "${name}" is not in ${where}.profiles`);
      else out.defaultProfile = name;
    }
    const so = m.get("socket");
    if (so) {
      const sm = this.map(so.value, `${where}.socket`, ["mode", "owner", "group"], so.key);
      const md = sm?.get("mode");
      if (md) out.mode = this.octalMode(md, `${where}.socket.mode`) ?? out.mode;
      const ow = sm?.get("owner");
      if (ow) out.uid = this.account(ow.value, `${where}.socket.owner`, "user", ow.key);
      const gr = sm?.get("group");
      if (gr) out.gid = this.account(gr.value, `${where}.socket.group`, "group", gr.key);
    }
    const mx = m.get("max");
    if (mx) out.max = this.int(mx.value, `${where}.max`, 1, 10000, mx.key) ?? out.max;
    const ttl = m.get("defaultTtlSeconds");
    if (ttl) out.defaultTtlSeconds = this.int(ttl.value, `${where}.defaultTtlSeconds`, 1, MAX_TENANT_TTL_SECONDS, ttl.key);
    const rs = m.get("onRestart");
    if (rs) out.onRestart = this.oneOf(rs.value, `${where}.onRestart`, ["restore", "clean"] as const, rs.key) ?? out.onRestart;
    return this.problems.length > before ? undefined : out;
  }

  private readProfile(name: string, e: Entry): ProfileConfig | undefined {
    const where = `profiles.${name}`;
    const m = this.map(
      e.value,
      where,
      ["description", "allow", "deny", "mode", "minApiVersion", "rules", "ownership", "mutate", "redact", "limits"],
      e.key,
    );
    if (!m) return undefined;
    const before = this.problems.length;

    const desc = m.get("description");
    const description = desc ? this.str(desc.value, `${where}.description`, desc.key) : undefined;

    const allow = new Set<string>();
    const grants = { allow: [] as string[], deny: [] as string[] };
    const a = this.requireKey(m, "allow", where, e.key);
    if (a) {
      const items = this.seq(a.value, `${where}.allow`, a.key);
      if (items && items.length === 0) this.warn(a.value ?? a.key, `profile "${name}" allows nothing: every request through it is denied`);
      for (const [i, item] of (items ?? []).entries()) {
        for (const op of this.grant(item, `${where}.allow[${i}]`, grants.allow)) allow.add(op);
      }
    }
    const d = m.get("deny");
    if (d) {
      const items = this.seq(d.value, `${where}.deny`, d.key);
      for (const [i, item] of (items ?? []).entries()) {
        for (const op of this.grant(item, `${where}.deny[${i}]`, grants.deny)) allow.delete(op);
      }
    }


    let mode = DEFAULTS.profileMode;
    const md = m.get("mode");
    if (md) mode = this.oneOf(md.value, `${where}.mode`, ["enforce", "audit"] as const, md.key) ?? mode;
    if (mode === "audit") this.warn(md?.value, `profile "${name}" is in audit mode: requests it would deny are allowed and logged`);

    let minApiVersion = DEFAULTS.minApiVersion;
    const mv = m.get("minApiVersion");
    if (mv) {
      const s = this.sourceText(mv.value);
      if (s === undefined || !/^1\.\d{1,3}$/.test(s)) {
        this.error(mv.value ?? mv.key, `${where}.minApiVersion must be an API version like "1.24", not ${s === undefined ? describe(mv.value) : `"${s}"`}`);
      } else if (compareVersions(s, MIN_API_VERSION_FLOOR) < 0) {
        this.error(mv.value, `${where}.minApiVersion must be at least ${MIN_API_VERSION_FLOOR}: older API versions have semantics dockgate does not inspect`);
      } else {
        minApiVersion = s;
      }
    }

    let rules: RuleSettings = DEFAULT_RULES;
    const ru = m.get("rules");
    if (ru) {
      if (!isMap(ru.value) && !(isScalar(ru.value) && ru.value.value === null)) {
        this.error(ru.value ?? ru.key, `${where}.rules must be a map, not ${describe(ru.value)}`);
      } else {
        const raw: unknown = isMap(ru.value) ? ru.value.toJS(this.doc) : {};
        rules = parseRuleSettings(raw, (path, message) => {
          this.error(this.nodeAtPath(ru.value, path) ?? ru.key, `${where}.rules${formatPath(path)}: ${message}`);
        });
        this.rulesNodes.set(name, ru.value);
        // Settings that open a BuildKit entitlement or frontend, where the profile reaches BuildKit
        // (the rest of BuildKit is inspected; a setting no granted request can use opens nothing).
        const buildkit = allow.has("Grpc") || (allow.has("Session") && allow.has("ImageBuild") && rules.buildkit);
        if (rules.buildNetworkHost && buildkit) {
          this.warn(this.nodeAtPath(ru.value, ["buildNetworkHost"]) ?? ru.key, `profile "${name}" sets buildNetworkHost: BuildKit builds may ask for the network.host entitlement and run steps on the host's network`);
        }
        if (rules.buildkitFrontends.length > 0 && buildkit) {
          this.warn(this.nodeAtPath(ru.value, ["buildkitFrontends"]) ?? ru.key, `profile "${name}" allows BuildKit frontend images: the daemon pulls and runs them with the build's session and entitlements`);
        }
      }
    }

    const ow = m.get("ownership");
    const ownership = ow ? this.readOwnership(ow, `${where}.ownership`) : undefined;
    if (ownership && mode === "audit") {
      this.warn(ow!.key, `profile "${name}" has ownership in audit mode: other clients' objects stay reachable (each access is logged)`);
    }
    const mu = m.get("mutate");
    const mutate = mu ? this.readMutate(mu, `${where}.mutate`, ownership) : undefined;
    const rd = m.get("redact");
    const redact = rd ? this.readRedact(rd, `${where}.redact`) : undefined;
    const li = m.get("limits");
    const limits = li ? this.readClientLimits(li, `${where}.limits`, ownership, ow !== undefined) : undefined;

    if (this.problems.length > before) return undefined;
    const profile: ProfileConfig = {
      name,
      allow,
      mode,
      minApiVersion,
      // A forced non-root user would be undone by `docker exec -u 0`: exec as root goes with it.
      rules: mutate?.user !== undefined && rules.execRoot ? Object.freeze({ ...rules, execRoot: false }) : rules,
      grants,
      ownership,
      mutate,
      redact,
      limits,
    };
    if (description !== undefined) profile.description = description;
    return profile;
  }

  /** Operations granted by one `allow`/`deny` entry. */
  private grant(item: Node, where: string, written: string[]): readonly string[] {
    const s = this.str(item, where);
    if (s === undefined) return [];
    const ops = expandGrant(s);
    if (ops) {
      written.push(s);
      return ops;
    }
    const alias = OPERATION_ALIASES.get(s) ?? [...OPERATION_ALIASES].find(([k]) => k.toLowerCase() === s.toLowerCase())?.[1];
    const hint = alias !== undefined ? ` (did you mean "${alias}"?)` : didYouMean(s, [...GROUPS.keys(), ...OPERATIONS]);
    this.error(item, `unknown operation or group "${s}"${hint}`);
    return [];
  }

  /** The YAML node a rules-parser path points at (the key, for map entries), or the nearest ancestor. */
  private nodeAtPath(start: Node | null, path: readonly (string | number)[]): Node | null {
    let node: Node | null = start;
    let at: Node | null = start;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const k = this.deref(p.key);
          return isScalar(k) && String(k.value) === String(seg);
        });
        if (!pair) return at;
        at = this.deref(pair.key);
        node = this.deref(pair.value);
      } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
        node = this.deref(node.items[seg]);
        at = node;
      } else {
        return at;
      }
    }
    return at;
  }

  // ── tenancy, hardening, redaction, limits ──

  private bool(node: Node | null, where: string, at?: Where): boolean | undefined {
    if (isScalar(node) && typeof node.value === "boolean") return node.value;
    const hint = isScalar(node) && typeof node.value === "string" && /^(?:yes|no|on|off|true|false)$/i.test(node.value) ? " (write true or false, unquoted)" : "";
    this.error(node ?? at, `${where} must be true or false, not ${describe(node)}${hint}`);
    return undefined;
  }

  /** A number (integer or decimal) in [min, max]. */
  private num(node: Node | null, where: string, min: number, max: number, at?: Where): number | undefined {
    if (!isScalar(node) || typeof node.value !== "number" || !Number.isFinite(node.value)) {
      this.error(node ?? at, `${where} must be a number, not ${describe(node)}`);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.error(node, `${where} must be between ${min} and ${max}, not ${node.source ?? node.value}`);
      return undefined;
    }
    return node.value;
  }

  private labelKey(node: Node | null, where: string, at?: Where): string | undefined {
    const s = this.str(node, where, at);
    if (s === undefined) return undefined;
    if (!LABEL_KEY_RE.test(s)) {
      this.error(node, `${where}: "${s}" is not a usable label key (letters, digits, ".", "_", "-", "/"; starting with a letter or digit; no "=")`);
      return undefined;
    }
    if (RESERVED_LABEL_PREFIXES.some((p) => s.startsWith(p))) {
      this.error(node, `${where}: "${s}" is in a namespace reserved for Docker's own tools (${RESERVED_LABEL_PREFIXES.join(", ")})`);
      return undefined;
    }
    return s;
  }

  private readOwnership(e: Entry, where: string): OwnershipConfig | undefined {
    const v = e.value;
    if (isScalar(v) && typeof v.value === "boolean") return v.value ? { label: DEFAULT_OWNER_LABEL } : undefined;
    if (isScalar(v) && v.value === null) {
      this.error(e.key, `${where} must be true, false or a map like { label: ${DEFAULT_OWNER_LABEL} }, not nothing`);
      return undefined;
    }
    if (!isMap(v)) {
      this.error(v ?? e.key, `${where} must be true, false or a map like { label: ${DEFAULT_OWNER_LABEL} }, not ${describe(v)}`);
      return undefined;
    }
    const m = this.map(v, where, ["label"], e.key);
    if (!m) return undefined;
    const l = m.get("label");
    if (!l) return { label: DEFAULT_OWNER_LABEL };
    const label = this.labelKey(l.value, `${where}.label`, l.key);
    return label === undefined ? undefined : { label };
  }

  private readMutate(e: Entry, where: string, ownership: OwnershipConfig | undefined): HardeningConfig | undefined {
    const m = this.map(e.value, where, MUTATE_KEYS, e.key);
    if (!m) return undefined;
    const before = this.problems.length;
    const out: HardeningConfig = { ...NO_HARDENING, labels: {} };

    const lb = m.get("labels");
    if (lb) {
      for (const entry of this.freeMap(lb.value, `${where}.labels`, lb.key) ?? []) {
        const raw = String(entry.key.value);
        const key = this.labelKey(entry.key, `${where}.labels`);
        const value = this.str(entry.value, `${where}.labels["${raw}"]`, entry.key);
        if (key === undefined || value === undefined) continue;
        if (ownership && key === ownership.label) {
          this.error(entry.key, `${where}.labels: "${key}" is the ownership label; dockgate sets it to the client's owner name`);
          continue;
        }
        out.labels[key] = value;
      }
    }
    for (const k of ["noNewPrivileges", "dropAllCapabilities", "readOnlyRootfs"] as const) {
      const b = m.get(k);
      if (b) out[k] = this.bool(b.value, `${where}.${k}`, b.key) ?? false;
    }

    const mem = m.get("memory");
    if (mem) out.memory = this.bounds(mem, `${where}.memory`, (n, w, at) => this.size(n, w, MIN_MEMORY, at));
    const cpus = m.get("cpus");
    const nano = m.get("nanoCpus");
    if (cpus && nano) {
      this.error(nano.key, `${where} has both "cpus" and "nanoCpus": use one (cpus: 1.5 is nanoCpus: 1500000000)`);
    } else if (cpus) {
      out.nanoCpus = this.bounds(cpus, `${where}.cpus`, (n, w, at) => this.cpus(n, w, at));
    } else if (nano) {
      out.nanoCpus = this.bounds(nano, `${where}.nanoCpus`, (n, w, at) => this.int(n, w, MIN_NANO_CPUS, Number.MAX_SAFE_INTEGER, at));
    }
    const pids = m.get("pids");
    if (pids) out.pids = this.bounds(pids, `${where}.pids`, (n, w, at) => this.int(n, w, 1, 4194304, at));

    const u = m.get("user");
    if (u) {
      const s = this.str(u.value, `${where}.user`, u.key);
      if (s !== undefined) {
        if (!USER_RE.test(s)) {
          this.error(u.value, `${where}.user must be "user", "uid" or "uid:gid" (names or numbers), not "${s}"`);
        } else if (/^(?:root|0+)(?::|$)/.test(s)) {
          this.error(u.value, `${where}.user "${s}" is root: forcing root is not hardening (try "65534:65534")`);
        } else out.user = s;
      }
    }
    const nw = m.get("network");
    if (nw) {
      const s = this.str(nw.value, `${where}.network`, nw.key);
      if (s !== undefined) {
        const lower = s.toLowerCase();
        if (lower === "host" || lower.startsWith("container:")) {
          this.error(nw.value, `${where}.network "${s}" shares another namespace: use "none", "bridge" or the name of a network`);
        } else out.network = s;
      }
    }
    return this.problems.length > before ? undefined : out;
  }

  /** `{ default, max }`, at least one, default <= max. */
  private bounds(
    e: Entry,
    where: string,
    one: (node: Node | null, where: string, at: Where) => number | undefined,
  ): { default?: number; max?: number } | undefined {
    const before = this.problems.length;
    const m = this.map(e.value, where, ["default", "max"], e.key);
    if (!m) return undefined;
    if (m.size === 0) {
      if (this.problems.length > before) return undefined; // an unknown key, already reported
      this.error(e.value ?? e.key, `${where} needs "default", "max" or both`);
      return undefined;
    }
    const out: { default?: number; max?: number } = {};
    const d = m.get("default");
    const x = m.get("max");
    if (d) {
      const v = one(d.value, `${where}.default`, d.key);
      if (v !== undefined) out.default = v;
    }
    if (x) {
      const v = one(x.value, `${where}.max`, x.key);
      if (v !== undefined) out.max = v;
    }
    if (out.default !== undefined && out.max !== undefined && out.default > out.max) {
      this.error(d!.value, `${where}.default is above ${where}.max`);
      return undefined;
    }
    return out;
  }

  /** Bytes: an integer, or a size like "512m" / "2g" / "1.5GiB" (binary units, as `docker run -m`). */
  private size(node: Node | null, where: string, min: number, at: Where): number | undefined {
    let bytes: number | undefined;
    let text: string | undefined;
    if (isScalar(node) && typeof node.value === "number" && Number.isInteger(node.value)) {
      bytes = node.value;
      text = node.source ?? String(node.value);
    } else if (isScalar(node) && typeof node.value === "string") {
      text = node.value;
      bytes = parseSize(node.value);
    }
    if (bytes === undefined) {
      this.error(node ?? at, `${where} must be a size like "512m", "2g" or a number of bytes, not ${describe(node)}`);
      return undefined;
    }
    if (bytes < min || bytes > Number.MAX_SAFE_INTEGER) {
      this.error(node, `${where} ${text} is ${bytes < min ? `below the daemon's minimum of ${min / 1048576}m` : "too large"}`);
      return undefined;
    }
    return bytes;
  }

  /** CPUs as NanoCpus: `1.5` → 1500000000; at most 9 decimals, at least 0.01 (the daemon's minimum). */
  private cpus(node: Node | null, where: string, at: Where): number | undefined {
    const text = this.sourceText(node);
    if (!isScalar(node) || typeof node.value === "boolean" || text === undefined || !/^\d+(?:\.\d{1,9})?$/.test(text.trim())) {
      this.error(node ?? at, `${where} must be a number of CPUs like 1.5 (at most 9 decimals), not ${describe(node)}`);
      return undefined;
    }
    const [whole, frac = ""] = text.trim().split(".");
    const nano = Number(whole) * 1e9 + Number(frac.padEnd(9, "0"));
    if (nano < MIN_NANO_CPUS || !Number.isSafeInteger(nano)) {
      this.error(node, `${where} must be at least 0.01, not ${text}`);
      return undefined;
    }
    return nano;
  }

  private readRedact(e: Entry, where: string): RedactConfig | undefined {
    const m = this.map(e.value, where, ["containerEnv", "info", "systemDf"], e.key);
    if (!m) return undefined;
    const before = this.problems.length;
    const out: RedactConfig = { containerEnv: undefined, info: [], systemDf: [] };
    const ce = m.get("containerEnv");
    if (ce) {
      if (isScalar(ce.value) && typeof ce.value.value === "string") {
        if (ce.value.value === "all") out.containerEnv = "all";
        else this.error(ce.value, `${where}.containerEnv must be "all" or a list of variable names whose values stay visible, not "${ce.value.value}"${didYouMean(ce.value.value, ["all"])}`);
      } else if (isSeq(ce.value)) {
        const names: string[] = [];
        for (const [i, item] of (this.seq(ce.value, `${where}.containerEnv`) ?? []).entries()) {
          const s = this.str(item, `${where}.containerEnv[${i}]`);
          if (s === undefined) continue;
          if (s.includes("=")) this.error(item, `${where}.containerEnv[${i}]: "${s}" is not a variable name (no "=")`);
          else names.push(s);
        }
        out.containerEnv = names;
      } else {
        this.error(ce.value ?? ce.key, `${where}.containerEnv must be "all" or a list of variable names whose values stay visible, not ${describe(ce.value)}`);
      }
    }
    const info = m.get("info");
    if (info) out.info = this.fieldList(info, `${where}.info`, INFO_FIELDS, "GET /info");
    const df = m.get("systemDf");
    if (df) out.systemDf = this.fieldList(df, `${where}.systemDf`, SYSTEM_DF_FIELDS, "GET /system/df");
    return this.problems.length > before ? undefined : out;
  }

  /**
   * Top-level response field names. A near miss of a known field (wrong case, a typo) is an error:
   * it would redact nothing. A field dockgate does not know is a warning (newer daemons add fields).
   */
  private fieldList(e: Entry, where: string, known: readonly string[], what: string): string[] {
    const out: string[] = [];
    for (const [i, item] of (this.seq(e.value, where, e.key) ?? []).entries()) {
      const s = this.str(item, `${where}[${i}]`);
      if (s === undefined) continue;
      if (known.includes(s)) {
        if (!out.includes(s)) out.push(s);
        continue;
      }
      const hint = didYouMean(s, known);
      if (hint) {
        this.error(item, `${where}[${i}]: "${s}" is not a field of ${what}${hint}; field names are case-sensitive`);
        continue;
      }
      this.warn(item, `${where}[${i}]: "${s}" is not a field of ${what} that dockgate knows; it is redacted if a newer daemon sends it`);
      if (!out.includes(s)) out.push(s);
    }
    return out;
  }

  private readClientLimits(e: Entry, where: string, ownership: OwnershipConfig | undefined, ownershipWritten: boolean): ClientLimits | undefined {
    const m = this.map(e.value, where, ["requestsPerSecond", "burst", "maxConnections", "maxStreams", "maxContainers"], e.key);
    if (!m) return undefined;
    const before = this.problems.length;
    const out: ClientLimits = { requestsPerSecond: undefined, burst: undefined, maxConnections: undefined, maxStreams: undefined, maxContainers: undefined };
    const rps = m.get("requestsPerSecond");
    if (rps) out.requestsPerSecond = this.num(rps.value, `${where}.requestsPerSecond`, 0.001, 1e6, rps.key);
    const burst = m.get("burst");
    if (burst) {
      out.burst = this.int(burst.value, `${where}.burst`, 0, 1e6, burst.key);
      if (!rps) this.error(burst.key, `${where}.burst needs ${where}.requestsPerSecond (it is the bucket above the sustained rate)`);
    }
    const mc = m.get("maxConnections");
    if (mc) out.maxConnections = this.int(mc.value, `${where}.maxConnections`, 1, 1e6, mc.key);
    const ms = m.get("maxStreams");
    if (ms) out.maxStreams = this.int(ms.value, `${where}.maxStreams`, 0, 1e6, ms.key);
    const mx = m.get("maxContainers");
    if (mx) {
      out.maxContainers = this.int(mx.value, `${where}.maxContainers`, 0, 1e6, mx.key);
      if (!ownership && !ownershipWritten) {
        this.error(mx.key, `${where}.maxContainers needs ownership (add "ownership: true" to the profile): containers are counted by their owner label`);
      } else if (!ownership) {
        this.error(mx.key, `${where}.maxContainers needs ownership, which is off for this profile: containers are counted by their owner label`);
      }
    }
    return this.problems.length > before ? undefined : out;
  }

  private readAdmin(e: Entry, upstream: string, listeners: readonly ListenerConfig[]): AdminListen | undefined {
    const where = "admin";
    const before = this.problems.length;
    const m = this.map(e.value, where, ["unix", "tcp"], e.key);
    if (!m) return undefined;
    const kinds = (["unix", "tcp"] as const).filter((k) => m.has(k));
    if (kinds.length === 0) {
      if (this.problems.length > before) return undefined; // an unknown key, already reported
      this.error(e.value ?? e.key, `${where} needs one of "unix" or "tcp"`);
      return undefined;
    }
    if (kinds.length > 1) {
      this.error(m.get("tcp")!.key, `${where} has both "unix" and "tcp": the admin endpoint listens on exactly one address`);
      return undefined;
    }
    if (kinds[0] === "unix") {
      const u = m.get("unix")!;
      const w = `${where}.unix`;
      const um = this.map(u.value, w, ["path", "mode"], u.key);
      if (!um) return undefined;
      const p = this.requireKey(um, "path", w, u.key);
      const path = p ? this.str(p.value, `${w}.path`, p.key) : undefined;
      let mode: number | undefined = DEFAULTS.unixMode;
      const md = um.get("mode");
      if (md) mode = this.octalMode(md, `${w}.mode`);
      if (path === undefined || mode === undefined) return undefined;
      if (!isAbsolute(path)) {
        this.error(p!.value, `${w}.path must be an absolute path, not "${path}"`);
        return undefined;
      }
      if (resolve(path) === resolve(upstream)) {
        this.error(p!.value, `${w}.path is the upstream socket ${upstream}`);
        return undefined;
      }
      if (Buffer.byteLength(path) > 107) {
        this.error(p!.value, `${w}.path is ${Buffer.byteLength(path)} bytes long; unix socket paths are limited to 107`);
        return undefined;
      }
      const clash = listeners.find((l) => l.listen.kind === "unix" && l.listen.path === resolve(path));
      if (clash) {
        this.error(p!.value, `${w}.path is the socket of listener "${clash.name}"`);
        return undefined;
      }
      return { kind: "unix", path: resolve(path), mode };
    }
    const t = m.get("tcp")!;
    const w = `${where}.tcp`;
    const tm = this.map(t.value, w, ["host", "port"], t.key);
    if (!tm) return undefined;
    const inet = this.readInet(tm, t, w);
    if (!inet) return undefined;
    if (!isLoopback(inet.host)) {
      this.error(tm.get("host")?.value ?? t.key, `${w}.host must be a loopback address (127.0.0.1, ::1 or localhost), not "${inet.host}": /metrics and /healthz have no authentication; use admin.unix for anything else`);
      return undefined;
    }
    const clash = listeners.find((l) => l.listen.kind !== "unix" && sameAddress(l.listen, { kind: "tcp", host: inet.host, port: inet.port, allow: [] }));
    if (clash) {
      this.error(tm.get("port")?.value ?? t.key, `${w}.port ${inet.port} is the port of listener "${clash.name}"`);
      return undefined;
    }
    return { kind: "tcp", host: inet.host, port: inet.port };
  }

  /** An octal file mode ("0660"; plain 0660 is read as octal too). */
  private octalMode(md: Entry, where: string): number | undefined {
    const s = this.sourceText(md.value);
    const match = s === undefined ? null : /^(?:0o?)?([0-7]{3,4})$/.exec(s);
    const mode = match ? parseInt(match[1]!, 8) : NaN;
    if (!match || mode > 0o777) {
      this.error(md.value ?? md.key, `${where} must be an octal file mode like "0660", not ${s === undefined ? describe(md.value) : `"${s}"`}`);
      return undefined;
    }
    if (mode & 0o002) this.warn(md.value, `${where} ${s} lets every local user connect`);
    return mode;
  }

  private readListener(
    item: Node,
    where: string,
    profiles: ReadonlyMap<string, Scalar>,
    upstream: string,
    used: Set<string>,
  ): { config: ListenerConfig; nodes: { name: Node; address: Node } } | undefined {
    const written = isMap(item) ? item.get("name", true) : undefined;
    if (isScalar(written) && typeof written.value === "string" && written.value !== "") where = `listener "${written.value}"`;
    const m = this.map(item, where, ["name", "description", "unix", "tcp", "tls", "profile", "identities"]);
    if (!m) return undefined;
    const before = this.problems.length;

    let name: string | undefined;
    let nameNode: Node = item;
    const n = this.requireKey(m, "name", where, item);
    if (n) {
      name = this.str(n.value, `${where}.name`, n.key);
      nameNode = n.value ?? n.key;
      if (name !== undefined && !NAME_RE.test(name)) this.error(n.value, `listener name "${name}" must match ${NAME_RE.source}`);
    }
    const desc = m.get("description");
    if (desc) this.str(desc.value, `${where}.description`, desc.key);

    const kinds = (["unix", "tcp", "tls"] as const).filter((k) => m.has(k));
    let listen: ListenAddress | undefined;
    let addressNode: Node = item;
    if (kinds.length === 0) {
      this.error(item, `${where} needs one of "unix", "tcp" or "tls"`);
    } else if (kinds.length > 1) {
      this.error(m.get(kinds[1]!)!.key, `${where} has both "${kinds[0]}" and "${kinds[1]}": a listener listens on exactly one address`);
    } else {
      const e = m.get(kinds[0]!)!;
      addressNode = e.value ?? e.key;
      if (kinds[0] === "unix") listen = this.readUnix(e, `${where}.unix`, upstream);
      else if (kinds[0] === "tcp") listen = this.readTcp(e, `${where}.tcp`);
      else listen = this.readTls(e, `${where}.tls`);
    }

    let profile: string | undefined;
    const p = this.requireKey(m, "profile", where, item);
    if (p) profile = this.profileRef(p.value, `${where}.profile`, profiles, used, p.key);

    let identities: Record<string, string> | undefined;
    let credentials: Record<string, string> | undefined;
    const id = m.get("identities");
    if (id && kinds.length === 1) {
      if (kinds[0] === "tcp") {
        this.error(id.key, `${where}: identities need a tls listener (a plain TCP client has no identity)`);
      } else if (kinds[0] === "unix") {
        const peer = this.readPeerIdentities(id, `${where}.identities`, profiles, used);
        if (peer) ({ identities, credentials } = peer);
      } else {
        identities = this.readIdentities(id, `${where}.identities`, profiles, used);
      }
    }

    if (this.problems.length > before || name === undefined || listen === undefined || profile === undefined) return undefined;
    const config: ListenerConfig = { name, listen, profile };
    if (identities !== undefined) config.identities = identities;
    if (credentials !== undefined) config.credentials = credentials;
    return { config, nodes: { name: nameNode, address: addressNode } };
  }

  private profileRef(node: Node | null, where: string, profiles: ReadonlyMap<string, Scalar>, used: Set<string>, at?: Where): string | undefined {
    const s = this.str(node, where, at);
    if (s === undefined) return undefined;
    if (!profiles.has(s)) {
      this.error(node, `${where}: unknown profile "${s}"${didYouMean(s, profiles.keys())}`);
      return undefined;
    }
    used.add(s);
    return s;
  }

  private readUnix(e: Entry, where: string, upstream: string): UnixListen | undefined {
    const m = this.map(e.value, where, ["path", "mode", "owner", "group"], e.key);
    if (!m) return undefined;
    const out: UnixListen = { kind: "unix", path: "", mode: DEFAULTS.unixMode };
    let ok = true;
    const p = this.requireKey(m, "path", where, e.key);
    const path = p ? this.str(p.value, `${where}.path`, p.key) : undefined;
    if (path === undefined) ok = false;
    else if (!isAbsolute(path)) {
      this.error(p!.value, `${where}.path must be an absolute path, not "${path}"`);
      ok = false;
    } else if (resolve(path) === resolve(upstream)) {
      this.error(p!.value, `${where}.path is the upstream socket ${upstream}: dockgate would replace the daemon's socket with itself`);
      ok = false;
    } else if (Buffer.byteLength(path) > 107) {
      this.error(p!.value, `${where}.path is ${Buffer.byteLength(path)} bytes long; unix socket paths are limited to 107`);
      ok = false;
    } else out.path = resolve(path);

    const md = m.get("mode");
    if (md) {
      const s = this.sourceText(md.value);
      const match = s === undefined ? null : /^(?:0o?)?([0-7]{3,4})$/.exec(s);
      const mode = match ? parseInt(match[1]!, 8) : NaN;
      if (!match || mode > 0o777) {
        this.error(md.value ?? md.key, `${where}.mode must be an octal file mode like "0660", not ${s === undefined ? describe(md.value) : `"${s}"`}`);
        ok = false;
      } else {
        out.mode = mode;
        if (mode & 0o002) this.warn(md.value, `${where}.mode ${s} lets every local user connect`);
      }
    }
    const ow = m.get("owner");
    if (ow) {
      const uid = this.account(ow.value, `${where}.owner`, "user", ow.key);
      if (uid === undefined) ok = false;
      else out.uid = uid;
    }
    const gr = m.get("group");
    if (gr) {
      const gid = this.account(gr.value, `${where}.group`, "group", gr.key);
      if (gid === undefined) ok = false;
      else out.gid = gid;
    }
    return ok ? out : undefined;
  }

  /** A user or group, by name or number, as a number. */
  private account(node: Node | null, where: string, kind: "user" | "group", at?: Where): number | undefined {
    const s = this.sourceText(node);
    if (s === undefined || typeof (node as Scalar).value === "boolean") {
      this.error(node ?? at, `${where} must be a ${kind} name or number, not ${describe(node)}`);
      return undefined;
    }
    if (/^\d+$/.test(s)) {
      const n = Number(s);
      if (n > 0xfffffffe) {
        this.error(node, `${where}: ${s} is not a valid ${kind === "user" ? "uid" : "gid"}`);
        return undefined;
      }
      return n;
    }
    const resolved = this.lookupAccount(s, kind);
    if (resolved === undefined) {
      this.error(node, `${where}: no ${kind} named "${s}" in ${kind === "user" ? "/etc/passwd" : "/etc/group"}${this.checkFiles ? "" : " (name lookup is off)"}`);
    }
    return resolved;
  }

  private lookupAccount(name: string, kind: "user" | "group"): number | undefined {
    if (!this.checkFiles) return name === "root" ? 0 : undefined;
    const table = kind === "user" ? (this.passwd ??= readIdFile("/etc/passwd")) : (this.groupFile ??= readIdFile("/etc/group"));
    return table.get(name);
  }

  private readInet(m: Entries, e: Entry, where: string): { host: string; port: number } | undefined {
    let host = DEFAULTS.host;
    const h = m.get("host");
    if (h) {
      const s = this.str(h.value, `${where}.host`, h.key);
      if (s === undefined) return undefined;
      if (isIP(s) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(s)) {
        this.error(h.value, `${where}.host must be an IP address or a host name, not "${s}"`);
        return undefined;
      }
      host = s;
    }
    const p = this.requireKey(m, "port", where, e.key);
    const port = p ? this.int(p.value, `${where}.port`, 1, 65535, p.key) : undefined;
    if (port === undefined) return undefined;
    return { host, port };
  }

  private readCidrs(e: Entry, where: string): string[] | undefined {
    const items = this.seq(e.value, where, e.key);
    if (!items) return undefined;
    const out: string[] = [];
    let ok = true;
    for (const [i, item] of items.entries()) {
      const s = this.str(item, `${where}[${i}]`);
      if (s === undefined) {
        ok = false;
        continue;
      }
      const cidr = normalizeCidr(s);
      if (cidr === undefined) {
        this.error(item, `${where}[${i}] must be an IP address or CIDR like 10.0.0.0/8, not "${s}"`);
        ok = false;
      } else out.push(cidr);
    }
    return ok ? out : undefined;
  }

  private readTcp(e: Entry, where: string): TcpListen | undefined {
    const m = this.map(e.value, where, ["host", "port", "allow"], e.key);
    if (!m) return undefined;
    const inet = this.readInet(m, e, where);
    const a = this.requireKey(m, "allow", `${where} (plain TCP has no client authentication, so a client address allowlist)`, e.key);
    const allow = a ? this.readCidrs(a, `${where}.allow`) : undefined;
    if (a && allow && allow.length === 0) {
      this.error(a.value, `${where}.allow must list at least one address range`);
      return undefined;
    }
    if (!inet || !allow) return undefined;
    if (!isLoopback(inet.host)) {
      this.warn(e.key, `${where} listens on ${inet.host} without TLS: anyone in the allowed ranges who can reach it gets the profile`);
    }
    return { kind: "tcp", host: inet.host, port: inet.port, allow };
  }

  private readTls(e: Entry, where: string): TlsListen | undefined {
    const m = this.map(e.value, where, ["host", "port", "cert", "key", "ca", "allow"], e.key);
    if (!m) return undefined;
    const inet = this.readInet(m, e, where);
    const files: Record<"cert" | "key" | "ca", string | undefined> = { cert: undefined, key: undefined, ca: undefined };
    for (const k of ["cert", "key", "ca"] as const) {
      const f = this.requireKey(m, k, `${where}${k === "ca" ? " (client certificates are required)" : ""}`, e.key);
      if (f) files[k] = this.pemFile(f.value, `${where}.${k}`, f.key);
    }
    let allow: string[] | undefined;
    const a = m.get("allow");
    if (a) {
      allow = this.readCidrs(a, `${where}.allow`);
      if (!allow) return undefined;
    }
    if (!inet || !files.cert || !files.key || !files.ca) return undefined;
    const out: TlsListen = { kind: "tls", host: inet.host, port: inet.port, cert: files.cert, key: files.key, ca: files.ca };
    if (allow) out.allow = allow;
    return out;
  }

  private pemFile(node: Node | null, where: string, at: Where): string | undefined {
    const s = this.str(node, where, at);
    if (s === undefined) return undefined;
    const path = resolve(dirname(resolve(this.file)), s);
    if (!this.checkFiles) return path;
    let text: string;
    try {
      if (!statSync(path).isFile()) {
        this.error(node, `${where}: ${path} is not a file`);
        return undefined;
      }
      text = readFileSync(path, "latin1");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.error(node, `${where}: cannot read ${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`);
      return undefined;
    }
    if (!text.includes("-----BEGIN ")) {
      this.error(node, `${where}: ${path} is not a PEM file (no "-----BEGIN" line)`);
      return undefined;
    }
    return path;
  }

  private readIdentities(
    e: Entry,
    where: string,
    profiles: ReadonlyMap<string, Scalar>,
    used: Set<string>,
  ): Record<string, string> | undefined {
    const entries = this.freeMap(e.value, where, e.key);
    if (!entries) return undefined;
    const out: Record<string, string> = {};
    const seen = new Map<string, Scalar>();
    let ok = true;
    for (const entry of entries) {
      const raw = String(entry.key.value);
      const key = this.tlsIdentity(entry.key, raw, where);
      const profile = this.profileRef(entry.value, `${where}["${raw}"]`, profiles, used, entry.key);
      if (key === undefined || profile === undefined) {
        ok = false;
        continue;
      }
      const prev = seen.get(key);
      if (prev) {
        this.error(entry.key, `${where}: "${raw}" is the same identity as "${String(prev.value)}" (line ${this.lc.linePos(this.offsetOf(prev)).line})`);
        ok = false;
        continue;
      }
      seen.set(key, entry.key);
      out[key] = profile;
    }
    return ok ? out : undefined;
  }

  /**
   * A unix listener's identities: `uid:N`, `gid:N`, `user:NAME`, `group:NAME`. Names are resolved
   * now (a reload reads /etc/passwd and /etc/group again); `credentials` maps the numeric form a
   * peer's SO_PEERCRED gives (`uid:N`, `gid:N`) to the key as written, which names the owner.
   */
  private readPeerIdentities(
    e: Entry,
    where: string,
    profiles: ReadonlyMap<string, Scalar>,
    used: Set<string>,
  ): { identities: Record<string, string>; credentials: Record<string, string> } | undefined {
    const entries = this.freeMap(e.value, where, e.key);
    if (!entries) return undefined;
    const identities: Record<string, string> = {};
    const credentials: Record<string, string> = {};
    const seen = new Map<string, Scalar>();
    let ok = true;
    for (const entry of entries) {
      const raw = String(entry.key.value);
      const profile = this.profileRef(entry.value, `${where}["${raw}"]`, profiles, used, entry.key);
      const m = /^(uid|gid|user|group):(.+)$/.exec(raw);
      let numeric: string | undefined;
      let key = raw;
      if (!m) {
        this.error(entry.key, `${where}: "${raw}" is not a peer identity: use "uid:<number>", "gid:<number>", "user:<name>" or "group:<name>"`);
      } else if (m[1] === "uid" || m[1] === "gid") {
        if (!/^\d+$/.test(m[2]!) || Number(m[2]) > 0xfffffffe) this.error(entry.key, `${where}: "${raw}": ${m[2]} is not a valid ${m[1]}`);
        else numeric = key = `${m[1]}:${Number(m[2])}`;
      } else {
        const kind = m[1] === "user" ? "user" : "group";
        const n = this.lookupAccount(m[2]!, kind);
        if (n === undefined) {
          this.error(entry.key, `${where}: "${raw}": no ${kind} named "${m[2]}" in ${kind === "user" ? "/etc/passwd" : "/etc/group"}${this.checkFiles ? "" : " (name lookup is off)"}`);
        } else numeric = `${kind === "user" ? "uid" : "gid"}:${n}`;
      }
      if (numeric === undefined || profile === undefined) {
        ok = false;
        continue;
      }
      const prev = seen.get(numeric);
      if (prev) {
        this.error(entry.key, `${where}: "${raw}" is the same identity as "${String(prev.value)}" (line ${this.lc.linePos(this.offsetOf(prev)).line})`);
        ok = false;
        continue;
      }
      seen.set(numeric, entry.key);
      identities[key] = profile;
      credentials[numeric] = key;
    }
    return ok ? { identities, credentials } : undefined;
  }

  private tlsIdentity(node: Scalar, raw: string, where: string): string | undefined {
    const m = /^(CN=|DNS:|IP:|URI:|email:)(.+)$/.exec(raw);
    if (!m) {
      this.error(node, `${where}: "${raw}" is not a certificate identity: use "CN=<subject common name>" or a SAN as "DNS:<name>", "IP:<address>", "URI:<uri>", "email:<address>"`);
      return undefined;
    }
    if (m[1] === "IP:" && isIP(m[2]!) === 0) {
      this.error(node, `${where}: "${raw}": ${m[2]} is not an IP address`);
      return undefined;
    }
    return raw;
  }
}

// ── tenancy and hardening vocabulary ──

export const DEFAULT_OWNER_LABEL = "dockgate.owner";
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const RESERVED_LABEL_PREFIXES = ["com.docker.", "io.docker.", "org.dockerproject."];
const MUTATE_KEYS = [
  "labels",
  "noNewPrivileges",
  "dropAllCapabilities",
  "memory",
  "cpus",
  "nanoCpus",
  "pids",
  "user",
  "readOnlyRootfs",
  "network",
] as const;
/** The daemon refuses memory limits below 6 MiB. */
const MIN_MEMORY = 6 * 1048576;
/** The daemon refuses NanoCpus below 0.01 CPU. */
const MIN_NANO_CPUS = 1e7;
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;

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

// ── helpers ──

function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "nothing";
    if (typeof v === "string") return `the string "${v}"`;
    if (typeof v === "number") return `the number ${node.source ?? v}`;
    if (typeof v === "boolean") return `${v}`;
    return "an unsupported value";
  }
  return "an unsupported value";
}

function byPosition(list: readonly ConfigProblem[]): ConfigProblem[] {
  return [...list].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
}

function readIdFile(file: string): Map<string, number> {
  const out = new Map<string, number>();
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!) && !out.has(f[0])) out.set(f[0], Number(f[2]));
  }
  return out;
}

/** "10.0.0.0/8" stays; a bare IP gets /32 or /128; anything else is undefined. */
export function normalizeCidr(s: string): string | undefined {
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return `${addr}/${max}`;
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return `${addr}/${Number(bits)}`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Whether two listeners would try to bind the same address. */
function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === "unix" || b.kind === "unix") return a.kind === "unix" && b.kind === "unix" && a.path === b.path;
  if (a.port !== b.port) return false;
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::" || h === "";
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

/**
 * Compare API versions the way the daemon does (Go's `versions.compare`): dot-separated parts
 * as integers (non-numbers count as 0), missing parts count as 0.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = atoi(pa[i] ?? "0");
    const y = atoi(pb[i] ?? "0");
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Go's strconv.Atoi as versions.compare uses it: anything but an optionally signed integer is 0. */
function atoi(s: string): number {
  return /^[+-]?\d+$/.test(s) ? Number(s) : 0;
}

/** `/a//b/` → `/a/b` (allow entries are stored cleaned; "." and ".." are refused when parsed). */
function cleanSlashes(p: string): string {
  return "/" + p.split("/").filter((x) => x !== "" && x !== ".").join("/");
}

/** A path with the symlinks of its existing directory resolved (itself when nothing resolves). */
function realDir(p: string): string {
  try {
    return resolve(realpathSync(dirname(p)), basename(p));
  } catch {
    return p;
  }
}

/** The allow entry that exposes socket `path`, as written or with symlinks resolved on either side; -1 if none. */
function exposingEntry(path: string, allow: readonly BindPath[]): number {
  const real = allow.map((e) => {
    try {
      return { path: realpathSync(e.path), readOnly: e.readOnly };
    } catch {
      return e;
    }
  });
  for (const p of new Set([path, realDir(path)])) {
    const i = bindingEntry(p, allow);
    if (i >= 0) return i;
    const j = bindingEntry(p, real);
    if (j >= 0) return j;
  }
  return -1;
}
