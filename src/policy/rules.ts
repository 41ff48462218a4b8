// RULES, the catalog of every rule id dockgate can emit, and withOwnSocket. The rule settings
// themselves (RuleSettings, DEFAULT_RULES) are config: src/config/rules.ts validates and
// normalizes a profile's `rules:`; the Docker names they use are in src/api/engine.ts. Both are
// re-exported here for the inspections.

import { cleanAbsolute } from "../api/engine.js";
import { type BindPath, DEFAULT_RULES, type RuleSettings, deepFreeze } from "../config/rules.js";

export type { ImagePattern } from "../api/image-ref.js";
export {
  DEFAULT_CAPABILITIES,
  KNOWN_CAPABILITIES,
  NAMESPACE_NAMES,
  type NamespaceName,
  SECURITY_OPT_KEYS,
  normalizeCapability,
  normalizeSecurityOpt,
} from "../api/engine.js";
export { type BindPath, DEFAULT_RULES, type RuleSettings };

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
  { id: "build.remote", stage: "inspect", needs: "rules.fetchUrls", describe: "ImageBuild remote= (a URL or git repository the daemon fetches) not under a fetchUrls prefix, likewise a /grpc Solve's raw LLB http(s) and git sources; a BuildKit build (version=2) must say remote=client-session (without it, or with upload-request, the daemon builds from the request body's context and Dockerfile, which dockgate does not read); a remote context through /grpc is refused" },
  { id: "build.security-opt", stage: "inspect", describe: "ImageBuild securityopt (not supported by Linux daemons; refused)" },
  { id: "build.outputs", stage: "inspect", describe: "ImageBuild outputs other than the moby / image / cacheonly / local / tar exporters (local and tar go to the client's own session)" },
  { id: "build.context", stage: "inspect", needs: "rules.images", describe: "a classic-builder build (POST /build without version=2) under images.allow whose Dockerfile dockgate cannot read the way the daemon does: a remote= context (the daemon fetches the Dockerfile), a context tar compressed with bzip2 or xz or not decompressing, a Dockerfile entry that is not a regular file of at most 1 MiB (a symbolic or hard link), a non-directory above it or an entry below an archived symlink, tar features not modelled, a bad checksum, a truncated archive or data after its end" },
  { id: "build.buildkit", stage: "inspect", needs: "rules.buildkit", describe: "ImageBuild version=2 (a BuildKit build) when the profile sets buildkit: false" },
  // BuildKit (src/policy/buildkit): /build?version=2 and the client's /session.
  { id: "buildkit.parameter", stage: "inspect", describe: "a BuildKit build's query parameter the daemon does not read (unknown parameters are refused, not passed)" },
  { id: "buildkit.build-arg", stage: "inspect", describe: "a BUILDKIT_* build argument other than the frontend options dockgate knows (BUILDKIT_INLINE_CACHE, BUILDKIT_MULTI_PLATFORM, BUILDKIT_CONTEXT_KEEP_GIT_DIR, BUILDKIT_SANDBOX_HOSTNAME, BUILDKIT_CACHE_MOUNT_NS, BUILDKIT_DOCKERFILE_CHECK, BUILDKIT_BUILD_NAME)" },
  { id: "buildkit.frontend", stage: "inspect", needs: "rules.buildkitFrontends", describe: "a BuildKit build selecting a frontend image (`# syntax=` in the Dockerfile, BUILDKIT_SYNTAX) not in buildkitFrontends: the daemon would pull and run it as the build's frontend" },
  { id: "buildkit.platform", stage: "inspect", describe: "a BuildKit build's platform that is not os/arch[/variant]" },
  { id: "buildkit.session", stage: "inspect", describe: "a BuildKit build naming a session (session=) that is not open on a /session connection of the same client (or that already served 64 builds with different build arguments), or /session with a missing, malformed or already open session id (X-Docker-Expose-Session-Uuid)" },
  { id: "buildkit.session-method", stage: "stream", describe: "the daemon calling a gRPC method of the client's session that dockgate does not relay (file sync, file send, auth, secrets, ssh, upload, health are relayed)" },
  { id: "buildkit.image-ref", stage: "stream", describe: "a Dockerfile image reference (FROM, COPY --from, RUN --mount from=, their ONBUILD forms) of a BuildKit build, or of a classic build under images.allow, that dockgate cannot resolve statically: an undeclared variable, one the daemon sets (TARGETARCH, ...), a substitution it does not evaluate, a variable in --from, a heredoc or mount spec it cannot read; the images it resolves are checked by images.*" },
  { id: "buildkit.dockerfile", stage: "stream", describe: "a Dockerfile sent over the session that dockgate cannot read (larger than 1 MiB, compressed, or not in the file-sync wire format), or a Solve that would give the Dockerfile frontend its Dockerfile another way (a frontend input named dockerfile)" },
  // Inside relayed BuildKit gRPC streams (/session: buildkit/session-calls.ts; /grpc: buildkit/control.ts): gRPC PERMISSION_DENIED with the message.
  { id: "buildkit.method", stage: "stream", describe: "a /grpc method dockgate does not relay (Solve, Status, ListWorkers, Info, DiskUsage, Health are; Prune with the BuildPrune grant and no ownership; Session and build history never)" },
  { id: "buildkit.decode", stage: "stream", describe: "a /grpc request dockgate cannot decode, or with a field its schema does not know (compressed, truncated, SourcePolicy, ...)" },
  { id: "buildkit.entitlement", stage: "stream", describe: "a Solve asking for security.insecure or device (never allowed) or an unknown entitlement, or raw LLB exec ops in insecure mode or with CDI devices" },
  { id: "buildkit.llb", stage: "stream", describe: "raw LLB with a source scheme dockgate does not know (docker-image, git, http(s), local, oci-layout are known) or an op field it does not know" },
  { id: "buildkit.frontend-attr", stage: "stream", describe: "a Solve frontend attribute dockgate does not know, a contextkey other than context, or a named context of a source type it does not know (docker-image, local, input, oci-layout are known)" },
  { id: "buildkit.cache", stage: "stream", describe: "a cache import or export type other than inline, local, registry (registry exports need images:push)" },
  { id: "http2.native", stage: "http", describe: "HTTP/2 with prior knowledge on the API socket: answered with HTTP_1_1_REQUIRED so clients fall back to HTTP/1.1 (BuildKit: POST /grpc)" },
  { id: "images.fetch-url", stage: "inspect", needs: "rules.fetchUrls", describe: "ImageCreate fromSrc=<URL> (the daemon downloads it) not under a fetchUrls prefix; fromSrc=- (upload) is allowed" },
  { id: "networks.driver", stage: "inspect", needs: "rules.networkDrivers", describe: "NetworkCreate with a driver not in networkDrivers (macvlan/ipvlan attach to host interfaces) or a non-default IPAM driver" },
  { id: "networks.options", stage: "inspect", needs: "rules.networkOptions", describe: "NetworkCreate Options key not in networkOptions (e.g. com.docker.network.bridge.name can take over a host bridge)" },
  { id: "plugins.manage", stage: "inspect", needs: "rules.plugins", describe: "installing, upgrading, creating, configuring or enabling plugins (they run with the privileges they declare)" },
  { id: "services.plugin", stage: "inspect", needs: "rules.plugins", describe: "a service whose TaskTemplate runs a plugin (Runtime=plugin / PluginSpec) or is a NetworkAttachmentSpec" },
  { id: "images.load-archive", stage: "inspect", needs: "rules.images", describe: "a docker load (POST /images/load) archive under images.allow that dockgate cannot read the way the daemon does: bzip2 or xz compression, a gzip or zstd body that does not decompress, a manifest.json, repositories or index.json that is not a regular file of at most 1 MiB of JSON, a symbolic or hard link at such a path or an entry below an archived symlink, tar features not modelled (global PAX headers, GNU sparse files, other entry types), a bad checksum, a truncated archive or data after its end" },
  { id: "images.local-registry", stage: "inspect", needs: "rules.images", describe: "a pull, push, login, search or /distribution request (fromImage, the image name, serveraddress, X-Registry-Auth's serveraddress, the search term), or an image a BuildKit build fetches or pushes, whose registry is on a loopback, link-local or unspecified address or named localhost: the daemon would connect from the host to the host's own services or metadata endpoints (images.localRegistries)" },
  { id: "images.reference", stage: "inspect", needs: "rules.images", describe: "a pull, push or /distribution of an image, a login or search on a registry, the image a container create runs (Image, an image mount: the name written, or for an id the image's own RepoTags / RepoDigests), a repository tag a docker load archive would create (manifest.json RepoTags, repositories, index.json image names), a build's tag (t=, a Solve exporter's name), or an image a build fetches (Dockerfile FROM / COPY --from / RUN --mount from= of BuildKit and classic builds, LLB docker-image sources, named contexts, registry caches), that images.allow does not list (registry, registry/path, registry/path/*, optionally @sha256:<digest>)" },
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
