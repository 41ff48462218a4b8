// Hardening (a profile's `mutate:`): settings forced onto every container the profile creates, and
// the resource maxima that ContainerUpdate may not raise again.
//
// The create body is moby's ContainerConfigWrapper: Config fields at the top level, `HostConfig`,
// `NetworkingConfig`. Older daemons (20.10, the test daemon, among them; the embedding was removed
// in 2024, moby/moby#48007) also embed *HostConfig in the wrapper (runconfig getHostConfig):
//
//   * `HostConfig` absent or null: the HostConfig fields written at the top level are the
//     container's HostConfig;
//   * `HostConfig` present: it is used, but a top-level Memory, MemorySwap, CpuShares, CpusetCpus or
//     VolumeDriver still wins where HostConfig's own is zero;
//   * the wrapper's own `Cpuset` becomes CpusetCpus where that is empty.
//
// Newer daemons (container.CreateRequest) read `HostConfig` only. Hardening therefore rewrites the
// body into one shape that every daemon reads the same way: the effective HostConfig, computed as
// the old daemons do, always as a `HostConfig` object, and no HostConfig field (nor `Cpuset`) left
// at the top level. Fields are set under the client's own key spelling (GoObject.set), so the result
// never has two keys Go would decode into the same field. The input value is not modified.
//
// Decisions (README "Hardening"):
//   * memory / cpus / pids: the default is set when the client sets none (absent, null or 0); a max
//     without a default is also the default (an unset limit is unlimited, which is above any max).
//     Above max is denied, and so is an explicit "unlimited" (negative; PidsLimit 0 on update).
//     With a memory max, MemorySwap (memory plus swap, as the daemon counts it) is bounded too: at
//     most twice the max, which is what the daemon itself gives a container at the max that sets
//     no swap (adaptContainerSettings: MemorySwap = 2 × Memory); any negative value (the daemon's
//     -1, unlimited swap; it sets no swap limit for other negatives either) is denied. 0 leaves the
//     daemon's default. A MemorySwap below Memory the daemon refuses itself.
//     CPU limits given as CpuQuota/CpuPeriod count as CpuQuota/CpuPeriod CPUs; a CpuQuota of -1 is
//     unlimited. When the client set CpuPeriod (which the daemon refuses together with NanoCpus),
//     the CPU default is applied as CpuQuota instead.
//   * noNewPrivileges: every no-new-privileges entry of the client's SecurityOpt is removed (the
//     daemon lets the last one win, so `no-new-privileges=false` would undo ours) and a plain
//     `no-new-privileges` is appended.
//   * dropAllCapabilities: CapDrop = ["ALL"]; CapAdd and the old exact-set `Capabilities` keep only
//     what rules.capAdd lists (Docker's default capabilities too are gone unless listed there).
//     Privileged=true (all capabilities whatever CapDrop says) is denied.
//   * user: the client's User is kept only when it is a numeric uid other than 0 (optionally with a
//     group that is not root/0); anything else becomes the forced user. A user *name* is looked up
//     in the image's /etc/passwd, which any image can make uid 0, so names count as root. GroupAdd
//     entries naming the root group are removed.
//   * network: NetworkMode "", "default" or "bridge" (the daemon's default) becomes the forced
//     network; the forced network itself and "none" (no network at all) are kept; any other mode
//     (host, container:<id>, another network) is denied rather than silently replaced, so the
//     client learns why its network is not there. NetworkingConfig.EndpointsConfig may only name the
//     forced network: a "default"/"bridge" entry is moved to it, any other is denied (the daemon
//     would connect the container to every network listed there).
//   * labels: set in Config.Labels, replacing a client label of the same key, or of a key differing
//     only in case (a JSON object dockgate forwards never holds two keys that fold equal).

import { type HardeningConfig, NO_HARDENING } from "../config/types.js";
import { foldKey, GoJsonError, GoObject, type GoValue } from "./gojson.js";
import type { Violation } from "./inspect/index.js";
import { Deny, deny, mapKey, quote, sub, typeError } from "./inspect/util.js";
import { normalizeCapability, type RuleSettings } from "./rules.js";

