// BuildKit's control API over /grpc (moby.buildkit.v1.Control, what `docker buildx` and compose v2
// call): every method classified, Solve and Status decoded and checked.
//
// After the h2c upgrade of POST /grpc the client is the HTTP/2 client and the daemon serves
// BuildKit's gRPC API; src/forward/h2-relay.ts relays each call after decideControlCall:
//   passed     ListWorkers, Info, Health/Check, DiskUsage (the cache records: shared, like
//              `docker system df`)
//   by grant   Prune: only for a profile granted BuildPrune and without ownership (it prunes every
//              tenant's cache)
//   inspected  Solve: the whole SolveRequest is decoded (BuildKit's api/services/control/
//              control.proto, solver/pb/ops.proto; field numbers are BuildKit's) and refused
//              unless every part is known and allowed; the images it makes the daemon fetch
//              (LLB docker-image sources, named contexts `context:<name>=docker-image://...`,
//              registry cache imports and exports) are held to the image policy, and its build
//              arguments are recorded on its session, where the Dockerfile the frontend then
//              reads is checked (./session-calls.ts); Status: only for a build this client's
//              own Solve started (a Status sent with its Solve waits up to 5 s for it)
//   refused    Session (a session over the control API: /session is the bound one),
//              ListenBuildHistory / UpdateBuildHistory (every tenant's builds), anything else
// A message that does not decode, or that has a field this schema does not know, is refused.

import type http2 from "node:http2";
import { type CallDecision, GRPC_PERMISSION_DENIED } from "../../forward/h2-relay.js";
import type { RuleSettings } from "../rules.js";
import type { Client } from "../verdict.js";
import { createdTagViolation, fetchedImageViolation } from "../inspect/image-policy.js";
import { urlAllowed } from "../inspect/fetch.js";
import { frontendAllowed } from "./build-query.js";
import { MAX_SESSION_BUILDS, SESSIONS, type SessionRegistry } from "./sessions.js";
import { GrpcFramer, WireError, fields } from "./wire.js";

const CONTROL = "/moby.buildkit.v1.Control/";
const MAX_REQUEST = 16 << 20;

export interface ControlContext {
  rules: RuleSettings;
  profile: string;
  client: Client;
  /** Operations the profile grants (BuildPrune, ImagePush decide Prune and pushes). */
  allow: ReadonlySet<string>;
  ownership: boolean;
}

/** Refs of Solves each client started (Status is answered for those only), the latest MAX_SOLVES. */
const MAX_SOLVES = 10000;
const SOLVES = new Map<string, string>();

function ownerOf(c: Client): string {
  return `${c.listener}\u0000${c.owner}`;
}

function denied(ctx: ControlContext, what: string, rule: string): { kind: "refuse"; code: number; message: string } {
  return { kind: "refuse", code: GRPC_PERMISSION_DENIED, message: `dockgate: BuildKit call denied for profile ${ctx.profile}: ${what} (rule ${rule})` };
}

/** The single gRPC message of a unary request. */
function unary(body: Buffer): Buffer {
  const framer = new GrpcFramer(MAX_REQUEST);
  const msgs = framer.push(body);
  if (msgs.length !== 1 || !framer.empty) throw new WireError(`expected one gRPC message, got ${msgs.length}${framer.empty ? "" : " and a partial one"}`);
  if (msgs[0]!.compressed) throw new WireError("the message is compressed");
  return msgs[0]!.payload;
}

function str(b: Buffer): string {
  return b.toString("utf8");
}

function map(entries: Buffer[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of entries) {
    let k = "";
    let v = "";
    for (const f of fields(e)) {
      if (f.no === 1 && f.wire === 2) k = str(f.value);
      else if (f.no === 2 && f.wire === 2) v = str(f.value);
      else throw new WireError(`map entry field ${f.no}`);
    }
    m.set(k, v);
  }
  return m;
}

// ── SolveRequest ──

export interface Exporter {
  type: string;
  attrs: Map<string, string>;
}

