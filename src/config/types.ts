// The validated configuration, as the rest of dockgate sees it. The YAML loader produces this
// shape only after every key and value was checked (src/config/schema.ts, then load.ts);
// nothing downstream re-validates.

import type { RuleSettings } from "./rules.js";
import type { ConfigFile, ProfileFile } from "./schema.js";

/** The schema's type of a section, every key present (unset ones `undefined`). */
type Filled<T> = { [K in keyof Required<T>]: T[K] | undefined };
type Section<T> = NonNullable<T>;

/** Listener and profile names. */
export const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";
/** A tenant's time to live is at most a week (also what one Node.js timer can wait). */
export const MAX_TENANT_TTL_SECONDS = 7 * 24 * 3600;
/** The ownership label key when `ownership: true`. */
export const DEFAULT_OWNER_LABEL = "dockgate.owner";

export interface UnixListen {
  kind: "unix";
  path: string;
  /** File mode of the socket, e.g. 0o660. */
  mode: number;
  /** Numeric uid/gid to chown the socket to (names are resolved at load time). */
  uid?: number;
  gid?: number;
}

export interface TcpListen {
  kind: "tcp";
  host: string;
  port: number;
  /** CIDRs allowed to connect; required (no open TCP listener). */
  allow: string[];
}

export interface TlsListen {
  kind: "tls";
  host: string;
  port: number;
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (client certificates are required). */
  ca: string;
  /** Optional IP allowlist as for TCP. */
  allow?: string[];
}

export type ListenAddress = UnixListen | TcpListen | TlsListen;

export interface ListenerConfig {
  name: string;
  listen: ListenAddress;
  /** Profile for every client of this listener, unless `identities` selects another. */
  profile: string;
  /**
   * TLS client identity → profile, overriding `profile` for that client. Keys are canonical:
   * `CN=<subject common name>`, `DNS:<san>`, `IP:<san>`, `URI:<san>`, `email:<san>` (SAN forms as
   * Node's `subjectaltname` prints them, with `IP Address:` shortened to `IP:`). Unix: the
   * peer's credentials as written, `uid:N`, `gid:N`, `user:NAME`, `group:NAME`.
   */
  identities?: Record<string, string>;
  /**
   * Unix listeners with identities: the peer's numeric credentials (`uid:N`, `gid:N`, as
   * SO_PEERCRED reports them) → the `identities` key they match (names resolved at load).
   */
  credentials?: Record<string, string>;
}

export interface ProfileConfig {
  name: string;
  /** Free text from the config, for `dockgate check`. */
  description?: string;
  /** The `allow` and `deny` entries as written (groups unexpanded), for `check` and `explain`. */
  grants?: { allow: string[]; deny: string[] };
  /** Operation ids granted, groups already expanded. */
  allow: ReadonlySet<string>;
  /** `enforce` denies; `audit` allows but logs what would have been denied. */
  mode: NonNullable<ProfileFile["mode"]>;
  /** Lowest API version accepted in a `/vX.Y` prefix, e.g. "1.24". */
  minApiVersion: string;
  rules: RuleSettings;
  /** Tenancy: objects created through this profile are labelled with the client and only those are visible. */
  ownership: OwnershipConfig | undefined;
  /** Hardening forced onto every container this profile creates. */
  mutate: HardeningConfig | undefined;
  /** What this profile's clients may not read in responses. */
  redact: RedactConfig | undefined;
  /** Per-client limits (a client is one listener + identity). */
  limits: ClientLimits | undefined;
}

export interface OwnershipConfig {
  /** Label key carrying the owner (default "dockgate.owner"); its value is the client's owner name. */
  label: string;
}

export interface HardeningConfig {
  /** Labels added to every container (client labels of the same key are overwritten). */
  labels: Record<string, string>;
  /** Adds `no-new-privileges` to SecurityOpt. */
  noNewPrivileges: boolean;
  /** CapDrop becomes ["ALL"]; CapAdd keeps only what the profile's rules allowlist. */
  dropAllCapabilities: boolean;
  /** Bytes. `default` when the client sets none (or 0), requests above `max` are denied. */
  memory: { default?: number; max?: number } | undefined;
  /** CPUs as NanoCpus (1e9 = one CPU). */
  nanoCpus: { default?: number; max?: number } | undefined;
  pids: { default?: number; max?: number } | undefined;
  /** Forces Config.User when the client's is empty or root (e.g. "65534:65534"). */
  user: string | undefined;
  /** HostConfig.ReadonlyRootfs = true. */
  readOnlyRootfs: boolean;
  /** Forces HostConfig.NetworkMode (e.g. a network of the tenant's own). */
  network: string | undefined;
}

/** A profile's `redact:` (schema.ts describes each key); containerEnv undefined leaves Env alone. */
export type RedactConfig = Filled<Pick<Section<ProfileFile["redact"]>, "containerEnv">> & { info: string[]; systemDf: string[] };

/** A profile's `limits:`, per client (schema.ts describes each key). */
export type ClientLimits = Filled<Section<ProfileFile["limits"]>>;

/** The admin endpoint: /healthz and /metrics. Off unless configured; loopback or a unix socket only. */
export type AdminListen = { kind: "unix"; path: string; mode: number } | { kind: "tcp"; host: string; port: number };

/** Per-job tenants: a socket each, created and removed through the admin API (src/listen/tenants.ts). */
export interface TenantsConfig {
  /** Where tenant sockets go: `<directory>/<name>.sock`. */
  directory: string;
  /** Profiles a tenant may be created with (each has ownership). */
  profiles: string[];
  /** Used when a create names no profile; without it the profile is required. */
  defaultProfile: string | undefined;
  /** Socket file mode, owner and group. */
  mode: number;
  uid?: number;
  gid?: number;
  /** Tenants at once. */
  max: number;
  /** Used when a create names no ttlSeconds; without it a tenant lives until deleted. */
  defaultTtlSeconds: number | undefined;
  /** At start, tenants found on the daemon get their sockets back, or are removed. */
  onRestart: NonNullable<Section<ConfigFile["tenants"]>["onRestart"]>;
}

/** The top-level `limits:` with the schema's defaults filled in. */
export type Limits = Required<Section<ConfigFile["limits"]>>;

/**
 * Hardening that forces nothing: with it, hardenContainerCreate (src/policy/mutate.ts) only
 * rewrites the body into the one HostConfig shape every daemon reads alike (what ownership
 * needs); it is also the base of a profile's `mutate:`.
 */
export const NO_HARDENING: HardeningConfig = Object.freeze({
  labels: Object.freeze({}) as Record<string, string>,
  noNewPrivileges: false,
  dropAllCapabilities: false,
  memory: undefined,
  nanoCpus: undefined,
  pids: undefined,
  user: undefined,
  readOnlyRootfs: false,
  network: undefined,
});

export interface Config {
  /** Absolute path of the file it came from, or "<defaults>". */
  source: string;
  upstream: string;
  logLevel: NonNullable<Section<ConfigFile["log"]>["level"]>;
  limits: Limits;
  /** Seconds in-flight requests and streams may run after SIGTERM before they are cut. */
  shutdownGraceSeconds: number;
  listeners: ListenerConfig[];
  profiles: ReadonlyMap<string, ProfileConfig>;
  admin: AdminListen | undefined;
  /** Per-job tenants created through the admin endpoint (needs admin.unix). */
  tenants?: TenantsConfig;
  /** Non-fatal findings, formatted `file:line:col: warning: ...` (serve logs them at startup). */
  warnings?: string[];
}
