// Method + decoded path → operation id, as the daemon's router would route it.
//
// The daemon registers every route twice, with and without a "/v{version:[0-9.]+}" prefix, and
// its path parameters are "{name:.*}", so a parameter may swallow "/" characters. Image, plugin
// and distribution names really contain "/", so those parameters match several segments here too;
// every other id is one segment, and a path that would only match by giving a container id a "/"
// is left unmatched (denied): the daemon would answer 404 for it anyway. A path that matches two
// different operations is refused as ambiguous rather than guessed.

import { SPEC_ROUTES } from "./spec-routes.js";

export interface RouteMatch {
  operation: string;
  params: Record<string, string>;
  /** "1.41" for a "/v1.41/..." target, undefined without prefix. */
  apiVersion: string | undefined;
}

export type RouteResult =
  | { ok: true; match: RouteMatch }
  | { ok: false; status: 400 | 404; reason: string };

interface CompiledRoute {
  operation: string;
  regex: RegExp;
  names: string[];
}

/** Routes the daemon serves that the spec does not list. */
const EXTRA_ROUTES = [
  // BuildKit's gRPC endpoint (h2c upgrade), used with /session by `docker buildx` / DOCKER_BUILDKIT=1.
  { method: "POST", path: "/grpc", operation: "Grpc" },
];

const MULTI_SEGMENT_PARAM = /^\/(images|plugins|distribution)\//;

function compile(path: string, operation: string): CompiledRoute {
  const names: string[] = [];
  const multi = MULTI_SEGMENT_PARAM.test(path);
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const param = /^\{([^}]+)\}$/.exec(part);
      if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(param[1]!);
      return multi ? "(.+)" : "([^/]+)";
    })
    .join("");
  return { operation, regex: new RegExp(`^${source}$`), names };
}

interface MethodTable {
  literal: Map<string, string>;
  /** Parameterised routes by their first path segment ("containers", "images", ...). */
  patterns: Map<string, CompiledRoute[]>;
}

function firstSegment(path: string): string {
  const end = path.indexOf("/", 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

function buildTable(): Map<string, MethodTable> {
  const table = new Map<string, MethodTable>();
  for (const r of [...SPEC_ROUTES, ...EXTRA_ROUTES]) {
    let entry = table.get(r.method);
    if (!entry) table.set(r.method, (entry = { literal: new Map(), patterns: new Map() }));
    if (!r.path.includes("{")) {
      entry.literal.set(r.path, r.operation);
      continue;
    }
    const seg = firstSegment(r.path);
    const bucket = entry.patterns.get(seg) ?? [];
    bucket.push(compile(r.path, r.operation));
    entry.patterns.set(seg, bucket);
  }
  // A literal path that a parameterised route of the same method also matches would make the
  // literal fast path below a guess; the spec has none, and this keeps it that way.
  for (const [method, entry] of table) {
    for (const path of entry.literal.keys()) {
      for (const route of entry.patterns.get(firstSegment(path)) ?? []) {
        if (route.regex.test(path)) throw new Error(`route table: ${method} ${path} also matches ${route.operation}`);
      }
    }
  }
  return table;
}

const TABLE = buildTable();
const VERSION_PREFIX = /^\/v([0-9.]+)(\/.*)$/;
const STRICT_VERSION = /^[0-9]+\.[0-9]+$/;
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Operation ids of every route dockgate knows (spec plus extras). */
export const KNOWN_OPERATIONS: ReadonlySet<string> = new Set(
  [...SPEC_ROUTES, ...EXTRA_ROUTES].map((r) => r.operation),
);

export function matchRoute(method: string, path: string): RouteResult {
  let apiVersion: string | undefined;
  let rest = path;
  const v = VERSION_PREFIX.exec(path);
  if (v) {
    if (!STRICT_VERSION.test(v[1]!)) {
      return { ok: false, status: 400, reason: `API version "${v[1]}" is not of the form MAJOR.MINOR` };
    }
    apiVersion = v[1];
    rest = v[2]!;
  }
  const entry = TABLE.get(method);
  if (!entry) return { ok: false, status: 404, reason: `no API operation for ${method} ${rest}` };
  const literal = entry.literal.get(rest);
  if (literal) return { ok: true, match: { operation: literal, params: NO_PARAMS, apiVersion } };
  let found: RouteMatch | undefined;
  for (const route of entry.patterns.get(firstSegment(rest)) ?? []) {
    const m = route.regex.exec(rest);
    if (!m) continue;
    if (found && found.operation !== route.operation) {
      return { ok: false, status: 400, reason: `path ${rest} is ambiguous (${found.operation} or ${route.operation})` };
    }
    if (found) continue;
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => (params[name] = m[i + 1]!));
    found = { operation: route.operation, params, apiVersion };
  }
  if (!found) return { ok: false, status: 404, reason: `no API operation for ${method} ${rest}` };
  return { ok: true, match: found };
}

/**
 * The lookups `docker inspect NAME` makes in turn (docker/cli system/inspect.go inspectAll), going
 * on to the next type only after a not-found answer (404, or a message with "not supported" /
 * "invalid reference format") and printing `Error: No such object: NAME` when every type missed.
 * A profile that does not grant one of them answers it 404, not 403 (the gate's notAllowed): a
 * 403 would stop the CLI there with a policy error for a name that simply does not exist. The
 * 404 says nothing about the object (it is the answer whether or not the object exists, and
 * nothing is forwarded); its message still names the operation and rule endpoint.allow.
 */
export const INSPECT_PROBES: ReadonlySet<string> = new Set([
  "ContainerInspect", "ImageInspect", "NetworkInspect", "VolumeInspect", "PluginInspect",
  "ServiceInspect", "TaskInspect", "NodeInspect", "SecretInspect", "ConfigInspect",
]);