export type HardenResult = { ok: true; body: GoValue } | { ok: false; violation: Violation };

/** Hardening that forces nothing (the config's default, src/config/types.ts), for the engine. */
export { NO_HARDENING };

/**
 * HostConfig's JSON fields (container.HostConfig with its embedded Resources), every API version
 * from 1.24 on. At the top level of a create body they are the embedded *HostConfig of old daemons.
 */
export const HOST_CONFIG_FIELDS: readonly string[] = Object.freeze([
  // Resources
  "CpuShares", "Memory", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
  "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
  "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
  "DeviceRequests", "DiskQuota", "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap",
  "MemorySwappiness", "NanoCpus", "OomKillDisable", "Init", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent",
  "IOMaximumIOps", "IOMaximumBandwidth",
  // HostConfig
  "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
  "VolumeDriver", "VolumesFrom", "Mounts", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "Capabilities",
  "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links",
  "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt",
  "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation", "MaskedPaths", "ReadonlyPaths",
]);

/** Top-level fields old daemons merge into a present HostConfig where its own value is zero. */
const MERGED_FIELDS: ReadonlyArray<readonly [string, "int" | "string"]> = [
  ["Memory", "int"], ["MemorySwap", "int"], ["CpuShares", "int"], ["CpusetCpus", "string"], ["VolumeDriver", "string"],
];

/** The daemon's CFS period when none is given (100 ms, in µs), and its smallest quota (1 ms). */
const DEFAULT_CPU_PERIOD = 100_000;
const MIN_CPU_QUOTA = 1_000;
/** moby/sys/user accepts uids and gids up to 2^31-1. */
const MAX_ID = 2_147_483_647;

// ---------------------------------------------------------------------------------------------
// Create

/**
 * Rewrites a ContainerCreate body (as parsed by parseGoJson; undefined or null for none) so that
 * the container gets the profile's hardening whatever shape the client used, or returns the
 * violation that denies the request. Run it after the create inspection passed; forward
 * `toJson(result.body)`.
 */
export function hardenContainerCreate(body: GoValue | undefined, h: HardeningConfig, rules: RuleSettings): HardenResult {
  try {
    return { ok: true, body: hardenCreate(body, h, rules) };
  } catch (err) {
    const v = asViolation(err);
    if (v) return { ok: false, violation: v };
    throw err;
  }
}

function asViolation(err: unknown): Violation | undefined {
  if (err instanceof Deny) return err.violation;
  if (err instanceof GoJsonError) {
    return { rule: "hardening.body", field: "", detail: `the request body cannot be hardened unambiguously: ${err.message}` };
  }
  return undefined;
}

/** Where each HostConfig field of the rewritten body came from, for messages in the client's spelling. */
class HostConfigView {
  readonly hc: GoObject;
  readonly #prefix: string;
  readonly #moved = new Map<string, string>();

  constructor(hc: GoObject, prefix: string) {
    this.hc = hc;
    this.#prefix = prefix;
  }

  movedFrom(field: string, topKey: string): void {
    this.#moved.set(foldKey(field), topKey);
  }

  path(field: string): string {
    return this.#moved.get(foldKey(field)) ?? sub(this.#prefix, this.hc.keyOf(field) ?? field);
  }

  get(field: string): GoValue | undefined {
    return this.hc.get(field);
  }

  set(field: string, value: GoValue): void {
    this.hc.set(field, value);
  }
}

