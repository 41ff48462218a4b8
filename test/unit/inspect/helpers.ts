import { parseGoJson } from "../../../src/policy/gojson.js";
import { HostNetwork } from "../../../src/policy/host-network.js";
import { type InspectContext, inspectionFor, type Violation } from "../../../src/policy/inspect/index.js";
import { ruleSettings } from "../../../src/config/load.js";
import { DEFAULT_RULES, type RuleSettings } from "../../../src/policy/rules.js";
import type { RequestView } from "../../../src/policy/verdict.js";

export function rules(raw: Record<string, unknown> = {}): RuleSettings {
  return ruleSettings(raw);
}

export function request(
  operation: string,
  query: ReadonlyArray<readonly [string, string]> = [],
  headers: Record<string, string> = {},
  params: Record<string, string> = {},
): RequestView {
  return { method: "POST", path: "/", apiVersion: undefined, operation, params, query, headers };
}

/** The daemon as most tests see it: its host network's id known, none (only the name "host" is refused). */
export const NO_HOST_IDS: InspectContext = { hostNetwork: new HostNetwork([]) };

/** Runs the operation's body inspection on a JSON text (or an object, stringified). */
export function body(operation: string, json: unknown, r: RuleSettings = DEFAULT_RULES, apiVersion?: string, ctx: InspectContext = NO_HOST_IDS): Violation | null {
  const insp = inspectionFor(operation);
  if (!insp?.body) throw new Error(`${operation} has no body inspection`);
  const text = typeof json === "string" ? json : JSON.stringify(json);
  const value = text === "" ? undefined : parseGoJson(Buffer.from(text, "utf8"));
  const req = { ...request(operation), apiVersion };
  return insp.body(value, req, r, ctx);
}

export function query(
  operation: string,
  q: ReadonlyArray<readonly [string, string]>,
  r: RuleSettings = DEFAULT_RULES,
  headers: Record<string, string> = {},
  params: Record<string, string> = {},
  ctx: InspectContext = NO_HOST_IDS,
): Violation | null {
  const insp = inspectionFor(operation);
  if (!insp?.query) throw new Error(`${operation} has no query inspection`);
  return insp.query(request(operation, q, headers, params), r, ctx);
}

/** The rule id of a violation, or null: compact for expect(). */
export function ruleOf(v: Violation | null): string | null {
  return v ? v.rule : null;
}

/** A create body with the given HostConfig. */
export function create(hostConfig: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ Image: "alpine", Cmd: ["true"], ...extra, HostConfig: hostConfig });
}
