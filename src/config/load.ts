// Loading dockgate's YAML config. The file format is the schema (src/config/schema.ts, published
// as config/dockgate.schema.json; README "Configuration reference"); validate.ts checks a parsed
// document against it, and this file adds what a schema cannot express: references between
// sections (profiles, listeners, tenants), unique names and addresses, sockets a bind mount could
// reach, host files (TLS PEM files, /etc/passwd and /etc/group), values read from their source
// text (octal modes, API versions, CPUs, sizes), and warnings. Every problem is reported with the
// position of the YAML node it is about, as `file:line:col: message`, all at once; a config with
// any problem is refused as a whole (dockgate does not start on a half-understood config).

import { readFileSync, realpathSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { type Document, LineCounter, type Node, type Scalar, isScalar, parseDocument, visit } from "yaml";
import { INFO_FIELDS, MIN_API_VERSION_FLOOR, SYSTEM_DF_FIELDS, cleanAbsolute, compareVersions, isUnder, parseSize } from "../api/engine.js";
import { isLoopback } from "../listen/loopback.js";
import { GROUPS, OPERATIONS, OPERATION_ALIASES, expandGrant } from "./groups.js";
import { type BindPath, DEFAULT_RULES, normalizeRules, type RuleSettings } from "./rules.js";
import type { ConfigFile, ProfileFile } from "./schema.js";
import { didYouMean } from "./suggest.js";
import {
  type AdminListen,
  type ClientLimits,
  type Config,
  DEFAULT_OWNER_LABEL,
  type HardeningConfig,
  type ListenAddress,
  type ListenerConfig,
  NAME_PATTERN,
  NO_HARDENING,
  type ProfileConfig,
  type RedactConfig,
  type TenantsConfig,
} from "./types.js";
import { type Tree, at, checkSchema, describe, pointer, toTree, where } from "./validate.js";

export { DEFAULT_OWNER_LABEL, MAX_TENANT_TTL_SECONDS } from "./types.js";

/** Socket file mode when none is written. */
const DEFAULT_MODE = 0o660;
const NAME_RE = new RegExp(NAME_PATTERN);

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
  /** The check that no listener's clients can bind-mount another's socket; off only in ruleSettings (a profile without its listeners). */
  checkSockets?: boolean;
}

/** Read and validate a config file. Throws ConfigError. */
export function loadConfig(file: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([{ file, message: `cannot read config: ${errnoText(err)}` }]);
  }
  return parseConfigText(text, file, options);
}

/** Validate config text; `file` names it in messages and anchors relative paths. */
export function parseConfigText(text: string, file: string, options: LoadOptions = {}): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true, version: "1.2", merge: false });
  const r = new Reader(file, lc, doc, options.checkFiles ?? true, options.checkSockets ?? true);
  for (const e of [...doc.errors, ...doc.warnings]) {
    // The yaml package appends " at line L, column C" to some messages; we print positions first.
    r.errorAt(e.pos[0], e.code === "MULTIPLE_DOCS" ? "a config is a single YAML document (remove the second `---`)" : `invalid YAML: ${e.message.replace(/ at line \d+, column \d+.*$/s, "")}`);
  }
  if (r.problems.length === 0) {
    // An alias to no anchor is not a YAML error to the parser; report it before anything cascades.
    visit(doc, {
      Alias: (_key, node) => {
        if (node.resolve(doc) === undefined) r.error(node, `invalid YAML: alias *${node.source} refers to no anchor &${node.source} before it`);
      },
    });
  }
  if (r.problems.length > 0) throw new ConfigError(byPosition(r.problems));
  const config = r.readRoot();
  if (r.problems.length > 0 || config === undefined) throw new ConfigError(byPosition(r.problems));
  if (r.warnings.length > 0) config.warnings = byPosition(r.warnings).map(formatProblem);
  return config;
}

type Path = (string | number)[];
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

