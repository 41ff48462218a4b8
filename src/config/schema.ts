// The config file's schema: one TypeBox schema that is both what the loader validates with (ajv,
// src/config/validate.ts) and the JSON Schema published as config/dockgate.schema.json (editors
// read it through the `# yaml-language-server: $schema=` line of each shipped config). The types of
// the file as written derive from it (Static<>); src/config/load.ts turns a valid file into the
// Config the rest of dockgate reads, with the checks a schema cannot express.
//
// dockgate does not run this file: `npm run schema` (scripts/generate-schema.mjs) compiles it
// ahead of time into schema-validator.ts (ajv's standalone validator, and the rule defaults), so
// startup loads neither TypeBox nor ajv's compiler. The loader imports only its types.
//
// Annotations carry the loader's wording (JSON Schema consumers ignore them): `x-expected` says
// what a value must be (for type errors), `x-messages` replaces the message of one keyword,
// `x-why` explains a required key, `x-keys` lists the keys a did-you-mean may suggest.
// In templates, {where} is the setting's path, {value} the value as found ("the string "x""),
// {json} the value as JSON, {hint} a "did you mean" among the allowed values.

import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { NAMESPACE_NAMES, type NamespaceName } from "../api/engine.js";
import { LOG_LEVELS } from "../observe/levels.js";
import { DEFAULT_OWNER_LABEL, MAX_TENANT_TTL_SECONDS, NAME_PATTERN } from "./types.js";

type Options = Record<string, unknown>;

const str = (description: string, o: Options = {}) => Type.String({ minLength: 1, description, "x-messages": { minLength: "{where} must not be empty" }, ...o });
const int = (minimum: number, maximum: number, description: string, o: Options = {}) => Type.Integer({ minimum, maximum, description, ...o });
const bool = (description: string, o: Options = {}) => Type.Boolean({ description, ...o });
const strict = <T extends Record<string, TSchema>>(properties: T, description: string, o: Options = {}) =>
  Type.Object(properties, { additionalProperties: false, description, ...o });
function choice<T extends string>(values: readonly T[], description: string, o: Options = {}) {
  return Type.Unsafe<T>({ enum: [...values], description, ...o });
}
/** A list of strings; YAML's empty value (`key:` with nothing after it) counts as an empty list. */
function list<T extends TSchema>(items: T, description: string, o: Options = {}) {
  return Type.Unsafe<Static<T>[] | null>({ type: ["array", "null"], items, description, "x-expected": "a list", ...o });
}
const strings = (description: string, o: Options = {}) => list(Type.String({ minLength: 1, "x-messages": { minLength: "{where} must not be empty" } }), description, o);
/** A value read from its source text (octal modes, API versions, CPUs, uids): a string or a number as written. */
const written = (expected: string, description: string, number = "integer") =>
  Type.Unsafe<string | number>({ type: ["string", number], description, "x-expected": expected });
const octalMode = (description: string) => written('an octal file mode like "0660"', `${description} Octal, as a string ("0660"); a plain 0660 is read as octal too.`);
const account = (kind: "user" | "group", description: string) => written(`a ${kind} name or number`, description);
/** An absolute path (the loader resolves it; sockets must also fit in sun_path). */
const absolute = (description: string, o: Options = {}) => str(description, { pattern: "^/", "x-messages": { minLength: "{where} must not be empty", pattern: "{where} must be an absolute path, not {json}" }, ...o });
const host = () => str("Address to listen on: an IP address or a host name.", { default: "127.0.0.1" });
const port = () => int(1, 65535, "TCP port.");
const cidrs = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });

const unixSocket = strict(
  {
    path: absolute("Path of the socket; unique, not the upstream socket."),
    mode: Type.Optional(octalMode("Socket file mode (default 0660).")),
    owner: Type.Optional(account("user", "Owner of the socket: a user name or uid.")),
    group: Type.Optional(account("group", "Group of the socket: a group name or gid.")),
  },
  "A unix socket.",
);

