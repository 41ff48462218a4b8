// Rule settings: the per-profile knobs of the body and query inspections (src/policy/inspect);
// and RULES, the catalog of every rule id dockgate can emit (below DEFAULT_RULES).
//
// Every setting defaults to the safe value, and DEFAULT_RULES is what the shipped `ci` profile
// uses: a client can build, run and exec in containers that cannot reach the host (no host paths,
// devices, host namespaces, extra capabilities, unconfined security profiles, daemon-side fetches
// of URLs, plugins). A profile's `rules:` map overrides settings one by one; it is validated by
// parseRuleSettings, which reports unknown keys (with a suggestion) and wrong types.

import { didYouMean } from "../config/suggest.js";
import { parseImagePattern } from "./inspect/image-policy.js";
import { cleanAbsolute, isUnder } from "../util/path.js";

/** Linux namespaces as named in `hostNamespaces` / `namespaceJoins`. */
export type NamespaceName = "network" | "pid" | "ipc" | "uts" | "userns" | "cgroup";
export const NAMESPACE_NAMES: readonly NamespaceName[] = ["network", "pid", "ipc", "uts", "userns", "cgroup"];

/** One allowed host path for bind mounts. */
export interface BindPath {
  /** Absolute, cleaned host path. */
  path: string;
  /**
   * true: the path and anything below it may be mounted, read-only only.
   * false: exactly this path may be mounted, read-write or read-only; paths below it are refused,
   * because a container that could write there may have replaced them with symlinks.
   */
  readOnly: boolean;
}

export type VolumeDriverOptionsMode = "none" | "safe" | "any";

/** One `images.allow` entry (inspect/image-policy.ts parses and matches them). */
export interface ImagePattern {
  /** As written, for messages. */
  text: string;
  /** Registry host, lower-case, with port; docker.io for Docker Hub. */
  host: string;
  /** Repository path; undefined: every repository on the registry. */
  path: string | undefined;
  /** true: the repositories below `path`, not `path` itself. */
  below: boolean;
  /** Only this digest (`sha256:...`) of the repository. */
  digest: string | undefined;
}

export interface RuleSettings {
  /** HostConfig.Privileged and exec `Privileged` (docker run/exec --privileged). */
  allowPrivileged: boolean;
  /**
   * Host paths that Binds / Mounts of type bind may use. Default: none. `ownSocket`: the unix socket
   * the client itself connected through may be mounted too (exactly that path, read-write or
   * read-only): written `{ ownSocket: true }` in the allow list, so that one profile shared by
   * several listeners lets each listener's clients mount their own socket and no other
   * (Testcontainers' Ryuk). withOwnSocket() turns it into a path per socket.
   */
  bindMounts: { allow: readonly BindPath[]; ownSocket: boolean };
  /**
   * Capabilities CapAdd / Capabilities / a service's CapabilityAdd may add beyond Docker's default
   * set, normalized to `CAP_X` (or `ALL`). Docker's defaults (CHOWN, NET_BIND_SERVICE, ...) are
   * always accepted.
   */
  capAdd: readonly string[];
  /** HostConfig.Devices and DeviceCgroupRules (docker run --device, --device-cgroup-rule). */
  devices: boolean;
  /** DeviceRequests (docker run --gpus, CDI devices) and a service's GenericResources. */
  gpus: boolean;
  /** Namespaces a container may share with the host (NetworkMode=host, PidMode=host, ...). */
  hostNamespaces: readonly NamespaceName[];
  /** Namespaces a container may join from another container (`container:<id>`; cgroup = `Cgroup`). */
  namespaceJoins: readonly NamespaceName[];
  /**
   * Extra SecurityOpt entries allowed, as `key=value` (`seccomp=unconfined`, `apparmor=unconfined`,
   * `label=disable`; `key=*` for any value). Always allowed: no-new-privileges,
   * seccomp=builtin, apparmor=docker-default, writable-cgroups=false.
   */
  securityOpt: readonly string[];
  /** HostConfig.MaskedPaths / ReadonlyPaths overrides (docker run --security-opt systempaths=unconfined). */
  systemPaths: boolean;
  /** Sysctl names allowed (exact, or a prefix ending in `*`: `net.ipv4.*`). Default: none. */
  sysctls: readonly string[];
  /** HostConfig.CgroupParent and the build `cgroupparent` parameter. */
  cgroupParent: boolean;
  /** OCI runtimes a container may name in HostConfig.Runtime (empty = the daemon default, always allowed). */
  runtimes: readonly string[];
  /** HostConfig.VolumesFrom: mounts every volume and bind mount of another container. */
  volumesFrom: boolean;
  /** HostConfig.OomKillDisable=true and a negative OomScoreAdj (protect a container from the OOM killer at the host's expense). */
  oomOverrides: boolean;
  /** Log drivers allowed in HostConfig.LogConfig.Type / a service's LogDriver (empty = daemon default). */
  logDrivers: readonly string[];
  /** HostConfig.Annotations (passed to the OCI runtime, some of which act on them). */
  annotations: boolean;
  /** Volume drivers allowed (VolumeCreate, HostConfig.VolumeDriver, Mounts' DriverConfig.Name; empty = local). */
  volumeDrivers: readonly string[];
  /**
   * Volume driver options (VolumeCreate DriverOpts, Mounts' DriverConfig.Options): `none`; `safe`
   * (local driver only: `type=tmpfs` with plain tmpfs options, or `type=none,o=bind` of a host path
   * that bindMounts allows, read-only where it requires); `any` (including `o=bind,device=/`,
   * which mounts any host path, or a host disk).
   */
  volumeDriverOptions: VolumeDriverOptionsMode;
  /** Exec as root (User "", root, 0, 0:0, ...). When false, exec must name a non-root user. */
  execRoot: boolean;
  /** URL prefixes the daemon may fetch: ImageBuild `remote`, ImageCreate `fromSrc`. Default: none. */
  fetchUrls: readonly string[];
  /** ImageBuild `networkmode=host` (RUN steps on the host's network). */
  buildNetworkHost: boolean;
  /**
   * ImageBuild `version=2`: BuildKit builds through /build and the client's /session, inspected
   * (src/policy/buildkit). false: only the classic builder.
   */
  buildkit: boolean;
  /** Frontend images a BuildKit build may select (`# syntax=`, BUILDKIT_SYNTAX), exact references. Default: none. */
  buildkitFrontends: readonly string[];
  /** Network drivers NetworkCreate may use (empty = bridge). */
  networkDrivers: readonly string[];
  /** NetworkCreate `Options` keys allowed. */
  networkOptions: readonly string[];
  /** Plugin install, upgrade, create, configure and enable (plugins run with the privileges they ask for: host root). */
  plugins: boolean;
  /**
   * PUT /containers/{id}/archive bodies compressed with gzip, bzip2, xz or zstd: Docker Engine
   * before 29.5.1 decompresses them with a program found inside the container, as host root
   * (GHSA-x86f-5xw2-fm2r). `docker cp` sends plain tar.
   */
  compressedArchives: boolean;
  /**
   * The registries and repositories the daemon may be made to talk to (pull, push, login, search,
   * /distribution; inspect/image-policy.ts). `allow` empty: any, except that registries on
   * loopback, link-local or localhost addresses are refused unless `localRegistries`.
   */
  images: { allow: readonly ImagePattern[]; localRegistries: boolean };
}