class Reader {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];
  private tree: Tree = { data: undefined, nodes: new Map() };
  /** JSON pointers of the values the schema refused. */
  private invalid = new Set<string>();
  private passwd: Map<string, number> | undefined;
  private groupFile: Map<string, number> | undefined;

  constructor(
    readonly file: string,
    readonly lc: LineCounter,
    readonly doc: Document,
    readonly checkFiles: boolean,
    readonly checkSockets: boolean,
  ) {}

  // ── positions and reporting ──

  private problemAt(offset: number, message: string): ConfigProblem {
    const { line, col } = this.lc.linePos(offset);
    return { file: this.file, line: Math.max(line, 1), col: Math.max(col, 1), message };
  }

  errorAt(offset: number, message: string): void {
    this.problems.push(this.problemAt(offset, message));
  }

  /** The value's node at `path` (its key when the value is empty), for a position. */
  private node(path: Path): Node | Scalar | null {
    return at(this.tree.nodes.get(pointer(path)));
  }

  private keyNode(path: Path): Node | Scalar | null {
    const loc = this.tree.nodes.get(pointer(path));
    return loc?.key ?? loc?.value ?? null;
  }

  private offset(at: Node | Scalar | Path | null | undefined): number {
    const n = Array.isArray(at) ? this.node(at) : at;
    return n?.range ? n.range[0] : 0;
  }

  error(at: Node | Scalar | Path | null | undefined, message: string): void {
    this.errorAt(this.offset(at), message);
  }

  warn(at: Node | Scalar | Path | null | undefined, message: string): void {
    this.warnings.push(this.problemAt(this.offset(at), `warning: ${message}`));
  }

  private line(at: Node | Scalar | Path | null | undefined): number {
    return this.lc.linePos(this.offset(at)).line;
  }

  /** Whether the schema accepted the value at `path` and everything in it. */
  private valid(path: Path): boolean {
    const p = pointer(path);
    for (const q of this.invalid) if (q === p || q.startsWith(p + "/")) return false;
    return true;
  }

  private w(path: Path): string {
    return where(this.tree, pointer(path));
  }

  /** The scalar as written (plain `0660` stays "0660"; a float `1.40` stays "1.40"). */
  private source(path: Path): string | undefined {
    const n = this.tree.nodes.get(pointer(path))?.value;
    if (!isScalar(n) || n.value === null || typeof n.value === "object" || typeof n.value === "boolean") return undefined;
    return typeof n.value === "string" ? n.value : (n.source ?? String(n.value));
  }

  // ── the document ──

  readRoot(): Config | undefined {
    this.tree = toTree(this.doc, (at, m) => this.error(at, m));
    const data = this.tree.data;
    if (data === null) {
      this.errorAt(0, "the config is empty: it needs at least `listeners` and `profiles`");
      return undefined;
    }
    this.invalid = checkSchema(this.tree, (at, m) => this.error(at, m));
    const top = obj(data);
    if (!top) return undefined;
    const file = top as Partial<ConfigFile>;

    let upstream = "/var/run/docker.sock";
    if (typeof file.upstream === "string" && this.valid(["upstream"])) upstream = file.upstream.replace(/^unix:\/\//, "");

    // Profiles are read first: listeners and tenants refer to them.
    const profiles = new Map<string, ProfileConfig>();
    const written = new Set<string>();
    for (const [name, p] of Object.entries(obj(file.profiles) ?? {})) {
      if (!NAME_RE.test(name)) continue; // the schema reported it
      written.add(name);
      const profile = this.readProfile(name, obj(p) as ProfileFile | undefined);
      if (profile) profiles.set(name, profile);
    }
    const used = new Set<string>();
    const ref = (path: Path): string | undefined => {
      const s = text(valueAt(this.tree, path));
      if (s === undefined) return undefined;
      if (!written.has(s)) {
        this.error(path, `${this.w(path)}: unknown profile "${s}"${didYouMean(s, written)}`);
        return undefined;
      }
      used.add(s);
      return s;
    };

    const listeners: ListenerConfig[] = [];
    const names = new Map<string, Path>();
    const addresses: { listen: ListenAddress; path: Path; name: string }[] = [];
    for (const [i, item] of (Array.isArray(file.listeners) ? file.listeners : []).entries()) {
      const l = this.readListener(["listeners", i], obj(item), upstream, ref);
      if (!l) continue;
      const prev = names.get(l.config.name);
      if (prev) this.error(["listeners", i, "name"], `duplicate listener name "${l.config.name}" (first at line ${this.line(prev)})`);
      else names.set(l.config.name, ["listeners", i, "name"]);
      const clash = addresses.find((x) => sameAddress(x.listen, l.config.listen));
      if (clash) {
        const what = l.config.listen.kind === "unix" ? `socket path ${l.config.listen.path}` : `port ${l.config.listen.port}`;
        this.error(l.address, `listener "${l.config.name}" uses the same ${what} as listener "${clash.name}" (line ${this.line(clash.path)})`);
      }
      addresses.push({ listen: l.config.listen, path: l.address, name: l.config.name });
      listeners.push(l.config);
    }

    const admin = file.admin === undefined ? undefined : this.readAdmin(obj(file.admin), upstream, listeners);
    const tenants = file.tenants === undefined ? undefined : this.readTenants(obj(file.tenants) as ConfigFile["tenants"], profiles, ref, admin, listeners);
    if (this.checkSockets) this.checkSocketBinds(listeners, profiles, admin, upstream, tenants);
    for (const name of written) {
      if (!used.has(name) && profiles.has(name)) this.warn(this.keyNode(["profiles", name]), `profile "${name}" is not used by any listener`);
    }

    const limits = (obj(file.limits) ?? {}) as NonNullable<ConfigFile["limits"]>;
    return {
      source: isAbsolute(this.file) ? this.file : resolve(this.file),
      upstream,
      logLevel: file.log?.level ?? "info",
      limits: { maxHeaderBytes: limits.maxHeaderBytes ?? 65536, maxBodyBytes: limits.maxBodyBytes ?? 1048576, headerTimeoutSeconds: limits.headerTimeoutSeconds ?? 30 },
      shutdownGraceSeconds: file.shutdown?.graceSeconds ?? 10,
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
        for (const sock of sockets) {
          if (sock.owner === l.name) continue;
          const i = sock.exposedBy(allow);
          if (i < 0) continue;
          const entry = allow[i]!;
          const key = `${profileName}\0${entry.path}\0${sock.path}\0${l.name}`;
          if (reported.has(key)) continue;
          reported.add(key);
          const how = entry.path === sock.path ? "" : ` (below the read-only entry ${entry.path})`;
          this.error(
            this.bindEntryNode(profileName, entry.path),
            `profiles.${profileName}.rules.bindMounts.allow: ${entry.path} lets clients of ${l.what} bind-mount ${sock.what}${how} and talk through it as its clients do; ` +
              (sock.owner !== undefined || sock.path === tenants?.directory ? `use { ownSocket: true } to let each client mount the socket it connected through` : `remove the entry`),
          );
        }
      }
    }
  }

  /** The YAML node of the bindMounts allow entry for `path` in a profile's rules (or the list itself). */
  private bindEntryNode(profile: string, path: string): Node | Scalar | null {
    const base: Path = ["profiles", profile, "rules", "bindMounts", "allow"];
    const entries = valueAt(this.tree, base);
    for (const [i, e] of (Array.isArray(entries) ? entries : []).entries()) {
      const written: unknown = typeof e === "string" ? e : obj(e)?.["path"];
      if (typeof written === "string" && written.startsWith("/") && cleanAbsolute(written) === path) return this.node([...base, i]);
    }
    return this.node(base);
  }

  private readTenants(
    t: ConfigFile["tenants"] | undefined,
    profiles: ReadonlyMap<string, ProfileConfig>,
    ref: (path: Path) => string | undefined,
    admin: AdminListen | undefined,
    listeners: readonly ListenerConfig[],
  ): TenantsConfig | undefined {
    if (!t) return undefined; // not a map: the schema reported it
    const before = this.problems.length;
    // Creating a tenant hands out a socket with a profile: only whoever may open the admin socket
    // (its file mode) may do that, never anyone who can reach a loopback port.
    const key = this.keyNode(["tenants"]);
    if (admin === undefined) this.error(key, `tenants needs the admin endpoint on a unix socket (admin.unix): tenants are created through it`);
    else if (admin.kind !== "unix") this.error(this.keyNode(["admin"]), `tenants needs admin.unix, not admin.tcp: a loopback port has no authentication, and creating a tenant hands out a socket`);
    const out: TenantsConfig = { directory: "", profiles: [], defaultProfile: undefined, mode: DEFAULT_MODE, max: t.max ?? 100, defaultTtlSeconds: t.defaultTtlSeconds, onRestart: t.onRestart ?? "restore" };
    const dir = this.valid(["tenants", "directory"]) ? text(t.directory) : undefined;
    if (dir !== undefined) {
      // <directory>/<name>.sock with a name of up to 63 characters must fit in sun_path.
      if (Buffer.byteLength(resolve(dir)) > 107 - 1 - 63 - 5) this.error(["tenants", "directory"], `tenants.directory is too long for unix socket paths (at most ${107 - 69} bytes)`);
      else out.directory = resolve(dir);
      const clash = listeners.find((l) => l.listen.kind === "unix" && dirname(l.listen.path) === resolve(dir));
      if (clash) this.warn(["tenants", "directory"], `tenants.directory also holds the socket of listener "${clash.name}": a tenant of the same name would be refused`);
    }
    const before2 = this.problems.length;
    for (const i of (Array.isArray(t.profiles) ? t.profiles : []).keys()) {
      const name = ref(["tenants", "profiles", i]);
      if (name === undefined) continue;
      if (profiles.get(name)?.ownership === undefined) {
        this.error(["tenants", "profiles", i], `tenants.profiles[${i}]: profile "${name}" has no ownership: a tenant's objects are found and removed by their owner label`);
        continue;
      }
      out.profiles.push(name);
    }
    if (Array.isArray(t.profiles) && out.profiles.length === 0 && this.problems.length === before2) this.error(["tenants", "profiles"], `tenants.profiles must name at least one profile`);
    const dp = text(t.defaultProfile);
    if (dp !== undefined && !out.profiles.includes(dp)) this.error(["tenants", "defaultProfile"], `tenants.defaultProfile "${dp}" is not in tenants.profiles`);
    else out.defaultProfile = dp;
    out.mode = this.octalMode(["tenants", "socket", "mode"]) ?? DEFAULT_MODE;
    const uid = this.account(["tenants", "socket", "owner"], "user");
    const gid = this.account(["tenants", "socket", "group"], "group");
    if (uid !== undefined) out.uid = uid;
    if (gid !== undefined) out.gid = gid;
    return this.problems.length > before ? undefined : out;
  }

  private readProfile(name: string, p: ProfileFile | undefined): ProfileConfig | undefined {
    if (!p) return undefined;
    const before = this.problems.length;
    const at = (...rest: Path): Path => ["profiles", name, ...rest];

    const allow = new Set<string>();
    const grants = { allow: [] as string[], deny: [] as string[] };
    if (Array.isArray(p.allow)) {
      if (p.allow.length === 0) this.warn(at("allow"), `profile "${name}" allows nothing: every request through it is denied`);
      p.allow.forEach((s, i) => this.grant(s, at("allow", i), grants.allow).forEach((op) => allow.add(op)));
    }
    if (Array.isArray(p.deny)) p.deny.forEach((s, i) => this.grant(s, at("deny", i), grants.deny).forEach((op) => allow.delete(op)));

    const mode = p.mode ?? "enforce";
    if (mode === "audit") this.warn(at("mode"), `profile "${name}" is in audit mode: requests it would deny are allowed and logged`);

    let minApiVersion = MIN_API_VERSION_FLOOR;
    const mv = this.source(at("minApiVersion"));
    if (mv !== undefined) {
      if (!/^1\.\d{1,3}$/.test(mv)) this.error(at("minApiVersion"), `profiles.${name}.minApiVersion must be an API version like "1.24", not "${mv}"`);
      else if (compareVersions(mv, MIN_API_VERSION_FLOOR) < 0) this.error(at("minApiVersion"), `profiles.${name}.minApiVersion must be at least ${MIN_API_VERSION_FLOOR}: older API versions have semantics dockgate does not inspect`);
      else minApiVersion = mv;
    }

    let rules: RuleSettings = DEFAULT_RULES;
    if (p.rules === null || obj(p.rules)) {
      // Settings the schema refused keep their defaults (their problems are reported already).
      const valid = Object.entries(p.rules ?? {}).filter(([k]) => this.valid(at("rules", k)));
      rules = normalizeRules(Object.fromEntries(valid), (path, message) => this.error(at("rules", ...path), `${this.w(at("rules", ...path))}: ${message}`));
      // Settings that open a BuildKit entitlement or frontend, where the profile reaches BuildKit
      // (the rest of BuildKit is inspected; a setting no granted request can use opens nothing).
      const buildkit = allow.has("Grpc") || (allow.has("Session") && allow.has("ImageBuild") && rules.buildkit);
      if (rules.buildNetworkHost && buildkit) {
        this.warn(this.keyNode(at("rules", "buildNetworkHost")), `profile "${name}" sets buildNetworkHost: BuildKit builds may ask for the network.host entitlement and run steps on the host's network`);
      }
      if (rules.buildkitFrontends.length > 0 && buildkit) {
        this.warn(this.keyNode(at("rules", "buildkitFrontends")), `profile "${name}" allows BuildKit frontend images: the daemon pulls and runs them with the build's session and entitlements`);
      }
    }

    let ownership: ProfileConfig["ownership"];
    if (p.ownership === true) ownership = { label: DEFAULT_OWNER_LABEL };
    else if (obj(p.ownership)) {
      const label = (p.ownership as { label?: string }).label;
      ownership = { label: label === undefined ? DEFAULT_OWNER_LABEL : (this.labelKey(label, at("ownership", "label"), `profiles.${name}.ownership.label`) ?? DEFAULT_OWNER_LABEL) };
    }
    if (ownership && mode === "audit") {
      this.warn(this.keyNode(at("ownership")), `profile "${name}" has ownership in audit mode: other clients' objects stay reachable (each access is logged)`);
    }
    const mutate = obj(p.mutate) ? this.readMutate(p.mutate!, at("mutate"), ownership) : undefined;
    const redact = obj(p.redact) ? this.readRedact(p.redact!, at("redact")) : undefined;
    const limits = obj(p.limits) ? this.readClientLimits(p.limits!, at("limits"), ownership, p.ownership !== undefined) : undefined;

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
    if (typeof p.description === "string") profile.description = p.description;
    return profile;
  }

  /** Operations granted by one `allow`/`deny` entry. */
  private grant(s: unknown, path: Path, written: string[]): readonly string[] {
    if (typeof s !== "string") return [];
    const ops = expandGrant(s);
    if (ops) {
      written.push(s);
      return ops;
    }
    const alias = OPERATION_ALIASES.get(s) ?? [...OPERATION_ALIASES].find(([k]) => k.toLowerCase() === s.toLowerCase())?.[1];
    const hint = alias !== undefined ? ` (did you mean "${alias}"?)` : didYouMean(s, [...GROUPS.keys(), ...OPERATIONS]);
    this.error(path, `unknown operation or group "${s}"${hint}`);
    return [];
  }

  // ── tenancy, hardening, redaction, limits ──

  private labelKey(s: string, path: Path | Node | Scalar | null, w: string): string | undefined {
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s)) {
      this.error(path, `${w}: "${s}" is not a usable label key (letters, digits, ".", "_", "-", "/"; starting with a letter or digit; no "=")`);
      return undefined;
    }
    if (RESERVED_LABEL_PREFIXES.some((p) => s.startsWith(p))) {
      this.error(path, `${w}: "${s}" is in a namespace reserved for Docker's own tools (${RESERVED_LABEL_PREFIXES.join(", ")})`);
      return undefined;
    }
    return s;
  }

  private readMutate(m: NonNullable<ProfileFile["mutate"]>, at: Path, ownership: ProfileConfig["ownership"]): HardeningConfig | undefined {
    const before = this.problems.length;
    const w = this.w(at);
    const out: HardeningConfig = { ...NO_HARDENING, labels: {}, noNewPrivileges: m.noNewPrivileges === true, dropAllCapabilities: m.dropAllCapabilities === true, readOnlyRootfs: m.readOnlyRootfs === true };
    for (const [key, value] of Object.entries(obj(m.labels) ?? {})) {
      if (this.labelKey(key, this.keyNode([...at, "labels", key]), `${w}.labels`) === undefined || typeof value !== "string") continue;
      if (ownership && key === ownership.label) {
        this.error(this.keyNode([...at, "labels", key]), `${w}.labels: "${key}" is the ownership label; dockgate sets it to the client's owner name`);
        continue;
      }
      out.labels[key] = value;
    }
    out.memory = this.bounds([...at, "memory"], (path) => {
      const v = valueAt(this.tree, path);
      const bytes = typeof v === "number" ? v : typeof v === "string" ? parseSize(v) : undefined;
      if (bytes === undefined || !Number.isInteger(bytes)) {
        this.error(path, `${this.w(path)} must be a size like "512m", "2g" or a number of bytes, not ${describe(this.node(path))}`);
        return undefined;
      }
      if (bytes < MIN_MEMORY || bytes > Number.MAX_SAFE_INTEGER) {
        this.error(path, `${this.w(path)} ${this.source(path)} is ${bytes < MIN_MEMORY ? `below the daemon's minimum of ${MIN_MEMORY / 1048576}m` : "too large"}`);
        return undefined;
      }
      return bytes;
    });
    if (m.cpus !== undefined && m.nanoCpus !== undefined) {
      this.error(this.keyNode([...at, "nanoCpus"]), `${w} has both "cpus" and "nanoCpus": use one (cpus: 1.5 is nanoCpus: 1500000000)`);
    } else if (m.cpus !== undefined) {
      out.nanoCpus = this.bounds([...at, "cpus"], (path) => {
        // CPUs as NanoCpus: `1.5` → 1500000000; at most 9 decimals, at least 0.01 (the daemon's minimum).
        const s = this.source(path)?.trim();
        if (s === undefined || !/^\d+(?:\.\d{1,9})?$/.test(s)) {
          this.error(path, `${this.w(path)} must be a number of CPUs like 1.5 (at most 9 decimals), not ${describe(this.node(path))}`);
          return undefined;
        }
        const [whole, frac = ""] = s.split(".");
        const nano = Number(whole) * 1e9 + Number(frac.padEnd(9, "0"));
        if (nano < 1e7 || !Number.isSafeInteger(nano)) {
          this.error(path, `${this.w(path)} must be at least 0.01, not ${s}`);
          return undefined;
        }
        return nano;
      });
    } else out.nanoCpus = this.bounds([...at, "nanoCpus"], (path) => valueAt(this.tree, path) as number);
    out.pids = this.bounds([...at, "pids"], (path) => valueAt(this.tree, path) as number);
    out.user = text(m.user);
    const network = text(m.network);
    if (network !== undefined) {
      const lower = network.toLowerCase();
      if (lower === "host" || lower.startsWith("container:")) this.error([...at, "network"], `${w}.network "${network}" shares another namespace: use "none", "bridge" or the name of a network`);
      else out.network = network;
    }
    return this.problems.length > before ? undefined : out;
  }

  /** `{ default, max }` (the schema wants at least one), each read by `one`, default <= max. */
  private bounds(at: Path, one: (path: Path) => number | undefined): { default?: number; max?: number } | undefined {
    const m = obj(valueAt(this.tree, at));
    if (!m || Object.keys(m).length === 0) return undefined;
    const out: { default?: number; max?: number } = {};
    for (const k of ["default", "max"] as const) {
      if (m[k] === undefined) continue;
      const v = one([...at, k]);
      if (v !== undefined) out[k] = v;
    }
    if (out.default !== undefined && out.max !== undefined && out.default > out.max) {
      this.error([...at, "default"], `${this.w(at)}.default is above ${this.w(at)}.max`);
      return undefined;
    }
    return out;
  }

  private readRedact(r: NonNullable<ProfileFile["redact"]>, at: Path): RedactConfig | undefined {
    const before = this.problems.length;
    const out: RedactConfig = { containerEnv: undefined, info: [], systemDf: [] };
    if (r.containerEnv === "all") out.containerEnv = "all";
    else if (Array.isArray(r.containerEnv)) out.containerEnv = [...r.containerEnv];
    out.info = this.fieldList([...at, "info"], INFO_FIELDS, "GET /info");
    out.systemDf = this.fieldList([...at, "systemDf"], SYSTEM_DF_FIELDS, "GET /system/df");
    return this.problems.length > before ? undefined : out;
  }

  /**
   * Top-level response field names. A near miss of a known field (wrong case, a typo) is an error:
   * it would redact nothing. A field dockgate does not know is a warning (newer daemons add fields).
   */
  private fieldList(at: Path, known: readonly string[], what: string): string[] {
    const out: string[] = [];
    const items = valueAt(this.tree, at);
    for (const [i, s] of (Array.isArray(items) ? items : []).entries()) {
      if (typeof s !== "string") continue;
      const w = this.w([...at, i]);
      if (!known.includes(s)) {
        const hint = didYouMean(s, known);
        if (hint) {
          this.error([...at, i], `${w}: "${s}" is not a field of ${what}${hint}; field names are case-sensitive`);
          continue;
        }
        this.warn([...at, i], `${w}: "${s}" is not a field of ${what} that dockgate knows; it is redacted if a newer daemon sends it`);
      }
      if (!out.includes(s)) out.push(s);
    }
    return out;
  }

  private readClientLimits(l: NonNullable<ProfileFile["limits"]>, at: Path, ownership: ProfileConfig["ownership"], ownershipWritten: boolean): ClientLimits | undefined {
    const before = this.problems.length;
    const w = this.w(at);
    if (l.burst !== undefined && l.requestsPerSecond === undefined) this.error(this.keyNode([...at, "burst"]), `${w}.burst needs ${w}.requestsPerSecond (it is the bucket above the sustained rate)`);
    if (l.maxContainers !== undefined && !ownership) {
      this.error(
        this.keyNode([...at, "maxContainers"]),
        ownershipWritten
          ? `${w}.maxContainers needs ownership, which is off for this profile: containers are counted by their owner label`
          : `${w}.maxContainers needs ownership (add "ownership: true" to the profile): containers are counted by their owner label`,
      );
    }
    if (this.problems.length > before) return undefined;
    return { requestsPerSecond: l.requestsPerSecond, burst: l.burst, maxConnections: l.maxConnections, maxStreams: l.maxStreams, maxContainers: l.maxContainers };
  }

  private readAdmin(a: Obj | undefined, upstream: string, listeners: readonly ListenerConfig[]): AdminListen | undefined {
    if (!a) return undefined;
    if (a["unix"] === undefined && a["tcp"] === undefined) {
      if (Object.keys(a).length === 0) this.error(["admin"], `admin needs one of "unix" or "tcp"`);
      return undefined;
    }
    if (a["unix"] !== undefined && a["tcp"] !== undefined) {
      this.error(this.keyNode(["admin", "tcp"]), `admin has both "unix" and "tcp": the admin endpoint listens on exactly one address`);
      return undefined;
    }
    if (a["unix"] !== undefined) {
      const mode = this.octalMode(["admin", "unix", "mode"]);
      const path = this.socketPath(["admin", "unix", "path"], upstream, "");
      if (path === undefined) return undefined;
      const clash = listeners.find((l) => l.listen.kind === "unix" && l.listen.path === path);
      if (clash) {
        this.error(["admin", "unix", "path"], `admin.unix.path is the socket of listener "${clash.name}"`);
        return undefined;
      }
      return { kind: "unix", path, mode: mode ?? DEFAULT_MODE }; // a bad mode is reported: the config is refused
    }
    const t = obj(a["tcp"]);
    if (!t || typeof t["port"] !== "number") return undefined;
    const host = this.host(["admin", "tcp", "host"]);
    if (host === undefined) return undefined;
    if (!isLoopback(host)) {
      this.error(t["host"] === undefined ? this.keyNode(["admin", "tcp"]) : ["admin", "tcp", "host"], `admin.tcp.host must be a loopback address (127.0.0.1, ::1 or localhost), not "${host}": /metrics and /healthz have no authentication; use admin.unix for anything else`);
      return undefined;
    }
    const port = t["port"];
    const clash = listeners.find((l) => l.listen.kind !== "unix" && sameAddress(l.listen, { kind: "tcp", host, port, allow: [] }));
    if (clash) {
      this.error(["admin", "tcp", "port"], `admin.tcp.port ${port} is the port of listener "${clash.name}"`);
      return undefined;
    }
    return { kind: "tcp", host, port };
  }

  /** An absolute socket path, not the upstream's, that fits in sun_path; `why` explains the upstream clash. */
  private socketPath(at: Path, upstream: string, why: string): string | undefined {
    const path = this.valid(at) ? text(valueAt(this.tree, at)) : undefined;
    if (path === undefined) return undefined;
    const w = this.w(at);
    if (resolve(path) === resolve(upstream)) this.error(at, `${w} is the upstream socket ${upstream}${why}`);
    else if (Buffer.byteLength(path) > 107) this.error(at, `${w} is ${Buffer.byteLength(path)} bytes long; unix socket paths are limited to 107`);
    else return resolve(path);
    return undefined;
  }

  /** An octal file mode ("0660"; plain 0660 is read as octal too); undefined when absent or bad. */
  private octalMode(at: Path): number | undefined {
    if (valueAt(this.tree, at) === undefined) return undefined;
    const s = this.source(at);
    const match = s === undefined ? null : /^(?:0o?)?([0-7]{3,4})$/.exec(s);
    const mode = match ? parseInt(match[1]!, 8) : NaN;
    if (s === undefined) return undefined; // not a string or number: the schema reported it
    if (!match || mode > 0o777) {
      this.error(at, `${this.w(at)} must be an octal file mode like "0660", not "${s}"`);
      return undefined;
    }
    if (mode & 0o002) this.warn(at, `${this.w(at)} ${s} lets every local user connect`);
    return mode;
  }

  private readListener(at: Path, l: Obj | undefined, upstream: string, ref: (path: Path) => string | undefined): { config: ListenerConfig; address: Path } | undefined {
    if (!l) return undefined;
    const before = this.problems.length;
    const w = this.w(at);
    const name = text(l["name"]);
    const kinds = (["unix", "tcp", "tls"] as const).filter((k) => l[k] !== undefined);
    let listen: ListenAddress | undefined;
    if (kinds.length === 0) this.error(at, `${w} needs one of "unix", "tcp" or "tls"`);
    else if (kinds.length > 1) this.error(this.keyNode([...at, kinds[1]!]), `${w} has both "${kinds[0]}" and "${kinds[1]}": a listener listens on exactly one address`);
    else listen = this.readAddress([...at, kinds[0]!], kinds[0]!, upstream);

    const profile = ref([...at, "profile"]);
    let identities: Record<string, string> | undefined;
    let credentials: Record<string, string> | undefined;
    const ids = obj(l["identities"]);
    if (ids && kinds.length === 1) {
      if (kinds[0] === "tcp") this.error(this.keyNode([...at, "identities"]), `${w}: identities need a tls listener (a plain TCP client has no identity)`);
      else ({ identities, credentials } = this.readIdentities([...at, "identities"], ids, kinds[0] === "unix", ref));
    }
    if (this.problems.length > before || name === undefined || listen === undefined || profile === undefined) return undefined;
    const config: ListenerConfig = { name, listen, profile };
    if (identities !== undefined) config.identities = identities;
    if (credentials !== undefined) config.credentials = credentials;
    return { config, address: [...at, kinds[0]!] };
  }

  private readAddress(at: Path, kind: "unix" | "tcp" | "tls", upstream: string): ListenAddress | undefined {
    const a = obj(valueAt(this.tree, at));
    if (!a) return undefined;
    const w = this.w(at);
    if (kind === "unix") {
      const path = this.socketPath([...at, "path"], upstream, ": dockgate would replace the daemon's socket with itself");
      const mode = this.octalMode([...at, "mode"]);
      const uid = this.account([...at, "owner"], "user");
      const gid = this.account([...at, "group"], "group");
      if (path === undefined) return undefined;
      return { kind, path, mode: mode ?? DEFAULT_MODE, ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
    }
    const host = this.host([...at, "host"]);
    const allow = Array.isArray(a["allow"]) ? this.cidrs([...at, "allow"], a["allow"]) : undefined;
    if (kind === "tcp") {
      if (Array.isArray(a["allow"]) && a["allow"].length === 0) this.error([...at, "allow"], `${w}.allow must list at least one address range`);
      if (host === undefined || typeof a["port"] !== "number" || allow === undefined || allow.length === 0) return undefined;
      if (!isLoopback(host)) this.warn(this.keyNode(at), `${w} listens on ${host} without TLS: anyone in the allowed ranges who can reach it gets the profile`);
      return { kind, host, port: a["port"], allow };
    }
    const files = (["cert", "key", "ca"] as const).map((k) => this.pemFile([...at, k]));
    const [cert, key, ca] = files;
    if (host === undefined || typeof a["port"] !== "number" || !cert || !key || !ca || (a["allow"] !== undefined && allow === undefined)) return undefined;
    return { kind, host, port: a["port"], cert, key, ca, ...(allow ? { allow } : {}) };
  }

  /** The host to listen on (default 127.0.0.1): an IP address or a host name. */
  private host(at: Path): string | undefined {
    const s = valueAt(this.tree, at);
    if (s === undefined) return "127.0.0.1";
    if (typeof s !== "string") return undefined;
    if (isIP(s) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(s)) {
      this.error(at, `${this.w(at)} must be an IP address or a host name, not "${s}"`);
      return undefined;
    }
    return s;
  }

  private cidrs(at: Path, items: unknown[]): string[] | undefined {
    const out: string[] = [];
    for (const [i, s] of items.entries()) {
      const cidr = typeof s === "string" ? normalizeCidr(s) : undefined;
      if (cidr === undefined && typeof s === "string") this.error([...at, i], `${this.w([...at, i])} must be an IP address or CIDR like 10.0.0.0/8, not "${s}"`);
      if (cidr !== undefined) out.push(cidr);
    }
    return out.length === items.length ? out : undefined;
  }

  private pemFile(at: Path): string | undefined {
    const s = text(valueAt(this.tree, at));
    if (s === undefined) return undefined;
    const path = resolve(dirname(resolve(this.file)), s);
    if (!this.checkFiles) return path;
    const w = this.w(at);
    let content: string;
    try {
      if (!statSync(path).isFile()) {
        this.error(at, `${w}: ${path} is not a file`);
        return undefined;
      }
      content = readFileSync(path, "latin1");
    } catch (err) {
      this.error(at, `${w}: cannot read ${path}: ${errnoText(err)}`);
      return undefined;
    }
    if (!content.includes("-----BEGIN ")) {
      this.error(at, `${w}: ${path} is not a PEM file (no "-----BEGIN" line)`);
      return undefined;
    }
    return path;
  }

  /** A user or group, by name or number, as a number; undefined when absent or bad. */
  private account(at: Path, kind: "user" | "group"): number | undefined {
    const s = this.source(at);
    if (s === undefined) return undefined;
    const w = this.w(at);
    if (/^\d+$/.test(s)) {
      if (Number(s) <= 0xfffffffe) return Number(s);
      this.error(at, `${w}: ${s} is not a valid ${kind === "user" ? "uid" : "gid"}`);
      return undefined;
    }
    const n = this.lookupAccount(s, kind);
    if (n === undefined) this.error(at, `${w}: ${this.noAccount(s, kind)}`);
    return n;
  }

  private noAccount(name: string, kind: "user" | "group"): string {
    return `no ${kind} named "${name}" in ${kind === "user" ? "/etc/passwd" : "/etc/group"}${this.checkFiles ? "" : " (name lookup is off)"}`;
  }

  private lookupAccount(name: string, kind: "user" | "group"): number | undefined {
    if (!this.checkFiles) return name === "root" ? 0 : undefined;
    const table = kind === "user" ? (this.passwd ??= readIdFile("/etc/passwd")) : (this.groupFile ??= readIdFile("/etc/group"));
    return table.get(name);
  }

  /**
   * A listener's identities. TLS: `CN=`, `DNS:`, `IP:`, `URI:`, `email:` keys. Unix: `uid:N`,
   * `gid:N`, `user:NAME`, `group:NAME`, names resolved now (a reload reads /etc/passwd and
   * /etc/group again); `credentials` maps the numeric form a peer's SO_PEERCRED gives (`uid:N`,
   * `gid:N`) to the key as written, which names the owner.
   */
  private readIdentities(at: Path, ids: Obj, unix: boolean, ref: (path: Path) => string | undefined): { identities?: Record<string, string>; credentials?: Record<string, string> } {
    const w = this.w(at);
    const identities: Record<string, string> = {};
    const credentials: Record<string, string> = {};
    const seen = new Map<string, string>();
    let ok = true;
    for (const raw of Object.keys(ids)) {
      const keyAt = this.keyNode([...at, raw]);
      const profile = ref([...at, raw]);
      let key: string | undefined;
      let numeric: string | undefined;
      if (unix) {
        const m = /^(uid|gid|user|group):(.+)$/.exec(raw);
        if (!m) this.error(keyAt, `${w}: "${raw}" is not a peer identity: use "uid:<number>", "gid:<number>", "user:<name>" or "group:<name>"`);
        else if (m[1] === "uid" || m[1] === "gid") {
          if (!/^\d+$/.test(m[2]!) || Number(m[2]) > 0xfffffffe) this.error(keyAt, `${w}: "${raw}": ${m[2]} is not a valid ${m[1]}`);
          else numeric = key = `${m[1]}:${Number(m[2])}`;
        } else {
          const kind = m[1] === "user" ? "user" : "group";
          const n = this.lookupAccount(m[2]!, kind);
          if (n === undefined) this.error(keyAt, `${w}: "${raw}": ${this.noAccount(m[2]!, kind)}`);
          else [key, numeric] = [raw, `${kind === "user" ? "uid" : "gid"}:${n}`];
        }
      } else {
        const m = /^(CN=|DNS:|IP:|URI:|email:)(.+)$/.exec(raw);
        if (!m) this.error(keyAt, `${w}: "${raw}" is not a certificate identity: use "CN=<subject common name>" or a SAN as "DNS:<name>", "IP:<address>", "URI:<uri>", "email:<address>"`);
        else if (m[1] === "IP:" && isIP(m[2]!) === 0) this.error(keyAt, `${w}: "${raw}": ${m[2]} is not an IP address`);
        else numeric = key = raw;
      }
      if (key === undefined || numeric === undefined || profile === undefined) {
        ok = false;
        continue;
      }
      const prev = seen.get(numeric);
      if (prev !== undefined) {
        this.error(keyAt, `${w}: "${raw}" is the same identity as "${prev}" (line ${this.line(this.keyNode([...at, prev]))})`);
        ok = false;
        continue;
      }
      seen.set(numeric, raw);
      identities[key] = profile;
      if (unix) credentials[numeric] = key;
    }
    if (!ok) return {};
    return unix ? { identities, credentials } : { identities };
  }
}

// ── vocabulary and helpers ──

const RESERVED_LABEL_PREFIXES = ["com.docker.", "io.docker.", "org.dockerproject."];
/** The daemon refuses memory limits below 6 MiB. */
const MIN_MEMORY = 6 * 1048576;

function valueAt(tree: Tree, path: Path): unknown {
  let v: unknown = tree.data;
  for (const seg of path) {
    if (typeof v !== "object" || v === null || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((err as Error).message);
}

function byPosition(list: readonly ConfigProblem[]): ConfigProblem[] {
  return [...list].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

function readIdFile(file: string): Map<string, number> {
  const out = new Map<string, number>();
  let content = "";
  try {
    content = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  for (const line of content.split("\n")) {
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

/** Whether two listeners would try to bind the same address. */
function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === "unix" || b.kind === "unix") return a.kind === "unix" && b.kind === "unix" && a.path === b.path;
  if (a.port !== b.port) return false;
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::" || h === "";
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

/** A path with the symlinks of its existing directory resolved (itself when nothing resolves). */
function realDir(p: string): string {
  try {
    return resolve(realpathSync(dirname(p)), basename(p));
  } catch {
    return p;
  }
}

/**
 * The index of the first allow entry that lets `path` be bind-mounted at all, read-only at least:
 * the exact path, or a read-only entry above it (a unix socket can be connected to through a
 * read-only mount); compared as written and with symlinks resolved on either side; -1 if none.
 */
function exposingEntry(path: string, allow: readonly BindPath[]): number {
  const binding = (p: string, entries: readonly BindPath[]) => entries.findIndex((e) => p === e.path || (e.readOnly && isUnder(p, e.path)));
  const real = allow.map((e) => {
    try {
      return { path: realpathSync(e.path), readOnly: e.readOnly };
    } catch {
      return e;
    }
  });
  for (const p of new Set([path, realDir(path)])) {
    const i = binding(p, allow);
    if (i >= 0) return i;
    const j = binding(p, real);
    if (j >= 0) return j;
  }
  return -1;
}

/**
 * One profile's rule settings from a plain `rules:` map, validated exactly as a config file's
 * are (through the loader: messages name `profiles.p.rules...`). For tests and tools that build
 * settings without a file. Throws ConfigError.
 */
export function ruleSettings(rules: unknown): RuleSettings {
  const file = { listeners: [{ name: "l", unix: { path: "/run/dockgate/rules.sock" }, profile: "p" }], profiles: { p: { allow: ["ping"], rules } } };
  return parseConfigText(JSON.stringify(file), "<rules>", { checkFiles: false, checkSockets: false }).profiles.get("p")!.rules;
}
