// ContainerExec (POST /containers/{id}/exec): ExecConfig's Privileged, User and WorkingDir.

import type { GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { checkWorkdir } from "./container.js";
import type { Inspection } from "./index.js";
import { bodyObject, deny, guard, optBool, optString, quote } from "./util.js";

/**
 * Whether an exec `User` is, or may be, root: empty (the container's own user, which we cannot
 * see), a user part of `root` or a number Go's strconv.Atoi reads as 0 (`0`, `000`, `+0`, `-0`), or
 * an empty user part (`:0`). A name is looked up in the container's /etc/passwd, which dockgate
 * cannot see: an image may give another name uid 0.
 */
export function isRootUser(user: string): boolean {
  const colon = user.indexOf(":");
  const u = colon < 0 ? user : user.slice(0, colon);
  if (u === "" || u === "root") return true;
  return /^[+-]?[0-9]+$/.test(u) && /^[+-]?0+$/.test(u);
}

export const containerExec: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (!o) {
        if (!rules.execRoot) deny("exec.root", "User", "exec without a User runs as the container's user, which may be root; name a non-root user");
        return;
      }
      const priv = optBool(o, "Privileged", "");
      if (priv.value === true && !rules.allowPrivileged) {
        deny("exec.privileged", priv.path, `${priv.path}=true is not allowed (docker exec --privileged)`);
      }
      const user = optString(o, "User", "");
      if (!rules.execRoot && isRootUser(user.value ?? "")) {
        const u = user.value ?? "";
        deny("exec.root", user.path, u === ""
          ? `${user.path} is empty: the exec would run as the container's user, which may be root; name a non-root user`
          : `${user.path}=${quote(u)}: exec as root is not allowed`);
      }
      const wd = optString(o, "WorkingDir", "");
      checkWorkdir(wd.value, wd.path);
    });
  },
};
