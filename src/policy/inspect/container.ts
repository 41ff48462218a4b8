// ContainerCreate, ContainerUpdate, ContainerStart, and the HostConfig / Config checks shared with
// services, exec, commit and import.
//
// The create body is moby's ContainerConfigWrapper / CreateRequest: Config fields at the top level,
// `HostConfig`, `NetworkingConfig`. Daemons that still embed *HostConfig in the wrapper honour
// HostConfig fields written at the top level when `HostConfig` is absent or null (and merge a few,
// such as VolumeDriver, even when it is present: runconfig getHostConfig). So HostConfig checks run
// on the top level and on `HostConfig`, and either one violating denies.

import { GoObject, type GoValue } from "../gojson.js";
import {
  DEFAULT_CAPABILITIES,
  normalizeCapability,
  normalizeSecurityOpt,
  type NamespaceName,
  type RuleSettings,
} from "../rules.js";
import type { RequestView } from "../verdict.js";
import type { InspectContext, Inspection } from "./index.js";
import {
  at,
  bodyObject,
  deny,
  field,
  formBodyViolation,
  guard,
  isProcWorkdir,
  mapKey,
  optArray,
  optBool,
  optNumber,
  optObject,
  optString,
  optStringMap,
  optStrings,
  queryValues,
  quote,
  typeError,
} from "./util.js";
import { checkHostPath } from "./hostpath.js";
import { cleanAbsolute } from "../../api/engine.js";
import { checkDriverOptions, checkVolumeDriver } from "./volume.js";

export { checkHostPath, PROTECTED_HOST_PATHS } from "./hostpath.js";

// ---------------------------------------------------------------------------------------------
// Binds and Mounts

/** A plain volume name (the local driver's rule, but a single character is accepted). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkVolumeName(name: string, path: string): void {
  if (!VOLUME_NAME.test(name)) {
    deny("containers.volume-name", path, `${path}: ${quote(name)} is neither an absolute host path nor a volume name`);
  }
}

function checkPropagation(prop: string, path: string): void {
  if (prop === "shared" || prop === "rshared") {
    deny("containers.bind-propagation", path, `${path}: ${prop} mount propagation is not allowed (mounts would propagate to the host)`);
  }
}

/** HostConfig.Binds: `src:dst[:mode]`, `name:dst[:mode]`, or `dst` (anonymous volume). */
export function checkBinds(binds: string[], path: string, rules: RuleSettings): void {
  for (let i = 0; i < binds.length; i++) {
    const spec = binds[i]!;
    const p = at(path, i);
    const parts = spec.split(":");
    if (spec === "" || parts[0] === "" || parts.length > 3) {
      deny("containers.bind-mounts", p, `${p}: invalid bind specification ${quote(spec)}`);
    }
    if (parts.length === 1) continue; // anonymous volume at a container path
    const src = parts[0]!;
    const mode = parts.length === 3 ? parts[2]!.split(",") : [];
    for (const m of mode) checkPropagation(m, p);
    if (src.charCodeAt(0) === 0x2f) checkHostPath(src, mode.includes("ro"), p, rules);
    else checkVolumeName(src, p);
  }
}

/**
 * HostConfig.Tmpfs options go through the daemon's MergeTmpfsOptions, which accepts every mount
 * flag; runc turns a tmpfs with `bind` / `rbind` into a bind mount of a path relative to the
 * bundle, and `remount` changes an existing mount. Plain tmpfs options are fine.
 */
function checkTmpfs(entries: ReadonlyArray<readonly [string, string]>, path: string): void {
  for (const [dest, opts] of entries) {
    for (const o of opts.split(",")) {
      const name = o.trim().toLowerCase();
      if (name === "bind" || name === "rbind" || name === "remount" || name === "move" || name === "rmove") {
        const p = mapKey(path, dest);
        deny("containers.tmpfs", p, `${p}: tmpfs option ${quote(o)} is not allowed`);
      }
    }
  }
}

