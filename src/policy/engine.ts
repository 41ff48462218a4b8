// The gate: one decision per request, from the profile the client's listener selected.
//
//   1. profile lookup (unknown profile → deny; cannot happen with a validated config)
//   2. `/vX.Y` below the profile's minApiVersion → deny (rule api.min-version)
//   3. operation not in the profile's allow set → deny (rule endpoint.allow)
//   4. the operation's query inspection, if it has one → deny on a violation
//   5. the operation's body inspection, if it has one → `inspect`: the core buffers the body and
//      calls check.inspect(bytes): empty → inspection sees `undefined`; not Go-parseable JSON →
//      400 (rule body.json); a violation → deny
//
//   6. ownership (profiles with `ownership`, see ownership.ts): after the steps above allowed the
//      request, the operation's ownership step runs: a path/query step (lookups of `{id}`s, label
//      filters: asynchronous where the daemon is asked) and, for creates and connects, a body step
//      on the body the rules passed (owner label, referenced networks and volumes); the body is
//      parsed once and re-serialized (gojson toJson) only when ownership changed it. Operations
//      ownership cannot scope are denied (rule ownership.unsupported).
//   7. images (ContainerCreate, every profile; refs.ts pinImages): the images the body names are
//      resolved with the daemon, checked (WORKDIR under /proc: containers.workdir; under
//      rules.images.allow, the name written or the image's own references: images.reference) and forwarded
//      as the ids that were checked; what a step rewrote to an id is recorded for read-back
//      (readback.ts: inspect, list and system df show the client's spelling).
//
// In audit mode every would-be denial becomes an allow carrying `audit` (for the log).
// Everything that does not depend on the request is computed once per profile and operation:
// the common allow is two Map lookups and a shared frozen verdict. Profiles without ownership
// decide synchronously and allocate nothing on that path; a Promise comes only from ownership
// lookups and from a create's image step (when the daemon must be asked).

import { INSPECT_PROBES } from "../api/routes.js";
import type { Config, HardeningConfig, ProfileConfig } from "../config/types.js";
import { type DaemonClient, daemonClient } from "./daemon.js";
import { GoJsonError, type GoValue, parseGoJson, toJson } from "./gojson.js";
import { type InspectContext, type Inspection, type Violation, inspectionFor } from "./inspect/index.js";
import { HostNetwork, hostNetworkOf } from "./host-network.js";
import { withArchivePrefixCheck } from "./archive.js";
import { withContextCheck } from "./build-context.js";
import { isBuildKitQuery } from "./buildkit/build-query.js";
import { withLoadCheck } from "./image-load.js";
import { withSessionBinding } from "./buildkit/sessions.js";
import { NO_HARDENING, hardenBuildQuery, hardenContainerCreate, hardenContainerUpdate } from "./mutate.js";
import {
  type BodyOutcome,
  OWNED_OPERATIONS,
  type OwnedOperation,
  type OwnershipContext,
  type PreResult,
  unsupportedDenial,
} from "./ownership.js";
import { DF_READBACK, INSPECT_READBACK, LIST_READBACK, recordRewrites, spellings, type Spellings } from "./readback.js";
import { type ImagePolicyCheck, type RefResolver, pinImages, resolverFor } from "./refs.js";
import { createImageViolation } from "./inspect/image-policy.js";
import { hideOwner } from "./hide-owner.js";
import { redactContainerInspect, redactImageInspect, redactInfo, redactSystemDf } from "./redact.js";
import { type RuleSettings, catalogued, withOwnSocket } from "./rules.js";
import type { BodyCheck, BodyResult, Client, Denial, Gate, RequestView, ResponseTransform, Rewrite, Verdict } from "./verdict.js";
import { OPERATIONS } from "../config/groups.js";
import { versionBelow, versionParts } from "../api/engine.js";

const ALLOW: Verdict = Object.freeze({ kind: "allow" });

type Plan =
  | { kind: "fixed"; verdict: Verdict }
  | { kind: "inspect"; inspection: Inspection };