function hardenCreate(body: GoValue | undefined, h: HardeningConfig, rules: RuleSettings): GoObject {
  if (body !== undefined && body !== null && !(body instanceof GoObject)) typeError("body", "a JSON object", body);
  const out = new GoObject(body instanceof GoObject ? body.entries() : []);

  // 1. The effective HostConfig, as a daemon with the embedded *HostConfig computes it.
  const hcKey = out.keyOf("HostConfig") ?? "HostConfig";
  const inner = out.get("HostConfig");
  let view: HostConfigView;
  if (inner !== undefined && inner !== null) {
    if (!(inner instanceof GoObject)) typeError(hcKey, "an object", inner);
    view = new HostConfigView(new GoObject(inner.entries()), hcKey);
    for (const [name, kind] of MERGED_FIELDS) {
      const key = out.keyOf(name);
      if (key === undefined) continue;
      const top = out.get(name)!;
      if (isZero(top, key, kind)) continue;
      const cur = view.get(name);
      if (cur !== undefined && !isZero(cur, view.path(name), kind)) continue;
      view.set(name, top);
      view.movedFrom(name, key);
    }
  } else {
    view = new HostConfigView(new GoObject(), hcKey);
    for (const name of HOST_CONFIG_FIELDS) {
      const key = out.keyOf(name);
      if (key === undefined) continue;
      view.hc.set(key, out.get(name)!);
      view.movedFrom(name, key);
    }
  }
  const cpusetKey = out.keyOf("Cpuset");
  if (cpusetKey !== undefined) {
    const cpuset = out.get("Cpuset")!;
    if (!isZero(cpuset, cpusetKey, "string")) {
      const cur = view.get("CpusetCpus");
      if (cur === undefined || isZero(cur, view.path("CpusetCpus"), "string")) {
        view.set("CpusetCpus", cpuset);
        view.movedFrom("CpusetCpus", cpusetKey);
      }
    }
    out.delete("Cpuset");
  }
  for (const name of HOST_CONFIG_FIELDS) out.delete(name);

  // 2. The hardening itself.
  applyLabels(out, h);
  if (h.user !== undefined) applyUser(out, view, h.user);
  if (h.noNewPrivileges) applyNoNewPrivileges(view);
  if (h.dropAllCapabilities) applyDropAll(view, rules);
  applyLimit(view, "Memory", h.memory, "hardening.memory", bytes);
  if (h.memory?.max !== undefined) checkSwap(view, h.memory.max);
  applyLimit(view, "PidsLimit", h.pids, "hardening.pids", String);
  if (h.nanoCpus) applyCpus(view, h.nanoCpus);
  if (h.readOnlyRootfs) view.set("ReadonlyRootfs", true);
  if (h.network !== undefined) applyNetwork(out, view, h.network);

  out.set("HostConfig", view.hc);
  return out;
}

/** Go's zero value for a merged field (null decodes to nothing, i.e. zero); wrong types are refused. */
function isZero(v: GoValue, path: string, kind: "int" | "string"): boolean {
  if (v === null) return true;
  if (kind === "int") {
    if (typeof v !== "number" || !Number.isInteger(v)) typeError(path, "an integer", v);
    return v === 0;
  }
  if (typeof v !== "string") typeError(path, "a string", v);
  return v === "";
}

function applyLabels(out: GoObject, h: HardeningConfig): void {
  const forced = Object.entries(h.labels);
  if (forced.length === 0) return;
  const key = out.keyOf("Labels") ?? "Labels";
  const cur = out.get("Labels");
  let entries: Array<[string, GoValue]> = [];
  if (cur !== undefined && cur !== null) {
    if (!(cur instanceof GoObject)) typeError(key, "an object of strings", cur);
    const folds = new Set(forced.map(([k]) => foldKey(k)));
    entries = cur.entries().filter(([k]) => !folds.has(foldKey(k)));
  }
  const labels = new GoObject(entries);
  for (const [k, v] of forced) labels.set(k, v);
  out.set("Labels", labels);
}

/** A uid (or uid:gid) that is certainly not root: decimal, no sign or leading zero, not 0. */
const SAFE_USER = /^([1-9][0-9]{0,9})(?::(.*))?$/;

/** A group that is root: `root`, or a number Go's strconv.Atoi reads as 0 (`0`, `00`, `+0`, `-0`). */
function isRootGroup(g: string): boolean {
  return g === "root" || /^[+-]?0+$/.test(g);
}

/** Whether the client's User may stay: a numeric non-zero uid, and a group (if any) that is not root. */
export function isSafeUser(user: string): boolean {
  const m = SAFE_USER.exec(user);
  if (!m || Number(m[1]) > MAX_ID) return false;
  const group = m[2];
  if (group === undefined) return true;
  return group !== "" && !isRootGroup(group);
}

