// ImageBuild (POST /build): only the query is inspected (the body is the build context tar).
//
// Parameters the daemon reads (api/server/router/build newImageBuildOptions) and what is done with
// each: networkmode (host / container:<id> refused), cgroupparent (refused unless cgroupParent),
// securityopt (refused: Linux daemons do not support it), isolation (default only), remote (a URL
// or git repository the daemon fetches: fetchUrls allowlist; `client-session` (context over the
// BuildKit session) and `upload-request` (context uploaded by a second /build request with
// buildid=upload-request:<id>) are the CLI's BuildKit markers and fine), outputs (BuildKit exporters:
// moby / image / cacheonly, and local / tar, which the daemon sends to the client's own session).
// version=2 (BuildKit) adds the checks of ../buildkit/build-query.ts. The others
// (t, dockerfile, q, nocache, pull, rm, forcerm, memory, memswap, cpu*, shmsize, ulimits,
// buildargs, labels, cachefrom, extrahosts, squash, target, platform, session, buildid, version)
// only shape the build inside its own containers.

import { GoJsonError, GoObject, parseGoJson, type GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { checkBuildKitQuery, isBuildKitQuery } from "../buildkit/build-query.js";
import { urlAllowed } from "./fetch.js";
import type { InspectContext, Inspection, Violation } from "./index.js";
import { formBodyViolation, queryValues, quote } from "./util.js";

// local and tar are written to the client, through its own session (the CLI keeps `dest`).
const OUTPUT_TYPES: ReadonlySet<string> = new Set(["moby", "image", "cacheonly", "local", "tar"]);

function checkOutputs(v: string): string | null {
  let parsed: GoValue;
  try {
    parsed = parseGoJson(Buffer.from(v, "utf8"));
  } catch (err) {
    if (err instanceof GoJsonError) return `outputs is not valid JSON (${err.message})`;
    throw err;
  }
  if (parsed === null) return null;
  if (!Array.isArray(parsed)) return "outputs must be a JSON list";
  for (const o of parsed) {
    if (o === null) continue;
    if (!(o instanceof GoObject)) return "outputs entries must be objects";
    const t = o.get("Type");
    if (t === undefined || t === null) continue; // zero Type: the daemon's default exporter
    if (typeof t !== "string") return "outputs Type must be a string";
    if (!OUTPUT_TYPES.has(t)) return `output type ${quote(t)} is not allowed (${[...OUTPUT_TYPES].join(", ")} are)`;
  }
  return null;
}

export function checkBuildQuery(req: RequestView, rules: RuleSettings, ctx: InspectContext): Violation | null {
  const form = formBodyViolation(req);
  if (form) return form;
  for (const v of queryValues(req, "networkmode")) {
    const lower = v.toLowerCase();
    if (ctx.hostNetwork.isHostRef(v) && !rules.buildNetworkHost) {
      return { rule: "build.network", field: "networkmode", detail: `networkmode=${quote(v)}: building on the host's network is not allowed` };
    }
    if (lower.startsWith("container:") && !rules.namespaceJoins.includes("network")) {
      return { rule: "build.network", field: "networkmode", detail: `networkmode=${quote(v)}: building in another container's network namespace is not allowed` };
    }
  }
  if (!rules.cgroupParent) {
    for (const v of queryValues(req, "cgroupparent")) {
      if (v !== "") return { rule: "build.cgroup-parent", field: "cgroupparent", detail: `cgroupparent=${quote(v)}: choosing the parent cgroup is not allowed` };
    }
  }
  if (queryValues(req, "securityopt").length > 0) {
    return { rule: "build.security-opt", field: "securityopt", detail: "securityopt is not allowed for builds" };
  }
  for (const v of queryValues(req, "isolation")) {
    if (v !== "" && v.toLowerCase() !== "default") {
      return { rule: "containers.isolation", field: "isolation", detail: `isolation=${quote(v)}: only the default isolation is allowed` };
    }
  }
  for (const v of queryValues(req, "remote")) {
    if (v === "" || v === "client-session" || v === "upload-request") continue; // session / second upload request, not fetched
    if (!urlAllowed(v, rules.fetchUrls)) {
      return { rule: "build.remote", field: "remote", detail: `remote=${quote(v)}: the daemon may not fetch this build context (not under an allowed fetch URL)` };
    }
  }
  for (const v of queryValues(req, "outputs")) {
    if (v === "") continue;
    const err = checkOutputs(v);
    if (err) return { rule: "build.outputs", field: "outputs", detail: err };
  }
  return isBuildKitQuery(req) ? checkBuildKitQuery(req, rules) : null;
}

export const imageBuild: Inspection = { query: checkBuildQuery };
