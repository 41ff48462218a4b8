// ImageBuild with version=2: the query of a BuildKit build through /build (the docker CLI with
// DOCKER_BUILDKIT=1, docker-py and the Go SDK with Version=BuilderBuildKit).
//
// The daemon reads the query with newImageBuildOptions (the same parameters as the classic
// builder) and builder-next turns it into one Solve of the built-in `dockerfile.v0` frontend:
// buildargs become `build-arg:*` frontend attributes, some of which BuildKit's Dockerfile frontend
// reads as options (BUILDKIT_SYNTAX selects another frontend image; BUILDKIT_INLINE_CACHE adds an
// inline cache export), networkmode=host adds the network.host entitlement, outputs picks the
// exporter, cachefrom becomes cache imports. The shared rules (networkmode, cgroupparent, remote,
// securityopt, isolation, outputs) are checked by ../inspect/build.ts for both builders; this adds
// what only BuildKit reads, and refuses every parameter the daemon does not read (a parameter
// dockgate does not know might mean something to a newer daemon).
//
// What is not in the query: the Dockerfile travels over the client's /session (file sync of the
// `dockerfile` directory) and is checked there for a `# syntax=` line (./session-relay.ts). The
// session id names a session this same client opened (./sessions.ts, checked by the engine).

import { GoJsonError, GoObject, parseGoJson, type GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import type { Violation } from "../inspect/index.js";
import { quote } from "../inspect/util.js";
import { fetchedImageViolation } from "../inspect/image-policy.js";

/** Every query parameter newImageBuildOptions reads (moby api/server/router/build, API <= 1.56). */
export const BUILD_PARAMETERS: ReadonlySet<string> = new Set([
  "t", "remote", "dockerfile", "q", "nocache", "pull", "rm", "forcerm", "memory", "memswap",
  "cpushares", "cpusetcpus", "cpusetmems", "cpuperiod", "cpuquota", "cgroupparent", "networkmode",
  "extrahosts", "securityopt", "squash", "target", "platform", "outputs", "shmsize", "isolation",
  "ulimits", "buildargs", "labels", "cachefrom", "session", "buildid", "version",
]);

/**
 * Build arguments BuildKit's Dockerfile frontend reads as options, and what they do. Any other
 * BUILDKIT_* argument is refused: frontends give such names meaning.
 */
const BUILDKIT_ARGS: ReadonlyMap<string, string> = new Map([
  ["BUILDKIT_INLINE_CACHE", "cache metadata written into the built image"],
  ["BUILDKIT_MULTI_PLATFORM", "platform-specific result even for one platform"],
  ["BUILDKIT_CONTEXT_KEEP_GIT_DIR", "keep .git of a git context"],
  ["BUILDKIT_SANDBOX_HOSTNAME", "host name of RUN containers"],
  ["BUILDKIT_CACHE_MOUNT_NS", "namespace of RUN --mount=type=cache ids"],
  ["BUILDKIT_DOCKERFILE_CHECK", "Dockerfile lint settings"],
  ["BUILDKIT_BUILD_NAME", "build name shown in history"],
]);

/** The build arguments that select another frontend image. */
const FRONTEND_ARGS: ReadonlySet<string> = new Set(["BUILDKIT_SYNTAX", "BUILDKIT_FRONTEND"]);

/** `os[/arch[/variant]]`, comma-separated (what containerd's platforms.Parse accepts, lower-cased). */
const PLATFORM = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/;

/** BuildKit network modes (builder-next: anything else is an error); host is a rule. */
const NETWORK_MODES: ReadonlySet<string> = new Set(["", "default", "none", "host"]);

/** Is a frontend image reference allowed by the profile's buildkitFrontends list? */
export function frontendAllowed(ref: string, rules: RuleSettings): boolean {
  const name = ref.trim().split(/\s+/)[0] ?? "";
  return rules.buildkitFrontends.includes(name);
}

function parse(v: string): GoValue | GoJsonError {
  try {
    return parseGoJson(Buffer.from(v, "utf8"));
  } catch (err) {
    if (err instanceof GoJsonError) return err;
    throw err;
  }
}

function checkBuildArgs(v: string, rules: RuleSettings): Violation | null {
  if (v === "") return null;
  const parsed = parse(v);
  if (parsed instanceof GoJsonError) return { rule: "body.type", field: "buildargs", detail: `buildargs is not valid JSON (${parsed.message})` };
  if (parsed === null) return null;
  if (!(parsed instanceof GoObject)) return { rule: "body.type", field: "buildargs", detail: "buildargs must be a JSON object" };
  for (const [name, value] of parsed.entries()) {
    if (value !== null && typeof value !== "string") {
      return { rule: "body.type", field: `buildargs[${quote(name)}]`, detail: `buildargs ${quote(name)} must be a string or null` };
    }
    if (FRONTEND_ARGS.has(name)) {
      if (value === null || frontendAllowed(value, rules)) continue;
      return { rule: "buildkit.frontend", field: `buildargs[${quote(name)}]`, detail: `buildargs ${name}=${quote(value)} selects a custom BuildKit frontend, which is not in buildkitFrontends` };
    }
    if (name.toUpperCase().startsWith("BUILDKIT_") && !BUILDKIT_ARGS.has(name)) {
      return { rule: "buildkit.build-arg", field: `buildargs[${quote(name)}]`, detail: `buildargs ${quote(name)} is not one of the BuildKit options dockgate knows (${[...BUILDKIT_ARGS.keys()].join(", ")})` };
    }
  }
  return null;
}

/** The BuildKit-only checks of an ImageBuild query with version=2. */
export function checkBuildKitQuery(req: RequestView, rules: RuleSettings): Violation | null {
  if (!rules.buildkit) {
    return { rule: "build.buildkit", field: "version", detail: "version=\"2\": BuildKit builds are not allowed for this profile (use the classic builder: DOCKER_BUILDKIT=0)" };
  }
  let session = 0;
  let remote = 0;
  for (const [k, v] of req.query) {
    if (!BUILD_PARAMETERS.has(k)) {
      return { rule: "buildkit.parameter", field: k, detail: `query parameter ${quote(k)} is not one the daemon reads for a build; refused rather than passed` };
    }
    switch (k) {
      case "networkmode":
        if (!NETWORK_MODES.has(v)) {
          return { rule: "build.network", field: k, detail: `networkmode=${quote(v)}: BuildKit builds run on the default network, none or (by rule) host` };
        }
        break;
      case "remote":
        // Without remote=client-session the daemon reads the context, Dockerfile included, from
        // the request body (measured on 20.10: an empty remote built from a tar body), where the
        // session's Dockerfile check never sees it.
        if (v !== "client-session") {
          return { rule: "build.remote", field: k, detail: `remote=${quote(v)}: a BuildKit build's context must come from the client's session (remote=client-session, a local directory); dockgate cannot read the Dockerfile of a ${v === "upload-request" ? "context uploaded as a tar stream" : v === "" ? "context sent in the request body" : "remote context"}` };
        }
        remote++;
        break;
      case "session":
        session++;
        if (v === "") return { rule: "buildkit.session", field: k, detail: "session is empty: a BuildKit build needs the session its client opened" };
        break;
      case "platform":
        for (const p of v.split(",")) {
          if (!PLATFORM.test(p.trim())) return { rule: "buildkit.platform", field: k, detail: `platform=${quote(v)} is not of the form os/arch[/variant]` };
        }
        break;
      case "buildargs": {
        const bad = checkBuildArgs(v, rules);
        if (bad) return bad;
        break;
      }
      case "cachefrom": {
        if (v === "") break;
        const parsed = parse(v);
        if (parsed instanceof GoJsonError || !(parsed === null || (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")))) {
          return { rule: "body.type", field: k, detail: "cachefrom must be a JSON list of image references" };
        }
        // BuildKit imports these from their registries.
        for (const ref of (parsed ?? []) as string[]) {
          const bad = fetchedImageViolation(k, ref, rules);
          if (bad) return bad;
        }
        break;
      }
    }
  }
  if (session !== 1) {
    return { rule: "buildkit.session", field: "session", detail: session === 0 ? "a BuildKit build through /build needs the session its client opened (session=)" : "session is given more than once" };
  }
  if (remote === 0) {
    return { rule: "build.remote", field: "remote", detail: "a BuildKit build without remote=client-session reads its context, Dockerfile included, from the request body, where dockgate cannot read the Dockerfile" };
  }
  return null;
}

/** The session id of a version=2 build query (checked by checkBuildKitQuery to be there once). */
export function buildSessionId(req: RequestView): string | undefined {
  for (const [k, v] of req.query) if (k === "session") return v;
  return undefined;
}

/**
 * The build arguments a version=2 build gives BuildKit (builder-next: `build-arg:*` attributes;
 * a null value is no argument). checkBuildKitQuery has checked the JSON; the daemon reads the first `buildargs` (FormValue).
 */
export function queryBuildArgs(req: RequestView): Map<string, string> {
  const out = new Map<string, string>();
  const v = req.query.find(([k]) => k === "buildargs")?.[1] ?? "";
  const parsed = v === "" ? null : parse(v);
  if (parsed instanceof GoObject) for (const [name, value] of parsed.entries()) if (typeof value === "string") out.set(name, value);
  return out;
}

/** True for a query asking for BuildKit (version=2, as the daemon compares it: case-sensitive key). */
export function isBuildKitQuery(req: RequestView): boolean {
  for (const [k, v] of req.query) if (k.toLowerCase() === "version" && v !== "" && v !== "1") return true;
  return false;
}
