// Strict JSON reader that sees a request body the way the Docker daemon's Go encoding/json will,
// or refuses it. dockgate decides on what it parsed; the daemon acts on what Go decodes. Wherever
// the two could disagree (duplicate keys, case-folded keys, bytes Go silently repairs), we reject.
//
// Go facts this file rests on (read in golang/go, src/encoding/json and src/unicode, src/bytes):
//
// * Struct field matching, go1.19 (dockerd 20.10.24 is built with go1.19.8), decode.go object():
//   for each field, `bytes.Equal(ff.nameBytes, key)` wins; otherwise the first field with
//   `ff.equalFold(ff.nameBytes, key)`. fold.go foldFunc() picks bytes.EqualFold for non-ASCII
//   names and ASCII fast paths otherwise, whose equalFoldRight() special-cases exactly
//   's'/'S' <-> U+017F (long s) and 'k'/'K' <-> U+212A (Kelvin sign).
//   bytes.EqualFold compares rune by rune, walking the unicode.SimpleFold orbit of one rune
//   looking for the other: two runes match iff they are in the same SimpleFold orbit.
// * go1.21+ (and current Go, fold.go under !goexperiment.jsonv2): decode.go looks up
//   `fields.byExactName[key]`, then `fields.byFoldedName[foldName(key)]`; foldName upper-cases
//   ASCII and maps every other rune to foldRune(r) = the smallest rune of its SimpleFold orbit.
//   Same equivalence relation as bytes.EqualFold, just computed as a canonical key. (It is not
//   ToUpper(ToLower(r)).)
// * encoding/json v1 on top of the json/v2 experiment (internal/jsonflags DefaultV1Flags sets
//   MatchCaseInsensitiveNames | MatchCaseSensitiveDelimiter): v2's fold also ignores '_' and '-',
//   but MatchCaseSensitiveDelimiter re-checks with strings.EqualFold, so v1 semantics are unchanged.
// * unicode.SimpleFold orbits are the classes of Unicode simple case folding (CaseFolding.txt C+S);
//   Go's caseOrbit table has self-loops for U+0130 'İ' and U+0131 'ı' (TestSimpleFold: "İ", "ı"),
//   so no Go version folds them with 'i'/'I'. Newer Unicode versions only add case pairs (case
//   folding is stable), so a newer table is a superset of go1.19's Unicode 13 table.
// * A repeated key is decoded again into the same field (objects merge, scalars: last wins); map
//   keys are exact. Hence any two keys in one object that fold equal are rejected.
// * unquote (decode.go unquoteBytes) replaces invalid UTF-8 and unpaired surrogate escapes with
//   U+FFFD instead of failing; JavaScript would keep or mangle them differently, so we reject.
// * scanner.go: whitespace is exactly ' ', '\t', '\n', '\r'; control bytes < 0x20 inside strings are
//   errors; numbers follow RFC 8259; a BOM is "invalid character 'ï' looking for beginning of value".
//   (json.Decoder, which dockerd uses, ignores bytes after the first value; we reject them.)
//
// test/differential/gojson-go.test.ts checks all of this against a real go1.19.8 (every rune's
// field matching; acceptance and decoded values of a fuzzed corpus) when `go` is installed.

/** A decoded JSON value. Objects keep document order and client spelling. */
export type GoValue = null | boolean | number | string | GoValue[] | GoObject;

/** Parse options. */
export interface GoJsonOptions {
  /** Maximum nesting of arrays/objects (the outermost container is depth 1). Default 200, at most 10000. */
  maxDepth?: number;
}

/** Syntax or policy error, with the byte offset into the input where it was detected. */
export class GoJsonError extends Error {
  /** Byte offset into the parsed input (-1 for errors not tied to an input, e.g. toJson). */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(offset >= 0 ? `${message} at offset ${offset}` : message);
    this.name = 'GoJsonError';
    this.offset = offset;
  }
}

// ---------------------------------------------------------------------------------------------
// Folding