function applyUser(out: GoObject, view: HostConfigView, forced: string): void {
  const key = out.keyOf("User") ?? "User";
  const cur = out.get("User");
  if (cur !== undefined && cur !== null && typeof cur !== "string") typeError(key, "a string", cur);
  const u = cur ?? "";
  if (u !== forced && !isSafeUser(u)) out.set("User", forced);
  // Supplementary groups: the root group is not added back.
  const ga = view.get("GroupAdd");
  if (ga === undefined || ga === null) return;
  const path = view.path("GroupAdd");
  if (!Array.isArray(ga)) typeError(path, "a list of strings", ga);
  const kept: GoValue[] = [];
  for (let i = 0; i < ga.length; i++) {
    const g = ga[i]!;
    if (g !== null && typeof g !== "string") typeError(`${path}[${i}]`, "a string", g);
    if (g !== null && isRootGroup(g)) continue;
    kept.push(g);
  }
  if (kept.length !== ga.length) view.set("GroupAdd", kept);
}

/** A SecurityOpt entry the daemon reads as a no-new-privileges setting (daemon parseSecurityOpt). */
export function isNoNewPrivilegesOpt(opt: string): boolean {
  if (opt === "no-new-privileges") return true;
  const sep = opt.includes("=") ? "=" : opt.includes(":") ? ":" : undefined;
  return sep !== undefined && opt.slice(0, opt.indexOf(sep)) === "no-new-privileges";
}

/** A `[]string` field (null elements are Go's ""), or undefined when absent/null. */
function stringList(view: HostConfigView, field: string, strSlice: boolean): string[] | undefined {
  const v = view.get(field);
  if (v === undefined || v === null) return undefined;
  const path = view.path(field);
  if (strSlice && typeof v === "string") return [v];
  if (!Array.isArray(v)) typeError(path, "a list of strings", v);
  return v.map((s, i) => {
    if (s === null) return "";
    if (typeof s !== "string") typeError(`${path}[${i}]`, "a string", s);
    return s;
  });
}

function applyNoNewPrivileges(view: HostConfigView): void {
  const opts = (stringList(view, "SecurityOpt", false) ?? []).filter((o) => !isNoNewPrivilegesOpt(o));
  opts.push("no-new-privileges");
  view.set("SecurityOpt", opts);
}

function applyDropAll(view: HostConfigView, rules: RuleSettings): void {
  const priv = view.get("Privileged");
  if (priv !== undefined && priv !== null && typeof priv !== "boolean") typeError(view.path("Privileged"), "a boolean", priv);
  if (priv === true) {
    const p = view.path("Privileged");
    deny("hardening.capabilities", p, `${p}=true is not allowed: this profile drops all capabilities, and a privileged container has every one`);
  }
  const allowed = (c: string) => rules.capAdd.includes("ALL") || rules.capAdd.includes(normalizeCapability(c));
  const add = stringList(view, "CapAdd", true);
  if (add !== undefined) view.set("CapAdd", add.filter(allowed));
  view.set("CapDrop", ["ALL"]);
  // API 1.40's exact capability set (replaces the defaults, CapAdd and CapDrop when non-null).
  const caps = stringList(view, "Capabilities", false);
  if (caps !== undefined) view.set("Capabilities", caps.filter(allowed));
}

/** An int64 field: undefined when absent or null. */
function intField(view: HostConfigView, field: string): number | undefined {
  const v = view.get(field);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) typeError(view.path(field), "an integer", v);
  return v;
}

type Bounds = { default?: number; max?: number } | undefined;

/**
 * Memory / PidsLimit on create: absent, null or 0 → the default (or max); negative (unlimited) → denied
 * under a max; above max → denied.
 */
function applyLimit(view: HostConfigView, field: string, b: Bounds, rule: string, unit: (n: number) => string): void {
  if (!b) return;
  const def = b.default ?? b.max;
  const v = intField(view, field);
  if (v === undefined || v === 0) {
    if (def !== undefined) view.set(field, def);
    return;
  }
  checkMax(v, view.path(field), b.max, rule, unit);
}