export interface SolveRequest {
  ref: string;
  definitions: Buffer[][];
  exporters: Exporter[];
  session: string;
  frontend: string;
  frontendAttrs: Map<string, string>;
  cacheImports: Exporter[];
  cacheExports: Exporter[];
  entitlements: string[];
  /** Names of the frontend inputs (FrontendInputs keys). */
  inputs: string[];
}

function entry(b: Buffer): Exporter {
  const e: Exporter = { type: "", attrs: new Map() };
  const attrs: Buffer[] = [];
  for (const f of fields(b)) {
    if (f.no === 1 && f.wire === 2) e.type = str(f.value);
    else if (f.no === 2 && f.wire === 2) attrs.push(f.value);
    else throw new WireError(`exporter/cache entry field ${f.no}`);
  }
  e.attrs = map(attrs);
  return e;
}

/** pb.Definition { repeated bytes def = 1; map<string, OpMetadata> metadata = 2; Source Source = 3; } */
function definition(b: Buffer): Buffer[] {
  const ops: Buffer[] = [];
  for (const f of fields(b)) {
    if (f.no === 1 && f.wire === 2) ops.push(f.value);
    else if ((f.no === 2 || f.no === 3) && f.wire === 2) continue; // metadata, source maps: descriptions
    else throw new WireError(`Definition field ${f.no}`);
  }
  return ops;
}

export function decodeSolve(b: Buffer): SolveRequest {
  const r: SolveRequest = { ref: "", definitions: [], exporters: [], session: "", frontend: "", frontendAttrs: new Map(), cacheImports: [], cacheExports: [], entitlements: [], inputs: [] };
  let exporter = "";
  const exporterAttrs: Buffer[] = [];
  const frontendAttrs: Buffer[] = [];
  for (const f of fields(b)) {
    if (f.wire === 0) {
      if (f.no === 11 || f.no === 14) continue; // Internal, EnableSessionExporter: bools
      throw new WireError(`SolveRequest field ${f.no}`);
    }
    if (f.wire !== 2) throw new WireError(`SolveRequest field ${f.no}`);
    switch (f.no) {
      case 1: r.ref = str(f.value); break;
      case 2: r.definitions.push(definition(f.value)); break;
      case 3: exporter = str(f.value); break;
      case 4: exporterAttrs.push(f.value); break;
      case 5: r.session = str(f.value); break;
      case 6: r.frontend = str(f.value); break;
      case 7: frontendAttrs.push(f.value); break;
      case 8:
        for (const c of fields(f.value)) {
          if (c.wire !== 2) throw new WireError(`CacheOptions field ${c.no}`);
          if (c.no === 4) r.cacheExports.push(entry(c.value));
          else if (c.no === 5) r.cacheImports.push(entry(c.value));
          else if (c.no === 1) r.cacheExports.push({ type: "registry", attrs: new Map([["ref", str(c.value)]]) });
          else if (c.no === 2) r.cacheImports.push({ type: "registry", attrs: new Map([["ref", str(c.value)]]) });
          else if (c.no !== 3) throw new WireError(`CacheOptions field ${c.no}`);
        }
        break;
      case 9: r.entitlements.push(str(f.value)); break;
      case 10: {
        // map<string, pb.Definition>
        for (const e of fields(f.value)) {
          if (e.no === 2 && e.wire === 2) r.definitions.push(definition(e.value));
          else if (e.no === 1 && e.wire === 2) r.inputs.push(str(e.value));
          else throw new WireError(`FrontendInputs entry field ${e.no}`);
        }
        break;
      }
      case 12: throw new WireError("SourcePolicy is not read by dockgate");
      case 13: r.exporters.push(entry(f.value)); break;
      default: throw new WireError(`SolveRequest field ${f.no}`);
    }
  }
  r.frontendAttrs = map(frontendAttrs);
  if (exporter !== "" && r.exporters.length === 0) r.exporters.push({ type: exporter, attrs: map(exporterAttrs) });
  return r;
}

// ── LLB (solver/pb/ops.proto) ──