// Pairs in Unicode simple case folding (CaseFolding.txt status S, added after Unicode 13) that the
// toUpperCase/toLowerCase derivation below cannot see, because both sides have multi-character
// full upper-case mappings. go1.19 (Unicode 13) does not fold them (checked against go1.19.8);
// Go releases with newer Unicode tables may, so foldKey merges them.
const EXTRA_FOLD: ReadonlyMap<number, number> = new Map([
  [0x1fd3, 0x0390], // ΐ (GREEK SMALL LETTER IOTA WITH DIALYTIKA AND OXIA) ~ ΐ (... AND TONOS)
  [0x1fe3, 0x03b0], // ΰ ~ ΰ
  [0xfb05, 0xfb06], // ﬅ (LATIN SMALL LIGATURE LONG S T) ~ ﬆ (LATIN SMALL LIGATURE ST)
]);

function singleCodePoint(s: string): number {
  const cp = s.codePointAt(0);
  if (cp === undefined) return -1;
  return s.length === (cp > 0xffff ? 2 : 1) ? cp : -1;
}

/**
 * Representative of the simple-case-folding class of `cp`, derived from the runtime's Unicode
 * tables: lower(upper(c)) when both are single code points (ſ→S→s, K→K→k, ς→Σ→σ, ϐ→Β→β,
 * Cherokee ꭰ→Ꭰ→ꭰ), else lower(c) (ẞ→ß, ᾈ→ᾀ), else c. Verified exhaustively in the unit tests
 * against the /iu RegExp engine (which canonicalizes by simple case folding): apart from the
 * EXTRA_FOLD pairs it adds, the only difference is U+0131 ı (lower(upper(ı)) = i), which
 * preciseRep undoes.
 */
function caseRep(cp: number): number {
  const s = String.fromCodePoint(cp);
  let r = cp;
  const up = singleCodePoint(s.toUpperCase());
  if (up >= 0) {
    const low = singleCodePoint(String.fromCodePoint(up).toLowerCase());
    r = low >= 0 ? low : up;
  } else {
    const low = singleCodePoint(s.toLowerCase());
    if (low >= 0) r = low;
  }
  return EXTRA_FOLD.get(r) ?? r;
}

const preciseCache = new Map<number, number>();
const conservativeCache = new Map<number, number>();

/** Exactly Go's SimpleFold-orbit class (as far as the runtime's newer Unicode tables go). */
function preciseRep(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
  let r = preciseCache.get(cp);
  if (r === undefined) {
    // Go's caseOrbit maps U+0130 and U+0131 to themselves: they fold with nothing.
    r = cp === 0x130 || cp === 0x131 ? cp : caseRep(cp);
    preciseCache.set(cp, r);
  }
  return r;
}

