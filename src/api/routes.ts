// Method + decoded path → operation id, as the daemon's router would route it.
//
// The daemon registers every route twice, with and without a "/v{version:[0-9.]+}" prefix, and
// its path parameters are "{name:.*}", so a parameter may swallow "/" characters. Image, plugin
// and distribution names really contain "/", so those parameters match several segments here too;
// every other id is one segment, and a path that would only match by giving a container id a "/"
// is left unmatched (denied): the daemon would answer 404 for it anyway. No path may match two
// different operations: the table is checked for that when it is built (routesOverlap), so a
// request takes the first route that matches instead of trying every route of its bucket.

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
  /** The pattern as elements: a literal character, or a parameter ("seg": [^/]+, "any": .+). */
  shape: Array<string | { param: "seg" | "any" }>;
}

/** Routes the daemon serves that the spec does not list. */
const EXTRA_ROUTES = [
  // BuildKit's gRPC endpoint (h2c upgrade), used with /session by `docker buildx` / DOCKER_BUILDKIT=1.
  { method: "POST", path: "/grpc", operation: "Grpc" },
];

const MULTI_SEGMENT_PARAM = /^\/(images|plugins|distribution)\//;

function compile(path: string, operation: string): CompiledRoute {
  const names: string[] = [];
  const shape: CompiledRoute["shape"] = [];
  const multi = MULTI_SEGMENT_PARAM.test(path);
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const param = /^\{([^}]+)\}$/.exec(part);
      if (!param) {
        shape.push(...part);
        return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      }
      names.push(param[1]!);
      shape.push({ param: multi ? "any" : "seg" });
      return multi ? "(.+)" : "([^/]+)";
    })
    .join("");
  return { operation, regex: new RegExp(`^${source}$`), names, shape };
}

/** Whether some path matches both route templates (as the table compiles them). */
export function templatesOverlap(a: string, b: string): boolean {
  return routesOverlap(compile(a, "").shape, compile(b, "").shape);
}

/**
 * Whether some path matches both routes: a walk over pairs of positions in the two shapes, where
 * a parameter consumes one or more characters (of its class) and two elements can step together
 * when one character satisfies both (equal literals; a literal and a parameter that admits it;
 * two parameters: any character but "/").
 */
function routesOverlap(a: CompiledRoute["shape"], b: CompiledRoute["shape"]): boolean {
  // State: position in a, position in b, and whether the parameter at that position has
  // consumed at least one character (then it may stop, or go on).
  const seen = new Set<string>();
  const stack: Array<[number, boolean, number, boolean]> = [[0, false, 0, false]];
  const admits = (e: string | { param: string }, c: string): boolean => (typeof e === "string" ? e === c : e.param === "any" || c !== "/");
  while (stack.length > 0) {
    const [i, ia, j, jb] = stack.pop()!;
    const key = `${i},${ia},${j},${jb}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A parameter that has consumed a character may end here (epsilon step).
    if (ia) stack.push([i + 1, false, j, jb]);
    if (jb) stack.push([i, ia, j + 1, false]);
    if (i === a.length && j === b.length) return true;
    if (i >= a.length || j >= b.length) continue;
    const x = a[i]!;
    const y = b[j]!;
    const c = typeof x === "string" ? x : typeof y === "string" ? y : "a";
    if (!admits(x, c) || !admits(y, c)) continue;
    const ni: [number, boolean] = typeof x === "string" ? [i + 1, false] : [i, true];
    const nj: [number, boolean] = typeof y === "string" ? [j + 1, false] : [j, true];
    stack.push([ni[0], ni[1], nj[0], nj[1]]);
  }
  return false;
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
  // literal fast path below a guess, and two parameterised routes some path matches both would
  // make the first match a guess; the spec has neither, and this keeps it that way.
  for (const [method, entry] of table) {
    for (const bucket of entry.patterns.values()) {
      for (let x = 0; x < bucket.length; x++) {
        for (let y = x + 1; y < bucket.length; y++) {
          const [r1, r2] = [bucket[x]!, bucket[y]!];
          if (r1.operation !== r2.operation && routesOverlap(r1.shape, r2.shape)) {
            throw new Error(`route table: ${method} routes of ${r1.operation} and ${r2.operation} match the same paths`);
          }
        }
      }
    }
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
  // The first match is the only one (no two routes overlap: checked by buildTable).
  for (const route of entry.patterns.get(firstSegment(rest)) ?? []) {
    const m = route.regex.exec(rest);
    if (!m) continue;
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => (params[name] = m[i + 1]!));
    return { ok: true, match: { operation: route.operation, params, apiVersion } };
  }
  return { ok: false, status: 404, reason: `no API operation for ${method} ${rest}` };
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
