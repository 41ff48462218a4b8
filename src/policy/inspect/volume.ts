// VolumeCreate, and the volume driver / driver option checks shared with container Mounts.
//
// The local driver mounts whatever its options say: `type=none,o=bind,device=/` is a bind mount of
// the host's root through a volume, `type=ext4,device=/dev/sda1` mounts a host disk, `type=nfs`
// mounts a remote share on the host. The default (`safe`) admits tmpfs volumes and bind volumes of
// host paths that bindMounts allows, and nothing else.

import type { GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { checkHostPath } from "./hostpath.js";
import type { Inspection } from "./index.js";
import { bodyObject, deny, field, guard, mapKey, optString, optStringMap, quote } from "./util.js";

/** `driver` ("" = the daemon's default, local) must be in the volumeDrivers allowlist. */
export function checkVolumeDriver(driver: string | undefined, path: string, rules: RuleSettings): void {
  if (driver === undefined || driver === "") return;
  if (rules.volumeDrivers.includes(driver)) return;
  deny("volumes.driver", path, `${path}: volume driver ${quote(driver)} is not allowed${allowedList(rules.volumeDrivers)}`);
}

function allowedList(list: readonly string[]): string {
  return list.length === 0 ? "" : ` (allowed: ${list.join(", ")})`;
}

/** tmpfs mount options that only shape the tmpfs itself. */
const TMPFS_OPTIONS: ReadonlySet<string> = new Set([
  "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "noexec", "exec", "nosuid", "nodev",
  "ro", "rw", "noatime", "nodiratime", "relatime", "strictatime", "lazytime",
]);

/** Mount options of a local-driver bind volume (`type=none,o=bind,device=/path`). */
const BIND_OPTIONS: ReadonlySet<string> = new Set([
  "bind", "rbind", "ro", "rw", "noexec", "nosuid", "nodev", "private", "rprivate", "slave", "rslave",
  "noatime", "nodiratime", "relatime",
]);

/** The local driver's option keys (volume/local/local_unix.go validOpts). */
const LOCAL_KEYS: ReadonlySet<string> = new Set(["type", "device", "o", "size"]);

/**
 * Driver options for a volume of `driver` ("" = local). `none`: none at all. `any`: anything.
 * `safe`: only the local driver, and only
 *   - tmpfs volumes: type=tmpfs, a plain device name, tmpfs-only mount options;
 *   - bind volumes: type=none (or no type), o=bind|rbind plus plain flags, device an absolute host
 *     path that bindMounts allows (read-only where it requires, i.e. `o=bind,ro`).
 */
export function checkDriverOptions(
  driver: string | undefined,
  opts: ReadonlyArray<readonly [string, string]> | undefined,
  path: string,
  rules: RuleSettings,
): void {
  if (opts === undefined || opts.length === 0) return;
  const mode = rules.volumeDriverOptions;
  if (mode === "any") return;
  const first = opts[0]!;
  if (mode === "none") {
    deny("volumes.driver-options", mapKey(path, first[0]), `${path}: volume driver options are not allowed (${first[0]}=${quote(first[1])})`);
  }
  if (driver !== undefined && driver !== "" && driver !== "local") {
    deny("volumes.driver-options", path, `${path}: driver options are only allowed for the local driver's tmpfs and bind volumes, not for driver ${quote(driver)}`);
  }
  let type: string | undefined;
  let device: string | undefined;
  let o: string | undefined;
  for (const [k, v] of opts) {
    if (!LOCAL_KEYS.has(k)) {
      deny("volumes.driver-options", mapKey(path, k), `${path}: option ${quote(k)} is not allowed (only type, device and o for tmpfs and bind volumes)`);
    }
    if (k === "type") type = v;
    else if (k === "device") device = v;
    else if (k === "o") o = v;
  }
  const flags = o === undefined || o === "" ? [] : o.split(",");
  const names = flags.map((f) => {
    const eq = f.indexOf("=");
    return eq < 0 ? f : f.slice(0, eq);
  });
  const oPath = mapKey(path, "o");
  if (type === "tmpfs") {
    if (device !== undefined && !/^[A-Za-z0-9_.-]*$/.test(device)) {
      deny("volumes.driver-options", mapKey(path, "device"), `${path}: a tmpfs volume's device must be a plain name (device=tmpfs), not ${quote(device)}`);
    }
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== "" && !TMPFS_OPTIONS.has(names[i]!)) {
        deny("volumes.driver-options", oPath, `${oPath}: mount option ${quote(flags[i]!)} is not allowed for a tmpfs volume (size, mode, uid, gid, noexec, ... are)`);
      }
    }
    return;
  }
  const isBind = names.includes("bind") || names.includes("rbind");
  if ((type === undefined || type === "none") && isBind) {
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== "" && !BIND_OPTIONS.has(names[i]!)) {
        deny("volumes.driver-options", oPath, `${oPath}: mount option ${quote(flags[i]!)} is not allowed for a bind volume`);
      }
    }
    if (names.includes("shared") || names.includes("rshared")) return; // unreachable: not in BIND_OPTIONS
    // Mount options apply in order, so "ro,rw" is read-write: the last of ro/rw decides.
    const readOnly = names.lastIndexOf("ro") > names.lastIndexOf("rw");
    checkHostPath(device ?? "", readOnly, mapKey(path, "device"), rules);
    return;
  }
  deny("volumes.driver-options", type === undefined ? path : mapKey(path, "type"), `${path}: only tmpfs volumes (type=tmpfs) and bind volumes of allowed host paths (type=none,o=bind) may set driver options${type === undefined ? "" : `, not type=${quote(type)}`}`);
}

export const volumeCreate: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (!o) return;
      const driver = optString(o, "Driver", "");
      checkVolumeDriver(driver.value, driver.path, rules);
      const opts = optStringMap(o, "DriverOpts", "");
      checkDriverOptions(driver.value, opts.value, opts.path, rules);
      const cluster = field(o, "ClusterVolumeSpec", "");
      if (cluster.value !== undefined && cluster.value !== null) {
        deny("volumes.cluster", cluster.path, `${cluster.path}: cluster (CSI) volumes are not allowed`);
      }
    });
  },
};