const MOUNT_TYPES_OK: ReadonlySet<string> = new Set(["bind", "volume", "tmpfs", "image"]);

/** HostConfig.Mounts / a service's ContainerSpec.Mounts (mount.Mount). */
export function checkMounts(mounts: GoValue[], path: string, rules: RuleSettings): void {
  for (let i = 0; i < mounts.length; i++) {
    const m = mounts[i]!;
    const mp = at(path, i);
    if (m === null) continue; // a zero Mount: the daemon refuses its empty type
    if (!(m instanceof GoObject)) typeError(mp, "an object", m);
    const type = optString(m, "Type", mp);
    const source = optString(m, "Source", mp);
    const readOnly = optBool(m, "ReadOnly", mp);
    const bindOpts = optObject(m, "BindOptions", mp);
    let nonRecursiveRo = false;
    if (bindOpts.value) {
      const prop = optString(bindOpts.value, "Propagation", bindOpts.path);
      if (prop.value !== undefined) checkPropagation(prop.value, prop.path);
      nonRecursiveRo = optBool(bindOpts.value, "ReadOnlyNonRecursive", bindOpts.path).value === true;
    }
    // VolumeOptions are refused or dropped by the daemon on other types; inspect them wherever they are.
    const volOpts = optObject(m, "VolumeOptions", mp);
    if (volOpts.value) {
      const dc = optObject(volOpts.value, "DriverConfig", volOpts.path);
      if (dc.value) {
        const name = optString(dc.value, "Name", dc.path);
        checkVolumeDriver(name.value, name.path, rules);
        const opts = optStringMap(dc.value, "Options", dc.path);
        checkDriverOptions(name.value, opts.value, opts.path, rules);
      }
    }
    const t = type.value ?? "";
    if (!MOUNT_TYPES_OK.has(t)) {
      deny("containers.mount-type", type.path, `${type.path}: mount type ${quote(t)} is not allowed (bind, volume, tmpfs and image are)`);
    }
    const src = source.value ?? "";
    if (t === "bind") {
      checkHostPath(src, readOnly.value === true && !nonRecursiveRo, source.path, rules);
    } else if (t === "volume" && src !== "") {
      checkVolumeName(src, source.path);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Capabilities, sysctls, security options, log drivers

export function checkCapabilities(caps: string[], path: string, rules: RuleSettings): void {
  const all = rules.capAdd.includes("ALL");
  for (let i = 0; i < caps.length; i++) {
    const c = caps[i]!;
    const n = normalizeCapability(c);
    if (DEFAULT_CAPABILITIES.has(n) || all || rules.capAdd.includes(n)) continue;
    const p = at(path, i);
    deny("containers.capabilities", p, `${p}: capability ${quote(c)}${n !== c ? ` (${n})` : ""} is not allowed${rules.capAdd.length ? ` (allowed beyond the defaults: ${rules.capAdd.join(", ")})` : ""}`);
  }
}

function sysctlAllowed(name: string, rules: RuleSettings): boolean {
  const n = name.replaceAll("/", ".");
  for (const pat of rules.sysctls) {
    if (pat === n) return true;
    if (pat.endsWith("*") && n.startsWith(pat.slice(0, -1))) return true;
  }
  return false;
}

export function checkSysctls(entries: ReadonlyArray<readonly [string, string]>, path: string, rules: RuleSettings): void {
  for (const [k] of entries) {
    if (!sysctlAllowed(k, rules)) {
      const p = mapKey(path, k);
      deny("containers.sysctls", p, `${path}: sysctl ${quote(k)} is not allowed`);
    }
  }
}

const ENDPOINT_SYSCTLS = "com.docker.network.endpoint.sysctls";

/** An endpoint's DriverOpts: the endpoint sysctls option (`net.ipv4.conf.IFNAME.x=1,...`) is sysctls too. */
export function checkEndpointDriverOpts(ep: GoObject, prefix: string, rules: RuleSettings): void {
  const opts = optStringMap(ep, "DriverOpts", prefix);
  if (!opts.value) return;
  for (const [k, v] of opts.value) {
    if (k.toLowerCase() !== ENDPOINT_SYSCTLS) continue;
    for (const item of v.split(",")) {
      const name = item.split("=", 1)[0]!.trim();
      if (name === "" && item.trim() === "") continue;
      if (!sysctlAllowed(name, rules)) {
        const p = mapKey(opts.path, k);
        deny("containers.sysctls", p, `${p}: sysctl ${quote(name)} is not allowed`);
      }
    }
  }
}

const GO_BOOLS: ReadonlySet<string> = new Set(["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"]);
const GO_FALSE: ReadonlySet<string> = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Whether `opt` (as the daemon's parseSecurityOpt reads it) is allowed for this profile. */
export function securityOptAllowed(opt: string, rules: RuleSettings): boolean {
  if (opt === "no-new-privileges") return true;
  // Bare words the daemon reads: "disable" (label), "writable-cgroups" (= true).
  const n = opt === "disable" ? "label=disable" : opt === "writable-cgroups" ? "writable-cgroups=true" : normalizeSecurityOpt(opt);
  const eq = n.indexOf("=");
  const key = eq < 0 ? n : n.slice(0, eq);
  const value = eq < 0 ? "" : n.slice(eq + 1);
  if (eq >= 0) {
    if (key === "no-new-privileges" && GO_BOOLS.has(value)) return true;
    if (key === "writable-cgroups" && GO_FALSE.has(value)) return true;
    if (n === "seccomp=builtin" || n === "apparmor=docker-default") return true;
  }
  return rules.securityOpt.includes(n) || (eq >= 0 && rules.securityOpt.includes(`${key}=*`));
}

export function checkSecurityOpt(opts: string[], path: string, rules: RuleSettings): void {
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    if (securityOptAllowed(o, rules)) continue;
    const p = at(path, i);
    const inline = /^seccomp[=:]\s*\{/.test(o);
    deny("containers.security-opt", p, `${p}: security option ${inline ? "seccomp=<custom profile>" : quote(o)} is not allowed`);
  }
}

export function checkLogDriver(name: string | undefined, path: string, rules: RuleSettings): void {
  if (name === undefined || name === "" || rules.logDrivers.includes(name)) return;
  deny("containers.log-driver", path, `${path}: log driver ${quote(name)} is not allowed${rules.logDrivers.length ? ` (allowed: ${rules.logDrivers.join(", ")})` : ""}`);
}

export function checkWorkdir(dir: string | undefined, path: string): void {
  if (dir !== undefined && isProcWorkdir(dir)) {
    deny("containers.workdir", path, `${path}: working directory ${quote(dir)} under /proc is not allowed`);
  }
}

/**
 * Dockerfile instructions (ImageCommit / ImageCreate `changes`, Config.OnBuild): a WORKDIR under
 * /proc. The daemon joins the lines and parses them as a Dockerfile, with escapes, line
 * continuations and variable expansion; when WORKDIR appears, those are refused outright rather
 * than interpreted.
 */
export function checkInstructions(lines: string[], path: string): void {
  const joined = lines.join("\n");
  if (!/workdir/i.test(joined)) return;
  if (/[\\$`]/.test(joined)) {
    deny("containers.workdir", path, `${path}: a WORKDIR instruction with escapes, variables or line continuations is not allowed`);
  }
  for (const line of joined.split(/[\r\n]/)) {
    const m = /^\s*(?:onbuild\s+)?workdir(?:\s+(.*))?$/i.exec(line);
    if (!m) continue;
    const arg = (m[1] ?? "").trim().replace(/["']/g, "");
    if (isProcWorkdir(arg)) {
      deny("containers.workdir", path, `${path}: WORKDIR ${quote(arg)} under /proc is not allowed`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

interface NsSpec {
  field: string;
  ns: NamespaceName;
  /** Values that keep the container in its own namespace. */
  own: readonly string[];
  /** `container:<id>` joins are meaningful for this field. */
  join: boolean;
  /** Any other value names a network (NetworkMode). */
  named?: boolean;
  /** `host` is meaningful for this field. */
  host: boolean;
}

const NAMESPACE_FIELDS: readonly NsSpec[] = [
  { field: "NetworkMode", ns: "network", own: ["", "default", "bridge", "none"], join: true, named: true, host: true },
  { field: "PidMode", ns: "pid", own: [""], join: true, host: true },
  { field: "IpcMode", ns: "ipc", own: ["", "none", "private", "shareable"], join: true, host: true },
  { field: "UTSMode", ns: "uts", own: [""], join: true, host: true },
  { field: "UsernsMode", ns: "userns", own: [""], join: true, host: true },
  { field: "CgroupnsMode", ns: "cgroup", own: ["", "private"], join: false, host: true },
  { field: "Cgroup", ns: "cgroup", own: [""], join: true, host: false },
];

function checkNamespaces(hc: GoObject, prefix: string, rules: RuleSettings, ctx: InspectContext): void {
  for (const spec of NAMESPACE_FIELDS) {
    const f = optString(hc, spec.field, prefix);
    const v = f.value;
    if (v === undefined || spec.own.includes(v)) continue;
    const lower = v.toLowerCase();
    if (spec.ns === "network" && spec.host && ctx.hostNetwork.isHostRef(v)) {
      if (rules.hostNamespaces.includes("network")) continue;
      deny("containers.host-namespaces", f.path, `${f.path}=${quote(v)}: the host's network is not allowed`);
    }
    if (lower === "host" && spec.host) {
      if (rules.hostNamespaces.includes(spec.ns)) continue;
      deny("containers.host-namespaces", f.path, `${f.path}=${quote(v)}: sharing the host's ${spec.ns} namespace is not allowed`);
    }
    if (lower.startsWith("container:") && spec.join) {
      if (rules.namespaceJoins.includes(spec.ns)) continue;
      deny("containers.namespace-joins", f.path, `${f.path}=${quote(v)}: joining another container's ${spec.ns} namespace is not allowed`);
    }
    if (spec.named && lower !== "host" && !lower.startsWith("container:")) continue; // a network name or id
    deny("containers.namespace-mode", f.path, `${f.path}=${quote(v)} is not an allowed ${spec.ns} namespace mode`);
  }
}

// ---------------------------------------------------------------------------------------------
// HostConfig

function nonEmpty(v: GoValue[] | undefined): boolean {
  return v !== undefined && v.length > 0;
}

/**
 * Every HostConfig field that can reach the host. Also used for ContainerUpdate's UpdateConfig
 * (Resources + RestartPolicy at the top level): the fields it lacks are simply absent.
 */
export function checkHostConfig(hc: GoObject, prefix: string, rules: RuleSettings, ctx: InspectContext): void {
  const priv = optBool(hc, "Privileged", prefix);
  if (priv.value === true && !rules.allowPrivileged) {
    deny("containers.privileged", priv.path, `${priv.path}=true is not allowed (privileged containers have full access to the host)`);
  }

  const binds = optStrings(hc, "Binds", prefix);
  if (binds.value) checkBinds(binds.value, binds.path, rules);
  const mounts = optArray(hc, "Mounts", prefix);
  if (mounts.value) checkMounts(mounts.value, mounts.path, rules);
  const tmpfs = optStringMap(hc, "Tmpfs", prefix);
  if (tmpfs.value) checkTmpfs(tmpfs.value, tmpfs.path);
  const vd = optString(hc, "VolumeDriver", prefix);
  checkVolumeDriver(vd.value, vd.path, rules);
  const vf = optStrings(hc, "VolumesFrom", prefix);
  if (vf.value && vf.value.length > 0 && !rules.volumesFrom) {
    deny("containers.volumes-from", vf.path, `${vf.path}: mounting the volumes of another container (${quote(vf.value[0]!)}) is not allowed`);
  }

  const capAdd = optStrings(hc, "CapAdd", prefix, true);
  if (capAdd.value) checkCapabilities(capAdd.value, capAdd.path, rules);
  const caps = optStrings(hc, "Capabilities", prefix, true);
  if (caps.value) checkCapabilities(caps.value, caps.path, rules);

  if (!rules.devices) {
    const dev = optArray(hc, "Devices", prefix);
    if (nonEmpty(dev.value)) deny("containers.devices", dev.path, `${dev.path}: host devices are not allowed`);
    const rulesF = optStrings(hc, "DeviceCgroupRules", prefix);
    if (nonEmpty(rulesF.value)) deny("containers.devices", rulesF.path, `${rulesF.path}: device cgroup rules are not allowed`);
  }
  if (!rules.gpus) {
    const req = optArray(hc, "DeviceRequests", prefix);
    if (nonEmpty(req.value)) deny("containers.device-requests", req.path, `${req.path}: device requests (GPUs, CDI devices) are not allowed`);
  }

  checkNamespaces(hc, prefix, rules, ctx);
  checkBlkioPaths(hc, prefix);

  const sec = optStrings(hc, "SecurityOpt", prefix);
  if (sec.value) checkSecurityOpt(sec.value, sec.path, rules);
  if (!rules.systemPaths) {
    for (const name of ["MaskedPaths", "ReadonlyPaths"]) {
      const f = optArray(hc, name, prefix);
      if (f.value !== undefined) {
        deny("containers.system-paths", f.path, `${f.path}: overriding the masked / read-only system paths is not allowed (${f.value.length === 0 ? "[] unmasks them all" : "it replaces the defaults"})`);
      }
    }
  }
  const sysctls = optStringMap(hc, "Sysctls", prefix);
  if (sysctls.value) checkSysctls(sysctls.value, sysctls.path, rules);

  const cgp = optString(hc, "CgroupParent", prefix);
  if (cgp.value && !rules.cgroupParent) {
    deny("containers.cgroup-parent", cgp.path, `${cgp.path}=${quote(cgp.value)}: choosing the parent cgroup is not allowed`);
  }
  const rt = optString(hc, "Runtime", prefix);
  if (rt.value && !rules.runtimes.includes(rt.value)) {
    deny("containers.runtime", rt.path, `${rt.path}: runtime ${quote(rt.value)} is not allowed${rules.runtimes.length ? ` (allowed: ${rules.runtimes.join(", ")})` : ""}`);
  }
  if (!rules.oomOverrides) {
    const oom = optBool(hc, "OomKillDisable", prefix);
    if (oom.value === true) deny("containers.oom", oom.path, `${oom.path}=true: disabling the OOM killer is not allowed`);
    const adj = optNumber(hc, "OomScoreAdj", prefix);
    if (adj.value !== undefined && adj.value < 0) {
      deny("containers.oom", adj.path, `${adj.path}=${adj.value}: a negative OOM score adjustment is not allowed`);
    }
  }
  const log = optObject(hc, "LogConfig", prefix);
  if (log.value) {
    const t = optString(log.value, "Type", log.path);
    checkLogDriver(t.value, t.path, rules);
  }
  if (!rules.annotations) {
    const ann = optStringMap(hc, "Annotations", prefix);
    if (ann.value && ann.value.length > 0) {
      deny("containers.annotations", ann.path, `${ann.path}: runtime annotations are not allowed (${quote(ann.value[0]![0])})`);
    }
  }
  const iso = optString(hc, "Isolation", prefix);
  checkIsolation(iso.value, iso.path);
}

const BLKIO_DEVICE_FIELDS = ["BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"];

/** Blkio throttling entries name a host device the daemon stat()s: only paths under /dev. */
function checkBlkioPaths(hc: GoObject, prefix: string): void {
  for (const name of BLKIO_DEVICE_FIELDS) {
    const list = optArray(hc, name, prefix);
    if (!list.value) continue;
    for (let i = 0; i < list.value.length; i++) {
      const e = list.value[i]!;
      const p = at(list.path, i);
      if (e === null) continue;
      if (!(e instanceof GoObject)) typeError(p, "an object", e);
      const path = optString(e, "Path", p);
      const v = path.value ?? "";
      if (v.charCodeAt(0) !== 0x2f || !cleanAbsolute(v).startsWith("/dev/")) {
        deny("containers.blkio-path", path.path, `${path.path}: ${quote(v)} is not a device under /dev`);
      }
    }
  }
}

export function checkIsolation(v: string | undefined, path: string): void {
  if (v === undefined || v === "" || v.toLowerCase() === "default") return;
  deny("containers.isolation", path, `${path}=${quote(v)}: only the default isolation is allowed`);
}

/** Config fields (container.Config) that matter: WorkingDir and OnBuild. */
export function checkConfig(cfg: GoObject, prefix: string): void {
  const wd = optString(cfg, "WorkingDir", prefix);
  checkWorkdir(wd.value, wd.path);
  const ob = optStrings(cfg, "OnBuild", prefix);
  if (ob.value) checkInstructions(ob.value, ob.path);
}

/**
 * An endpoint (EndpointsConfig entry, NetworkConnect EndpointConfig): a NetworkID naming the host
 * network (the daemon prefers NetworkID over the map key for user-defined networks), and the
 * endpoint sysctls driver option.
 */
export function checkEndpoint(ep: GoObject, prefix: string, rules: RuleSettings, ctx: InspectContext): void {
  const id = optString(ep, "NetworkID", prefix);
  if (id.value !== undefined && ctx.hostNetwork.isHostRef(id.value) && !rules.hostNamespaces.includes("network")) {
    deny("containers.host-namespaces", id.path, `${id.path}=${quote(id.value)}: the host's network is not allowed`);
  }
  checkEndpointDriverOpts(ep, prefix, rules);
}

function checkNetworkingConfig(body: GoObject, rules: RuleSettings, ctx: InspectContext): void {
  const nc = optObject(body, "NetworkingConfig", "");
  if (!nc.value) return;
  const eps = optObject(nc.value, "EndpointsConfig", nc.path);
  if (!eps.value) return;
  for (const [name, ep] of eps.value.entries()) {
    const p = mapKey(eps.path, name);
    if (ctx.hostNetwork.isHostRef(name) && !rules.hostNamespaces.includes("network")) {
      deny("containers.host-namespaces", p, `${eps.path}: an endpoint on the host's network (${quote(name)}) is not allowed`);
    }
    if (ep === null) continue;
    if (!(ep instanceof GoObject)) typeError(p, "an object", ep);
    checkEndpoint(ep, p, rules, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Operations

export const containerCreate: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings, ctx: InspectContext) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (!o) return;
      const hc = field(o, "HostConfig", "");
      if (hc.value !== undefined && hc.value !== null) {
        if (!(hc.value instanceof GoObject)) typeError(hc.path, "an object", hc.value);
        checkHostConfig(hc.value, hc.path, rules, ctx);
      }
      // Top-level HostConfig fields (the embedded *HostConfig of older daemons' wrapper).
      checkHostConfig(o, "", rules, ctx);
      checkConfig(o, "");
      checkNetworkingConfig(o, rules, ctx);
    });
  },
};

export const containerUpdate: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings, ctx: InspectContext) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (o) checkHostConfig(o, "", rules, ctx);
    });
  },
};

export const containerStart: Inspection = {
  query(req: RequestView) {
    const form = formBodyViolation(req);
    if (form) return form;
    for (const name of ["checkpoint", "checkpoint-dir"]) {
      for (const v of queryValues(req, name)) {
        if (v !== "") {
          return { rule: "containers.checkpoint", field: name, detail: `${name}=${quote(v)}: starting from a checkpoint is not allowed` };
        }
      }
    }
    return null;
  },
};
