// Named groups of API operations, for profiles' `allow:` and `deny:` lists.
//
// Operation ids are the Docker Engine API spec's (swagger v1.56), plus `Grpc` for BuildKit's
// `/grpc` endpoint, which the spec does not describe. Every operation belongs to at least one
// group (test/unit/groups.test.ts checks this against the spec), so a profile can be written with
// groups alone; operation ids can be listed too for finer grants.
//
// Groups are deliberately narrow: nothing that reads container files, streams a container's
// stdio, runs commands in it, or moves whole images in or out is part of a `:read` grant.

import { KNOWN_OPERATIONS } from "../api/routes.js";

/** Every operation dockgate knows: the spec's, plus `Grpc` (from the route table). */
export const OPERATIONS: readonly string[] = Object.freeze([...KNOWN_OPERATIONS]);

export interface GroupInfo {
  operations: readonly string[];
  /** One line for `dockgate check` and the README. */
  describe: string;
}

function g(describe: string, ...operations: string[]): GroupInfo {
  return Object.freeze({ describe, operations: Object.freeze(operations) });
}

const containersRead = [
  "ContainerList", "ContainerInspect", "ContainerTop", "ContainerLogs", "ContainerChanges",
  "ContainerStats",
];
const containersWrite = [
  "ContainerCreate", "ContainerStart", "ContainerStop", "ContainerRestart", "ContainerKill",
  "ContainerUpdate", "ContainerRename", "ContainerPause", "ContainerUnpause", "ContainerDelete",
  "ContainerPrune", "ContainerResize", "ContainerWait",
];
const pluginsRead = ["PluginList", "PluginInspect", "GetPluginPrivileges"];
const pluginsWrite = [
  "PluginPull", "PluginDelete", "PluginEnable", "PluginDisable", "PluginUpgrade", "PluginCreate",
  "PluginPush", "PluginSet",
];
const swarmRead = ["SwarmInspect"];
const swarmWrite = [
  "SwarmInit", "SwarmJoin", "SwarmLeave", "SwarmUpdate", "SwarmUnlockkey", "SwarmUnlock",
];
const servicesRead = ["ServiceList", "ServiceInspect", "ServiceLogs"];
const servicesWrite = ["ServiceCreate", "ServiceUpdate", "ServiceDelete"];
const nodesRead = ["NodeList", "NodeInspect"];
const nodesWrite = ["NodeUpdate", "NodeDelete"];
const secretsRead = ["SecretList", "SecretInspect"];
const secretsWrite = ["SecretCreate", "SecretUpdate", "SecretDelete"];
const configsRead = ["ConfigList", "ConfigInspect"];
const configsWrite = ["ConfigCreate", "ConfigUpdate", "ConfigDelete"];

/** Group name → operations. Names are `resource` or `resource:access`. */
export const GROUPS: ReadonlyMap<string, GroupInfo> = new Map<string, GroupInfo>([
  ["ping", g("GET and HEAD /_ping: every client's connection check", "SystemPing", "SystemPingHead")],
  ["system:read", g("/version, /info, /system/df (df lists every container, image and volume)",
    "SystemVersion", "SystemInfo", "SystemDataUsage")],
  ["events", g("GET /events: the daemon's event stream", "SystemEvents")],
  ["auth", g("POST /auth: check registry credentials", "SystemAuth")],

  ["containers:read", g("list, inspect (includes each container's environment), top, logs, changes, stats",
    ...containersRead)],
  ["containers:write", g("create, start, stop, restart, kill, update, rename, pause, unpause, remove, prune, resize, wait (create is inspected by the profile's rules)",
    ...containersWrite)],
  ["containers:files", g("read and write files inside containers: docker cp, docker export",
    "ContainerArchiveInfo", "ContainerArchive", "PutContainerArchive", "ContainerExport")],
  ["containers:attach", g("attach to a container's stdin/stdout/stderr (docker attach, docker run without -d)",
    "ContainerAttach", "ContainerAttachWebsocket")],
  ["exec", g("run commands in running containers: docker exec",
    "ContainerExec", "ExecStart", "ExecResize", "ExecInspect")],

  ["images:read", g("list, inspect, history, attestations; search the registry",
    "ImageList", "ImageInspect", "ImageHistory", "ImageAttestations", "ImageSearch")],
  ["images:write", g("pull (or import), tag, remove, prune; commit a container to an image",
    "ImageCreate", "ImageTag", "ImageDelete", "ImagePrune", "ImageCommit")],
  ["images:transfer", g("docker save and docker load: whole images as tar streams (a load's tags are checked under images.allow)",
    "ImageGet", "ImageGetAll", "ImageLoad")],
  ["images:push", g("push images to a registry", "ImagePush")],
  ["distribution", g("GET /distribution/{name}/json: ask the registry for an image's manifest",
    "DistributionInspect")],

  ["build", g("POST /build (classic builder, and BuildKit builds with `buildkit`) and build cache prune",
    "ImageBuild", "BuildPrune")],
  ["buildkit", g("BuildKit: the client's /session and /grpc, relayed call by call and inspected (Dockerfile read, Solve decoded, builds bound to their own session)",
    "Session", "Grpc")],

  ["networks:read", g("list and inspect networks", "NetworkList", "NetworkInspect")],
  ["networks:write", g("create, remove, connect, disconnect, prune networks",
    "NetworkCreate", "NetworkDelete", "NetworkConnect", "NetworkDisconnect", "NetworkPrune")],
  ["volumes:read", g("list and inspect volumes", "VolumeList", "VolumeInspect")],
  ["volumes:write", g("create, update (cluster volumes), remove, prune volumes",
    "VolumeCreate", "VolumeUpdate", "VolumeDelete", "VolumePrune")],

  ["plugins:read", g("list and inspect plugins, read a plugin's requested privileges", ...pluginsRead)],
  ["plugins:write", g("install, configure, enable, upgrade, push, remove plugins: plugins run as root on the host",
    ...pluginsWrite)],
  ["plugins", g("plugins:read + plugins:write", ...pluginsRead, ...pluginsWrite)],

  ["swarm:read", g("GET /swarm: includes the worker and manager join tokens", ...swarmRead)],
  ["swarm:write", g("init, join, leave, update, unlock, read the unlock key", ...swarmWrite)],
  ["swarm", g("swarm:read + swarm:write", ...swarmRead, ...swarmWrite)],
  ["services:read", g("list and inspect services, service logs", ...servicesRead)],
  ["services:write", g("create, update, remove services (task templates are inspected like container create)", ...servicesWrite)],
  ["services", g("services:read + services:write", ...servicesRead, ...servicesWrite)],
  ["nodes:read", g("list and inspect swarm nodes", ...nodesRead)],
  ["nodes:write", g("update and remove swarm nodes", ...nodesWrite)],
  ["nodes", g("nodes:read + nodes:write", ...nodesRead, ...nodesWrite)],
  ["tasks", g("list and inspect swarm tasks, task logs", "TaskList", "TaskInspect", "TaskLogs")],
  ["secrets:read", g("list and inspect secrets (metadata only: the daemon never returns secret data)", ...secretsRead)],
  ["secrets:write", g("create, update, remove secrets", ...secretsWrite)],
  ["secrets", g("secrets:read + secrets:write", ...secretsRead, ...secretsWrite)],
  ["configs:read", g("list and inspect swarm configs (includes their data)", ...configsRead)],
  ["configs:write", g("create, update, remove swarm configs", ...configsWrite)],
  ["configs", g("configs:read + configs:write", ...configsRead, ...configsWrite)],
]);

