// Tenancy that tools cannot see: the owner label is dockgate's bookkeeping, not the client's.
// Tools compare what they read with what they asked for: docker-compose warns `label
// "dockgate.owner" has changed` for a network whose labels differ from its file. So the answers
// of an ownership profile's clients have that label removed. (References dockgate rewrote to ids
// are read back as the client wrote them by readback.ts, which also hides its own label; events
// carry neither rewrite, and both labels are cut from their attributes here.)
//
// The labels stay on the daemon: the list filters ownership adds keep matching them, and a
// client's own label filters are the daemon's business as before. Events (a stream) are rewritten
// line by line, as text: an event's `timeNano` is an int64 that a JSON.parse round trip would
// round, so only the bookkeeping pairs are cut out of `Actor.Attributes`, every other byte stays.

import { READBACK_LABEL } from "./readback.js";
import type { ResponseTransform } from "./verdict.js";
import { parseAnswer, writeAnswer } from "./answer-json.js";

const MAX_BYTES = 64 * 1048576;

/** Whether a label key is dockgate's bookkeeping for this owner label (never the client's to see). */
function isBookkeeping(key: string, ownerLabel: string): boolean {
  return key === ownerLabel;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** Removes the bookkeeping labels from `holder[field]`. */
function strip(holder: unknown, field: string, ownerLabel: string): void {
  if (!isObject(holder)) return;
  const labels = holder[field];
  if (!isObject(labels)) return;
  for (const k of Object.keys(labels)) if (isBookkeeping(k, ownerLabel)) delete labels[k];
}

function container(c: unknown, labelsAt: "Config" | "", ownerLabel: string): void {
  if (isObject(c)) strip(labelsAt === "" ? c : c[labelsAt], "Labels", ownerLabel);
}

const REWRITES: Record<string, (body: unknown, ownerLabel: string) => void> = {
  ContainerInspect: (b, l) => container(b, "Config", l),
  ContainerList: (b, l) => {
    if (Array.isArray(b)) for (const c of b) container(c, "", l);
  },
  NetworkInspect: (b, l) => void strip(b, "Labels", l),
  NetworkList: (b, l) => {
    if (Array.isArray(b)) for (const n of b) strip(n, "Labels", l);
  },
  VolumeInspect: (b, l) => void strip(b, "Labels", l),
  VolumeCreate: (b, l) => void strip(b, "Labels", l),
  VolumeList: (b, l) => {
    if (isObject(b) && Array.isArray(b["Volumes"])) for (const v of b["Volumes"]) strip(v, "Labels", l);
  },
  ImageInspect: (b, l) => {
    if (!isObject(b)) return;
    strip(b["Config"], "Labels", l);
    strip(b["ContainerConfig"], "Labels", l);
  },
  ImageList: (b, l) => {
    if (Array.isArray(b)) for (const i of b) strip(i, "Labels", l);
  },
  SystemDataUsage: (b, l) => {
    if (!isObject(b)) return;
    for (const key of ["Images", "Volumes"]) {
      const list = b[key];
      if (Array.isArray(list)) for (const x of list) strip(x, "Labels", l);
    }
    if (Array.isArray(b["Containers"])) for (const c of b["Containers"]) container(c, "", l);
  },
};

/**
 * One event (a JSON object, as the daemon encodes it) without the bookkeeping pairs of
 * `Actor.Attributes` (a map of strings). Throws on anything that is not a JSON object.
 */
export function hideInEvent(line: Buffer, ownerLabel: string): Buffer {
  const text = line.toString("utf8");
  const cuts: Array<[number, number]> = [];
  const s = new Scanner(text);
  s.object((key, depth) => {
    if (depth !== 1 || key !== "Actor" || s.peek() !== "{") return false;
    s.object((k2, d2) => {
      if (d2 !== 2 || k2 !== "Attributes" || s.peek() !== "{") return false;
      s.object((attr, d3, keyStart) => {
        const valueEnd = s.skipValue();
        if (d3 === 3 && (isBookkeeping(attr, ownerLabel) || attr === READBACK_LABEL)) cuts.push([keyStart, valueEnd]);
        return true;
      }, 3);
      return true;
    }, 2);
    return true;
  }, 1);
  if (cuts.length === 0) return line;
  let out = "";
  let from = 0;
  for (const [start, end] of cuts) {
    // The pair and the comma after it (or, for the last pair, the comma before it).
    let a = start;
    let b = end;
    const after = /^\s*,/.exec(text.slice(b));
    if (after) b += after[0].length;
    else {
      const before = /,\s*$/.exec(text.slice(from, a));
      if (before) a -= before[0].length;
    }
    out += text.slice(from, a);
    from = b;
  }
  return Buffer.from(out + text.slice(from), "utf8");
}

/** Just enough of a JSON reader to walk objects by key and skip values, keeping positions. */
class Scanner {
  i = 0;
  constructor(private readonly t: string) {}

  private ws(): void {
    while (this.i < this.t.length && " \t\r\n".includes(this.t[this.i]!)) this.i++;
  }

  peek(): string {
    this.ws();
    return this.t[this.i] ?? "";
  }

  private expect(c: string): void {
    if (this.peek() !== c) throw new Error(`event: expected ${c} at ${this.i}`);
    this.i++;
  }

  private string(): string {
    this.ws();
    const start = this.i;
    this.expect('"');
    while (this.i < this.t.length && this.t[this.i] !== '"') this.i += this.t[this.i] === "\\" ? 2 : 1;
    this.expect('"');
    return JSON.parse(this.t.slice(start, this.i)) as string;
  }

  /**
   * Reads an object; for each key, `onKey` reads the value itself (returns true) or leaves it
   * to be skipped (false). `keyStart` is where the key's opening quote is.
   */
  object(onKey: (key: string, depth: number, keyStart: number) => boolean, depth: number): void {
    this.expect("{");
    if (this.peek() === "}") {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      const keyStart = this.i;
      const key = this.string();
      this.expect(":");
      if (!onKey(key, depth, keyStart)) this.skipValue();
      const c = this.peek();
      this.i++;
      if (c === "}") return;
      if (c !== ",") throw new Error(`event: expected , or } at ${this.i - 1}`);
    }
  }

  /** Skips one value; returns the index just after it. */
  skipValue(): number {
    const c = this.peek();
    if (c === '"') this.string();
    else if (c === "{" || c === "[") {
      let depth = 0;
      do {
        const ch = this.t[this.i];
        if (ch === '"') {
          this.string();
          continue;
        }
        if (ch === "{" || ch === "[") depth++;
        else if (ch === "}" || ch === "]") depth--;
        this.i++;
      } while (depth > 0 && this.i < this.t.length);
      if (depth !== 0) throw new Error("event: unterminated value");
    } else {
      const m = /^[^,}\]\s]+/.exec(this.t.slice(this.i));
      if (!m) throw new Error(`event: no value at ${this.i}`);
      this.i += m[0].length;
    }
    return this.i;
  }
}