/** What an LLB op asks for that a rule governs; throws WireError for what does not decode. */
function checkOp(op: Buffer, ctx: ControlContext, sessions: string[]): string | undefined {
  for (const f of fields(op)) {
    if (f.no === 2 && f.wire === 2) {
      // ExecOp { Meta meta = 1; repeated Mount mounts = 2; NetMode network = 3; SecurityMode security = 4; repeated SecretEnv secretenv = 5; repeated CDIDevice cdiDevices = 6 }
      for (const e of fields(f.value)) {
        if (e.no === 3 && e.wire === 0 && e.value === 1 && !ctx.rules.buildNetworkHost) return "an exec op on the host network (NetMode HOST) is not allowed|build.network";
        if (e.no === 3 && e.wire === 0 && e.value > 2) return `an exec op with network mode ${e.value} is not allowed|build.network`;
        if (e.no === 4 && e.wire === 0 && e.value !== 0) return "an exec op in insecure security mode is not allowed|buildkit.entitlement";
        if (e.no === 6) return "an exec op with CDI devices is not allowed|buildkit.entitlement";
        if (e.no === 1 && e.wire === 2) {
          for (const m of fields(e.value)) {
            if (m.no === 10 && m.wire === 2 && m.value.length > 0 && !ctx.rules.cgroupParent) return "an exec op choosing its parent cgroup is not allowed|build.cgroup-parent";
          }
        }
      }
    } else if (f.no === 3 && f.wire === 2) {
      // SourceOp { string identifier = 1; map<string, string> attrs = 2; }
      let id = "";
      const attrs: Buffer[] = [];
      for (const e of fields(f.value)) {
        if (e.no === 1 && e.wire === 2) id = str(e.value);
        else if (e.no === 2 && e.wire === 2) attrs.push(e.value);
      }
      const scheme = id.slice(0, id.indexOf("://") + 3);
      if (!["docker-image://", "git://", "https://", "http://", "local://", "oci-layout://"].includes(scheme)) return `source ${JSON.stringify(id.slice(0, 80))} is not one dockgate knows|buildkit.llb`;
      if (scheme === "docker-image://") {
        const bad = imageViolation("source", id.slice(scheme.length), ctx);
        if (bad) return bad;
      }
      const attrMap = map(attrs);
      // The daemon fetches these from the network, as it does a /build remote=: the same fetchUrls allowlist.
      if (scheme === "https://" || scheme === "http://" || scheme === "git://") {
        for (const url of [id, attrMap.get("git.fullurl")]) {
          if (url !== undefined && !urlAllowed(url, ctx.rules.fetchUrls)) return `source ${JSON.stringify(url.slice(0, 80))} is not under an allowed fetch URL|build.remote`;
        }
      }
      for (const [k, v] of attrMap) if (k.endsWith(".session")) sessions.push(v);
    } else if (f.no === 5) {
      return "a nested build op (BuildOp) is not allowed|buildkit.llb";
    } else if (![1, 4, 6, 7, 10, 11].includes(f.no)) {
      return `op field ${f.no} is not known to dockgate|buildkit.llb`;
    }
  }
  return undefined;
}

const ENTITLEMENTS: ReadonlySet<string> = new Set(["network.host", "security.insecure", "device"]);
/** Frontend attributes of the Dockerfile frontend that need no rule (buildx and the CLI send these). */
const KNOWN_ATTRS = /^(build-arg:.+|label:.+|attest:.+|context:.+|input-metadata:.+|target|filename|dockerfile|context|contextsubdir|contextkey|no-cache|image-resolve-mode|platform|multi-platform|add-hosts|shm-size|ulimit|cache-from|cache-imports|hostname|requestid|frontend\.caps|call|build-arg-default|source-date-epoch|force-network-mode|cgroup-parent|cmdline|source)$/;
const EXPORTERS: ReadonlySet<string> = new Set(["moby", "image", "local", "tar", "oci", "docker", "cacheonly"]);

/** The image policy on an image the Solve makes the daemon fetch, as a refusal `what|rule`. */
function imageViolation(field: string, name: string, ctx: ControlContext): string | undefined {
  const v = fetchedImageViolation(field, name, ctx.rules);
  return v ? `${v.detail}|${v.rule}` : undefined;
}