const listener = strict(
  {
    name: str("Unique name; it is the owner name of the listener's clients.", {
      pattern: NAME_PATTERN,
      "x-messages": { pattern: `listener name {json} must match ${NAME_PATTERN}` },
    }),
    description: Type.Optional(str("Free text.")),
    unix: Type.Optional(unixSocket),
    tcp: Type.Optional(
      strict(
        {
          host: Type.Optional(host()),
          port: port(),
          allow: cidrs("Client address CIDRs (or bare IPs) that may connect; required, non-empty."),
        },
        "Plain TCP: only for loopback or a trusted network.",
        { "x-why": { allow: "plain TCP has no client authentication, so a client address allowlist" } },
      ),
    ),
    tls: Type.Optional(
      strict(
        {
          host: Type.Optional(host()),
          port: port(),
          cert: str("Server certificate, PEM; relative paths are relative to the config file."),
          key: str("Server key, PEM."),
          ca: str("CA bundle client certificates must chain to, PEM."),
          allow: Type.Optional(cidrs("Optional client address CIDRs.")),
        },
        "Mutual TLS: clients must present a certificate from `ca`.",
        { "x-why": { ca: "client certificates are required" } },
      ),
    ),
    profile: str("Profile for every client of this listener."),
    identities: Type.Optional(
      Type.Record(Type.String(), str("A profile name."), {
        description:
          "The client's identity selects another profile. tls: CN=<subject CN>, DNS:<san>, IP:<san>, URI:<san>, email:<san>. unix (SO_PEERCRED): uid:N, gid:N, user:NAME, group:NAME.",
      }),
    ),
  },
  "One address dockgate listens on: exactly one of unix, tcp, tls.",
);

const bounds = (one: TSchema, description: string) =>
  strict({ default: Type.Optional(one), max: Type.Optional(one) }, `${description} default: set when the client sets none (or 0); max: above is denied.`, {
    minProperties: 1,
    "x-messages": { minProperties: '{where} needs "default", "max" or both' },
  });

const size = () => written('a size like "512m", "2g" or a number of bytes', "Bytes, or a size as `docker run -m` reads it (b, k, m, g, t; binary); at least 6m.");

const mutate = strict(
  {
    labels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "Labels added to every container (a client label of the same key is overwritten)." })),
    noNewPrivileges: Type.Optional(bool("SecurityOpt += no-new-privileges.")),
    dropAllCapabilities: Type.Optional(bool("CapDrop = [ALL]; CapAdd keeps what rules.capAdd allows.")),
    memory: Type.Optional(bounds(size(), "Memory limit.")),
    cpus: Type.Optional(bounds(written("a number of CPUs like 1.5 (at most 9 decimals)", "CPUs, decimals (at least 0.01).", "number"), "CPU limit (NanoCpus).")),
    nanoCpus: Type.Optional(bounds(int(1e7, Number.MAX_SAFE_INTEGER, "NanoCpus (1e9 = one CPU)."), "CPU limit as NanoCpus; not with cpus.")),
    pids: Type.Optional(bounds(int(1, 4194304, "PidsLimit."), "Process limit.")),
    user: Type.Optional(
      str('Config.User when the client\'s is empty or root: "user", "uid" or "uid:gid", not root.', {
        pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$",
        not: { pattern: "^(?:root|0+)(?::|$)" },
        "x-messages": { pattern: '{where} must be "user", "uid" or "uid:gid" (names or numbers), not {json}', not: '{where} {json} is root: forcing root is not hardening (try "65534:65534")' },
      }),
    ),
    readOnlyRootfs: Type.Optional(bool("HostConfig.ReadonlyRootfs.")),
    network: Type.Optional(str("Forced HostConfig.NetworkMode (not host or container:<x>).")),
  },
  "Hardening forced onto every container this profile creates.",
);

const ALL_ENV = 'must be "all" or a list of variable names whose values stay visible';
const redact = strict(
  {
    containerEnv: Type.Optional(
      Type.Unsafe<"all" | string[]>({
        description: 'Container inspect Config.Env: "all" keeps names only (NAME=), a list keeps the values of those names only.',
        if: { type: "string" },
        then: { type: "string", enum: ["all"], "x-messages": { enum: `{where} ${ALL_ENV}, not {json}{hint}` } },
        else: {
          type: "array",
          items: { type: "string", minLength: 1, pattern: "^[^=]*$", "x-messages": { pattern: '{where}: {json} is not a variable name (no "=")' } },
          "x-expected": ALL_ENV.slice("must be ".length),
        },
      }),
    ),
    info: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Top-level fields of GET /info replaced by null (case-sensitive)." })),
    systemDf: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Top-level fields of GET /system/df replaced by null." })),
  },
  "What this profile's clients may not read in responses.",
);