export const DEFAULT_RULES: RuleSettings = deepFreeze({
  allowPrivileged: false,
  bindMounts: { allow: [], ownSocket: false },
  capAdd: [],
  devices: false,
  gpus: false,
  hostNamespaces: [],
  namespaceJoins: [],
  securityOpt: [],
  systemPaths: false,
  sysctls: [],
  cgroupParent: false,
  runtimes: ["runc", "io.containerd.runc.v2"],
  volumesFrom: false,
  oomOverrides: false,
  logDrivers: ["json-file", "local", "none"],
  annotations: false,
  volumeDrivers: ["local"],
  volumeDriverOptions: "safe",
  execRoot: true,
  fetchUrls: [],
  buildNetworkHost: false,
  buildkit: true,
  buildkitFrontends: [],
  networkDrivers: ["bridge"],
  networkOptions: [
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.host_binding_ipv4",
    "com.docker.network.container_iface_prefix",
  ],
  plugins: false,
  compressedArchives: false,
  images: { allow: [], localRegistries: false },
} satisfies RuleSettings);

// ---------------------------------------------------------------------------------------------
// The rule catalog: every rule id dockgate can emit (in a denial, an audit record or a log line's
// `rule`), what it refuses, and the profile setting that would allow it. `dockgate explain`,
// `dockgate rules`, `dockgate learn` and the README's tables read it. Adding a rule is one entry
// here; test/unit/rule-catalog.test.ts fails when src/ emits an id this list lacks, and the
// denial constructors call catalogued() so an uncatalogued id fails the request that uses it.

/** Where a rule is decided, in request order (`stream`: inside a relayed BuildKit gRPC stream, answered as a gRPC status). */
export type RuleStage = "http" | "gate" | "inspect" | "stream" | "hardening" | "ownership" | "limits" | "daemon";

export interface RuleInfo {
  readonly id: string;
  readonly stage: RuleStage;
  /** What the rule refuses, one line. */
  readonly describe: string;
  /**
   * The profile setting that allows what the rule refuses, as a key path in the profile
   * (`rules.capAdd`, `limits.maxStreams`, `allow`); absent when no setting does.
   */
  readonly needs?: `rules.${keyof RuleSettings}` | "allow" | "minApiVersion" | "limits.maxBodyBytes" | `limits.${string}` | `mutate.${string}`;
}

