// Host paths as bind mount sources (HostConfig.Binds, Mounts of type bind, local-driver bind
// volumes): cleaned the way the daemon cleans them, checked against the never-mountable paths and
// the profile's bindMounts allowlist.

import type { BindPath, RuleSettings } from "../rules.js";
import { cleanAbsolute, isUnder } from "../../api/engine.js";
import { deny, quote } from "./util.js";

/**
 * Never mountable, whatever bindMounts says: the daemon's and containerd's sockets and state (a
 * container with the Docker socket bypasses dockgate), and the host's /proc and /sys. A bind of
 * one of these, of anything below them, or of any directory above them is refused.
 */
export const PROTECTED_HOST_PATHS: readonly string[] = [
  "/var/run/docker.sock", "/run/docker.sock", "/var/run/docker", "/run/docker",
  "/var/run/containerd", "/run/containerd", "/var/run/buildkit", "/run/buildkit",
  "/var/lib/docker", "/var/lib/containerd", "/proc", "/sys",
];

/**
 * A host path used as a bind mount source. `source` is as the client wrote it; `readOnly` whether
 * the mount is (recursively) read-only.
 */
export function checkHostPath(source: string, readOnly: boolean, path: string, rules: RuleSettings): void {
  if (source.charCodeAt(0) !== 0x2f) {
    deny("containers.bind-mounts", path, `${path}: bind source ${quote(source)} must be an absolute host path`);
  }
  const clean = cleanAbsolute(source);
  const shown = clean === source ? quote(source) : `${quote(source)} (${quote(clean)})`;
  for (const p of PROTECTED_HOST_PATHS) {
    if (isUnder(clean, p) || isUnder(p, clean)) {
      deny("containers.bind-protected", path, `${path}: host path ${shown} exposes ${p}, which is never mountable`);
    }
  }
  let exact: { path: string; readOnly: boolean } | undefined;
  let insideRo: string | undefined;
  for (const e of rules.bindMounts.allow) {
    if (clean === e.path) {
      exact = e;
    } else if (isUnder(clean, e.path)) {
      if (!e.readOnly) {
        deny("containers.bind-mounts", path, `${path}: host path ${shown} is below the writable bind path ${quote(e.path)}; only that exact path may be mounted`);
      }
      insideRo = e.path;
    }
  }
  if (exact && !exact.readOnly) return;
  if (exact || insideRo !== undefined) {
    if (!readOnly) {
      deny("containers.bind-mounts", path, `${path}: host path ${shown} may only be mounted read-only (add :ro, or ReadOnly: true)`);
    }
    return;
  }
  deny("containers.bind-mounts", path, `${path}: host path ${shown} is not in the allowed bind paths`);
}
