// The validated configuration, as the rest of dockgate sees it. The YAML loader produces this
// shape only after every key and value was checked; nothing downstream re-validates.

import type { RuleSettings } from "../policy/rules.js";

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
   * Client identity → profile, overriding `profile` for that client. Keys are canonical:
   * TLS: `CN=<subject common name>`, `DNS:<san>`, `IP:<san>`, `URI:<san>`, `email:<san>`
   * (SAN forms as Node's `subjectaltname` prints them, with `IP Address:` shortened to `IP:`).
   * Unix: `uid:<number>` / `gid:<number>` (names were resolved at load time); a uid match wins
   * over a gid match.
   */
  identities?: Record<string, string>;
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
  mode: "enforce" | "audit";
  /** Lowest API version accepted in a `/vX.Y` prefix, e.g. "1.24". */
  minApiVersion: string;
  rules: RuleSettings;
}

export interface Limits {
  /** Request line + headers, bytes. */
  maxHeaderBytes: number;
  /** Largest request body that is buffered for inspection; larger is denied, never passed. */
  maxBodyBytes: number;
}

export interface Config {
  /** Absolute path of the file it came from, or "<defaults>". */
  source: string;
  upstream: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  limits: Limits;
  /** Seconds in-flight requests and streams may run after SIGTERM before they are cut. */
  shutdownGraceSeconds: number;
  listeners: ListenerConfig[];
  profiles: ReadonlyMap<string, ProfileConfig>;
  /** Non-fatal findings, formatted `file:line:col: warning: ...` (serve logs them at startup). */
  warnings?: string[];
}