/** With a memory maximum, swap is bounded too (see the header): absent, null or 0 is the daemon's default. */
function checkSwap(view: HostConfigView, max: number): void {
  const path = view.path("MemorySwap");
  const detail = swapDetail(intField(view, "MemorySwap") ?? 0, path, max);
  if (detail !== undefined) deny("hardening.memory", path, detail);
}

/** Why a MemorySwap (or the build's memswap) of `swap` is refused under memory max `max`, or undefined. */
function swapDetail(swap: number, path: string, max: number): string | undefined {
  if (swap < 0) return `${path}=${swap} (unlimited swap) is not allowed when this profile limits memory`;
  if (swap > 2 * max) {
    return `${path}=${swap} (${bytes(swap)}) is above this profile's maximum for memory plus swap of ${2 * max} (${bytes(2 * max)}, twice its memory maximum)`;
  }
  return undefined;
}

function checkMax(v: number, path: string, max: number | undefined, rule: string, unit: (n: number) => string): void {
  if (max === undefined) return;
  if (v < 0) deny(rule, path, `${path}=${v} (unlimited) is not allowed: this profile's maximum is ${max} (${unit(max)})`);
  if (v > max) deny(rule, path, `${path}=${v} (${unit(v)}) is above this profile's maximum of ${max} (${unit(max)})`);
}

function applyCpus(view: HostConfigView, b: NonNullable<Bounds>): void {
  const def = b.default ?? b.max;
  const max = b.max;
  const n = intField(view, "NanoCpus") ?? 0;
  const q = intField(view, "CpuQuota") ?? 0;
  const p = intField(view, "CpuPeriod") ?? 0;
  if (n !== 0) checkMax(n, view.path("NanoCpus"), max, "hardening.cpus", cpus);
  if (q !== 0) checkQuota(q, p, view.path("CpuQuota"), view.path("CpuPeriod"), max);
  if (n !== 0 || q !== 0 || def === undefined) return;
  if (p === 0) {
    view.set("NanoCpus", def);
    return;
  }
  // The daemon refuses NanoCpus with a CpuPeriod: the default becomes a quota of that period.
  if (p < 0) return; // the daemon refuses a negative period
  const pp = view.path("CpuPeriod");
  view.set("CpuQuota", defaultQuota(def, p, pp));
}

/** CPU limit `def` as a quota of period `p` (0: the daemon's default period); too short a period is denied. */
function defaultQuota(def: number, p: number, pPath: string): number {
  const quota = Math.floor((def * (p > 0 ? p : DEFAULT_CPU_PERIOD)) / 1e9);
  if (quota < MIN_CPU_QUOTA) {
    deny("hardening.cpus", pPath, `${pPath}=${p}: too short a period to apply this profile's CPU limit of ${cpus(def)} (the daemon's smallest quota is ${MIN_CPU_QUOTA} µs)`);
  }
  return quota;
}

function checkQuota(q: number, p: number, qPath: string, pPath: string, max: number | undefined): void {
  if (max === undefined) return;
  if (q < 0) deny("hardening.cpus", qPath, `${qPath}=${q} (unlimited) is not allowed: this profile's CPU maximum is ${cpus(max)}`);
  const period = p > 0 ? p : DEFAULT_CPU_PERIOD;
  const eff = (q * 1e9) / period;
  if (eff > max) {
    deny("hardening.cpus", qPath, `${qPath}=${q} with ${p > 0 ? `${pPath}=${p}` : `the default period of ${DEFAULT_CPU_PERIOD}`} (${cpus(eff)}) is above this profile's maximum of ${cpus(max)}`);
  }
}

const DEFAULT_NETWORK_MODES: ReadonlySet<string> = new Set(["", "default", "bridge"]);