/** Go's class, widened: also merges U+0130 İ and U+0131 ı with i (no Go version does; harmless). */
function conservativeRep(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
  let r = conservativeCache.get(cp);
  if (r === undefined) {
    r = cp === 0x130 || cp === 0x131 ? 0x69 : caseRep(cp);
    conservativeCache.set(cp, r);
  }
  return r;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function foldNonAscii(key: string, rep: (cp: number) => number): string {
  let out = '';
  for (let i = 0; i < key.length; ) {
    const cp = key.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    out += String.fromCodePoint(rep(cp));
  }
  return out;
}

/**
 * Go-compatible fold of an object key, used for duplicate detection and lookups. Conservative:
 * keys that any Go version (go1.19 bytes.EqualFold, go1.21+ foldName) matches to the same struct
 * field fold equal here. It is per code point (lengths in code points are preserved, as Go's
 * comparison is rune by rune), ASCII is lower-cased, U+017F ſ → s, U+212A K → k, and it also
 * merges U+0130/U+0131 with i, which Go does not.
 */
export function foldKey(key: string): string {
  return isAscii(key) ? key.toLowerCase() : foldNonAscii(key, conservativeRep);
}

/**
 * Whether Go's encoding/json would match JSON key `key` to a struct field named `field`
 * (exact, or equal under SimpleFold orbits rune by rune). Unlike foldKey this is exact: it does
 * not merge İ/ı with i.
 */
export function goEqualFold(key: string, field: string): boolean {
  if (key === field) return true;
  let i = 0;
  let j = 0;
  while (i < key.length && j < field.length) {
    const a = key.codePointAt(i)!;
    const b = field.codePointAt(j)!;
    i += a > 0xffff ? 2 : 1;
    j += b > 0xffff ? 2 : 1;
    if (a === b) continue;
    if (preciseRep(a) !== preciseRep(b)) return false;
  }
  return i === key.length && j === field.length;
}

// ---------------------------------------------------------------------------------------------
// Objects

const LINEAR_LIMIT = 8; // up to this many keys, fold lookups scan; beyond, a Map is built

let initObject: (o: GoObject, keys: string[], folds: string[], values: GoValue[], numberTexts: Map<string, string> | undefined) => void;
let numberTextAt: (o: GoObject, index: number) => string | undefined;

/**
 * A JSON object as Go sees it. Keys are unique under foldKey (enforced), so there is at most one
 * key per Go struct field.
 */
export class GoObject {
  #keys: string[] = [];
  #folds: string[] = [];
  #values: GoValue[] = [];
  #index: Map<string, number> | undefined = undefined;
  // The client's text of numbers a double does not hold exactly (or spelled other than String(n)),
  // by fold, for as long as the parsed value stays in place: see NumberTexts.
  #numberTexts: Map<string, string> | undefined = undefined;

  static {
    initObject = (o, keys, folds, values, numberTexts) => {
      o.#keys = keys;
      o.#folds = folds;
      o.#values = values;
      o.#numberTexts = numberTexts;
    };
    numberTextAt = (o, index) => o.#numberTexts?.get(o.#folds[index]!);
  }

  /** Builds an object (e.g. for a rewritten body); throws GoJsonError on folded duplicate keys. */
  constructor(entries?: Iterable<readonly [string, GoValue]>) {
    if (entries) for (const [k, v] of entries) this.#add(k, v);
  }

  #find(fold: string): number {
    const folds = this.#folds;
    if (folds.length <= LINEAR_LIMIT) {
      for (let i = 0; i < folds.length; i++) if (folds[i] === fold) return i;
      return -1;
    }
    let index = this.#index;
    if (index === undefined) {
      index = new Map();
      for (let i = 0; i < folds.length; i++) index.set(folds[i]!, i);
      this.#index = index;
    }
    return index.get(fold) ?? -1;
  }

  /** Index of the key Go would decode into struct field `field`, or -1. */
  #lookup(field: string): number {
    const i = this.#find(foldKey(field));
    if (i < 0) return -1;
    // foldKey is slightly wider than Go (İ/ı); confirm with Go's exact relation.
    return goEqualFold(this.#keys[i]!, field) ? i : -1;
  }

  #add(key: string, value: GoValue): void {
    const fold = foldKey(key);
    const i = this.#find(fold);
    if (i >= 0) {
      throw new GoJsonError(
        `duplicate key ${JSON.stringify(key)} (same Go field as ${JSON.stringify(this.#keys[i])})`,
        -1,
      );
    }
    this.#keys.push(key);
    this.#folds.push(fold);
    this.#values.push(value);
    if (this.#index !== undefined) this.#index.set(fold, this.#keys.length - 1);
  }

  /** Lookup the way Go matches a JSON key to a struct field: exact or case-insensitive with Go's folding. */
  get(field: string): GoValue | undefined {
    const i = this.#lookup(field);
    return i < 0 ? undefined : this.#values[i];
  }

  has(field: string): boolean {
    return this.#lookup(field) >= 0;
  }

  /** The key as the client spelled it, for error messages (undefined if absent). */
  keyOf(field: string): string | undefined {
    const i = this.#lookup(field);
    return i < 0 ? undefined : this.#keys[i];
  }

  /**
   * Exact-key lookup, for objects Go decodes into a map (Labels, ExposedPorts, Sysctls, ...):
   * Go keeps map keys verbatim and never folds them.
   */
  getExact(key: string): GoValue | undefined {
    const i = this.#find(foldKey(key));
    return i >= 0 && this.#keys[i] === key ? this.#values[i] : undefined;
  }

  /** [spelledKey, value] in document order. */
  entries(): Array<[string, GoValue]> {
    const out: Array<[string, GoValue]> = new Array(this.#keys.length);
    for (let i = 0; i < this.#keys.length; i++) out[i] = [this.#keys[i]!, this.#values[i]!];
    return out;
  }

  get size(): number {
    return this.#keys.length;
  }

  /**
   * Sets the value Go would decode into `field` (for rewriting): replaces the value under the
   * client's spelling if a matching key exists, else appends `field`. Throws GoJsonError if an
   * existing key folds like `field` but Go would not match it (İ/ı), as the result would be ambiguous.
   */
  set(field: string, value: GoValue): this {
    const fold = foldKey(field);
    const i = this.#find(fold);
    if (i < 0) {
      this.#add(field, value);
    } else if (goEqualFold(this.#keys[i]!, field)) {
      this.#values[i] = value;
      this.#numberTexts?.delete(fold);
    } else {
      throw new GoJsonError(`key ${JSON.stringify(this.#keys[i])} is ambiguous with ${JSON.stringify(field)}`, -1);
    }
    return this;
  }

  /** Removes the key Go would decode into `field`; returns whether one was removed. */
  delete(field: string): boolean {
    const i = this.#lookup(field);
    if (i < 0) return false;
    this.#numberTexts?.delete(this.#folds[i]!);
    this.#keys.splice(i, 1);
    this.#folds.splice(i, 1);
    this.#values.splice(i, 1);
    this.#index = undefined;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Parser: one pass over the bytes, recursive descent. Module-level state (synchronous, no reentry).

// Buffer.prototype.latin1Slice/utf8Slice are what Buffer#toString calls after argument checks;
// use them when present (they are not in @types/node), else the public toString.
interface SliceableBuffer extends Buffer {
  latin1Slice?: (start: number, end: number) => string;
  utf8Slice?: (start: number, end: number) => string;
}
const proto = Buffer.prototype as SliceableBuffer;
const hasFastSlices = typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';

// The whole input as a Latin-1 string (one char per byte, so byte offsets are string offsets):
// ASCII substrings are then plain String#slice calls, much cheaper than one Buffer call each.
let source = '';

function latin1(start: number, stop: number): string {
  return source.slice(start, stop);
}

function utf8(start: number, stop: number): string {
  return hasFastSlices ? text.utf8Slice!(start, stop) : text.toString('utf8', start, stop);
}

const GO_MAX_NESTING = 10000;

const NO_BYTES = new Uint8Array(0);
const NO_BUFFER: SliceableBuffer = Buffer.alloc(0);

let buf: Uint8Array = NO_BYTES;
let text: SliceableBuffer = NO_BUFFER; // same bytes as a Buffer, for UTF-8 slices
let pos = 0;
let end = 0;
let maxDepth = 200;
let lastAscii = true; // whether the last string parsed was pure ASCII
// The text of the last number parsed when String(n) would not write it back the same (digits
// beyond a double's precision, "1.0", "1E3"); its container takes it (and clears it).
let numberText: string | undefined;

// Numbers keep the client's spelling through a parse and toJson: Go decodes an int64 field from
// the digits (9007199254740993 stays odd, 9223372036854775807 fits), where the nearest double
// written back (9223372036854776000) is another value, or an overflow error. Arrays keep theirs
// here, by position, used only while the array still has its parsed length and value there.
const arrayNumberTexts = new WeakMap<GoValue[], { length: number; texts: Array<string | undefined> }>();

function fail(message: string, at: number): never {
  throw new GoJsonError(message, at);
}

function describe(at: number): string {
  if (at >= end) return 'unexpected end of input';
  const c = buf[at]!;
  if (c >= 0x20 && c < 0x7f) return `invalid character ${JSON.stringify(String.fromCharCode(c))}`;
  return `invalid byte 0x${c.toString(16).padStart(2, '0')}`;
}

function skipWs(): void {
  const b = buf;
  let p = pos;
  for (;;) {
    const c = b[p];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
    else break;
  }
  pos = p;
}

/**
 * Strict parse; throws GoJsonError. Accepts exactly RFC 8259 JSON that Go's encoding/json decodes
 * without silent repair, with no two keys of one object folding equal (see foldKey).
 */
export function parseGoJson(input: Uint8Array, options?: GoJsonOptions): GoValue {
  buf = input;
  text = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  source = hasFastSlices ? text.latin1Slice!(0, input.length) : text.toString('latin1');
  pos = 0;
  end = input.length;
  numberText = undefined;
  const md = options?.maxDepth ?? 200;
  if (!Number.isInteger(md) || md < 0) throw new RangeError(`maxDepth must be a non-negative integer, got ${md}`);
  // Go's scanner itself refuses nesting beyond 10000 (maxNestingDepth); never allow more.
  maxDepth = Math.min(md, GO_MAX_NESTING);
  try {
    if (end === 0) fail('empty input', 0);
    if (end >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
      fail('byte order mark is not allowed', 0);
    }
    skipWs();
    if (pos >= end) fail('empty input (only whitespace)', pos);
    const value = parseValue(0);
    skipWs();
    if (pos < end) fail(`trailing data after the JSON value (${describe(pos)})`, pos);
    return value;
  } catch (e) {
    // Deep but permitted nesting could still exhaust the JS stack: still a refusal, not a crash.
    if (e instanceof RangeError) fail('nesting too deep for this parser', pos);
    throw e;
  } finally {
    buf = NO_BYTES;
    text = NO_BUFFER;
    source = '';
    numberText = undefined;
  }
}

function parseValue(depth: number): GoValue {
  const c = buf[pos];
  switch (c) {
    case 0x7b: // {
      return parseObject(depth + 1);
    case 0x5b: // [
      return parseArray(depth + 1);
    case 0x22: // "
      return parseString();
    case 0x74: // t
      return literal('true', true);
    case 0x66: // f
      return literal('false', false);
    case 0x6e: // n
      return literal('null', null);
    default:
      if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return parseNumber();
      return fail(`${describe(pos)} looking for beginning of value`, pos);
  }
}

function literal<T extends GoValue>(word: string, value: T): T {
  for (let i = 0; i < word.length; i++) {
    if (buf[pos + i] !== word.charCodeAt(i)) fail(`${describe(pos + i)} in literal ${word}`, pos + i);
  }
  pos += word.length;
  return value;
}

function parseObject(depth: number): GoObject {
  if (depth > maxDepth) fail(`nesting deeper than ${maxDepth}`, pos);
  pos++; // {
  skipWs();
  const keys: string[] = [];
  const folds: string[] = [];
  const values: GoValue[] = [];
  let numberTexts: Map<string, string> | undefined;
  const obj = new GoObject();
  if (buf[pos] === 0x7d) {
    pos++;
    return obj;
  }
  let index: Map<string, number> | undefined;
  for (;;) {
    if (buf[pos] !== 0x22) fail(`${describe(pos)} looking for beginning of object key string`, pos);
    const keyAt = pos;
    const key = parseString(true);
    const fold = foldLast(key);
    // Duplicate detection under folding: Go would decode both keys into the same field.
    let dup = -1;
    if (index === undefined) {
      for (let i = 0; i < folds.length; i++) {
        if (folds[i] === fold) {
          dup = i;
          break;
        }
      }
      if (folds.length >= LINEAR_LIMIT) {
        index = new Map();
        for (let i = 0; i < folds.length; i++) index.set(folds[i]!, i);
      }
    } else {
      dup = index.get(fold) ?? -1;
    }
    if (dup >= 0) {
      fail(
        `duplicate key ${JSON.stringify(key)} (same Go field as ${JSON.stringify(keys[dup])})`,
        keyAt,
      );
    }
    if (index !== undefined) index.set(fold, folds.length);
    skipWs();
    if (buf[pos] !== 0x3a) fail(`${describe(pos)} after object key`, pos);
    pos++;
    skipWs();
    if (pos >= end) fail('unexpected end of input', pos);
    const value = parseValue(depth);
    if (numberText !== undefined) {
      (numberTexts ??= new Map()).set(fold, numberText);
      numberText = undefined;
    }
    keys.push(key);
    folds.push(fold);
    values.push(value);
    skipWs();
    const c = buf[pos];
    if (c === 0x2c) {
      pos++;
      skipWs();
      continue;
    }
    if (c === 0x7d) {
      pos++;
      break;
    }
    fail(`${describe(pos)} after object key:value pair`, pos);
  }
  initObject(obj, keys, folds, values, numberTexts);
  return obj;
}

function parseArray(depth: number): GoValue[] {
  if (depth > maxDepth) fail(`nesting deeper than ${maxDepth}`, pos);
  pos++; // [
  skipWs();
  const out: GoValue[] = [];
  if (buf[pos] === 0x5d) {
    pos++;
    return out;
  }
  let texts: Array<string | undefined> | undefined;
  for (;;) {
    if (pos >= end) fail('unexpected end of input', pos);
    out.push(parseValue(depth));
    if (numberText !== undefined) {
      (texts ??= [])[out.length - 1] = numberText;
      numberText = undefined;
    }
    skipWs();
    const c = buf[pos];
    if (c === 0x2c) {
      pos++;
      skipWs();
      continue;
    }
    if (c === 0x5d) {
      pos++;
      if (texts !== undefined) arrayNumberTexts.set(out, { length: out.length, texts });
      return out;
    }
    fail(`${describe(pos)} after array element`, pos);
  }
}

function parseNumber(): number {
  const start = pos;
  let i = pos;
  let c = buf[i];
  if (c === 0x2d) c = buf[++i];
  if (c === 0x30) {
    c = buf[++i];
    // RFC 8259: no leading zeros ("01" is 0 followed by trailing garbage in Go's scanner).
    if (c !== undefined && c >= 0x30 && c <= 0x39) fail('leading zero in number', i);
  } else if (c !== undefined && c >= 0x31 && c <= 0x39) {
    do c = buf[++i];
    while (c !== undefined && c >= 0x30 && c <= 0x39);
  } else {
    fail(`${describe(i)} in numeric literal`, i);
  }
  let simple = true;
  if (c === 0x2e) {
    simple = false;
    c = buf[++i];
    if (c === undefined || c < 0x30 || c > 0x39) fail(`${describe(i)} after decimal point in numeric literal`, i);
    do c = buf[++i];
    while (c !== undefined && c >= 0x30 && c <= 0x39);
  }
  if (c === 0x65 || c === 0x45) {
    simple = false;
    c = buf[++i];
    if (c === 0x2b || c === 0x2d) c = buf[++i];
    if (c === undefined || c < 0x30 || c > 0x39) fail(`${describe(i)} in exponent of numeric literal`, i);
    do c = buf[++i];
    while (c !== undefined && c >= 0x30 && c <= 0x39);
  }
  pos = i;
  if (simple && i - start <= 15) {
    // Up to 15 digits: exact in a double, accumulate directly.
    let k = start;
    const neg = buf[k] === 0x2d;
    if (neg) k++;
    let n = 0;
    for (; k < i; k++) n = n * 10 + (buf[k]! - 0x30);
    return neg ? -n : n;
  }
  // Correctly rounded, like Go's strconv.ParseFloat.
  const literal = latin1(start, i);
  const n = Number(literal);
  if (!Number.isFinite(n)) fail('number out of range', start);
  if (String(n) !== literal) numberText = literal;
  return n;
}

// Intern table for short escape-free ASCII object keys (with their folds): keys repeat within and
// across request bodies, and comparing a cached string against the bytes is cheaper than slicing
// and folding a new one. Slots are verified byte by byte, so a collision only costs a miss.
// Values are not interned, so that no request's data outlives the request in this table.
const INTERN_MAX = 40;
const INTERN_BITS = 12;
const INTERN_SLOTS = 1 << INTERN_BITS;
const internStr: Array<string | undefined> = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);
const internFold: Array<string | undefined> = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);
let lastSlot = -1; // intern slot of the last string parsed, or -1

// Bytes that end the fast string scan: '"', '\\', controls, non-ASCII (and undefined past the end).
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
for (let c = 0x80; c < 0x100; c++) STRING_STOP[c] = 1;
STRING_STOP[0x22] = 1;
STRING_STOP[0x5c] = 1;

function parseString(intern = false): string {
  const quote = pos;
  const start = pos + 1;
  const b = buf;
  let i = start;
  // Indexing past the end of a typed array yields undefined, and STRING_STOP[undefined] is
  // undefined (!== 0), so the loop needs no separate bounds check.
  while (STRING_STOP[b[i]!] === 0) i++;
  if (b[i] === 0x22) {
    pos = i + 1;
    lastAscii = true;
    const len = i - start;
    if (!intern || len > INTERN_MAX || len === 0) {
      lastSlot = -1;
      return latin1(start, i);
    }
    const h = Math.imul(b[start]! ^ (b[i - 1]! << 7) ^ (b[start + (len >> 1)]! << 14) ^ (len << 21), 0x9e3779b1);
    const slot = h >>> (32 - INTERN_BITS);
    lastSlot = slot;
    const cached = internStr[slot];
    if (cached !== undefined && cached.length === len) {
      let k = 0;
      while (k < len && cached.charCodeAt(k) === b[start + k]) k++;
      if (k === len) return cached;
    }
    const s = latin1(start, i);
    internStr[slot] = s;
    internFold[slot] = undefined;
    return s;
  }
  if (i >= end) fail('unexpected end of input in string literal', i);
  const c = buf[i]!;
  if (c < 0x20) fail(`control character 0x${c.toString(16).padStart(2, '0')} in string literal`, i);
  lastSlot = -1;
  return parseStringSlow(quote, i);
}

/** foldKey of the string parseString just returned. */
function foldLast(key: string): string {
  if (lastSlot >= 0) {
    // lastSlot is only set for ASCII strings, and the slot still holds `key`.
    let f = internFold[lastSlot];
    if (f === undefined) {
      f = key.toLowerCase();
      internFold[lastSlot] = f;
    }
    return f;
  }
  return lastAscii ? key.toLowerCase() : foldNonAscii(key, conservativeRep);
}

const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[0x41 + d] = 10 + d;
  HEX[0x61 + d] = 10 + d;
}

function hex4(at: number): number {
  if (at + 4 > end) fail('unexpected end of input in \\u escape', at);
  const a = HEX[buf[at]!]!;
  const b = HEX[buf[at + 1]!]!;
  const c = HEX[buf[at + 2]!]!;
  const d = HEX[buf[at + 3]!]!;
  if ((a | b | c | d) < 0) fail('invalid \\u escape', at - 2);
  return (a << 12) | (b << 8) | (c << 4) | d;
}

/** Length of the well-formed UTF-8 sequence at `at` (Unicode Table 3-7), or fail. */
function utf8Length(at: number): number {
  const c = buf[at]!;
  const c1 = buf[at + 1] ?? 0;
  if (c >= 0xc2 && c <= 0xdf) {
    if ((c1 & 0xc0) === 0x80) return 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80; // no overlongs
    const hi = c === 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
    if (c1 >= lo && c1 <= hi && ((buf[at + 2] ?? 0) & 0xc0) === 0x80) return 3;
  } else if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf; // <= U+10FFFF
    if (c1 >= lo && c1 <= hi && ((buf[at + 2] ?? 0) & 0xc0) === 0x80 && ((buf[at + 3] ?? 0) & 0xc0) === 0x80) {
      return 4;
    }
  }
  return fail('invalid UTF-8 in string (Go would substitute U+FFFD)', at);
}

function parseStringSlow(quote: number, from: number): string {
  let out = latin1(quote + 1, from);
  let ascii = true;
  let i = from;
  let run = from; // start of a run of literal bytes not yet appended
  for (;;) {
    if (i >= end) fail('unexpected end of input in string literal', i);
    const c = buf[i]!;
    if (c === 0x22) {
      if (run < i) out += ascii ? latin1(run, i) : utf8(run, i);
      pos = i + 1;
      lastAscii = isAscii(out);
      return out;
    }
    if (c < 0x80) {
      if (c === 0x5c) {
        if (run < i) out += utf8(run, i);
        const e = buf[i + 1];
        switch (e) {
          case 0x22: out += '"'; i += 2; break;
          case 0x5c: out += '\\'; i += 2; break;
          case 0x2f: out += '/'; i += 2; break;
          case 0x62: out += '\b'; i += 2; break;
          case 0x66: out += '\f'; i += 2; break;
          case 0x6e: out += '\n'; i += 2; break;
          case 0x72: out += '\r'; i += 2; break;
          case 0x74: out += '\t'; i += 2; break;
          case 0x75: {
            const u = hex4(i + 2);
            if (u >= 0xd800 && u <= 0xdbff) {
              // Must be followed by an escaped low surrogate, else Go writes U+FFFD.
              if (buf[i + 6] !== 0x5c || buf[i + 7] !== 0x75) {
                fail('unpaired surrogate escape in string (Go would substitute U+FFFD)', i);
              }
              const lo = hex4(i + 8);
              if (lo < 0xdc00 || lo > 0xdfff) {
                fail('unpaired surrogate escape in string (Go would substitute U+FFFD)', i);
              }
              out += String.fromCharCode(u, lo);
              i += 12;
            } else if (u >= 0xdc00 && u <= 0xdfff) {
              fail('unpaired surrogate escape in string (Go would substitute U+FFFD)', i);
            } else {
              out += String.fromCharCode(u);
              i += 6;
            }
            break;
          }
          default:
            fail(`invalid escape ${e === undefined ? 'at end of input' : describe(i + 1)} in string literal`, i);
        }
        run = i;
        continue;
      }
      if (c < 0x20) fail(`control character 0x${c.toString(16).padStart(2, '0')} in string literal`, i);
      i++;
    } else {
      ascii = false;
      i += utf8Length(i);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Serializer

/** Serialize (for bodies dockgate rewrites); must round-trip through Go identically. */
export function toJson(value: GoValue): string {
  return write(value, 0);
}

function writeString(s: string): string {
  // A lone surrogate would be emitted as \udXXX, which Go decodes to U+FFFD: not identical.
  if (!s.isWellFormed()) throw new GoJsonError('string contains a lone surrogate', -1);
  return JSON.stringify(s);
}

function write(v: GoValue, depth: number): string {
  if (depth > 10000) throw new GoJsonError('value nested too deeply (cycle?)', -1);
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new GoJsonError(`number ${v} cannot be represented in JSON`, -1);
      // String() gives the shortest round-tripping form (e.g. 1e+21), valid JSON that Go's
      // ParseFloat reads back to the same float64; keep the sign of -0.
      return Object.is(v, -0) ? '-0' : String(v);
    case 'string':
      return writeString(v);
    default:
      break;
  }
  if (Array.isArray(v)) {
    const parsed = arrayNumberTexts.get(v);
    const texts = parsed?.length === v.length ? parsed.texts : undefined;
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      const t = texts?.[i];
      out += t !== undefined && Number(t) === v[i] ? t : write(v[i]!, depth + 1);
    }
    return out + ']';
  }
  if (v instanceof GoObject) {
    let out = '{';
    const entries = v.entries();
    for (let i = 0; i < entries.length; i++) {
      if (i > 0) out += ',';
      const [k, val] = entries[i]!;
      const t = typeof val === 'number' ? numberTextAt(v, i) : undefined;
      out += writeString(k) + ':' + (t ?? write(val, depth + 1));
    }
    return out + '}';
  }
  throw new GoJsonError(`cannot serialize ${typeof v}`, -1);
}
