// Which operations are inspected, and how. The engine (src/policy/engine.ts) calls `query` first,
// then buffers and parses the body (400 on JSON Go would not read the same way) and calls `body`.
// Operation ids are the API spec's (swagger v1.56): exec create is `ContainerExec`, commit is
// `ImageCommit`.
//
// Every inspection is fail-closed: an unexpected JSON type in an inspected field is a `body.type`
// violation, unknown modes and types are refused, and paths / names are normalized the way the
// daemon reads them before they are compared.

import type { GoValue } from "../gojson.js";
import type { HostNetwork } from "../host-network.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { imageBuild } from "./build.js";
import { containerCreate, containerStart, containerUpdate } from "./container.js";
import { containerExec } from "./exec.js";
import { imageCommit, imageCreate } from "./image.js";
import { IMAGE_POLICY } from "./image-policy.js";
import { networkConnect, networkCreate } from "./network.js";
import { pluginInspections } from "./plugin.js";
import { serviceCreate, serviceUpdate } from "./service.js";
import { volumeCreate } from "./volume.js";

export { formBodyViolation } from "./util.js";

export interface Violation {
  /** Stable rule id (see RULES in ../rules.ts), e.g. "containers.privileged". */
  rule: string;
  /** Dotted path in the client's own key spelling, e.g. "HostConfig.Binds[0]", or a query key. */
  field: string;
  /** A sentence for the client, e.g. `HostConfig.Binds[0]: host path "/etc" is not in the allowed bind paths`. */
  detail: string;
}

/** What the inspections know about the daemon, given to the gate (not settings: facts). */
export interface InspectContext {
  readonly hostNetwork: HostNetwork;
}

export interface Inspection {
  /** Checks on the query string of this operation (e.g. ImageBuild networkmode, ImageCreate fromSrc). */
  query?(req: RequestView, rules: RuleSettings, ctx: InspectContext): Violation | null;
  /** Present when the operation's JSON body must be buffered and inspected. `body` is undefined when the request had no body. */
  body?(body: GoValue | undefined, req: RequestView, rules: RuleSettings, ctx: InspectContext): Violation | null;
}

/** Both inspections of one operation: the first violation of `a`'s checks, then of `b`'s. */
function combine(a: Inspection | undefined, b: Inspection): Inspection {
  if (a === undefined) return b;
  const out: Inspection = {};
  if (a.query || b.query) out.query = (req, rules, ctx) => a.query?.(req, rules, ctx) ?? b.query?.(req, rules, ctx) ?? null;
  if (a.body || b.body) out.body = (body, req, rules, ctx) => a.body?.(body, req, rules, ctx) ?? b.body?.(body, req, rules, ctx) ?? null;
  return out;
}

const OWN_INSPECTIONS: ReadonlyMap<string, Inspection> = new Map<string, Inspection>([
  ["ContainerCreate", containerCreate],
  ["ContainerUpdate", containerUpdate],
  ["ContainerStart", containerStart],
  ["ContainerExec", containerExec],
  ["ImageBuild", imageBuild],
  ["ImageCreate", imageCreate],
  ["ImageCommit", imageCommit],
  ["VolumeCreate", volumeCreate],
  ["NetworkCreate", networkCreate],
  ["NetworkConnect", networkConnect],
  ["ServiceCreate", serviceCreate],
  ["ServiceUpdate", serviceUpdate],
  ...pluginInspections,
]);

/** Every operation's inspection; the image policy (registries the daemon is made to contact) joins each operation's own. */
const INSPECTIONS: ReadonlyMap<string, Inspection> = new Map([
  ...OWN_INSPECTIONS,
  ...[...IMAGE_POLICY].map(([op, policy]) => [op, combine(OWN_INSPECTIONS.get(op), policy)] as const),
]);

/** The inspection for an operation id, or undefined when the operation is passed as is. */
export function inspectionFor(operation: string): Inspection | undefined {
  return INSPECTIONS.get(operation);
}

/** Operation ids that have an inspection (for docs and tests). */
export const INSPECTED_OPERATIONS: readonly string[] = Object.freeze([...INSPECTIONS.keys()]);