interface ProfilePlan {
  name: string;
  audit: boolean;
  rules: RuleSettings;
  minApiVersion: string;
  minParts: readonly number[];
  /** What the inspections know about the daemon (the gate's, shared by its profiles). */
  context: InspectContext;
  ops: ReadonlyMap<string, Plan>;
  maxBodyBytes: number;
  /** Set for profiles with ownership, mutate or redact (the layered path). */
  layers: Layers | undefined;
  /** With bindMounts.ownSocket: this plan as seen through each unix socket (planFor). */
  bySocket: Map<string, ProfilePlan>;
}

/**
 * The plan a client's request is decided by: with `bindMounts: { allow: [{ ownSocket: true }] }`
 * the rules allow binding the socket this client connected through, so one profile shared by
 * several listeners lets each mount its own socket and never another's. Made once per socket.
 */
function planFor(plan: ProfilePlan, client: Client): ProfilePlan {
  if (!plan.rules.bindMounts.ownSocket || client.socket === undefined) return plan;
  let p = plan.bySocket.get(client.socket);
  if (p === undefined) {
    p = { ...plan, rules: withOwnSocket(plan.rules, client.socket) };
    plan.bySocket.set(client.socket, p);
  }
  return p;
}

function frozenDenial(status: number, message: string, rule: string, field?: string): Denial {
  catalogued(rule);
  const d: Denial = field === undefined ? { status, message, rule } : { status, message, rule, field };
  return Object.freeze(d);
}

/** The denial for an inspection's violation, in the documented message form. */
export function violationDenial(operation: string, profile: string, v: Violation, status = 403): Denial {
  return frozenDenial(status, `dockgate: ${operation} denied for profile ${profile}: ${v.detail} (rule ${v.rule})`, v.rule, v.field);
}

/** 403, except for the lookups `docker inspect NAME` probes (404: see INSPECT_PROBES). */
function notAllowed(operation: string, profile: string): Denial {
  return frozenDenial(INSPECT_PROBES.has(operation) ? 404 : 403, `dockgate: ${operation} denied for profile ${profile}: operation is not allowed (rule endpoint.allow)`, "endpoint.allow");
}

/** Deny, or in audit mode allow (unchanged) noting `audit`; `denial` is what enforce mode answers. */
function refuse(plan: ProfilePlan, audit: Denial, denial: Denial = audit): Verdict {
  return plan.audit ? { kind: "allow", audit } : { kind: "deny", denial };
}

function planProfile(p: ProfileConfig, maxBodyBytes: number, daemon: () => DaemonClient, checkImages: boolean, context: InspectContext): ProfilePlan {
  const ops = new Map<string, Plan>();
  const audit = p.mode === "audit";
  for (const op of OPERATIONS) {
    if (!p.allow.has(op)) {
      const denial = notAllowed(op, p.name);
      const verdict: Verdict = audit ? { kind: "allow", audit: denial } : { kind: "deny", denial };
      ops.set(op, { kind: "fixed", verdict: Object.freeze(verdict) });
      continue;
    }
    const inspection = inspectionFor(op);
    if (inspection && (inspection.query || inspection.body)) ops.set(op, { kind: "inspect", inspection });
    else ops.set(op, { kind: "fixed", verdict: ALLOW });
  }
  const layers = planLayers(p, daemon, checkImages);
  if (layers !== undefined && layers.ownership === undefined) {
    // Without ownership, redaction is part of the operation's fixed verdict (shared, frozen):
    // only the hardened operations take the layered path.
    for (const [op, response] of layers.responses) {
      const plan = ops.get(op);
      if (plan?.kind !== "fixed" || plan.verdict.kind !== "allow") continue;
      const v: Verdict = { kind: "allow", rewrite: Object.freeze({ response }) };
      if (plan.verdict.audit) v.audit = plan.verdict.audit;
      ops.set(op, { kind: "fixed", verdict: Object.freeze(v) });
    }
  }
  return {
    name: p.name,
    audit,
    rules: p.rules,
    context,
    minApiVersion: p.minApiVersion,
    minParts: versionParts(p.minApiVersion),
    ops,
    maxBodyBytes,
    layers,
    bySocket: new Map(),
  };
}

