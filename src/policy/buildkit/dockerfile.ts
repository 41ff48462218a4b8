// The images a Dockerfile makes BuildKit fetch, read as BuildKit's Dockerfile frontend reads them
// (moby/buildkit frontend/dockerfile: parser/parser.go, parser/split_command.go, instructions/
// parse.go, dockerfile2llb/convert.go, shell/lex.go), so that they can be held to the profile's
// image policy before the daemon sees the Dockerfile (./session-calls.ts).
//
// Image references: `FROM <image>` (not `scratch`, not the name of an earlier stage),
// `COPY --from=<image>` (not a stage name or index), `RUN --mount=...,from=<image>` (not a stage
// name), and the same two forms inside `ONBUILD` (they run in a later build, where no stage name
// of this file means anything, or in this one for a stage built FROM theirs: every such `--from`
// is checked as an image, which refuses some that name a stage). FROM is expanded with the global
// ARGs (declared before the first FROM, their defaults, overridden by the build's build args) the
// way BuildKit's shell lexer does; `--from` and mount `from=` are not expanded by BuildKit.
//
// Read the way the daemon reads it or refused: a reference that cannot be resolved here (an
// undeclared variable, a platform variable such as TARGETARCH whose value the daemon picks, a
// substitution form not evaluated here, a variable in --from) is a problem, and the build is
// refused. Two readings are taken and both must pass: BuildKit's current parser (heredocs, the
// `check` directive) and the one built into Docker 20.10 (BuildKit 0.8: no heredocs, so a heredoc
// body's lines are instructions there). Parse errors that make BuildKit fail the build are not
// problems: such a build fetches nothing.

/** One image a Dockerfile names. */
export interface DockerfileImage {
  /** 1-based line of the instruction. */
  line: number;
  /** The form that names it: FROM, COPY --from, RUN --mount from, ONBUILD COPY --from, ... */
  form: string;
  name: string;
}

export interface DockerfileProblem {
  line: number;
  detail: string;
}

export interface DockerfileRefs {
  images: DockerfileImage[];
  problems: DockerfileProblem[];
}

interface Instruction {
  line: number;
  cmd: string;
  flags: string[];
  args: string;
  /** ONBUILD's trigger. */
  sub?: Instruction;
}

interface Reading {
  heredocs: boolean;
  directives: ReadonlySet<string>;
}

const CURRENT: Reading = { heredocs: true, directives: new Set(["syntax", "escape", "check"]) };
const BUILDKIT_08: Reading = { heredocs: false, directives: new Set(["syntax", "escape"]) };