function applyNetwork(out: GoObject, view: HostConfigView, forced: string): void {
  const cur = view.get("NetworkMode");
  const path = view.path("NetworkMode");
  if (cur !== undefined && cur !== null && typeof cur !== "string") typeError(path, "a string", cur);
  const mode = cur ?? "";
  let final = mode;
  if (mode !== forced && mode !== "none") {
    if (!DEFAULT_NETWORK_MODES.has(mode)) {
      deny("hardening.network", path, `${path}=${quote(mode)} is not allowed: containers of this profile are attached to network ${quote(forced)} (or none)`);
    }
    final = forced;
    view.set("NetworkMode", forced);
  }

  // The daemon connects the container to every network named in EndpointsConfig.
  const ncKey = out.keyOf("NetworkingConfig") ?? "NetworkingConfig";
  const nc = out.get("NetworkingConfig");
  if (nc === undefined || nc === null) return;
  if (!(nc instanceof GoObject)) typeError(ncKey, "an object", nc);
  const epsKey = nc.keyOf("EndpointsConfig") ?? "EndpointsConfig";
  const epsPath = sub(ncKey, epsKey);
  const eps = nc.get("EndpointsConfig");
  if (eps === undefined || eps === null) return;
  if (!(eps instanceof GoObject)) typeError(epsPath, "an object", eps);
  const entries = eps.entries();
  const explicit = entries.some(([k]) => k === final);
  const kept: Array<[string, GoValue]> = [];
  for (const [k, ep] of entries) {
    if (k === final) {
      kept.push([k, ep]);
    } else if (DEFAULT_NETWORK_MODES.has(k)) {
      // "the default network": the forced one (dropped when there is no network, or when the
      // forced network has an entry of its own).
      if (final !== "none" && !explicit) kept.push([final, ep]);
    } else {
      const p = mapKey(epsPath, k);
      deny("hardening.network", p, `${p}: connecting to network ${quote(k)} is not allowed: containers of this profile are attached to network ${quote(final)} only`);
    }
  }
  const newNc = new GoObject(nc.entries());
  newNc.set("EndpointsConfig", new GoObject(kept));
  out.set("NetworkingConfig", newNc);
}

// ---------------------------------------------------------------------------------------------
// Update

/**
 * ContainerUpdate (UpdateConfig: Resources and RestartPolicy at the top level; absent or 0 leaves a
 * setting unchanged): the profile's maxima still hold. Defaults do not apply (the container got
 * them at create). Returns the violation, or null; the body is forwarded unchanged.
 */
export function hardenContainerUpdate(body: GoValue | undefined, h: HardeningConfig): Violation | null {
  try {
    updateChecks(body, h);
    return null;
  } catch (err) {
    const v = asViolation(err);
    if (v) return v;
    throw err;
  }
}

function updateChecks(body: GoValue | undefined, h: HardeningConfig): void {
  if (body === undefined || body === null) return;
  if (!(body instanceof GoObject)) typeError("body", "a JSON object", body);
  const view = new HostConfigView(body, "");
  const mem = h.memory?.max;
  if (mem !== undefined) {
    const v = intField(view, "Memory");
    if (v !== undefined && v !== 0) checkMax(v, view.path("Memory"), mem, "hardening.memory", bytes);
    checkSwap(view, mem);
  }
  const pids = h.pids?.max;
  if (pids !== undefined) {
    const v = intField(view, "PidsLimit");
    if (v !== undefined) {
      const path = view.path("PidsLimit");
      // On update 0 and negative values mean "unlimited" (the router turns them into 0).
      if (v <= 0) deny("hardening.pids", path, `${path}=${v} (unlimited) is not allowed: this profile's maximum is ${pids}`);
      checkMax(v, path, pids, "hardening.pids", String);
    }
  }
  const max = h.nanoCpus?.max;
  if (max !== undefined) {
    const n = intField(view, "NanoCpus") ?? 0;
    if (n !== 0) checkMax(n, view.path("NanoCpus"), max, "hardening.cpus", cpus);
    const q = intField(view, "CpuQuota") ?? 0;
    const p = intField(view, "CpuPeriod") ?? 0;
    if (q === 0 && p === 0) return;
    const qPath = view.path("CpuQuota");
    const pPath = view.path("CpuPeriod");
    if (q < 0) checkQuota(q, p, qPath, pPath, max);
    if (q === 0 || p <= 0) {
      // The container's other half is unknown: a short period makes any quota many CPUs.
      const which = q === 0 ? pPath : qPath;
      deny("hardening.cpus", which, `${which}: CpuQuota and CpuPeriod must be updated together on this profile (CPU maximum ${cpus(max)}), or use NanoCpus (docker update --cpus)`);
    }
    checkQuota(q, p, qPath, pPath, max);
  }
}