const clientLimits = strict(
  {
    requestsPerSecond: Type.Optional(Type.Number({ minimum: 0.001, maximum: 1e6, description: "Sustained requests per second (decimals allowed)." })),
    burst: Type.Optional(int(0, 1e6, "Requests at once above the sustained rate (needs requestsPerSecond).")),
    maxConnections: Type.Optional(int(1, 1e6, "Simultaneous connections.")),
    maxStreams: Type.Optional(int(0, 1e6, "Simultaneous attach/exec/logs -f/events/stats streams.")),
    maxContainers: Type.Optional(int(0, 1e6, "Live containers owned by the client (needs ownership).")),
  },
  "Per-client limits (a client is one listener, or one listener + identity).",
);

const OWNERSHIP = `true, false or a map like { label: ${DEFAULT_OWNER_LABEL} }`;
const ownership = Type.Unsafe<boolean | { label?: string }>({
  description: `Tenancy: objects created through the profile are labelled with the client's owner name, and only those are visible. true uses the label ${DEFAULT_OWNER_LABEL}.`,
  if: { type: "boolean" },
  then: { type: "boolean" },
  else: strict({ label: Type.Optional(str("Owner label key.")) }, "", { "x-expected": OWNERSHIP }),
});

// ── rule settings: the per-profile knobs of the body and query inspections (src/policy/inspect) ──
// Every default is the safe value; the defaults are what the shipped `ci` profile uses.

const bindEntry = Type.Unsafe<string | { path: string; readOnly?: boolean } | { ownSocket: true }>({
  if: { type: "string" },
  then: { type: "string", pattern: "^/", "x-messages": { pattern: "{where} must be an absolute host path, not {value}" } },
  else: {
    if: { type: "object", required: ["ownSocket"] },
    then: strict({ ownSocket: Type.Literal(true, { "x-messages": { const: "{where} must be true: { ownSocket: true } allows the socket the client connected through" } }) }, ""),
    else: strict(
      { path: Type.String({ pattern: "^/", "x-messages": { pattern: "{where} must be an absolute host path, not {value}" } }), readOnly: Type.Optional(Type.Boolean()) },
      "",
      { "x-expected": "a host path, a {path, readOnly} map or { ownSocket: true }", "x-keys": ["path", "readOnly", "ownSocket"] },
    ),
  },
});

