// Schema validation of a parsed YAML document: the document becomes plain data with a map from
// each JSON pointer to its YAML node, ajv checks the data against CONFIG_SCHEMA (its validator
// compiled ahead of time: schema-validator.ts, generated),
// and each ajv error becomes a message at the YAML node it is about, in the loader's wording
// (`listener "a".tcp.port must be between 1 and 65535, not 70000`, did-you-mean for keys and
// choices). src/config/load.ts reports them as `file:line:col: message`.

import type { ErrorObject, ValidateFunction } from "ajv";
import { type Document, type Node, type Scalar, isAlias, isMap, isScalar, isSeq } from "yaml";
import generated from "./schema-validator.js";
import { closest, didYouMean } from "./suggest.js";

/** A value's YAML node and, for a map entry, its key node. */
export interface Located {
  value: Node | null;
  key?: Scalar;
}

/** The document as plain data, with the YAML node of every JSON pointer ("" is the root). */
export interface Tree {
  data: unknown;
  nodes: Map<string, Located>;
}

export type Report = (at: Node | Scalar | null | undefined, message: string) => void;

export function pointer(path: readonly (string | number)[]): string {
  return path.map((s) => "/" + String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

/** Plain data from the document; aliases are followed, a key that is not a scalar is reported. */
export function toTree(doc: Document, report: Report): Tree {
  const nodes = new Map<string, Located>();
  const deref = (n: unknown): Node | null => (isAlias(n) ? ((n.resolve(doc) as Node | undefined) ?? null) : ((n as Node | null) ?? null));
  const walk = (raw: unknown, ptr: string, key?: Scalar): unknown => {
    const node = deref(raw);
    nodes.set(ptr, key ? { value: node, key } : { value: node });
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const k = deref(pair.key);
        if (!isScalar(k) || (k.value !== null && typeof k.value === "object")) {
          report(k ?? node, `${ptr === "" ? "the config" : ptr.slice(1).replaceAll("/", ".")}: keys must be strings, not ${describe(k)}`);
          continue;
        }
        const name = String(k.value);
        // defineProperty: a key named __proto__ is data, not the object's prototype.
        Object.defineProperty(out, name, { value: walk(pair.value, `${ptr}/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`, k), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (isSeq(node)) return node.items.map((item, i) => walk(item, `${ptr}/${i}`));
    return isScalar(node) ? node.value : null;
  };
  return { data: walk(doc.contents, ""), nodes };
}

/** Where a problem with a value is shown: the value, or its key when the value is empty. */
export function at(loc: Located | undefined): Node | Scalar | null {
  if (!loc) return null;
  return (isScalar(loc.value) && loc.value.value === null) || !loc.value ? (loc.key ?? loc.value) : loc.value;
}

export function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "nothing";
    if (typeof v === "string") return `the string "${v}"`;
    if (typeof v === "number") return `the number ${node.source ?? v}`;
    if (typeof v === "boolean") return `${v}`;
  }
  return "an unsupported value";
}

/** ajv's validator for CONFIG_SCHEMA, compiled ahead of time by `npm run schema`. */
const validator = generated as unknown as ValidateFunction;

type SchemaNode = Record<string, unknown> & { "x-expected"?: string; "x-messages"?: Record<string, string>; "x-why"?: Record<string, string> };

const TYPE_WORDS: Record<string, string> = { string: "a string", integer: "an integer", number: "a number", boolean: "true or false", object: "a map", array: "a list" };

/** Free-form maps whose keys are data, not settings: written `identities["CN=x"]`. */
const KEYED_MAPS = new Set(["identities", "labels"]);

/** Validates `tree` against the schema; every problem goes to `report`. Returns the pointers of the invalid values. */
export function checkSchema(tree: Tree, report: Report): Set<string> {
  const validate = validator;
  const invalid = new Set<string>();
  if (validate(tree.data)) return invalid;
  const errors = validate.errors ?? [];
  // A value of the wrong type gets that one message, not also the ones of its other keywords.
  const mistyped = new Set(errors.filter((e) => e.keyword === "type").map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword !== "type" && mistyped.has(e.instancePath)) continue;
    const m = message(e, tree);
    if (!m) continue;
    report(m.at, m.text);
    invalid.add(e.instancePath);
  }
  return invalid;
}

/** The setting a pointer names, as the config's reader says it: `listener "a".unix.path`, `profiles.p.rules`. */
export function where(tree: Tree, ptr: string): string {
  if (ptr === "") return "the config";
  const segs = ptr.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
  let out = segs[0]!;
  let at = "/" + segs[0];
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    const parent = tree.nodes.get(at)?.value;
    at += "/" + seg.replaceAll("~", "~0").replaceAll("/", "~1");
    if (i === 1 && segs[0] === "listeners") {
      const name = tree.nodes.get(`${at}/name`)?.value;
      out = isScalar(name) && typeof name.value === "string" && name.value !== "" ? `listener "${name.value}"` : `listeners[${seg}]`;
    } else if (isSeq(parent)) out += `[${seg}]`;
    else if (KEYED_MAPS.has(segs[i - 1]!)) out += `["${seg}"]`;
    else out += "." + seg;
  }
  return out;
}

