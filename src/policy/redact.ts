// Redaction (a profile's `redact:`): response bodies rewritten before the client sees them, as
// `rewrite.response` transforms (src/policy/verdict.ts ResponseTransform).
//
// Each function takes the daemon's 2xx JSON body and returns the body to send. Only the redacted
// values are replaced; every other byte is passed through as the daemon wrote it (numbers beyond
// 2^53, key order and escapes stay exactly as they were). A body that is not JSON, or not of the
// expected shape where a redaction applies, throws: the core then closes the client's connection
// instead of passing on what it could not filter.
//
// Keys are matched the way Go clients (the docker CLI, SDKs) read them: case-insensitively with
// Go's folding, and every matching key is redacted, so no spelling or duplicate slips through.
//
// Where environment values appear in responses (API 1.56 spec):
//   * ContainerInspect `Config.Env`: the container's environment (image ENV merged with the client's
//     -e). redactContainerInspect.
//   * ImageInspect `Config.Env` (and `ContainerConfig.Env` before API 1.45): the image's ENV, part
//     of the image and readable by anyone who can pull it; but an image made by `docker commit`
//     carries the committed container's environment. redactImageInspect applies the same rule there;
//     whether to use it is the engine's choice.
//   * Not covered here (deny those operations to a profile that must not see values): services and
//     tasks (Spec.TaskTemplate.ContainerSpec.Env), plugins (Config.Env, Settings.Env), and anything
//     that reads the container itself: exec, attach, logs, top (command lines), archive and export.
//   * ContainerList, system df (container summaries) and ExecInspect carry no environment.

import { foldKey } from "./gojson.js";
import type { RedactConfig } from "../config/types.js";

/** Container inspect: `Config.Env` values removed per `cfg.containerEnv`. */
export function redactContainerInspect(body: Buffer, cfg: RedactConfig): Buffer {
  return redactEnv(body, cfg.containerEnv, ["Config"]);
}

/** Image inspect: `Config.Env` and the older `ContainerConfig.Env`, with the container rule. */
export function redactImageInspect(body: Buffer, cfg: RedactConfig): Buffer {
  return redactEnv(body, cfg.containerEnv, ["Config", "ContainerConfig"]);
}

/** `GET /info`: the named top-level fields become null. */
export function redactInfo(body: Buffer, fields: readonly string[]): Buffer {
  return nullFields(body, fields, "GET /info");
}

/** `GET /system/df`: the named top-level fields become null. */
export function redactSystemDf(body: Buffer, fields: readonly string[]): Buffer {
  return nullFields(body, fields, "GET /system/df");
}

/**
 * One `NAME=value` entry as the profile may see it: `NAME=` unless `keep` lists NAME ("all" keeps
 * none). An entry without `=` has no value and is unchanged.
 */
export function redactEnvEntry(entry: string, keep: "all" | readonly string[]): string {
  const eq = entry.indexOf("=");
  if (eq < 0) return entry;
  const name = entry.slice(0, eq);
  if (keep !== "all" && keep.includes(name)) return entry;
  return entry.slice(0, eq + 1);
}

export class RedactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedactError";
  }
}

// ---------------------------------------------------------------------------------------------

function redactEnv(body: Buffer, rule: RedactConfig["containerEnv"], parents: readonly string[]): Buffer {
  if (rule === undefined) return body;
  const doc = new Doc(body, "inspect response");
  const parentFolds = new Set(parents.map(foldKey));
  const envFold = foldKey("Env");
  const edits: Edit[] = [];
  for (const top of doc.members(doc.root)) {
    if (!parentFolds.has(foldKey(top.key))) continue;
    if (doc.isNull(top.value)) continue;
    if (!doc.isObject(top.value)) throw new RedactError(`${top.key} in the inspect response is not an object`);
    for (const m of doc.members(top.value)) {
      if (foldKey(m.key) !== envFold || doc.isNull(m.value)) continue;
      const list: unknown = JSON.parse(doc.text(m.value));
      if (!Array.isArray(list) || !list.every((e): e is string => typeof e === "string")) {
        throw new RedactError(`${top.key}.${m.key} in the inspect response is not a list of strings`);
      }
      edits.push({ start: m.value.start, end: m.value.end, text: JSON.stringify(list.map((e) => redactEnvEntry(e, rule))) });
    }
  }
  return doc.apply(edits);
}