const WHITESPACE = /[\t\v\f\r ]+/;
// Go's regexp \s is [\t\n\f\r ] and \d is [0-9] (RE2), narrower than JavaScript's.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
/** Characters of a valid image reference: anything else is not a name dockgate reads. */
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9_.:/@+-]*$/;
/** ParseHeredoc's pattern (parser.go reHeredoc). */
const HEREDOC = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
/** A heredoc name read here: a word, optionally in one pair of quotes. */
const HEREDOC_NAME = /^(["']?)([A-Za-z0-9_.-]+)\1$/;

/** Go's unicode.IsSpace, which TrimSpace, TrimLeftFunc and the parser's word splitters use. */
const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
const SPACE = new RegExp(`[${GO_SPACE}]`);
const LEADING_SPACE = new RegExp(`^[${GO_SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${GO_SPACE}]+$`);

function isSpace(c: string): boolean {
  return SPACE.test(c);
}

function trimLeft(s: string): string {
  return s.replace(LEADING_SPACE, "");
}

/** strings.TrimSpace. */
function trimSpace(s: string): string {
  return trimLeft(s).replace(TRAILING_SPACE, "");
}

/**
 * extractBuilderFlags reads bytes, not runes: unicode.IsSpace(rune(b)) is true for the bytes
 * 0x85 and 0xA0 too, which end a word inside a multi-byte character ("à" is C3 A0). It is run
 * on the line's UTF-8 bytes, one char per byte.
 */
function isByteSpace(c: string): boolean {
  return "\t\n\v\f\r \x85\xA0".includes(c);
}

const toBytes = (s: string): string => Buffer.from(s, "utf8").toString("latin1");
const fromBytes = (s: string): string => Buffer.from(s, "latin1").toString("utf8");

/** Splits a Dockerfile into instructions as parser.Parse does. */
function instructions(text: string, reading: Reading, problems: DockerfileProblem[]): { list: Instruction[]; escape: string } {
  const raw = text.replace(/^\uFEFF/, "").split("\n");
  if (raw.length > 0 && raw[raw.length - 1] === "") raw.pop();
  let escape = "\\";
  let continuation = continuationRegex(escape);
  let directivesDone = false;
  const seen = new Set<string>();
  const processLine = (line: string, stripLeft: boolean): string => {
    let token = line.replace(/[\r\n]+$/, "");
    if (stripLeft) token = trimLeft(token);
    if (!directivesDone) {
      const m = token.startsWith("#") ? DIRECTIVE.exec(trimLeft(token.slice(1))) : null;
      const k = m?.[1]!.toLowerCase();
      if (m === null || k === undefined || !reading.directives.has(k) || seen.has(k)) directivesDone = true;
      else {
        seen.add(k);
        if (k === "escape" && (m[2] === "`" || m[2] === "\\")) {
          escape = m[2];
          continuation = continuationRegex(escape);
        }
      }
    }
    return isComment(token) ? "" : token;
  };
  const out: Instruction[] = [];
  let i = 0;
  while (i < raw.length) {
    const startLine = i + 1;
    let bytes = processLine(raw[i]!, true);
    i++;
    let end = !continuation.test(bytes);
    if (!end) bytes = bytes.replace(continuation, "$1");
    if (end && bytes.length === 0) continue;
    let line = bytes;
    while (!end && i < raw.length) {
      const next = raw[i]!;
      const b = processLine(next, false);
      i++;
      if (isComment(next)) continue;
      if (trimLeft(b).replace(/[\r\n]+$/, "").length === 0) continue;
      end = !continuation.test(b);
      line += end ? b : b.replace(continuation, "$1");
    }
    const node = instruction(line, startLine, escape);
    if (node === undefined) continue;
    out.push(node);
    const target = node.cmd === "onbuild" ? node.sub : node;
    if (reading.heredocs && target !== undefined && ["add", "copy", "run"].includes(target.cmd) && !isJsonList(target.args) && line.includes("<<")) {
      for (const name of heredocNames(line, startLine, problems)) {
        const chomp = name.chomp;
        while (i < raw.length) {
          let candidate = raw[i]!.replace(/[\r\n]+$/, "");
          i++;
          if (chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === name.name) break;
        }
      }
    }
  }
  return { list: out, escape };
}

/** parseJSON's test: the arguments are a JSON list of strings (exec form: no heredocs). */
function isJsonList(args: string): boolean {
  if (!args.startsWith("[")) return false;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((x) => typeof x === "string");
  } catch {
    return false;
  }
}

function continuationRegex(e: string): RegExp {
  const q = `\\${e}`;
  return new RegExp(`([^${q}])${q}[ \\t]*$|^${q}[ \\t]*$`);
}

function isComment(line: string): boolean {
  return trimLeft(line).startsWith("#");
}

/** newNodeFromLine: the command, its --flags (extractBuilderFlags) and the rest. */
function instruction(line: string, lineNo: number, escape: string): Instruction | undefined {
  const trimmed = trimSpace(line);
  if (trimmed === "") return undefined;
  const m = WHITESPACE.exec(trimmed);
  const cmd = (m === null ? trimmed : trimmed.slice(0, m.index)).toLowerCase();
  const rest = m === null ? "" : trimmed.slice(m.index + m[0].length);
  const raw = builderFlags(toBytes(rest), escape);
  const node: Instruction = { line: lineNo, cmd, flags: raw.flags.map(fromBytes), args: trimSpace(fromBytes(raw.args)) };
  if (cmd === "onbuild" && node.args !== "") node.sub = instruction(node.args, lineNo, escape);
  return node;
}

/** extractBuilderFlags over a line's bytes: leading `--name[=value]` words, quotes and escapes removed. */
function builderFlags(line: string, escape: string): { flags: string[]; args: string } {
  const words: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isByteSpace(line[pos]!)) pos++;
    if (pos >= line.length) return { flags: words, args: "" };
    if (!line.startsWith("--", pos) || pos + 1 === line.length) return { flags: words, args: line.slice(pos) };
    let word = "";
    let quote = "";
    let blankOK = false;
    while (pos < line.length) {
      const ch = line[pos]!;
      if (quote === "") {
        if (isByteSpace(ch)) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          blankOK = true;
          pos++;
          continue;
        }
      } else if (ch === quote) {
        quote = "";
        pos++;
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) {
          pos++;
          quote = "";
          continue;
        }
        pos++;
      }
      word += line[pos]!;
      pos++;
    }
    if (word === "--") return { flags: words, args: line.slice(pos) };
    if (blankOK || word.length > 0) words.push(word);
  }
}