function message(e: ErrorObject, tree: Tree): { at: Node | Scalar | null | undefined; text: string } | undefined {
  const ps = (e.parentSchema ?? {}) as SchemaNode;
  const loc = tree.nodes.get(e.instancePath) ?? { value: null };
  const node = at(loc);
  const w = where(tree, e.instancePath);
  const fill = (template: string, extra: Record<string, string> = {}) =>
    template.replace(/\{(\w+)\}/g, (_, k: string) => extra[k] ?? { where: w, value: describe(loc.value), json: JSON.stringify(e.data) }[k] ?? "");
  const custom = ps["x-messages"]?.[e.keyword];
  switch (e.keyword) {
    case "if":
      return undefined; // the failing then/else branch reports the problem itself
    case "additionalProperties": {
      const key = String(e.params["additionalProperty"]);
      const at = tree.nodes.get(`${e.instancePath}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`)?.key;
      const known = (ps["x-keys"] as string[] | undefined) ?? Object.keys((ps["properties"] as object | undefined) ?? {});
      return { at, text: custom ? fill(custom, { keyjson: JSON.stringify(key) }) : `unknown key "${key}" in ${w}${didYouMean(key, known)}` };
    }
    case "required": {
      const missing = String(e.params["missingProperty"]);
      const why = ps["x-why"]?.[missing];
      return { at: loc.key ?? loc.value, text: `${w}${why ? ` (${why})` : ""} needs "${missing}"` };
    }
    case "type": {
      const types = ([] as string[]).concat(e.schema as string | string[]).filter((t) => t !== "null");
      const expected = ps["x-expected"] ?? types.map((t) => TYPE_WORDS[t] ?? t).join(" or ");
      const v = isScalar(loc.value) ? loc.value.value : undefined;
      let hint = "";
      if (types.includes("boolean") && typeof v === "string" && /^(?:yes|no|on|off|true|false)$/i.test(v)) hint = " (write true or false, unquoted)";
      else if (types[0] === "string" && !ps["x-expected"] && v !== null && v !== undefined && typeof v !== "object") hint = ' (quote it: "...")';
      return { at: node, text: `${w} must be ${expected}, not ${describe(loc.value)}${hint}` };
    }
    case "minimum":
    case "maximum": {
      const shown = isScalar(loc.value) ? (loc.value.source ?? String(loc.value.value)) : String(e.data);
      return { at: node, text: `${w} must be between ${String(ps["minimum"])} and ${String(ps["maximum"])}, not ${shown}` };
    }
    case "enum": {
      const choices = (ps["enum"] as unknown[]).map(String);
      const s = String(e.data);
      const hint = closest(s, choices) !== undefined ? didYouMean(s, choices) : "";
      return { at: node, text: custom ? fill(custom, { hint }) : `${w} must be one of ${choices.join(", ")}, not ${JSON.stringify(e.data)}${hint}` };
    }
    default:
      return { at: node, text: custom ? fill(custom) : `${w} ${e.message ?? "is not valid"}` };
  }
}