export const RULES: readonly RuleInfo[] = deepFreeze([
  // The HTTP layer, before any operation is known.
  { id: "http.malformed", stage: "http", describe: "a request head or body framing that two HTTP parsers could read differently (or Go's net/http refuses); the connection is closed" },
  { id: "http.timeout", stage: "http", needs: "limits.headerTimeoutSeconds", describe: "a request head not received in full within limits.headerTimeoutSeconds (408; the connection is closed)" },
  { id: "request.target", stage: "http", describe: "a path or query the daemon would read differently, or not route: dot segments, //, ; in the query, bad escapes, a version prefix not of the form MAJOR.MINOR" },
  { id: "endpoint.unknown", stage: "http", describe: "no API operation has this method and path" },
  { id: "body.size", stage: "http", needs: "limits.maxBodyBytes", describe: "an inspected body is larger than limits.maxBodyBytes" },
  // The gate.
  { id: "profile.unknown", stage: "gate", describe: "the client's profile does not exist (a dockgate bug: configs are validated)" },
  { id: "api.min-version", stage: "gate", needs: "minApiVersion", describe: "the /vX.Y prefix asks for an API version below the profile's minApiVersion" },
  { id: "endpoint.allow", stage: "gate", needs: "allow", describe: "the operation is not in the profile's allow list" },
  { id: "body.json", stage: "gate", describe: "an inspected request body is not JSON the daemon would read the same way" },
  { id: "inspect.error", stage: "gate", describe: "an inspection failed unexpectedly; the request is denied" },
  { id: "images.not-found", stage: "gate", describe: "the image a container create names (Image, an image mount) does not exist or is not a valid reference: answered 404 in the daemon's words" },
  // Query and body inspections (src/policy/inspect), governed by the profile's `rules:`.
  { id: "body.type", stage: "inspect", describe: "an inspected field has a JSON type the daemon does not accept (e.g. Privileged as a string); refused rather than guessed" },
  { id: "request.form-body", stage: "inspect", describe: "a form-encoded (or multipart) body on an inspected request: Go's ParseForm would read it as query parameters" },
  { id: "containers.privileged", stage: "inspect", needs: "rules.allowPrivileged", describe: "HostConfig.Privileged=true (docker run --privileged): full access to the host" },
  { id: "containers.bind-mounts", stage: "inspect", needs: "rules.bindMounts", describe: "a host path in HostConfig.Binds or a Mounts entry of type bind that is not in bindMounts.allow (or not read-only where required); paths are cleaned, so /srv/cache/../../etc is /etc; { ownSocket: true } allows the unix socket the client connected through, and no other listener's" },
  { id: "containers.bind-protected", stage: "inspect", describe: "a bind mount of, above or below the Docker/containerd sockets and state (/var/run/docker.sock, /run/containerd, /var/lib/docker, ...), /proc or /sys; never allowed, even if listed in bindMounts" },
  { id: "containers.bind-propagation", stage: "inspect", describe: "shared / rshared bind propagation: mounts made in the container would appear on the host" },
  { id: "containers.mount-type", stage: "inspect", describe: "a Mounts entry of type npipe, cluster or an unknown type (bind, volume, tmpfs and image are inspected and allowed)" },
  { id: "containers.tmpfs", stage: "inspect", describe: "HostConfig.Tmpfs options bind / rbind / remount (which would turn the tmpfs into a bind mount or remount)" },
  { id: "containers.volume-name", stage: "inspect", describe: "a Binds / Mounts volume source that is neither an absolute host path nor a plain volume name" },
  { id: "volumes.driver", stage: "inspect", needs: "rules.volumeDrivers", describe: "a volume driver not in volumeDrivers (VolumeCreate Driver, HostConfig.VolumeDriver, Mounts VolumeOptions.DriverConfig.Name)" },
  { id: "volumes.driver-options", stage: "inspect", needs: "rules.volumeDriverOptions", describe: "volume driver options (VolumeCreate DriverOpts, Mounts DriverConfig.Options) beyond tmpfs volumes and bind volumes of allowed host paths: the local driver mounts whatever they say (o=bind,device=/ is the host's root)" },
  { id: "volumes.cluster", stage: "inspect", describe: "a VolumeCreate ClusterVolumeSpec (Swarm CSI volumes)" },
  { id: "containers.capabilities", stage: "inspect", needs: "rules.capAdd", describe: "a capability beyond Docker's default set in CapAdd / Capabilities / CapabilityAdd (names normalized: sys_admin = CAP_SYS_ADMIN; ALL only if listed)" },
  { id: "containers.devices", stage: "inspect", needs: "rules.devices", describe: "HostConfig.Devices or DeviceCgroupRules (docker run --device): host device nodes" },
  { id: "containers.device-requests", stage: "inspect", needs: "rules.gpus", describe: "HostConfig.DeviceRequests (docker run --gpus, CDI devices) or a service's GenericResources" },
  { id: "containers.host-namespaces", stage: "inspect", needs: "rules.hostNamespaces", describe: "NetworkMode/PidMode/IpcMode/UTSMode/UsernsMode/CgroupnsMode=host, or a service on the host network" },
  { id: "containers.namespace-joins", stage: "inspect", needs: "rules.namespaceJoins", describe: "joining another container's namespace (NetworkMode/PidMode/IpcMode/UTSMode=container:<id>, Cgroup=container:<id>; build networkmode=container:<id>)" },
  { id: "containers.namespace-mode", stage: "inspect", describe: "a namespace mode the daemon does not define (e.g. PidMode=\"private\")" },
  { id: "containers.security-opt", stage: "inspect", needs: "rules.securityOpt", describe: "a SecurityOpt that weakens confinement (seccomp=unconfined or a custom profile, apparmor=unconfined, label=disable, ...) or a service's Privileges doing the same" },
  { id: "containers.system-paths", stage: "inspect", needs: "rules.systemPaths", describe: "HostConfig.MaskedPaths / ReadonlyPaths set (any non-null value replaces the defaults; [] unmasks /proc/kcore, /sys/firmware, ...)" },
  { id: "containers.sysctls", stage: "inspect", needs: "rules.sysctls", describe: "a sysctl not in the sysctls allowlist (HostConfig.Sysctls, a service's Sysctls, endpoint sysctls driver option)" },
  { id: "containers.cgroup-parent", stage: "inspect", needs: "rules.cgroupParent", describe: "HostConfig.CgroupParent: places the container in another cgroup, outside the daemon's limits" },
  { id: "containers.runtime", stage: "inspect", needs: "rules.runtimes", describe: "HostConfig.Runtime not in the runtimes allowlist" },
  { id: "containers.volumes-from", stage: "inspect", needs: "rules.volumesFrom", describe: "HostConfig.VolumesFrom: inherits every volume and bind mount of another container" },
  { id: "containers.oom", stage: "inspect", needs: "rules.oomOverrides", describe: "HostConfig.OomKillDisable=true or a negative OomScoreAdj" },
  { id: "containers.workdir", stage: "inspect", describe: "a working directory under /proc (WorkingDir, exec WorkingDir, WORKDIR in changes/OnBuild, a service's Dir, the image's WORKDIR when a create sets none): the CVE-2024-21626 /proc/self/fd escape" },
  { id: "containers.log-driver", stage: "inspect", needs: "rules.logDrivers", describe: "a log driver not in logDrivers (syslog, fluentd, gelf, awslogs, ... send logs over the network with the daemon's identity)" },
  { id: "containers.annotations", stage: "inspect", needs: "rules.annotations", describe: "HostConfig.Annotations: passed to the OCI runtime, which may act on them" },
  { id: "containers.blkio-path", stage: "inspect", describe: "a Blkio*Device entry whose Path is not under /dev (the daemon stat()s the host path, an existence oracle)" },
  { id: "containers.isolation", stage: "inspect", describe: "HostConfig.Isolation other than empty or \"default\" (or the build isolation parameter)" },
  { id: "containers.checkpoint", stage: "inspect", describe: "ContainerStart with checkpoint / checkpoint-dir (CRIU restore, checkpoint-dir is a host path)" },
  { id: "exec.privileged", stage: "inspect", needs: "rules.allowPrivileged", describe: "exec with Privileged=true (docker exec --privileged)" },
  { id: "exec.root", stage: "inspect", needs: "rules.execRoot", describe: "exec as root (User empty, root, 0, 0:gid) when execRoot is false" },
  { id: "build.network", stage: "inspect", needs: "rules.buildNetworkHost", describe: "ImageBuild networkmode=host (or container:<id>, governed by namespaceJoins)" },
  { id: "build.cgroup-parent", stage: "inspect", needs: "rules.cgroupParent", describe: "ImageBuild cgroupparent" },
  { id: "build.remote", stage: "inspect", needs: "rules.fetchUrls", describe: "ImageBuild remote= (a URL or git repository the daemon fetches) not under a fetchUrls prefix; remote=client-session and remote=upload-request (BuildKit) are allowed" },
  { id: "build.security-opt", stage: "inspect", describe: "ImageBuild securityopt (not supported by Linux daemons; refused)" },
  { id: "build.outputs", stage: "inspect", describe: "ImageBuild outputs other than the moby / image / cacheonly / local / tar exporters (local and tar go to the client's own session)" },
  { id: "build.buildkit", stage: "inspect", needs: "rules.buildkit", describe: "ImageBuild version=2 (a BuildKit build) when the profile sets buildkit: false" },
  // BuildKit (src/policy/buildkit): /build?version=2 and the client's /session.
  { id: "buildkit.parameter", stage: "inspect", describe: "a BuildKit build's query parameter the daemon does not read (unknown parameters are refused, not passed)" },
  { id: "buildkit.build-arg", stage: "inspect", describe: "a BUILDKIT_* build argument other than the frontend options dockgate knows (BUILDKIT_INLINE_CACHE, BUILDKIT_MULTI_PLATFORM, BUILDKIT_CONTEXT_KEEP_GIT_DIR, BUILDKIT_SANDBOX_HOSTNAME, BUILDKIT_CACHE_MOUNT_NS, BUILDKIT_DOCKERFILE_CHECK, BUILDKIT_BUILD_NAME)" },
  { id: "buildkit.frontend", stage: "inspect", needs: "rules.buildkitFrontends", describe: "a BuildKit build selecting a frontend image (`# syntax=` in the Dockerfile, BUILDKIT_SYNTAX) not in buildkitFrontends: the daemon would pull and run it as the build's frontend" },
  { id: "buildkit.platform", stage: "inspect", describe: "a BuildKit build's platform that is not os/arch[/variant]" },
  { id: "buildkit.session", stage: "inspect", describe: "a BuildKit build naming a session (session=) that is not open on a /session connection of the same client, or /session with a missing, malformed or already open session id (X-Docker-Expose-Session-Uuid)" },
  { id: "buildkit.session-method", stage: "stream", describe: "the daemon calling a gRPC method of the client's session that dockgate does not relay (file sync, file send, auth, secrets, ssh, upload, health are relayed)" },
  { id: "buildkit.dockerfile", stage: "stream", describe: "a Dockerfile sent over the session that dockgate cannot read (larger than 1 MiB, compressed, or not in the file-sync wire format)" },
  // Inside relayed BuildKit gRPC streams (/session: buildkit/session-calls.ts; /grpc: buildkit/control.ts): gRPC PERMISSION_DENIED with the message.
  { id: "buildkit.method", stage: "stream", describe: "a /grpc method dockgate does not relay (Solve, Status, ListWorkers, Info, DiskUsage, Health are; Prune with the BuildPrune grant and no ownership; Session and build history never)" },
  { id: "buildkit.decode", stage: "stream", describe: "a /grpc request dockgate cannot decode, or with a field its schema does not know (compressed, truncated, SourcePolicy, ...)" },
  { id: "buildkit.entitlement", stage: "stream", describe: "a Solve asking for security.insecure or device (never allowed) or an unknown entitlement, or raw LLB exec ops in insecure mode or with CDI devices" },
  { id: "buildkit.llb", stage: "stream", describe: "raw LLB with a source scheme dockgate does not know (docker-image, git, http(s), local, oci-layout are known) or an op field it does not know" },
  { id: "buildkit.frontend-attr", stage: "stream", describe: "a Solve frontend attribute dockgate does not know" },
  { id: "buildkit.cache", stage: "stream", describe: "a cache import or export type other than inline, local, registry (registry exports need images:push)" },
  { id: "http2.native", stage: "http", describe: "HTTP/2 with prior knowledge on the API socket: answered with HTTP_1_1_REQUIRED so clients fall back to HTTP/1.1 (BuildKit: POST /grpc)" },
  { id: "images.fetch-url", stage: "inspect", needs: "rules.fetchUrls", describe: "ImageCreate fromSrc=<URL> (the daemon downloads it) not under a fetchUrls prefix; fromSrc=- (upload) is allowed" },
  { id: "networks.driver", stage: "inspect", needs: "rules.networkDrivers", describe: "NetworkCreate with a driver not in networkDrivers (macvlan/ipvlan attach to host interfaces) or a non-default IPAM driver" },
  { id: "networks.options", stage: "inspect", needs: "rules.networkOptions", describe: "NetworkCreate Options key not in networkOptions (e.g. com.docker.network.bridge.name can take over a host bridge)" },
  { id: "plugins.manage", stage: "inspect", needs: "rules.plugins", describe: "installing, upgrading, creating, configuring or enabling plugins (they run with the privileges they declare)" },
  { id: "services.plugin", stage: "inspect", needs: "rules.plugins", describe: "a service whose TaskTemplate runs a plugin (Runtime=plugin / PluginSpec) or is a NetworkAttachmentSpec" },
  { id: "images.local-registry", stage: "inspect", needs: "rules.images", describe: "a pull, push, login, search or /distribution request (fromImage, the image name, serveraddress, X-Registry-Auth's serveraddress, the search term) whose registry is on a loopback, link-local or unspecified address or named localhost: the daemon would connect from the host to the host's own services or metadata endpoints (images.localRegistries)" },
  { id: "images.reference", stage: "inspect", needs: "rules.images", describe: "a pull, push or /distribution of an image, a login or search on a registry, or the image a container create runs (Image, an image mount: the name written, or for an id the image's own RepoTags / RepoDigests), that images.allow does not list (registry, registry/path, registry/path/*, optionally @sha256:<digest>)" },
  { id: "archives.compressed", stage: "inspect", needs: "rules.compressedArchives", describe: "a PUT /containers/{id}/archive body (docker cp into a container) that starts with a gzip, bzip2, xz or zstd header: Docker Engine before 29.5.1 decompresses it with a program from inside the container, as host root (GHSA-x86f-5xw2-fm2r); docker cp sends plain tar" },
  // Hardening (the profile's `mutate:`), on create and update.
  { id: "hardening.memory", stage: "hardening", needs: "mutate.memory.max", describe: "HostConfig.Memory above the profile's mutate.memory.max, or negative (unlimited); MemorySwap (memory plus swap) negative (unlimited) or above twice mutate.memory.max; on create, update and classic-builder RUN steps (the build's memory/memswap)" },
  { id: "hardening.cpus", stage: "hardening", needs: "mutate.cpus.max", describe: "NanoCpus, or CpuQuota/CpuPeriod, above the profile's CPU max, or an unlimited CpuQuota (-1); on update CpuQuota and CpuPeriod must come together; a build's cpuquota/cpuperiod likewise" },
  { id: "hardening.pids", stage: "hardening", needs: "mutate.pids.max", describe: "PidsLimit above the profile's mutate.pids.max, or unlimited (negative on create; 0 or negative on update)" },
  { id: "hardening.network", stage: "hardening", needs: "mutate.network", describe: "a NetworkMode or NetworkingConfig endpoint other than the profile's forced network (or none)" },
  { id: "hardening.capabilities", stage: "hardening", needs: "mutate.dropAllCapabilities", describe: "Privileged=true on a profile that drops all capabilities" },
  { id: "hardening.body", stage: "hardening", describe: "a body dockgate cannot rewrite unambiguously (e.g. a key Go ignores but that folds like a field dockgate sets)" },
  // Ownership (the profile's `ownership:`).
  { id: "ownership.not-found", stage: "ownership", describe: "the named container, exec, network or volume is not the client's (404, answered in the daemon's words for a missing object)" },
  { id: "ownership.lookup", stage: "ownership", describe: "dockgate could not ask the daemon who owns an object (502); the request is denied" },
  { id: "ownership.filters", stage: "ownership", describe: "a list's `filters` (or a build's `labels`) parameter is not JSON the daemon would read (400)" },
  { id: "ownership.label", stage: "ownership", describe: "the client's labels contain a key that differs from the ownership label only in case (400)" },
  { id: "ownership.join", stage: "ownership", describe: "NetworkCreate ConfigFrom, a `container:` prefix not written in lower case, or an endpoint NetworkID: not supported with ownership" },
  { id: "ownership.name", stage: "ownership", describe: "a container or network name of 64 hex digits (it would be ambiguous with object ids), or a network named like the profile's shared mutate.network" },
  { id: "ownership.volume", stage: "ownership", describe: "a named volume the container would mount, or the volume being created, belongs to another client (409)" },
  { id: "ownership.unsupported", stage: "ownership", describe: "the operation cannot be scoped to an owner (swarm, services, secrets, configs, nodes, tasks, plugin changes, BuildKit's `/grpc`)" },
  // Per-client limits (the profile's `limits:`), 429.
  { id: "limits.rate", stage: "limits", needs: "limits.requestsPerSecond", describe: "the client sent more requests per second than its profile's limits.requestsPerSecond (+ burst)" },
  { id: "limits.connections", stage: "limits", needs: "limits.maxConnections", describe: "the client has limits.maxConnections connections open already" },
  { id: "limits.streams", stage: "limits", needs: "limits.maxStreams", describe: "the client has limits.maxStreams long-lived streams (attach, exec, follow logs, events, stats, wait) open already" },
  { id: "limits.containers", stage: "limits", needs: "limits.maxContainers", describe: "the client owns limits.maxContainers containers already (needs ownership)" },
  // The daemon behind dockgate.
  { id: "policy.lookup", stage: "daemon", describe: "a decision that needed the daemon (an image's WORKDIR, an object's owner) could not get its answer (502)" },
  { id: "upstream.unreachable", stage: "daemon", describe: "dockgate could not reach the daemon or lost it mid-request (502)" },
  { id: "upstream.malformed", stage: "daemon", describe: "the daemon's response could not be read (its status line, Content-Length or chunked framing malformed, a head over 64 KiB, bytes no request asked for): 502 when nothing of it was sent yet, else the connection is closed; logged at error level" },
  { id: "response.filter", stage: "daemon", describe: "a response filter (redaction, ownership filtering, read-back) failed or the body exceeds what it can hold: 502 instead of the unfiltered body (or the connection closed mid-stream); logged at error level" },
] satisfies RuleInfo[]);