const cache = new Map<string, ResponseTransform>();

/**
 * The response transform that hides `ownerLabel`'s bookkeeping from `operation`'s answer, or
 * undefined when that answer carries no labels. Applied after ownership's own transforms, before
 * redaction.
 */
export function hideOwner(operation: string, ownerLabel: string): ResponseTransform | undefined {
  if (operation === "SystemEvents") {
    const key = `${operation}\0${ownerLabel}`;
    let t = cache.get(key);
    if (t === undefined) {
      t = Object.freeze({
        maxBytes: 1048576,
        // `docker events --since x --until y` ends: the same lines, buffered.
        transform: (body: Buffer) => Buffer.from(body.toString("utf8").split("\n").map((l) => (l === "" ? l : hideInEvent(Buffer.from(l), ownerLabel).toString("utf8"))).join("\n")),
        line: (line: Buffer) => hideInEvent(line, ownerLabel),
      });
      cache.set(key, t);
    }
    return t;
  }
  const rewrite = REWRITES[operation];
  if (rewrite === undefined) return undefined;
  const key = `${operation}\0${ownerLabel}`;
  let t = cache.get(key);
  if (t === undefined) {
    t = Object.freeze({
      maxBytes: MAX_BYTES,
      transform(body: Buffer): Buffer {
        const value = parseAnswer(body);
        rewrite(value, ownerLabel);
        return writeAnswer(value);
      },
    });
    cache.set(key, t);
  }
  return t;
}
