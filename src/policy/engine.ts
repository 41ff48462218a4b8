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
// In audit mode every would-be denial becomes an allow carrying `audit` (for the log).
// Everything that does not depend on the request is computed once per profile and operation:
// the common allow is two Map lookups and a shared frozen verdict.

import type { Config, ProfileConfig } from "../config/types.js";
import { GoJsonError, type GoValue, parseGoJson } from "./gojson.js";
import { type Inspection, type Violation, inspectionFor } from "./inspect/index.js";
import type { RuleSettings } from "./rules.js";
import type { BodyCheck, Client, Denial, Gate, RequestView, Verdict } from "./verdict.js";
import { OPERATIONS } from "../config/groups.js";

/** Rule ids the gate itself produces (the inspections' ids are in rules.ts RULES). */
export const GATE_RULES: ReadonlyArray<{ id: string; status: number; describe: string }> = [
  { id: "endpoint.allow", status: 403, describe: "the operation is not in the profile's allow list" },
  { id: "api.min-version", status: 403, describe: "the /vX.Y prefix asks for an API version below the profile's minApiVersion" },
  { id: "body.json", status: 400, describe: "an inspected request body is not JSON the daemon would read the same way" },
  { id: "profile.unknown", status: 403, describe: "the client's profile does not exist (a dockgate bug: configs are validated)" },
  { id: "inspect.error", status: 500, describe: "an inspection failed unexpectedly; the request is denied" },
];

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
  ops: ReadonlyMap<string, Plan>;
  maxBodyBytes: number;
}

function frozenDenial(status: number, message: string, rule: string, field?: string): Denial {
  const d: Denial = field === undefined ? { status, message, rule } : { status, message, rule, field };
  return Object.freeze(d);
}

/** The denial for an inspection's violation, in the documented message form. */
export function violationDenial(operation: string, profile: string, v: Violation, status = 403): Denial {
  return frozenDenial(status, `dockgate: ${operation} denied for profile ${profile}: ${v.detail} (rule ${v.rule})`, v.rule, v.field);
}

function notAllowed(operation: string, profile: string): Denial {
  return frozenDenial(403, `dockgate: ${operation} denied for profile ${profile}: operation is not allowed (rule endpoint.allow)`, "endpoint.allow");
}

function refuse(plan: ProfilePlan, denial: Denial): Verdict {
  return plan.audit ? { kind: "allow", audit: denial } : { kind: "deny", denial };
}

function planProfile(p: ProfileConfig, maxBodyBytes: number): ProfilePlan {
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
  return {
    name: p.name,
    audit,
    rules: p.rules,
    minApiVersion: p.minApiVersion,
    minParts: p.minApiVersion.split(".").map((s) => Number(s)),
    ops,
    maxBodyBytes,
  };
}

/** The engine's gate decides synchronously (no daemon lookups): usable wherever a Gate is. */
export interface SyncGate extends Gate {
  decide(request: RequestView, client: Client): Verdict;
}

export function createGate(config: Config): SyncGate {
  const plans = new Map<string, ProfilePlan>();
  for (const [name, p] of config.profiles) plans.set(name, planProfile(p, config.limits.maxBodyBytes));

  return {
    decide(req: RequestView, client: Client): Verdict {
      const plan = plans.get(client.profile);
      if (plan === undefined) {
        return {
          kind: "deny",
          denial: frozenDenial(403, `dockgate: ${req.operation} denied: unknown profile ${client.profile} (rule profile.unknown)`, "profile.unknown"),
        };
      }
      if (req.apiVersion !== undefined && versionBelow(req.apiVersion, plan.minParts)) {
        return refuse(plan, frozenDenial(
          403,
          `dockgate: ${req.operation} denied for profile ${plan.name}: API version ${req.apiVersion} is below the profile's minimum ${plan.minApiVersion} (rule api.min-version)`,
          "api.min-version",
        ));
      }
      const op = plan.ops.get(req.operation);
      if (op === undefined) return refuse(plan, notAllowed(req.operation, plan.name));
      if (op.kind === "fixed") return op.verdict;
      return inspectRequest(plan, op.inspection, req);
    },
  };
}

function inspectRequest(plan: ProfilePlan, inspection: Inspection, req: RequestView): Verdict {
  let queryAudit: Denial | undefined;
  if (inspection.query) {
    let v: Violation | null;
    try {
      v = inspection.query(req, plan.rules);
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
    const v = body(value, req, plan.rules);
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

/**
 * `v` < `min`, compared as the daemon's versions.LessThan does (dot-separated parts as Go's
 * strconv.Atoi reads them, anything else 0, missing parts 0), without allocating.
 */
export function versionBelow(v: string, min: readonly number[]): boolean {
  const n = v.length;
  let start = 0;
  let vDone = false;
  for (let k = 0; !vDone || k < min.length; k++) {
    let x = 0;
    if (!vDone) {
      let end = v.indexOf(".", start);
      if (end < 0) end = n;
      x = atoi(v, start, end);
      if (end === n) vDone = true;
      else start = end + 1;
    }
    const y = k < min.length ? min[k]! : 0;
    if (x !== y) return x < y;
  }
  return false;
}

function atoi(s: string, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (i < end && (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d)) {
    neg = s.charCodeAt(i) === 0x2d;
    i++;
  }
  if (i >= end) return 0;
  let x = 0;
  for (; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return 0;
    x = x * 10 + c;
  }
  return neg ? -x : x;
}