export const RULES_SCHEMA = strict(
  {
    allowPrivileged: Type.Optional(bool("HostConfig.Privileged and exec Privileged (docker run/exec --privileged).", { default: false })),
    bindMounts: Type.Optional(
      Type.Unsafe<{ allow?: Static<typeof bindEntry>[] | null } | null>({
        type: ["object", "null"],
        additionalProperties: false,
        properties: { allow: list(bindEntry, "Host paths, {path, readOnly} maps, or { ownSocket: true }.") },
        "x-expected": 'a map with an "allow" list',
        default: { allow: [] },
        description:
          "Host paths Binds / Mounts of type bind may use. A path string (or readOnly: true, the default) allows it and anything below it, read-only only; readOnly: false allows exactly that path, read-write. { ownSocket: true }: the unix socket the client connected through.",
      }),
    ),
    capAdd: Type.Optional(strings("Capabilities CapAdd may add beyond Docker's default set (sys_admin = CAP_SYS_ADMIN; ALL only if listed).", { default: [] })),
    devices: Type.Optional(bool("HostConfig.Devices and DeviceCgroupRules (docker run --device).", { default: false })),
    gpus: Type.Optional(bool("DeviceRequests (docker run --gpus, CDI devices) and a service's GenericResources.", { default: false })),
    hostNamespaces: Type.Optional(list(choice<NamespaceName>(NAMESPACE_NAMES, "A namespace."), "Namespaces a container may share with the host (NetworkMode=host, ...).", { default: [] })),
    namespaceJoins: Type.Optional(list(choice<NamespaceName>(NAMESPACE_NAMES, "A namespace."), "Namespaces a container may join from another container (container:<id>).", { default: [] })),
    securityOpt: Type.Optional(strings("Extra SecurityOpt entries, key=value (seccomp=unconfined, apparmor=unconfined, label=disable; key=* for any value).", { default: [] })),
    systemPaths: Type.Optional(bool("HostConfig.MaskedPaths / ReadonlyPaths overrides.", { default: false })),
    sysctls: Type.Optional(strings("Sysctl names allowed (exact, or a prefix ending in *: net.ipv4.*).", { default: [] })),
    cgroupParent: Type.Optional(bool("HostConfig.CgroupParent and the build cgroupparent parameter.", { default: false })),
    runtimes: Type.Optional(strings("OCI runtimes HostConfig.Runtime may name (empty: the daemon default).", { default: ["runc", "io.containerd.runc.v2"] })),
    volumesFrom: Type.Optional(bool("HostConfig.VolumesFrom.", { default: false })),
    oomOverrides: Type.Optional(bool("HostConfig.OomKillDisable=true and a negative OomScoreAdj.", { default: false })),
    logDrivers: Type.Optional(strings("Log drivers allowed (empty: the daemon default).", { default: ["json-file", "local", "none"] })),
    annotations: Type.Optional(bool("HostConfig.Annotations.", { default: false })),
    volumeDrivers: Type.Optional(strings("Volume drivers allowed.", { default: ["local"] })),
    volumeDriverOptions: Type.Optional(
      choice(["none", "safe", "any"] as const, "Volume driver options: none; safe (tmpfs, or bind volumes of paths bindMounts allows); any (o=bind,device=/ mounts the host's root).", { default: "safe" }),
    ),
    execRoot: Type.Optional(bool("Exec as root; false: exec must name a non-root user.", { default: true })),
    fetchUrls: Type.Optional(strings("URL prefixes the daemon may fetch (ImageBuild remote, ImageCreate fromSrc).", { default: [] })),
    buildNetworkHost: Type.Optional(bool("ImageBuild networkmode=host.", { default: false })),
    buildkit: Type.Optional(bool("ImageBuild version=2: BuildKit builds through /build and /session, inspected.", { default: true })),
    buildkitFrontends: Type.Optional(strings("Frontend images a BuildKit build may select (# syntax=), exact references.", { default: [] })),
    networkDrivers: Type.Optional(strings("Network drivers NetworkCreate may use.", { default: ["bridge"] })),
    networkOptions: Type.Optional(
      strings("NetworkCreate Options keys allowed.", {
        default: [
          "com.docker.network.driver.mtu",
          "com.docker.network.bridge.enable_icc",
          "com.docker.network.bridge.enable_ip_masquerade",
          "com.docker.network.bridge.host_binding_ipv4",
          "com.docker.network.container_iface_prefix",
        ],
      }),
    ),
    plugins: Type.Optional(bool("Plugin install, upgrade, create, configure and enable.", { default: false })),
    compressedArchives: Type.Optional(bool("Compressed PUT /containers/{id}/archive bodies (GHSA-x86f-5xw2-fm2r).", { default: false })),
    images: Type.Optional(
      Type.Unsafe<{ allow?: string[] | null; localRegistries?: boolean } | null>({
        type: ["object", "null"],
        additionalProperties: false,
        properties: {
          allow: strings("Image patterns: registry, registry/path, registry/path/*, each optionally @sha256:<hex>. Empty: any."),
          localRegistries: { type: "boolean", description: "Registries on loopback, link-local or localhost addresses." },
        },
        "x-expected": 'a map with "allow" and/or "localRegistries"',
        default: { allow: [], localRegistries: false },
        description: "The registries and repositories the daemon may be made to talk to.",
      }),
    ),
  },
  "Per-profile inspection settings; each defaults to the safe value.",
  { "x-expected": "a map" },
);

const profile = strict(
  {
    description: Type.Optional(str("Free text, for dockgate check.")),
    allow: Type.Array(Type.String({ minLength: 1 }), { description: "Groups and operation ids granted." }),
    deny: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Removed from what allow granted." })),
    mode: Type.Optional(choice(["enforce", "audit"] as const, "enforce denies; audit allows everything and logs what would be denied.", { default: "enforce" })),
    minApiVersion: Type.Optional(written('an API version like "1.24"', "Lowest /vX.Y accepted (default and floor: 1.24).", "number")),
    rules: Type.Optional(Type.Unsafe<Static<typeof RULES_SCHEMA> | null>({ ...RULES_SCHEMA, type: ["object", "null"] })),
    ownership: Type.Optional(ownership),
    mutate: Type.Optional(mutate),
    redact: Type.Optional(redact),
    limits: Type.Optional(clientLimits),
  },
  "What a client may do.",
);