/** The heredocs a line opens (heredocsFromLine), with names dockgate can compare. */
function heredocNames(line: string, lineNo: number, problems: DockerfileProblem[]): Array<{ name: string; chomp: boolean }> {
  const out: Array<{ name: string; chomp: boolean }> = [];
  for (const word of rawWords(line)) {
    const m = HEREDOC.exec(word);
    if (m === null || m[3] === "") continue;
    const n = HEREDOC_NAME.exec(trimSpace(m[3]!));
    if (n === null) {
      // BuildKit may read it as a heredoc ("E F", $X, E"O"F): where its body ends is not known here.
      problems.push({ line: lineNo, detail: `the heredoc ${JSON.stringify(word)} has a name dockgate does not read` });
      continue;
    }
    out.push({ name: n[2]!, chomp: m[2] === "-" });
  }
  return out;
}

/** Words of a line with quotes kept (shell.ProcessWords with RawQuotes and RawEscapes). */
function rawWords(line: string): string[] {
  const out: string[] = [];
  let word = "";
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "" && isSpace(ch)) {
      if (word !== "") out.push(word);
      word = "";
    } else if (quote === "" && (ch === "'" || ch === '"')) {
      quote = ch;
      word += ch;
    } else if (ch === quote) {
      quote = "";
      word += ch;
    } else if (ch === "\\" && quote !== "'" && i + 1 < line.length) {
      word += ch + line[++i]!;
    } else word += ch;
  }
  if (word !== "") out.push(word);
  return out;
}

// ── Values ──

/** A variable the daemon sets but whose value is not known here (the build's platforms). */
const UNKNOWN = Symbol("unknown");
/** An ARG declared without a value and not given: unset for BuildKit now, empty for BuildKit 0.8. */
const DECLARED = Symbol("declared");
type Value = string | typeof UNKNOWN | typeof DECLARED;

/** Thrown while expanding a word that cannot be resolved here. */
class Unresolved extends Error {}

/** Variables the daemon defines itself (convert.go defaultArgs: the build and target platforms). */
function isAutomatic(name: string): boolean {
  return /^(BUILD|TARGET)[A-Z]*$/.test(name);
}

/** The value of `name`, or undefined when it is unset. */
function lookup(env: ReadonlyMap<string, Value>, name: string): Value | undefined {
  const v = env.get(name);
  if (v !== undefined) return v;
  return isAutomatic(name) ? UNKNOWN : undefined;
}