export interface GateOptions {
  /** The daemon client ownership lookups use (default: the shared one for config.upstream). */
  daemon?: DaemonClient;
  /**
   * Resolve the images a container create names with the daemon, check them (WORKDIR) and forward
   * their ids, and bind BuildKit builds to live sessions (default true). `explain` turns it off:
   * it decides without a daemon.
   */
  checkImages?: boolean;
  /**
   * The host network's ids. Default: those of the daemon client's daemon (hostNetworkOf), or,
   * without a daemon (checkImages false), not known: then every reference that could be an id
   * prefix counts as the host network (fail closed).
   */
  hostNetwork?: HostNetwork;
}

/**
 * The gate for a validated config. decide() is synchronous for profiles without ownership and
 * returns a Promise only for ownership profiles' requests that need the daemon.
 */
export function createGate(config: Config, options: GateOptions = {}): Gate {
  const plans = new Map<string, ProfilePlan>();
  let daemon = options.daemon;
  const getDaemon = () => (daemon ??= daemonClient(config.upstream));
  const checkImages = options.checkImages ?? true;
  const context: InspectContext = { hostNetwork: options.hostNetwork ?? (checkImages ? hostNetworkOf(getDaemon()) : new HostNetwork()) };
  for (const [name, p] of config.profiles) plans.set(name, planProfile(p, config.limits.maxBodyBytes, getDaemon, checkImages, context));

  return {
    decide(req: RequestView, client: Client): Verdict | Promise<Verdict> {
      const profilePlan = plans.get(client.profile);
      if (profilePlan === undefined) {
        return {
          kind: "deny",
          denial: frozenDenial(403, `dockgate: ${req.operation} denied: unknown profile ${client.profile} (rule profile.unknown)`, "profile.unknown"),
        };
      }
      const plan = planFor(profilePlan, client);
      const verdict = decideFor(plan, req, client);
      switch (req.operation) {
        case "PutContainerArchive":
          // The body's first bytes are checked as it streams (archive.ts).
          return plan.rules.compressedArchives ? verdict : withArchivePrefixCheck(verdict, plan.name, plan.audit);
        case "ImageLoad":
          // The archive's repository tags are checked (and, under ownership, reported) as it streams (image-load.ts).
          return plan.rules.images.allow.length === 0 && plan.layers?.ownership === undefined ? verdict : withLoadCheck(verdict, plan.rules, plan.audit, (v) => violationDenial(req.operation, plan.name, v));
        case "ImageBuild":
          // A classic build's Dockerfile, in the context tar, is checked as it streams (build-context.ts).
          if (!isBuildKitQuery(req)) return plan.rules.images.allow.length === 0 ? verdict : withContextCheck(verdict, req, plan.rules, plan.audit, (v) => violationDenial(req.operation, plan.name, v));
          return checkImages ? withSessionBinding(verdict, req, client, plan.name, plan.audit) : verdict;
        case "Session":
          // A BuildKit build may use only a session its own client opened (buildkit/sessions.ts).
          // Without the daemon (explain) there are no live connections, hence no sessions to bind to.
          return checkImages ? withSessionBinding(verdict, req, client, plan.name, plan.audit) : verdict;
        default:
          return verdict;
      }
    },
  };
}

/** One profile's decision: API version, the operation's plan, then its inspections and layers. */
function decideFor(plan: ProfilePlan, req: RequestView, client: Client): Verdict | Promise<Verdict> {
  if (req.apiVersion !== undefined && versionBelow(req.apiVersion, plan.minParts)) {
    return refuse(plan, frozenDenial(
      403,
      `dockgate: ${req.operation} denied for profile ${plan.name}: API version ${req.apiVersion} is below the profile's minimum ${plan.minApiVersion} (rule api.min-version)`,
      "api.min-version",
    ));
  }
  const op = plan.ops.get(req.operation);
  if (op === undefined) return refuse(plan, notAllowed(req.operation, plan.name));
  const layers = plan.layers;
  if (layers !== undefined && (layers.ownership !== undefined || layers.bodyOps.has(req.operation))) {
    return decideLayered(plan, layers, op, req, client);
  }
  if (op.kind === "fixed") return op.verdict;
  return inspectRequest(plan, op.inspection, req);
}

