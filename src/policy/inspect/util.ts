// Shared helpers for the inspections: typed, fail-closed access to Go-decoded JSON, field paths in
// the client's own key spelling, and host path normalization.
//
// Inspections throw `Deny` from deep inside a walk; `guard` turns it into the returned Violation.
// A field whose JSON type differs from what the daemon's Go struct expects is denied with rule
// `body.type` (Go's decoder would refuse it as well, but we never guess what it would have meant).
// `null` means "not set" for Go pointers, slices, maps and (as a no-op) for scalars.

import { cleanAbsolute, isUnder } from "../../api/engine.js";
import { GoObject, type GoValue } from "../gojson.js";
import { catalogued } from "../rules.js";
import type { RequestView } from "../verdict.js";
import type { Violation } from "./index.js";


export class Deny extends Error {
  readonly violation: Violation;
  constructor(violation: Violation) {
    super(violation.detail);
    this.violation = violation;
  }
}

export function deny(rule: string, field: string, detail: string): never {
  throw new Deny({ rule: catalogued(rule), field, detail });
}

/** Runs an inspection walk; a thrown Deny becomes the returned violation. */
export function guard(walk: () => void): Violation | null {
  try {
    walk();
    return null;
  } catch (err) {
    if (err instanceof Deny) return err.violation;
    throw err;
  }
}

export function describeValue(v: GoValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "boolean") return `a boolean (${v})`;
  if (typeof v === "number") return `a number (${v})`;
  if (typeof v === "string") return `a string (${quote(v)})`;
  if (Array.isArray(v)) return "a list";
  return "an object";
}

export function typeError(field: string, expected: string, got: GoValue | undefined): never {
  deny("body.type", field, `${field} must be ${expected}, not ${describeValue(got)}`);
}

/** JSON-quoted and shortened, for messages. */
export function quote(s: string, max = 120): string {
  const q = JSON.stringify(s.length > max ? s.slice(0, max) + "…" : s);
  return q;
}

// ---------------------------------------------------------------------------------------------
// Field paths

export function sub(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

export function at(prefix: string, i: number): string {
  return `${prefix}[${i}]`;
}

export function mapKey(prefix: string, key: string): string {
  return `${prefix}[${JSON.stringify(key)}]`;
}

/** A field of a Go struct: its value (undefined when absent) and its path in the client's spelling. */
export interface Field {
  value: GoValue | undefined;
  path: string;
}

export function field(obj: GoObject, name: string, prefix: string): Field {
  const key = obj.keyOf(name);
  if (key === undefined) return { value: undefined, path: sub(prefix, name) };
  return { value: obj.get(name), path: sub(prefix, key) };
}

export function optBool(obj: GoObject, name: string, prefix: string): { value: boolean | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (typeof f.value !== "boolean") typeError(f.path, "a boolean", f.value);
  return { value: f.value, path: f.path };
}

export function optString(obj: GoObject, name: string, prefix: string): { value: string | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (typeof f.value !== "string") typeError(f.path, "a string", f.value);
  return { value: f.value, path: f.path };
}

export function optNumber(obj: GoObject, name: string, prefix: string): { value: number | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (typeof f.value !== "number") typeError(f.path, "a number", f.value);
  return { value: f.value, path: f.path };
}

export function optObject(obj: GoObject, name: string, prefix: string): { value: GoObject | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (!(f.value instanceof GoObject)) typeError(f.path, "an object", f.value);
  return { value: f.value, path: f.path };
}

export function optArray(obj: GoObject, name: string, prefix: string): { value: GoValue[] | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (!Array.isArray(f.value)) typeError(f.path, "a list", f.value);
  return { value: f.value, path: f.path };
}

/**
 * A `[]string` field: the list (null elements read as "", as Go leaves them at the zero value).
 * With `strSlice`, a lone string is accepted as a one-element list (Go's strslice.StrSlice,
 * used for CapAdd/CapDrop/Cmd/Entrypoint).
 */
export function optStrings(
  obj: GoObject,
  name: string,
  prefix: string,
  strSlice = false,
): { value: string[] | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (strSlice && typeof f.value === "string") return { value: [f.value], path: f.path };
  if (!Array.isArray(f.value)) typeError(f.path, "a list of strings", f.value);
  const out: string[] = new Array<string>(f.value.length);
  for (let i = 0; i < f.value.length; i++) {
    const v = f.value[i]!;
    if (v === null) out[i] = "";
    else if (typeof v === "string") out[i] = v;
    else typeError(at(f.path, i), "a string", v);
  }
  return { value: out, path: f.path };
}

/** A `map[string]string` field: [key, value] pairs (exact keys; null values read as ""). */
export function optStringMap(
  obj: GoObject,
  name: string,
  prefix: string,
): { value: Array<[string, string]> | undefined; path: string } {
  const f = field(obj, name, prefix);
  if (f.value === undefined || f.value === null) return { value: undefined, path: f.path };
  if (!(f.value instanceof GoObject)) typeError(f.path, "an object of strings", f.value);
  const entries = f.value.entries();
  const out: Array<[string, string]> = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    if (v === null) out[i] = [k, ""];
    else if (typeof v === "string") out[i] = [k, v];
    else typeError(mapKey(f.path, k), "a string", v);
  }
  return { value: out, path: f.path };
}

/** The body as a JSON object, or undefined for no body / `null` (Go: nothing decoded). */
export function bodyObject(body: GoValue | undefined, what: string): GoObject | undefined {
  if (body === undefined || body === null) return undefined;
  if (!(body instanceof GoObject)) typeError(what, "a JSON object", body);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * A working directory that reaches into /proc (CVE-2024-21626: `/proc/self/fd/N` leaks a host
 * directory fd into the container with runc < 1.1.12). Absolute paths are cleaned; relative ones
 * (resolved against a directory we cannot see) are refused when any segment is `proc`, `fd` or `..`.
 */
export function isProcWorkdir(p: string): boolean {
  if (p === "") return false;
  if (p.charCodeAt(0) === 0x2f) return isUnder(cleanAbsolute(p), "/proc");
  for (const s of p.split("/")) if (s === "proc" || s === "fd" || s === "..") return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Query strings

/** Every value of query key `name`, matched case-insensitively (the daemon matches exactly; we over-approximate). */
export function queryValues(req: RequestView, name: string): string[] {
  const out: string[] = [];
  const lower = name.toLowerCase();
  for (const [k, v] of req.query) if (k === name || k.toLowerCase() === lower) out.push(v);
  return out;
}

/**
 * Go's http.Request.ParseForm/FormValue read an `application/x-www-form-urlencoded` body of a POST
 * as more query parameters (taking precedence over the URL's), and FormValue also parses
 * `multipart/form-data`. A query inspection is void if the body can smuggle parameters, so such a
 * request with a body is refused.
 */
export function formBodyViolation(req: RequestView): Violation | null {
  const ct = req.headers["content-type"];
  if (ct === undefined) return null;
  const lower = ct.toLowerCase();
  if (!lower.includes("x-www-form-urlencoded") && !lower.includes("multipart/")) return null;
  const te = req.headers["transfer-encoding"];
  const cl = req.headers["content-length"];
  const hasBody = te !== undefined || (cl !== undefined && cl.trim() !== "0");
  if (!hasBody) return null;
  return {
    rule: "request.form-body",
    field: "Content-Type",
    detail: `a request body of type ${quote(ct)} is not accepted: the daemon would read it as query parameters`,
  };
}