// ---------------------------------------------------------------------------------------------
// Units for messages

/** 1073741824 → "1 GiB", 1500000 → "1.43 MiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, "");
  return `${n < 0 ? "-" : ""}${s} ${units[i]}`;
}

/** 1500000000 → "1.5 CPUs". */
export function cpus(nano: number): string {
  const v = Number((nano / 1e9).toFixed(9));
  return `${v} CPU${v === 1 ? "" : "s"}`;
}

/**
 * The classic builder runs each RUN step in a container whose limits come from the build's query
 * (`memory`, `memswap`, `cpuquota`, `cpuperiod`), not from a create body: the profile's memory and
 * CPU bounds apply there too (pids cannot be set on a build). The daemon reads the first value of
 * each (r.FormValue) as an int64, 0 when absent or not an int64 (httputils.Int64ValueOrZero); the
 * forwarded query carries exactly the values decided here, so there is nothing else to read.
 */
export function hardenBuildQuery(
  query: ReadonlyArray<readonly [string, string]>,
  h: HardeningConfig,
): { ok: true; query: Array<readonly [string, string]> } | { ok: false; violation: Violation } {
  const value = (key: string): number => goInt64OrZero(query.find(([k]) => k === key)?.[1]);
  const set = new Map<string, number>();
  try {
    if (h.memory) {
      const mem = value("memory");
      const swap = value("memswap");
      const max = h.memory.max;
      if (mem !== 0) checkMax(mem, "memory", max, "hardening.memory", bytes);
      const swapWhy = max !== undefined ? swapDetail(swap, "memswap", max) : undefined;
      if (swapWhy !== undefined) deny("hardening.memory", "memswap", swapWhy);
      const effective = mem !== 0 ? mem : (h.memory.default ?? max);
      if (effective !== undefined) set.set("memory", effective);
      if (swap !== 0) set.set("memswap", swap);
    }
    if (h.nanoCpus) {
      const quota = value("cpuquota");
      const period = value("cpuperiod");
      const def = h.nanoCpus.default ?? h.nanoCpus.max;
      let q = quota;
      if (quota !== 0) checkQuota(quota, period, "cpuquota", "cpuperiod", h.nanoCpus.max);
      else if (def !== undefined && period >= 0) q = defaultQuota(def, period, "cpuperiod");
      if (q !== 0) set.set("cpuquota", q);
      if (period !== 0) set.set("cpuperiod", period);
    }
  } catch (err) {
    if (err instanceof Deny) return { ok: false, violation: err.violation };
    throw err;
  }

  const out: Array<readonly [string, string]> = query.filter(([k]) => !BUILD_LIMIT_KEYS.has(k) || !decided(k, h));
  for (const [k, v] of set) out.push([k, String(v)]);
  return { ok: true, query: out };
}

/** The build query keys hardenBuildQuery may decide (all their values leave the query; the decided ones come back). */
const BUILD_LIMIT_KEYS: ReadonlySet<string> = new Set(["memory", "memswap", "cpuquota", "cpuperiod"]);

function decided(key: string, h: HardeningConfig): boolean {
  return key.startsWith("mem") ? h.memory !== undefined : h.nanoCpus !== undefined;
}

/** Go's strconv.ParseInt(s, 10, 64), 0 when it fails (empty, not a number, out of int64's range). */
function goInt64OrZero(raw: string | undefined): number {
  if (raw === undefined || !/^[+-]?[0-9]+$/.test(raw)) return 0;
  const n = BigInt(raw);
  return n < -(2n ** 63n) || n > 2n ** 63n - 1n ? 0 : Number(n);
}