// ── layered profiles: ownership, mutate, redact ──

/** Per-profile settings of the layered path (profiles with ownership, mutate or redact). */
interface Layers {
  ownership: OwnershipContext | undefined;
  /** ContainerCreate: hardening to apply (the profile's mutate, or none: only the shape is normalized). */
  harden: HardeningConfig | undefined;
  /** ContainerUpdate: the profile's maxima. */
  hardenUpdate: HardeningConfig | undefined;
  /** Redaction of responses, by operation. */
  responses: ReadonlyMap<string, ResponseTransform>;
  /** Operations whose body a layer rewrites or checks (hardening, images), besides ownership's. */
  bodyOps: ReadonlySet<string>;
  /** ContainerCreate: the resolver that pins its images (refs.ts pinImages); unset for `explain`. */
  images: RefResolver | undefined;
}

const RESPONSE_MAX_BYTES = 64 * 1048576;


function planLayers(p: ProfileConfig, daemon: () => DaemonClient, checkImages: boolean): Layers | undefined {
  if (p.ownership === undefined && p.mutate === undefined && p.redact === undefined && !checkImages) return undefined;
  let ownership: OwnershipContext | undefined;
  if (p.ownership !== undefined) {
    const resolver = resolverFor(daemon());
    resolver.use(p.ownership.label);
    const shared = p.mutate?.network === undefined ? [] : [p.mutate.network];
    ownership = { label: p.ownership.label, profile: p.name, resolver, sharedNetworks: new Set(shared) };
  }
  const responses = new Map<string, ResponseTransform>();
  const r = p.redact;
  if (r !== undefined) {
    if (r.containerEnv !== undefined) {
      const cfg = r;
      responses.set("ContainerInspect", Object.freeze({ maxBytes: RESPONSE_MAX_BYTES, transform: (b: Buffer) => redactContainerInspect(b, cfg) }));
      responses.set("ImageInspect", Object.freeze({ maxBytes: RESPONSE_MAX_BYTES, transform: (b: Buffer) => redactImageInspect(b, cfg) }));
    }
    if (r.info.length > 0) {
      const fields = r.info;
      responses.set("SystemInfo", Object.freeze({ maxBytes: RESPONSE_MAX_BYTES, transform: (b: Buffer) => redactInfo(b, fields) }));
    }
    if (r.systemDf.length > 0) {
      const fields = r.systemDf;
      responses.set("SystemDataUsage", Object.freeze({ maxBytes: RESPONSE_MAX_BYTES, transform: (b: Buffer) => redactSystemDf(b, fields) }));
    }
  }
  // Creates forward images (and ownership's networks) by id: inspect and list read them back as written.
  const images = checkImages ? resolverFor(daemon()) : undefined;
  if (checkImages) {
    responses.set("ContainerInspect", chain(INSPECT_READBACK, responses.get("ContainerInspect"))!);
    responses.set("ContainerList", LIST_READBACK);
    responses.set("SystemDataUsage", chain(DF_READBACK, responses.get("SystemDataUsage"))!);
  }
  const harden = p.mutate ?? (ownership ? NO_HARDENING : undefined);
  const bodyOps = new Set<string>();
  if (harden || images) bodyOps.add("ContainerCreate");
  if (p.mutate) bodyOps.add("ContainerUpdate");
  if (p.mutate?.memory || p.mutate?.nanoCpus) bodyOps.add("ImageBuild"); // RUN containers' limits are in its query
  return { ownership, harden, hardenUpdate: p.mutate, responses, bodyOps, images };
}

/** Both transforms, `first` on the daemon's body, then `second`. */
function chain(first: ResponseTransform | undefined, second: ResponseTransform | undefined): ResponseTransform | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return { maxBytes: Math.max(first.maxBytes, second.maxBytes), transform: (b, status) => second.transform(first.transform(b, status), status) };
}