/** shell.Lex ProcessWord over `env`, for the forms BuildKit evaluates; Unresolved for the rest. */
function expand(word: string, env: ReadonlyMap<string, Value>, escape: string): string {
  let pos = 0;
  const peek = (): string | undefined => word[pos];
  const next = (): string | undefined => word[pos++];
  const name = (): string => {
    let n = "";
    const first = peek();
    if (first !== undefined && /[0-9]/.test(first)) {
      while (peek() !== undefined && /[0-9]/.test(peek()!)) n += next()!;
      return n;
    }
    if (first !== undefined && "*#@?-$!".includes(first)) return next()!;
    while (peek() !== undefined && /[\p{L}\p{N}_]/u.test(peek()!)) n += next()!;
    return n;
  };
  const plain = (n: string): string => {
    const v = lookup(env, n);
    if (v === undefined) throw new Unresolved(`variable ${n} is not declared before the first FROM (ARG ${n}=...)`);
    if (v === UNKNOWN) throw new Unresolved(`variable ${n} is set by the daemon (its value is not known here)`);
    return v === DECLARED ? "" : v;
  };
  const dollar = (): string => {
    next();
    if (peek() !== "{") {
      const n = name();
      return n === "" ? "$" : plain(n);
    }
    next();
    const c = peek();
    if (c === undefined || c === "{" || c === "}" || c === ":") throw new Unresolved("a bad substitution");
    const n = name();
    let op = next();
    if (op === "}") return plain(n);
    let colon = false;
    if (op === ":") {
      colon = true;
      op = next();
    }
    if (op !== "-" && op !== "+" && op !== "?") throw new Unresolved(`the substitution \${${n}${colon ? ":" : ""}${op ?? ""}...} is not one dockgate evaluates`);
    const alt = until("}");
    const v = lookup(env, n);
    if (v === UNKNOWN) throw new Unresolved(`variable ${n} is set by the daemon (its value is not known here)`);
    if (v === DECLARED && !colon && op !== "?") throw new Unresolved(`\${${n}${op}...} differs between BuildKit versions for ARG ${n} declared without a value`);
    const empty = v === undefined || v === DECLARED || (colon && v === "");
    if (op === "-") return empty ? alt.value() : (v as string);
    if (op === "+") return empty ? "" : alt.value();
    if (v === undefined || v === DECLARED || (colon && v === "")) throw new Unresolved(`variable ${n} is required (\${${n}?})`);
    return v as string;
  };
  /** The word of a substitution, up to `stop` (evaluated even when unused: dockgate refuses what it cannot resolve). */
  const until = (stop: string): { value: () => string } => {
    let out = "";
    for (;;) {
      const c = peek();
      if (c === undefined) throw new Unresolved(`a missing '${stop}'`);
      if (c === stop) {
        next();
        return { value: () => out };
      }
      out += unit();
    }
  };
  const unit = (): string => {
    const c = peek()!;
    if (c === "$") return dollar();
    if (c === "'") {
      next();
      const end = word.indexOf("'", pos);
      if (end < 0) throw new Unresolved("an unterminated quote");
      const s = word.slice(pos, end);
      pos = end + 1;
      return s;
    }
    if (c === '"') {
      next();
      let s = "";
      for (;;) {
        const d = peek();
        if (d === undefined) throw new Unresolved("an unterminated quote");
        if (d === '"') {
          next();
          return s;
        }
        if (d === "$") {
          s += dollar();
          continue;
        }
        next();
        if (d === escape && peek() !== undefined && ['"', "$", escape].includes(peek()!)) s += next()!;
        else if (d === escape && peek() === undefined) continue;
        else s += d;
      }
    }
    if (c === "<" || c === "`") throw new Unresolved(`${JSON.stringify(c)} in an image reference`);
    next();
    if (c === escape) return next() ?? "";
    return c;
  };
  let out = "";
  while (pos < word.length) out += unit();
  return out;
}

// ── References ──

interface Stage {
  names: string[];
}

/** `--name=value` flags named `name` (BuildKit's flag names are case-sensitive; read here in any case). */
function flagValues(flags: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (const f of flags) {
    if (!f.startsWith("--")) continue;
    const eq = f.indexOf("=");
    const n = eq < 0 ? f.slice(2) : f.slice(2, eq);
    if (n.toLowerCase() === name && eq >= 0) out.push(f.slice(eq + 1));
  }
  return out;
}