const BY_ID: ReadonlyMap<string, RuleInfo> = new Map(RULES.map((r) => [r.id, r]));

/** The rules of the query and body inspections (src/policy/inspect), the ones `rules:` governs. */
export const INSPECTION_RULES: readonly RuleInfo[] = RULES.filter((r) => r.stage === "inspect");

export function ruleInfo(id: string): RuleInfo | undefined {
  return BY_ID.get(id);
}

/**
 * `id`, when the catalog has it. An uncatalogued id is a dockgate bug: throwing makes the request
 * that carries it fail (closed: the caller was denying it anyway) and the tests notice.
 */
export function catalogued(id: string): string {
  if (!BY_ID.has(id)) throw new Error(`rule id ${JSON.stringify(id)} is not in the rule catalog (src/policy/rules.ts)`);
  return id;
}


// ---------------------------------------------------------------------------------------------
// Names

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

// ---------------------------------------------------------------------------------------------
// Parsing a profile's `rules:` map

type Report = (path: (string | number)[], message: string) => void;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function typeName(v: unknown): string {
  if (v === null || v === undefined) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `a string (${JSON.stringify(v)})`;
  return `${typeof v === "number" ? "a number" : typeof v === "boolean" ? "a boolean" : typeof v} (${String(v)})`;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Ctx {
  report: Report;
}

function bool(ctx: Ctx, key: string, v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  ctx.report([key], `must be true or false, not ${typeName(v)}`);
  return undefined;
}

/** A list of strings; YAML's empty value (null) is an empty list. */
function strings(ctx: Ctx, key: string, v: unknown, check?: (s: string, i: number) => string | undefined): string[] | undefined {
  if (v === null) return [];
  if (!Array.isArray(v)) {
    ctx.report([key], `must be a list of strings, not ${typeName(v)}`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  for (let i = 0; i < v.length; i++) {
    const s: unknown = v[i];
    if (typeof s !== "string" || s === "") {
      ctx.report([key, i], `must be a non-empty string, not ${typeName(s)}`);
      ok = false;
      continue;
    }
    if (check) {
      const err = check(s, i);
      if (err !== undefined) {
        ctx.report([key, i], err);
        ok = false;
        continue;
      }
    }
    if (!out.includes(s)) out.push(s);
  }
  return ok ? out : undefined;
}

function parseBindMounts(ctx: Ctx, v: unknown): RuleSettings["bindMounts"] | undefined {
  if (v === null) return { allow: [], ownSocket: false };
  if (!isPlainMap(v)) {
    ctx.report(["bindMounts"], `must be a map with an "allow" list, not ${typeName(v)}`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(v)) {
    if (k !== "allow") {
      ctx.report(["bindMounts", k], `unknown key "${k}"${didYouMean(k, ["allow"])}; bindMounts has only "allow"`);
      ok = false;
    }
  }
  const list = v["allow"];
  if (list === undefined || list === null) return ok ? { allow: [], ownSocket: false } : undefined;
  if (!Array.isArray(list)) {
    ctx.report(["bindMounts", "allow"], `must be a list of host paths, {path, readOnly} maps or { ownSocket: true }, not ${typeName(list)}`);
    return undefined;
  }
  const allow: BindPath[] = [];
  let ownSocket = false;
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    const where = ["bindMounts", "allow", i];
    let path: unknown;
    let readOnly: unknown = true;
    if (typeof item === "string") {
      path = item;
    } else if (isPlainMap(item) && "ownSocket" in item) {
      const extra = Object.keys(item).filter((k) => k !== "ownSocket");
      if (item["ownSocket"] !== true || extra.length > 0) {
        ctx.report(where, `must be exactly { ownSocket: true } (the socket the client connected through, read-write or read-only; no other keys)`);
        ok = false;
      } else {
        ownSocket = true;
      }
      continue;
    } else if (isPlainMap(item)) {
      let itemOk = true;
      for (const k of Object.keys(item)) {
        if (k !== "path" && k !== "readOnly") {
          ctx.report([...where, k], `unknown key "${k}"${didYouMean(k, ["path", "readOnly", "ownSocket"])}; an entry has "path" and "readOnly" (or is { ownSocket: true })`);
          itemOk = false;
        }
      }
      path = item["path"];
      if ("readOnly" in item) readOnly = item["readOnly"];
      if (typeof readOnly !== "boolean") {
        ctx.report([...where, "readOnly"], `must be true or false, not ${typeName(readOnly)}`);
        itemOk = false;
      }
      if (!itemOk) {
        ok = false;
        continue;
      }
    } else {
      ctx.report(where, `must be a host path, a {path, readOnly} map or { ownSocket: true }, not ${typeName(item)}`);
      ok = false;
      continue;
    }
    const pathWhere = typeof item === "string" ? where : [...where, "path"];
    if (typeof path !== "string" || !path.startsWith("/")) {
      ctx.report(pathWhere, `must be an absolute host path, not ${typeName(path)}`);
      ok = false;
      continue;
    }
    if (path.split("/").some((s) => s === ".." || s === ".")) {
      ctx.report(pathWhere, `must not contain "." or ".." segments: ${JSON.stringify(path)}`);
      ok = false;
      continue;
    }
    allow.push({ path: cleanAbsolute(path), readOnly: readOnly as boolean });
  }
  // A container that can write to a writable entry could replace anything below it with a symlink.
  for (let i = 0; i < allow.length; i++) {
    for (let j = 0; j < allow.length; j++) {
      const a = allow[i]!;
      const b = allow[j]!;
      if (i !== j && !b.readOnly && a.path !== b.path && isUnder(a.path, b.path)) {
        ctx.report(["bindMounts", "allow", i], `${JSON.stringify(a.path)} lies inside the writable entry ${JSON.stringify(b.path)}: a container could replace it with a symlink; make ${JSON.stringify(b.path)} read-only or remove one of them`);
        ok = false;
      }
      if (i < j && a.path === b.path && a.readOnly !== b.readOnly) {
        ctx.report(["bindMounts", "allow", j], `${JSON.stringify(b.path)} is listed twice with different readOnly values`);
        ok = false;
      }
    }
  }
  return ok ? { allow, ownSocket } : undefined;
}

/**
 * The rules as a client connected through unix socket `socket` (undefined: not a unix client)
 * sees them: with `bindMounts.ownSocket`, that socket's path is an allowed bind source (exactly
 * it, read-write or read-only). Other rules are returned unchanged.
 */
export function withOwnSocket(rules: RuleSettings, socket: string | undefined): RuleSettings {
  if (!rules.bindMounts.ownSocket || socket === undefined) return rules;
  const path = cleanAbsolute(socket);
  const allow = [...rules.bindMounts.allow.filter((e) => e.path !== path), { path, readOnly: false }];
  return deepFreeze({ ...rules, bindMounts: { allow, ownSocket: true } });
}

function parseImages(ctx: Ctx, v: unknown): RuleSettings["images"] | undefined {
  if (v === null) return DEFAULT_RULES.images;
  if (!isPlainMap(v)) {
    ctx.report(["images"], `must be a map with "allow" and/or "localRegistries", not ${typeName(v)}`);
    return undefined;
  }
  let ok = true;
  const out: Mutable<RuleSettings["images"]> = { ...DEFAULT_RULES.images };
  for (const k of Object.keys(v)) {
    if (k === "localRegistries") {
      if (typeof v[k] === "boolean") out.localRegistries = v[k];
      else {
        ctx.report(["images", k], `must be true or false, not ${typeName(v[k])}`);
        ok = false;
      }
    } else if (k === "allow") {
      const list = v[k] ?? [];
      if (!Array.isArray(list)) {
        ctx.report(["images", k], `must be a list of image patterns, not ${typeName(list)}`);
        ok = false;
        continue;
      }
      const patterns: ImagePattern[] = [];
      for (let i = 0; i < list.length; i++) {
        const item: unknown = list[i];
        const p = typeof item === "string" ? parseImagePattern(item) : `must be an image pattern (a string), not ${typeName(item)}`;
        if (typeof p === "string") {
          ctx.report(["images", k, i], p);
          ok = false;
        } else {
          patterns.push(p);
        }
      }
      out.allow = patterns;
    } else {
      ctx.report(["images", k], `unknown key "${k}"${didYouMean(k, ["allow", "localRegistries"])}; images has "allow" and "localRegistries"`);
      ok = false;
    }
  }
  return ok ? out : undefined;
}

function parseNamespaces(ctx: Ctx, key: string, v: unknown): NamespaceName[] | undefined {
  return strings(ctx, key, v, (s) =>
    (NAMESPACE_NAMES as readonly string[]).includes(s)
      ? undefined
      : `unknown namespace "${s}"${didYouMean(s, NAMESPACE_NAMES)}; one of ${NAMESPACE_NAMES.join(", ")}`,
  ) as NamespaceName[] | undefined;
}

const SETTING_KEYS = Object.keys(DEFAULT_RULES) as Array<keyof RuleSettings>;

/**
 * Validates a profile's `rules:` map (plain JS from YAML) and merges it over DEFAULT_RULES.
 * Problems are reported with a path inside the map; the offending setting keeps its default.
 */
export function parseRuleSettings(raw: unknown, report: Report): RuleSettings {
  const ctx: Ctx = { report };
  const out: Mutable<RuleSettings> = { ...DEFAULT_RULES };
  if (raw === null || raw === undefined) return DEFAULT_RULES;
  if (!isPlainMap(raw)) {
    report([], `must be a map of rule settings, not ${typeName(raw)}`);
    return DEFAULT_RULES;
  }
  for (const key of Object.keys(raw)) {
    const v = raw[key];
    switch (key as keyof RuleSettings) {
      case "allowPrivileged":
      case "devices":
      case "gpus":
      case "systemPaths":
      case "cgroupParent":
      case "volumesFrom":
      case "oomOverrides":
      case "annotations":
      case "execRoot":
      case "buildNetworkHost":
      case "buildkit":
      case "plugins":
      case "compressedArchives": {
        const b = bool(ctx, key, v);
        if (b !== undefined) out[key as "allowPrivileged"] = b;
        break;
      }
      case "bindMounts": {
        const b = parseBindMounts(ctx, v);
        if (b) out.bindMounts = b;
        break;
      }
      case "capAdd": {
        const caps = strings(ctx, key, v, (s) => {
          const n = normalizeCapability(s);
          if (n === "ALL" || KNOWN_CAPABILITIES.has(n)) return undefined;
          return `unknown capability "${s}"${didYouMean(n, KNOWN_CAPABILITIES)}`;
        });
        if (caps) out.capAdd = [...new Set(caps.map(normalizeCapability))];
        break;
      }
      case "hostNamespaces":
      case "namespaceJoins": {
        const ns = parseNamespaces(ctx, key, v);
        if (ns) out[key as "hostNamespaces"] = ns;
        break;
      }
      case "securityOpt": {
        const opts = strings(ctx, key, v, (s) => {
          const n = normalizeSecurityOpt(s);
          const eq = n.indexOf("=");
          const k = eq < 0 ? n : n.slice(0, eq);
          if (!SECURITY_OPT_KEYS.includes(k)) return `unknown security option "${k}"${didYouMean(k, SECURITY_OPT_KEYS)}; one of ${SECURITY_OPT_KEYS.join(", ")}`;
          if (eq < 0) return `must be written key=value (e.g. "${k}=unconfined", or "${k}=*" for any value)`;
          return undefined;
        });
        if (opts) out.securityOpt = opts.map(normalizeSecurityOpt);
        break;
      }
      case "sysctls": {
        const names = strings(ctx, key, v, (s) => {
          const star = s.indexOf("*");
          if (star >= 0 && star !== s.length - 1) return `"*" may only end a prefix (e.g. "net.ipv4.*"): ${JSON.stringify(s)}`;
          if (s === "*") return `"*" would allow every sysctl; list names or prefixes such as "net.ipv4.*"`;
          return undefined;
        });
        if (names) out.sysctls = names.map((s) => s.replaceAll("/", "."));
        break;
      }
      case "buildkitFrontends":
      case "runtimes":
      case "logDrivers":
      case "volumeDrivers":
      case "networkDrivers":
      case "networkOptions": {
        const list = strings(ctx, key, v);
        if (list) out[key as "runtimes"] = list;
        break;
      }
      case "fetchUrls": {
        const list = strings(ctx, key, v, (s) =>
          !/\s/.test(s) &&
          (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\s]+/.test(s) || /^[^@\s/]+@[^:\s/]+:/.test(s) || /^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::[0-9]+)?\//.test(s))
            ? undefined
            : `must be a URL prefix with a host (https://example.com/builds/), a git remote (git@host:org/) or host/path (github.com/org/), without spaces`,
        );
        if (list) out.fetchUrls = list;
        break;
      }
      case "images": {
        const images = parseImages(ctx, v);
        if (images) out.images = images;
        break;
      }
      case "volumeDriverOptions": {
        if (v === "none" || v === "safe" || v === "any") out.volumeDriverOptions = v;
        else report([key], `must be one of "none", "safe", "any", not ${typeName(v)}`);
        break;
      }
      default:
        report([key], `unknown rule setting "${key}"${didYouMean(key, SETTING_KEYS)}`);
    }
  }
  return deepFreeze(out);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}