/** The body steps of one request, after the rules: hardening (sync) then ownership (async). */
type BodyStep =
  | { kind: "harden"; config: HardeningConfig }
  | { kind: "harden-update"; config: HardeningConfig }
  | { kind: "own"; op: OwnedOperation; ctx: OwnershipContext; client: Client }
  | { kind: "images"; resolver: RefResolver };

function decideLayered(plan: ProfilePlan, layers: Layers, op: Plan, req: RequestView, client: Client): Verdict | Promise<Verdict> {
  // What the profile decides without the layers first: a denial stands, no lookup is made.
  let audit: Denial | undefined;
  let inspection: Inspection | undefined;
  if (op.kind === "fixed") {
    if (op.verdict.kind === "deny") return op.verdict;
    if (op.verdict.kind === "allow") audit = op.verdict.audit;
  } else {
    const q = queryPhase(plan, op.inspection, req);
    if (q.kind === "deny") return q;
    audit = q.audit;
    inspection = op.inspection;
  }

  const steps: BodyStep[] = [];
  if (req.operation === "ContainerCreate" && layers.harden) steps.push({ kind: "harden", config: layers.harden });
  if (req.operation === "ContainerUpdate" && layers.hardenUpdate) steps.push({ kind: "harden-update", config: layers.hardenUpdate });
  const redact = layers.responses.get(req.operation);

  const ctx = layers.ownership;
  let owned: OwnedOperation | undefined;
  if (ctx !== undefined) {
    owned = OWNED_OPERATIONS.get(req.operation);
    if (owned === undefined) return refuse(plan, audit ?? unsupportedDenial(req, plan.name), unsupportedDenial(req, plan.name));
    if (owned.body) steps.push({ kind: "own", op: owned, ctx, client });
  }
  // Last: the images of the body every earlier step agreed on.
  if (req.operation === "ContainerCreate" && layers.images) steps.push({ kind: "images", resolver: layers.images });

  const finish = (pre: PreResult): Verdict => {
    if (!pre.ok) return refuse(plan, audit ?? pre.denial, pre.denial);
    // The owner label is hidden from the answer before redaction sees it (hide-owner.ts).
    const response = chain(chain(pre.rewrite?.response, ctx && hideOwner(req.operation, ctx.label)), redact);
    let rewrite: Rewrite | undefined = pre.rewrite;
    if (response !== pre.rewrite?.response) rewrite = { ...pre.rewrite, response };
    const mutate = layers.hardenUpdate;
    if (req.operation === "ImageBuild" && (mutate?.memory || mutate?.nanoCpus)) {
      const hardened = hardenBuildQuery(rewrite?.query ?? req.query, mutate);
      if (!hardened.ok) {
        const d = violationDenial(req.operation, plan.name, hardened.violation);
        return refuse(plan, audit ?? d, d);
      }
      rewrite = { ...rewrite, query: hardened.query };
    }
    if (inspection?.body === undefined && steps.length === 0) {
      const v: Verdict = { kind: "allow" };
      if (audit) v.audit = audit;
      if (rewrite) v.rewrite = rewrite;
      return v;
    }
    const check = layeredCheck(plan, inspection, steps, req, audit);
    return rewrite ? { kind: "inspect", check, rewrite } : { kind: "inspect", check };
  };
  if (owned?.pre === undefined) return finish(PRE_OK);
  let pre: PreResult | Promise<PreResult>;
  try {
    pre = owned.pre(req, client, ctx!);
  } catch (err) {
    return refuse(plan, inspectError(plan, req, err));
  }
  return pre instanceof Promise ? pre.then(finish, (err: unknown) => refuse(plan, inspectError(plan, req, err))) : finish(pre);
}

const PRE_OK: PreResult = Object.freeze({ ok: true });

/**
 * The body step of a layered profile: parse once; the rules' inspection on the client's body;
 * hardening; ownership; images. The forwarded body is the re-serialized result when a step
 * rewrote it; references rewritten to ids are recorded for read-back (readback.ts). Synchronous
 * unless an ownership or image step has to ask the daemon.
 */