const OPERATION_SET: ReadonlySet<string> = KNOWN_OPERATIONS;

/**
 * Names people reach for (Go SDK / CLI names) → the spec's operation id. Only used to suggest
 * the right id in an error: a config must use the spec's ids.
 */
export const OPERATION_ALIASES: ReadonlyMap<string, string> = new Map([
  ["ExecCreate", "ContainerExec"],
  ["ContainerExecCreate", "ContainerExec"],
  ["ContainerExecStart", "ExecStart"],
  ["ContainerExecInspect", "ExecInspect"],
  ["ContainerExecResize", "ExecResize"],
  ["ContainerExecAttach", "ExecStart"],
  ["ContainerRemove", "ContainerDelete"],
  ["ContainerStatPath", "ContainerArchiveInfo"],
  ["CopyFromContainer", "ContainerArchive"],
  ["CopyToContainer", "PutContainerArchive"],
  ["ContainerCommit", "ImageCommit"],
  ["ContainerLs", "ContainerList"],
  ["ContainersPrune", "ContainerPrune"],
  ["ImagePull", "ImageCreate"],
  ["ImageImport", "ImageCreate"],
  ["ImageRemove", "ImageDelete"],
  ["ImageSave", "ImageGet"],
  ["ImagesPrune", "ImagePrune"],
  ["BuildCachePrune", "BuildPrune"],
  ["Ping", "SystemPing"],
  ["ServerVersion", "SystemVersion"],
  ["Info", "SystemInfo"],
  ["Events", "SystemEvents"],
  ["DiskUsage", "SystemDataUsage"],
  ["RegistryLogin", "SystemAuth"],
  ["NetworkRemove", "NetworkDelete"],
  ["NetworksPrune", "NetworkPrune"],
  ["VolumeRemove", "VolumeDelete"],
  ["VolumesPrune", "VolumePrune"],
  ["PluginInstall", "PluginPull"],
  ["PluginRemove", "PluginDelete"],
  ["ServiceRemove", "ServiceDelete"],
  ["NodeRemove", "NodeDelete"],
  ["SecretRemove", "SecretDelete"],
  ["ConfigRemove", "ConfigDelete"],
  ["SwarmGetUnlockKey", "SwarmUnlockkey"],
  ["SwarmUnlockKey", "SwarmUnlockkey"],
  ["BuildkitGrpc", "Grpc"],
]);

export function isOperation(name: string): boolean {
  return OPERATION_SET.has(name);
}

/** Operations a group or an operation id stands for; undefined when it is neither. */
export function expandGrant(name: string): readonly string[] | undefined {
  const group = GROUPS.get(name);
  if (group) return group.operations;
  if (OPERATION_SET.has(name)) return [name];
  return undefined;
}

/** Groups an operation belongs to, for `explain` output. */
export function groupsOf(operation: string): string[] {
  const out: string[] = [];
  for (const [name, info] of GROUPS) if (info.operations.includes(operation)) out.push(name);
  return out;
}

// A group naming an operation the route table does not know is a bug here, not a config error.
for (const [name, info] of GROUPS) {
  for (const op of info.operations) {
    if (!OPERATION_SET.has(op)) throw new Error(`groups.ts: group ${name} names unknown operation ${op}`);
  }
}
