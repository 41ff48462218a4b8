// VolumeCreate, and the volume driver / driver option checks shared with container Mounts.
//
// The local driver mounts whatever its options say: `type=none,o=bind,device=/` is a bind mount of
// the host's root through a volume, `type=ext4,device=/dev/sda1` mounts a host disk, `type=nfs`
// mounts a remote share on the host. Only the plain tmpfs form is harmless enough for a default.

import type { GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
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

/** The local driver's option keys (volume/local/local_unix.go validOpts). */
const LOCAL_KEYS: ReadonlySet<string> = new Set(["type", "device", "o", "size"]);

/**
 * Driver options for a volume of `driver` ("" = local). `none`: none at all. `tmpfs`: only the local
 * driver with type=tmpfs, a plain device name and tmpfs-only mount options. `any`: anything.
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
  const first = opts[0]![0];
  if (mode === "none") {
    deny("volumes.driver-options", mapKey(path, first), `${path}: volume driver options are not allowed (${first}=${quote(opts[0]![1])})`);
  }
  // tmpfs
  if (driver !== undefined && driver !== "" && driver !== "local") {
    deny("volumes.driver-options", path, `${path}: driver options are only allowed for the local driver's tmpfs volumes, not for driver ${quote(driver)}`);
  }
  let type: string | undefined;
  for (const [k, v] of opts) {
    const where = mapKey(path, k);
    if (!LOCAL_KEYS.has(k)) {
      deny("volumes.driver-options", where, `${path}: option ${quote(k)} is not allowed; only type=tmpfs volumes with plain tmpfs options are`);
    }
    if (k === "type") type = v;
    if (k === "device" && !/^[A-Za-z0-9_.-]*$/.test(v)) {
      deny("volumes.driver-options", where, `${where}: device ${quote(v)} is not allowed; only type=tmpfs volumes (device=tmpfs) are`);
    }
    if (k === "o") {
      for (const o of v.split(",")) {
        if (o === "") continue;
        const eq = o.indexOf("=");
        const name = eq < 0 ? o : o.slice(0, eq);
        if (!TMPFS_OPTIONS.has(name)) {
          deny("volumes.driver-options", where, `${where}: mount option ${quote(o)} is not allowed; only tmpfs options (size, mode, uid, gid, noexec, ...) are`);
        }
      }
    }
  }
  if (type !== "tmpfs") {
    deny("volumes.driver-options", path, `${path}: only type=tmpfs volumes may set driver options${type === undefined ? " (no type given)" : `, not type=${quote(type)}`}`);
  }
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