function layeredCheck(plan: ProfilePlan, inspection: Inspection | undefined, steps: readonly BodyStep[], req: RequestView, audit: Denial | undefined): BodyCheck {
  // In audit mode a refused step lets the client's own body through, noting the first refusal.
  const refused = (d: Denial): BodyResult => (plan.audit ? { ok: true, audit: audit ?? d } : { ok: false, denial: d });
  const done = (value: GoValue | undefined, rewritten: boolean, before: Spellings | undefined): BodyResult => {
    if (before !== undefined) {
      let recorded: boolean | string;
      try {
        recorded = recordRewrites(before, value);
      } catch (err) {
        return refused(inspectError(plan, req, err));
      }
      if (typeof recorded === "string") return refused(bodyDenial(plan, req, recorded));
      rewritten ||= recorded;
    }
    if (!rewritten) return audit ? { ok: true, audit } : { ok: true };
    let body: Buffer;
    try {
      body = Buffer.from(toJson(value ?? null), "utf8");
    } catch (err) {
      return refused(inspectError(plan, req, err));
    }
    return audit ? { ok: true, body, audit } : { ok: true, body };
  };
  const tracked = steps.some((s) => s.kind === "images");
  const run = (value: GoValue | undefined, rewritten: boolean, from: number, before: Spellings | undefined): BodyResult | Promise<BodyResult> => {
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.kind === "harden") {
        let r;
        try {
          r = hardenContainerCreate(value, step.config, plan.rules);
        } catch (err) {
          return refused(inspectError(plan, req, err));
        }
        if (!r.ok) return refused(violationDenial(req.operation, plan.name, r.violation));
        value = r.body;
        rewritten = true;
      } else if (step.kind === "harden-update") {
        let v;
        try {
          v = hardenContainerUpdate(value, step.config);
        } catch (err) {
          return refused(inspectError(plan, req, err));
        }
        if (v) return refused(violationDenial(req.operation, plan.name, v));
      } else if (step.kind === "images") {
        before ??= spellings(value);
        const next = i + 1;
        const v = value;
        return pinImages(v, step.resolver, req.operation, plan.name, imagePolicy(plan, req)).then(
          (d) => (d ? refused(d) : run(v, rewritten, next, before)),
          (err: unknown) => refused(inspectError(plan, req, err)),
        );
      } else {
        // What the client (and hardening) asked for, before references are rewritten to ids.
        if (tracked) before ??= spellings(value);
        const next = i + 1;
        const after = (out: BodyOutcome): BodyResult | Promise<BodyResult> => (out.ok ? run(out.value, true, next, before) : refused(out.denial));
        let out: BodyOutcome | Promise<BodyOutcome>;
        try {
          out = step.op.body!(value, req, step.client, step.ctx);
        } catch (err) {
          return refused(inspectError(plan, req, err));
        }
        return out instanceof Promise ? out.then(after, (err: unknown) => refused(inspectError(plan, req, err))) : after(out);
      }
    }
    return done(value, rewritten, before);
  };
  return {
    maxBytes: plan.maxBodyBytes,
    inspect(buf: Buffer): BodyResult | Promise<BodyResult> {
      let value: GoValue | undefined;
      if (!isBlank(buf)) {
        try {
          value = parseGoJson(buf);
        } catch (err) {
          // Audit mode: the body cannot be rewritten; it goes through as sent.
          return refused(err instanceof GoJsonError ? bodyJsonDenial(plan, req, err) : inspectError(plan, req, err));
        }
      }
      if (inspection?.body) {
        let d: Denial | undefined;
        try {
          const v = inspection.body(value, req, plan.rules, plan.context);
          d = v ? violationDenial(req.operation, plan.name, v) : undefined;
        } catch (err) {
          d = inspectError(plan, req, err);
        }
        if (d) {
          if (!plan.audit) return { ok: false, denial: d };
          audit ??= d;
        }
      }
      return run(value, false, 0, undefined);
    },
  };
}