function nullFields(body: Buffer, fields: readonly string[], what: string): Buffer {
  if (fields.length === 0) return body;
  const doc = new Doc(body, `${what} response`);
  const folds = new Set(fields.map(foldKey));
  const edits: Edit[] = [];
  for (const m of doc.members(doc.root)) {
    if (folds.has(foldKey(m.key)) && !doc.isNull(m.value)) edits.push({ start: m.value.start, end: m.value.end, text: "null" });
  }
  return doc.apply(edits);
}

// ---------------------------------------------------------------------------------------------
// A JSON document with byte positions: validated once with JSON.parse, then walked over the bytes.

interface Span {
  start: number;
  end: number;
}

interface Member {
  key: string;
  value: Span;
}

interface Edit extends Span {
  text: string;
}

class Doc {
  readonly buf: Buffer;
  readonly root: Span;

  constructor(buf: Buffer, what: string) {
    this.buf = buf;
    try {
      JSON.parse(buf.toString("utf8"));
    } catch (err) {
      throw new RedactError(`the ${what} is not JSON (${(err as Error).message}); it cannot be filtered`);
    }
    const start = this.skipWs(0);
    this.root = { start, end: this.skipValue(start) };
    if (!this.isObject(this.root)) throw new RedactError(`the ${what} is not a JSON object; it cannot be filtered`);
  }

  isObject(s: Span): boolean {
    return this.buf[s.start] === 0x7b;
  }

  isNull(s: Span): boolean {
    return this.buf[s.start] === 0x6e;
  }

  text(s: Span): string {
    return this.buf.toString("utf8", s.start, s.end);
  }

  /** The members of the object at `obj`, in document order (repeated keys included). */
  members(obj: Span): Member[] {
    const out: Member[] = [];
    let p = this.skipWs(obj.start + 1);
    if (this.buf[p] === 0x7d) return out;
    for (;;) {
      const keyEnd = this.skipString(p);
      const key = JSON.parse(this.buf.toString("utf8", p, keyEnd)) as string;
      p = this.skipWs(keyEnd);
      p = this.skipWs(p + 1); // ':'
      const end = this.skipValue(p);
      out.push({ key, value: { start: p, end } });
      p = this.skipWs(end);
      if (this.buf[p] === 0x2c) {
        p = this.skipWs(p + 1);
        continue;
      }
      return out; // '}'
    }
  }

  /** The document with the spans replaced (edits do not overlap). */
  apply(edits: Edit[]): Buffer {
    if (edits.length === 0) return this.buf;
    edits.sort((a, b) => a.start - b.start);
    const parts: Buffer[] = [];
    let at = 0;
    for (const e of edits) {
      parts.push(this.buf.subarray(at, e.start), Buffer.from(e.text, "utf8"));
      at = e.end;
    }
    parts.push(this.buf.subarray(at));
    return Buffer.concat(parts);
  }

  private skipWs(p: number): number {
    const b = this.buf;
    for (;;) {
      const c = b[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else return p;
    }
  }

  /** End (exclusive) of the string starting at `p` (a '"'). */
  private skipString(p: number): number {
    const b = this.buf;
    for (let i = p + 1; i < b.length; i++) {
      const c = b[i];
      if (c === 0x5c) i++;
      else if (c === 0x22) return i + 1;
    }
    throw new RedactError("unterminated string");
  }

  /** End (exclusive) of the value starting at `p`. The document is known to be valid JSON. */
  private skipValue(p: number): number {
    const b = this.buf;
    const c = b[p];
    if (c === 0x22) return this.skipString(p);
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      for (let i = p; i < b.length; i++) {
        const d = b[i];
        if (d === 0x22) {
          i = this.skipString(i) - 1;
        } else if (d === 0x7b || d === 0x5b) {
          depth++;
        } else if (d === 0x7d || d === 0x5d) {
          depth--;
          if (depth === 0) return i + 1;
        }
      }
      throw new RedactError("unterminated object or array");
    }
    let i = p;
    for (;;) {
      const d = b[i];
      if (d === undefined || d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return i;
      i++;
    }
  }
}
