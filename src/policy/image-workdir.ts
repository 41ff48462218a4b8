// CVE-2024-21626 through an image: a container created without a WorkingDir of its own gets its
// image's WORKDIR, which the create body does not show. The body's own WorkingDir is a rule
// (containers.workdir); this asks the daemon for the image's, and refuses one under /proc the same
// way. An image the daemon does not have is left to the daemon (it refuses the create itself).

import type { DaemonClient } from "./daemon.js";
import { GoObject, parseGoJson } from "./gojson.js";
import { isProcWorkdir } from "./inspect/util.js";
import type { BodyCheck, BodyResult, Denial, Verdict } from "./verdict.js";

const RULE = "containers.workdir";

export function withImageWorkdirCheck(
  verdict: Verdict | Promise<Verdict>,
  profile: string,
  audit: boolean,
  daemon: () => DaemonClient,
): Verdict | Promise<Verdict> {
  const wrap = (v: Verdict): Verdict => {
    if (v.kind !== "inspect") return v;
    const inner = v.check;
    const check: BodyCheck = {
      maxBytes: inner.maxBytes,
      inspect: async (buf) => {
        const result = await inner.inspect(buf);
        if (!result.ok) return result;
        const denial = await imageWorkdirDenial(result.body ?? buf, profile, daemon);
        if (denial === undefined) return result;
        return audit ? { ...result, audit: result.audit ?? denial } : ({ ok: false, denial } satisfies BodyResult);
      },
    };
    return { ...v, check };
  };
  return verdict instanceof Promise ? verdict.then(wrap) : wrap(verdict);
}

async function imageWorkdirDenial(body: Buffer, profile: string, daemon: () => DaemonClient): Promise<Denial | undefined> {
  let value;
  try {
    value = parseGoJson(body);
  } catch {
    return undefined; // only an audit-mode profile gets this far with a body Go would refuse
  }
  if (!(value instanceof GoObject)) return undefined;
  const image = value.get("Image");
  const own = value.get("WorkingDir");
  if (typeof image !== "string" || image === "" || (typeof own === "string" && own !== "")) return undefined;
  let reply;
  try {
    reply = await daemon().request("GET", `/images/${encodeURIComponent(image)}/json`);
  } catch (err) {
    const message = `dockgate: ContainerCreate denied for profile ${profile}: the image's working directory could not be checked: ${(err as Error).message} (rule policy.lookup)`;
    return { status: 502, message, rule: "policy.lookup" };
  }
  if (reply.status === 404) return undefined;
  if (reply.status !== 200) {
    return { status: 502, message: `dockgate: ContainerCreate denied for profile ${profile}: the daemon answered ${reply.status} for image ${JSON.stringify(image)} (rule policy.lookup)`, rule: "policy.lookup" };
  }
  const workdir = (JSON.parse(reply.body.toString("utf8")) as { Config?: { WorkingDir?: unknown } }).Config?.WorkingDir;
  if (typeof workdir !== "string" || !isProcWorkdir(workdir)) return undefined;
  return {
    status: 403,
    message: `dockgate: ContainerCreate denied for profile ${profile}: image ${JSON.stringify(image)} has WORKDIR ${JSON.stringify(workdir)} under /proc, which is not allowed (set a WorkingDir) (rule ${RULE})`,
    rule: RULE,
    field: "Image",
  };
}