/** Named-context and main-context sources (dockerui namedcontext.go): schemes by what the daemon does with them. */
function checkContext(k: string, v: string, ctx: ControlContext): string | undefined {
  if (k === "context") {
    // The main context attribute is only ever a remote (git, http) context; local ones come over the session.
    return v === "" ? undefined : `context=${JSON.stringify(v.slice(0, 80))}: a remote context is not allowed through /grpc|build.remote`;
  }
  const colon = v.indexOf(":");
  const scheme = colon < 0 ? "" : v.slice(0, colon);
  if (scheme === "docker-image") return imageViolation(k, v.slice(colon + 1).replace(/^\/\//, ""), ctx);
  if (scheme === "local" || scheme === "input" || scheme === "oci-layout") return undefined; // the client's session, the Solve's own inputs, the client's OCI store
  if (/^(https?|git|ssh)$/.test(scheme) || v.startsWith("git@")) return `${k}=${JSON.stringify(v.slice(0, 80))}: a remote context is not allowed through /grpc|build.remote`;
  return `${k}=${JSON.stringify(v.slice(0, 80))}: a context source dockgate does not know (docker-image, local, input, oci-layout)|buildkit.frontend-attr`;
}

/** Registry cache refs: imports are fetched, exports pushed; both under the image policy. */
function checkCaches(r: SolveRequest, ctx: ControlContext): string | undefined {
  const refs: Array<[string, string]> = [];
  for (const c of [...r.cacheImports, ...r.cacheExports]) if (c.type === "registry") refs.push([`cache ref`, c.attrs.get("ref") ?? ""]);
  const from = r.frontendAttrs.get("cache-from") ?? "";
  for (const ref of from === "" ? [] : from.split(",")) refs.push(["cache-from", ref]);
  const imports = r.frontendAttrs.get("cache-imports") ?? "";
  if (imports !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(imports);
    } catch {
      return "cache-imports is not JSON|buildkit.cache";
    }
    if (parsed !== null && !Array.isArray(parsed)) return "cache-imports is not a JSON list|buildkit.cache";
    for (const e of (parsed ?? []) as unknown[]) {
      const o = (e ?? {}) as { Type?: unknown; Attrs?: unknown };
      const type = typeof o.Type === "string" ? o.Type : "";
      if (!["inline", "local", "registry"].includes(type)) return `cache-imports type ${JSON.stringify(type)} is not allowed (inline, local, registry)|buildkit.cache`;
      const ref = (o.Attrs as Record<string, unknown> | null | undefined)?.["ref"];
      if (type === "registry") refs.push(["cache-imports", typeof ref === "string" ? ref : ""]);
    }
  }
  for (const [field, ref] of refs) {
    const bad = imageViolation(field, ref, ctx);
    if (bad) return bad;
  }
  return undefined;
}

function checkSolve(r: SolveRequest, ctx: ControlContext, sessions: string[]): string | undefined {
  for (const e of r.entitlements) {
    if (!ENTITLEMENTS.has(e)) return `entitlement ${JSON.stringify(e)} is not one dockgate knows|buildkit.entitlement`;
    if (e !== "network.host") return `entitlement ${e} is never allowed|buildkit.entitlement`;
    if (!ctx.rules.buildNetworkHost) return "entitlement network.host (building on the host's network) is not allowed|build.network";
  }
  if (r.frontend === "") {
    if (r.definitions.length === 0) return "a Solve without a frontend needs an LLB definition|buildkit.llb";
  } else if (r.frontend === "gateway.v0") {
    const src = r.frontendAttrs.get("source") ?? "";
    if (!frontendAllowed(src, ctx.rules)) return `frontend image ${JSON.stringify(src)} is not in buildkitFrontends|buildkit.frontend`;
  } else if (r.frontend !== "dockerfile.v0") {
    return `frontend ${JSON.stringify(r.frontend)} is not allowed (dockerfile.v0, gateway.v0 by rule, or raw LLB)|buildkit.frontend`;
  }
  for (const [k, v] of r.frontendAttrs) {
    if (!KNOWN_ATTRS.test(k)) return `frontend attribute ${JSON.stringify(k)} is not one dockgate knows|buildkit.frontend-attr`;
    if ((k === "build-arg:BUILDKIT_SYNTAX" || k === "cmdline") && !frontendAllowed(v, ctx.rules)) return `${k}=${JSON.stringify(v)} selects a frontend image not in buildkitFrontends|buildkit.frontend`;
    if (k.startsWith("build-arg:BUILDKIT_FRONTEND")) return `${k} is not allowed|buildkit.frontend`;
    if (k === "force-network-mode" && v === "host" && !ctx.rules.buildNetworkHost) return "force-network-mode=host is not allowed|build.network";
    if (k === "force-network-mode" && !["", "none", "default", "sandbox", "host"].includes(v)) return `force-network-mode=${JSON.stringify(v)} is not allowed|build.network`;
    if (k === "cgroup-parent" && v !== "" && !ctx.rules.cgroupParent) return "cgroup-parent is not allowed|build.cgroup-parent";
    if (k === "contextkey" && v !== "context") return `contextkey=${JSON.stringify(v)}: the main context must be the one named context|buildkit.frontend-attr`;
    if (k === "context" || k.startsWith("context:")) {
      const bad = checkContext(k, v, ctx);
      if (bad) return bad;
    }
  }
  // The Dockerfile frontend reads its Dockerfile from an input named dockerfile instead of the session's file sync, where dockgate reads it.
  if (r.frontend !== "" && r.inputs.includes("dockerfile")) return "a frontend input named dockerfile: the Dockerfile must come over the session, where dockgate reads it|buildkit.dockerfile";
  const caches = checkCaches(r, ctx);
  if (caches) return caches;
  for (const e of r.exporters) {
    if (!EXPORTERS.has(e.type)) return `exporter ${JSON.stringify(e.type)} is not allowed|build.outputs`;
    const push = (e.attrs.get("push") ?? "").toLowerCase();
    if ((push === "true" || push === "1") && !ctx.allow.has("ImagePush")) return "exporting with push=true needs the images:push grant|build.outputs";
    // The image's names: pushed to their registry with push=true, else tags, as a build's t=.
    for (const name of (e.attrs.get("name") ?? "").split(",")) {
      if (name.trim() === "") continue;
      const v = push === "true" || push === "1" ? fetchedImageViolation("name", name.trim(), ctx.rules) : createdTagViolation("name", name.trim(), ctx.rules);
      if (v) return `exporter ${v.detail}|${v.rule}`;
    }
  }
  for (const c of r.cacheImports) if (!["inline", "local", "registry"].includes(c.type)) return `cache import type ${JSON.stringify(c.type)} is not allowed (inline, local, registry)|buildkit.cache`;
  for (const c of r.cacheExports) {
    if (!["inline", "local", "registry"].includes(c.type)) return `cache export type ${JSON.stringify(c.type)} is not allowed (inline, local, registry)|buildkit.cache`;
    if (c.type === "registry" && !ctx.allow.has("ImagePush")) return "a registry cache export needs the images:push grant|buildkit.cache";
  }
  for (const def of r.definitions) {
    for (const op of def) {
      const bad = checkOp(op, ctx, sessions);
      if (bad) return bad;
    }
  }
  if (r.session !== "") sessions.push(r.session);
  return undefined;
}

async function solveDecision(body: Buffer, ctx: ControlContext, registry: SessionRegistry): Promise<Exclude<CallDecision, { kind: "inspect" }>> {
  let r: SolveRequest;
  const sessions: string[] = [];
  let bad: string | undefined;
  try {
    r = decodeSolve(unary(body));
    bad = checkSolve(r, ctx, sessions);
  } catch (err) {
    if (err instanceof WireError) return denied(ctx, `Solve request dockgate cannot decode: ${err.message}`, "buildkit.decode");
    throw err;
  }
  if (bad) {
    const [what, rule] = bad.split("|") as [string, string];
    return denied(ctx, `Solve: ${what}`, rule);
  }
  for (const id of new Set(sessions)) {
    const whose = await registry.whose(id, ctx.client);
    if (whose !== "own") return denied(ctx, `Solve: session ${JSON.stringify(id)} ${whose === "other" ? "was opened by another client" : "is not open"}`, "buildkit.session");
  }
  // The frontend reads the Dockerfile over the session: its FROM lines are expanded with these build arguments.
  if (r.frontend !== "" && r.session !== "") {
    const args = new Map<string, string>();
    for (const [k, v] of r.frontendAttrs) if (k.startsWith("build-arg:")) args.set(k.slice("build-arg:".length), v);
    if (!registry.recordBuild(r.session, args)) return denied(ctx, `Solve: session ${JSON.stringify(r.session)} already served ${MAX_SESSION_BUILDS} builds with different build arguments`, "buildkit.session");
  }
  if (r.ref !== "") {
    const prev = SOLVES.get(r.ref);
    if (prev !== undefined && prev !== ownerOf(ctx.client)) return denied(ctx, `Solve: ref ${JSON.stringify(r.ref)} is another client's build`, "buildkit.session");
    SOLVES.set(r.ref, ownerOf(ctx.client));
    if (SOLVES.size > MAX_SOLVES) SOLVES.delete(SOLVES.keys().next().value!); // the oldest
    solveStarted(r.ref);

  }
  return { kind: "pass" };
}

/** Status calls waiting for the Solve that starts their ref (clients send both at once). */
const REF_WAITERS = new Map<string, Set<() => void>>();
const REF_WAIT_MS = 5000;

function solveStarted(ref: string): void {
  const w = REF_WAITERS.get(ref);
  if (w) for (const wake of w) wake();
}

function waitForSolve(ref: string): Promise<void> {
  if (SOLVES.has(ref)) return Promise.resolve();
  return new Promise((resolve) => {
    let set = REF_WAITERS.get(ref);
    if (!set) REF_WAITERS.set(ref, (set = new Set()));
    const wake = (): void => {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0) REF_WAITERS.delete(ref);
      resolve();
    };
    const timer = setTimeout(wake, REF_WAIT_MS);
    set.add(wake);
  });
}