/** A create's images under the profile's `images.allow` (image-policy.ts), or nothing to check. */
function imagePolicy(plan: ProfilePlan, req: RequestView): ImagePolicyCheck | undefined {
  if (plan.rules.images.allow.length === 0) return undefined;
  return (field, written, refs) => {
    const v = createImageViolation(field, written, refs, plan.rules);
    return v ? violationDenial(req.operation, plan.name, v) : undefined;
  };
}

/** The query step of an inspected operation: a denial, or the audit note to carry on. */
function queryPhase(plan: ProfilePlan, inspection: Inspection, req: RequestView): { kind: "deny"; denial: Denial } | { kind: "ok"; audit: Denial | undefined } {
  if (!inspection.query) return { kind: "ok", audit: undefined };
  let v: Violation | null;
  try {
    v = inspection.query(req, plan.rules, plan.context);
  } catch (err) {
    const d = inspectError(plan, req, err);
    return plan.audit ? { kind: "ok", audit: d } : { kind: "deny", denial: d };
  }
  if (!v) return { kind: "ok", audit: undefined };
  const denial = violationDenial(req.operation, plan.name, v);
  return plan.audit ? { kind: "ok", audit: denial } : { kind: "deny", denial };
}

function bodyDenial(plan: ProfilePlan, req: RequestView, detail: string): Denial {
  return frozenDenial(400, `dockgate: ${req.operation} denied for profile ${plan.name}: ${detail} (rule body.json)`, "body.json");
}

function bodyJsonDenial(plan: ProfilePlan, req: RequestView, err: GoJsonError): Denial {
  return frozenDenial(
    400,
    `dockgate: ${req.operation} denied for profile ${plan.name}: request body is not valid JSON: ${err.message} (rule body.json)`,
    "body.json",
  );
}


function inspectRequest(plan: ProfilePlan, inspection: Inspection, req: RequestView): Verdict {
  let queryAudit: Denial | undefined;
  if (inspection.query) {
    let v: Violation | null;
    try {
      v = inspection.query(req, plan.rules, plan.context);
    } catch (err) {
      return refuse(plan, inspectError(plan, req, err));
    }
    if (v) {
      const denial = violationDenial(req.operation, plan.name, v);
      if (!plan.audit) return { kind: "deny", denial };
      queryAudit = denial;
    }
  }
  const body = inspection.body;
  if (!body) return queryAudit ? { kind: "allow", audit: queryAudit } : ALLOW;

  const check: BodyCheck = {
    maxBytes: plan.maxBodyBytes,
    inspect(buf: Buffer) {
      const denial = inspectBody(plan, body, req, buf);
      if (denial === undefined) return queryAudit ? { ok: true, audit: queryAudit } : { ok: true };
      if (plan.audit) return { ok: true, audit: queryAudit ?? denial };
      return { ok: false, denial };
    },
  };
  return { kind: "inspect", check };
}

function inspectBody(
  plan: ProfilePlan,
  body: NonNullable<Inspection["body"]>,
  req: RequestView,
  buf: Buffer,
): Denial | undefined {
  let value: GoValue | undefined;
  if (!isBlank(buf)) {
    try {
      value = parseGoJson(buf);
    } catch (err) {
      if (!(err instanceof GoJsonError)) return inspectError(plan, req, err);
      return frozenDenial(
        400,
        `dockgate: ${req.operation} denied for profile ${plan.name}: request body is not valid JSON: ${err.message} (rule body.json)`,
        "body.json",
      );
    }
  }
  try {
    const v = body(value, req, plan.rules, plan.context);
    return v ? violationDenial(req.operation, plan.name, v) : undefined;
  } catch (err) {
    return inspectError(plan, req, err);
  }
}

function inspectError(plan: ProfilePlan, req: RequestView, err: unknown): Denial {
  const what = err instanceof Error ? err.message : String(err);
  return frozenDenial(500, `dockgate: ${req.operation} denied for profile ${plan.name}: inspection failed: ${what} (rule inspect.error)`, "inspect.error");
}

/**
 * Only JSON whitespace (or nothing): Go's json.Decoder reports io.EOF, the same as an empty
 * body, so the inspection sees `undefined` for both.
 */
function isBlank(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}