/** Go encoding/csv fields of one record (a mount spec); undefined when it is not one. */
function csvFields(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ",") return undefined;
    } else {
      const end = s.indexOf(",", i);
      field = end < 0 ? s.slice(i) : s.slice(i, end);
      if (field.includes('"')) return undefined;
      i = end < 0 ? s.length : end;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

function isStageIndex(v: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(v)) return false;
  const n = BigInt(v);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/** The images one reading of a Dockerfile names. */
function read(text: string, reading: Reading, buildArgs: ReadonlyMap<string, string>, refs: DockerfileRefs): void {
  const { list, escape } = instructions(text, reading, refs.problems);
  const env = new Map<string, Value>();
  const first = list.findIndex((n) => n.cmd === "from");
  for (const n of first < 0 ? list : list.slice(0, first)) {
    if (n.cmd !== "arg") continue;
    for (const word of argWords(n.args, escape)) {
      const eq = word.indexOf("=");
      const key = eq < 0 ? word : word.slice(0, eq);
      if (key === "") continue;
      const given = buildArgs.get(key);
      if (given !== undefined) env.set(key, given);
      else if (eq >= 0) {
        try {
          env.set(key, expand(word.slice(eq + 1), env, escape));
        } catch (e) {
          if (!(e instanceof Unresolved)) throw e;
          env.set(key, UNKNOWN);
        }
      } else if (!env.has(key) && !isAutomatic(key)) env.set(key, DECLARED);
    }
  }
  const stageNames = new Set<string>();
  for (const n of list) {
    if (n.cmd === "from") {
      const w = n.args.split(WHITESPACE).filter((s) => s !== "");
      if (w.length === 3 && w[1]!.toLowerCase() === "as") stageNames.add(w[2]!.toLowerCase());
    }
  }
  const earlier: Stage = { names: [] };
  const image = (line: number, form: string, name: string): void => {
    if (!REFERENCE.test(name)) refs.problems.push({ line, detail: `${form} ${JSON.stringify(name)} is not an image reference dockgate reads` });
    else refs.images.push({ line, form, name });
  };
  const unexpanded = (line: number, form: string, v: string): boolean => {
    if (!v.includes("$")) return false;
    refs.problems.push({ line, detail: `${form}=${JSON.stringify(v)}: BuildKit does not expand variables there` });
    return true;
  };
  const fromFlags = (n: Instruction, form: string, isStage: (v: string) => boolean): void => {
    if (n.cmd === "copy") {
      for (const v of flagValues(n.flags, "from")) {
        if (unexpanded(n.line, `${form}COPY --from`, v) || isStageIndex(v) || isStage(v)) continue;
        image(n.line, `${form}COPY --from`, v);
      }
    } else if (n.cmd === "run") {
      for (const spec of flagValues(n.flags, "mount")) {
        const fields = csvFields(spec);
        if (fields === undefined) {
          refs.problems.push({ line: n.line, detail: `${form}RUN --mount=${JSON.stringify(spec)} is not a mount spec dockgate reads` });
          continue;
        }
        for (const f of fields) {
          const eq = f.indexOf("=");
          if (eq < 0 || f.slice(0, eq).toLowerCase() !== "from") continue;
          const v = f.slice(eq + 1);
          if (unexpanded(n.line, `${form}RUN --mount from`, v) || isStage(v)) continue;
          image(n.line, `${form}RUN --mount from`, v);
        }
      }
    }
  };
  for (const n of list) {
    if (n.cmd === "from") {
      const w = n.args.split(WHITESPACE).filter((s) => s !== "");
      if (w.length !== 1 && !(w.length === 3 && w[1]!.toLowerCase() === "as")) continue; // BuildKit refuses the file
      let name: string;
      try {
        name = expand(w[0]!, env, escape);
      } catch (e) {
        if (!(e instanceof Unresolved)) throw e;
        refs.problems.push({ line: n.line, detail: `FROM ${JSON.stringify(w[0])} cannot be resolved: ${e.message}` });
        continue;
      }
      if (name !== "scratch" && !earlier.names.includes(name)) image(n.line, "FROM", name);
      if (w.length === 3) earlier.names.push(w[2]!.toLowerCase());
    } else if (n.cmd === "onbuild" && n.sub !== undefined) {
      // Runs in a later build whose stages are unknown: only a stage index is not an image.
      fromFlags(n.sub, "ONBUILD ", () => false);
    } else {
      fromFlags(n, "", (v) => stageNames.has(v.toLowerCase()));
    }
  }
}

/** parseWords: an ARG line's words, quotes and escapes kept (expand removes them). */
function argWords(rest: string, escape: string): string[] {
  const out: string[] = [];
  let word = "";
  let quote = "";
  let blankOK = false;
  let inWord = false;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (!inWord && quote === "") {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote === "") {
      if (isSpace(ch)) {
        if (blankOK || word !== "") out.push(word);
        word = "";
        blankOK = false;
        inWord = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
      }
      if (ch === escape) {
        if (i + 1 === rest.length) continue;
        word += ch;
        i++;
      }
      word += rest[i]!;
      continue;
    }
    if (ch === quote) quote = "";
    if (ch === escape && quote !== "'" && quote !== "") {
      if (i + 1 === rest.length) continue;
      word += ch;
      i++;
    }
    word += rest[i]!;
  }
  if (inWord && (blankOK || word !== "")) out.push(word);
  return out;
}

/**
 * The images `text` names, read both ways (BuildKit now, Docker 20.10's BuildKit 0.8), with the
 * build's build arguments; and what cannot be resolved.
 */
export function dockerfileImages(text: string, buildArgs: ReadonlyMap<string, string>): DockerfileRefs {
  const refs: DockerfileRefs = { images: [], problems: [] };
  for (const reading of [CURRENT, BUILDKIT_08]) read(text, reading, buildArgs, refs);
  const seen = new Set<string>();
  const dedupe = <T>(xs: T[], key: (x: T) => string): T[] => xs.filter((x) => !seen.has(key(x)) && (seen.add(key(x)), true));
  return {
    images: dedupe(refs.images, (i) => `i${i.line}\u0000${i.form}\u0000${i.name}`),
    problems: dedupe(refs.problems, (p) => `p${p.line}\u0000${p.detail}`),
  };
}