async function statusDecision(body: Buffer, ctx: ControlContext): Promise<Exclude<CallDecision, { kind: "inspect" }>> {
  let ref = "";
  try {
    for (const f of fields(unary(body))) {
      if (f.no === 1 && f.wire === 2) ref = str(f.value);
      else throw new WireError(`StatusRequest field ${f.no}`);
    }
  } catch (err) {
    if (err instanceof WireError) return denied(ctx, `Status request dockgate cannot decode: ${err.message}`, "buildkit.decode");
    throw err;
  }
  await waitForSolve(ref);
  if (SOLVES.get(ref) !== ownerOf(ctx.client)) return denied(ctx, `Status of build ${JSON.stringify(ref)}: not a build this client started`, "buildkit.session");
  return { kind: "pass" };
}

/** The decision for one call a client makes on /grpc. */
export function decideControlCall(headers: http2.IncomingHttpHeaders, ctx: ControlContext, registry: SessionRegistry = SESSIONS): CallDecision {
  const path = String(headers[":path"] ?? "");
  if (path === "/grpc.health.v1.Health/Check") return { kind: "pass" };
  if (!path.startsWith(CONTROL)) return denied(ctx, `method ${JSON.stringify(path)} is not relayed`, "buildkit.method");
  const method = path.slice(CONTROL.length);
  switch (method) {
    case "ListWorkers":
    case "Info":
    case "DiskUsage":
      return { kind: "pass" };
    case "Prune":
      if (ctx.ownership) return denied(ctx, "Prune removes every tenant's build cache; not available with ownership", "ownership.unsupported");
      if (!ctx.allow.has("BuildPrune")) return denied(ctx, "Prune needs the BuildPrune grant (group build)", "buildkit.method");
      return { kind: "pass" };
    case "Solve":
      return { kind: "inspect", maxBytes: MAX_REQUEST, check: (body) => solveDecision(body, ctx, registry) };
    case "Status":
      return { kind: "inspect", maxBytes: 65536, check: (body) => statusDecision(body, ctx) };
    default:
      return denied(ctx, `method ${JSON.stringify(method)} is not relayed (Solve, Status, ListWorkers, Info, DiskUsage and Prune are)`, "buildkit.method");
  }
}