const tenants = strict(
  {
    directory: absolute("Where tenant sockets go: <directory>/<name>.sock."),
    profiles: Type.Array(Type.String({ minLength: 1 }), { description: "Profiles tenants may use (each with ownership)." }),
    defaultProfile: Type.Optional(str("Used when a create names no profile; one of profiles.")),
    socket: Type.Optional(
      strict({ mode: Type.Optional(octalMode("Tenant socket mode.")), owner: Type.Optional(account("user", "Owner.")), group: Type.Optional(account("group", "Group.")) }, "Tenant socket file mode, owner and group."),
    ),
    max: Type.Optional(int(1, 10000, "Tenants at once.", { default: 100 })),
    defaultTtlSeconds: Type.Optional(int(1, MAX_TENANT_TTL_SECONDS, "Used when a create names no ttlSeconds.")),
    onRestart: Type.Optional(choice(["restore", "clean"] as const, "Tenants found on the daemon at start: restore their sockets, or remove them.", { default: "restore" })),
  },
  "Per-job tenants: a socket each, created and removed through the admin API (needs admin.unix).",
);

export const CONFIG_SCHEMA = strict(
  {
    upstream: Type.Optional(
      str("The daemon's socket; unix:///path also accepted.", {
        default: "/var/run/docker.sock",
        pattern: "^(?:unix://)?/",
        "x-messages": { pattern: "upstream must be an absolute socket path (or unix:///path), not {json}" },
      }),
    ),
    log: Type.Optional(strict({ level: Type.Optional(choice(LOG_LEVELS, "Log level.", { default: "info" })) }, "Logging.")),
    limits: Type.Optional(
      strict(
        {
          maxHeaderBytes: Type.Optional(int(1024, 1048576, "Request line + headers, bytes.", { default: 65536 })),
          maxBodyBytes: Type.Optional(int(1024, 64 * 1048576, "Largest body buffered for inspection; a larger inspected body is refused.", { default: 1048576 })),
          headerTimeoutSeconds: Type.Optional(int(1, 3600, "A request head must arrive within this, else 408 and close.", { default: 30 })),
        },
        "Request limits.",
      ),
    ),
    shutdown: Type.Optional(strict({ graceSeconds: Type.Optional(int(0, 3600, "In-flight requests and streams after SIGTERM.", { default: 10 })) }, "Shutdown.")),
    listeners: Type.Array(listener, { minItems: 1, description: "The addresses dockgate listens on.", "x-messages": { minItems: "{where} must define at least one listener" } }),
    profiles: Type.Record(Type.String({ pattern: NAME_PATTERN }), profile, {
      minProperties: 1,
      additionalProperties: false,
      description: "Profiles by name.",
      "x-messages": { minProperties: "{where} must define at least one profile", additionalProperties: `profile name {keyjson} must match ${NAME_PATTERN}` },
    }),
    admin: Type.Optional(
      strict(
        {
          unix: Type.Optional(strict({ path: absolute("Socket path."), mode: Type.Optional(octalMode("Socket mode.")) }, "The admin endpoint on a unix socket.")),
          tcp: Type.Optional(strict({ host: Type.Optional(host()), port: port() }, "The admin endpoint on loopback TCP.")),
        },
        "Optional /healthz and /metrics endpoint (no authentication): one of unix or tcp (loopback only).",
      ),
    ),
    tenants: Type.Optional(tenants),
  },
  "dockgate's config: a filtering proxy for the Docker Engine API.",
  { title: "dockgate config", "x-expected": "a map" },
);

/** The config file as written (after schema validation). */
export type ConfigFile = Static<typeof CONFIG_SCHEMA>;
export type ProfileFile = Static<typeof profile>;
export type ListenerFile = Static<typeof listener>;
export type RulesFile = Static<typeof RULES_SCHEMA>;
