// A streamed tar body (BodyStreamCheck) read as the daemon's Go code reads it, for policies that
// need a few named files of the archive before the daemon acts on it: `docker load` (image-load.ts:
// manifest.json, repositories, index.json) and a classic build's context (build-context.ts: the
// Dockerfile). The caller names the files (TarFiles) and checks their content; the daemon never
// receives the archive's end before every one was checked.
//
// Why holding the end holds the daemon: both users' daemon code extracts or reads the whole tar
// (chrootarchive.Untar, containerd's importer, the build context's tarsum + Untar) before it opens
// any of those files, and Go's archive/tar stops at EOF at a header boundary or a zero header
// block. So the first zero header block (and everything after it), or the body's end, is held.
//
// Paths are joined and cleaned (filepath.Join), so `./Dockerfile`, `/Dockerfile` and
// `x/../Dockerfile` are the same file, and a later entry replaces an earlier one; the daemon opens
// the files through symlinks (safePath, FollowSymlinkInScope) and the extraction writes through a
// symlinked parent directory. Hence, fail closed: every entry whose cleaned path is a named file
// must be a regular file of at most the caller's limit and every occurrence is checked; a symlink
// or hard link at such a path, a non-directory at a path above one, or an entry below a path an
// earlier symlink took, is refused; so are tar features this reader does not model (global PAX
// headers, GNU sparse files, other entry types), a bad header checksum, a truncated archive and
// non-zero bytes after the end. The tar is read the way Go's archive/tar reads it (format by
// magic, USTAR/STAR prefix, PAX path/linkpath/size, GNU long names applied after PAX, no data for
// link, device, directory and FIFO entries whatever their size field says).
//
// Compression: the daemon detects gzip, bzip2, xz and zstd (compression.DecompressStream).
// gzip and zstd are decompressed here and the daemon gets the plain tar (chunked): what it reads
// is what was inspected. bzip2 and xz cannot be read with Node's zlib and are refused. A
// decompressed tar that itself starts with a compression header is refused (the daemon would
// decompress it again).
//
// Memory: at most one header block, the caller's limit of one named file, one input chunk and
// STEP_BYTES of what it decompresses to are held (a step says `more` and the session pulls the
// rest once the daemon took the last); zero bytes after the end are counted, not kept.

import path from "node:path";
import zlib from "node:zlib";
import { compressionOf } from "./archive.js";
import type { Violation } from "./inspect/index.js";
import { quote } from "./inspect/util.js";
import type { BodyStep, BodyStream, BodyStreamCheck, Denial, Verdict } from "./verdict.js";

const BLOCK = 512;
/** Go's maxSpecialFileSize: PAX headers and GNU long names. */
const SPECIAL_BYTES = 1 << 20;
/** Zero bytes accepted after the end-of-archive block (tar pads to its record size). */
const TRAILER_BYTES = 1 << 20;
/** Go's isHeaderOnlyType: these entries have no data, whatever their size field says. */
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);
/** Entry types read here: files, links, devices, directories, FIFOs; PAX and GNU long-name headers. */
const KNOWN_TYPES = new Set(["0", "\0", ...HEADER_ONLY, "x", "L", "K"]);

/** The archive cannot be read the way the daemon reads it (the caller's rule refuses it). */
export class ArchiveError extends Error {}

/** Go's parser.parseString: up to the first NUL. */
function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString("latin1", 0, nul < 0 ? b.length : nul);
}

/** Go's parseNumeric for a size: octal, NUL/space padded; base-256 sizes are refused. */
function octal(b: Buffer, what: string): number {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) throw new ArchiveError(`${what} in base-256 encoding`);
  const s = b.toString("latin1").replace(/^[ \0]+|[ \0]+$/g, "");
  if (!/^[0-7]*$/.test(s)) throw new ArchiveError(`${what} ${quote(s)} is not octal`);
  const n = s === "" ? 0 : parseInt(s, 8);
  if (!Number.isSafeInteger(n)) throw new ArchiveError(`${what} too large`);
  return n;
}

/** Go's block.computeChecksum: unsigned and signed sums with the checksum field as spaces. */
function checksumOk(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  let value: number;
  try {
    value = octal(block.subarray(148, 156), "checksum");
  } catch {
    return false;
  }
  return value === unsigned || value === signed;
}

/** Go's parsePAX / parsePAXRecord; returns the records (later keys win, as in Go's map). */
function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let rest = data;
  while (rest.length > 0) {
    const sp = rest.indexOf(0x20);
    const lenText = sp < 0 ? "" : rest.toString("latin1", 0, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new ArchiveError("malformed PAX record");
    const n = Number(lenText);
    if (n < 5 || n > rest.length || n <= sp + 1 || rest[n - 1] !== 0x0a) throw new ArchiveError("malformed PAX record");
    const rec = rest.subarray(sp + 1, n - 1);
    rest = rest.subarray(n);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new ArchiveError("malformed PAX record");
    const key = rec.toString("utf8", 0, eq);
    const value = rec.toString("utf8", eq + 1);
    if (key.includes("\0") || value.includes("\0")) throw new ArchiveError("PAX record with a NUL byte");
    if (key.startsWith("GNU.sparse.")) throw new ArchiveError("GNU sparse file (PAX GNU.sparse.*)");
    records.set(key, value);
  }
  return records;
}

/** The path the daemon's extraction writes an entry to, relative to its directory (filepath.Join + Clean). */
export function cleanPath(name: string): string {
  return path.posix.normalize("/" + name).replace(/\/+$/, "").slice(1);
}

/**
 * The files of an archive one caller reads: every entry at one of `paths` is collected and handed
 * to check() (a later entry replaces an earlier one in the daemon's extraction, so each counts).
 */
export interface TarFiles {
  /** Cleaned paths (cleanPath) whose entries must be regular files of at most `limit` bytes; every entry at a path above one of them must be a directory. */
  readonly paths: ReadonlySet<string>;
  readonly limit: number;
  /** One entry's content: a violation refuses the body; ArchiveError when it cannot be read. */
  check(path: string, data: Buffer): Violation | null;
  /** Names the daemon will create, reported on the last step (BodyStep.creates). */
  creates?(): string[];
}

/**
 * Reads a plain tar stream as Go's archive/tar does and hands back what may go to the daemon:
 * everything up to the end-of-archive block, which is held (as a count of zero bytes) until
 * finish().
 */
class TarScanner {
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Data bytes left in the current entry, then its padding. */
  private dataLeft = 0;
  private padLeft = 0;
  /** What the current entry's data is collected for, with the bytes so far. */
  private collect: { kind: "pax" | "long-name" | "long-link" | "file"; name: string; limit: number; chunks: Buffer[]; bytes: number } | null = null;
  private pax: Map<string, string> | null = null;
  private longName = "";
  private longLink = "";
  private readonly symlinks = new Set<string>();
  private first = true;
  /** Zero bytes from the end-of-archive block on (held back). */
  private trailer = -1;

  constructor(private readonly files: TarFiles) {}

  /** Scans `data`; returns the part that may be forwarded now. Throws ArchiveError; a file's violation is returned. */
  feed(data: Buffer, out: Buffer[]): Violation | null {
    let i = 0;
    while (i < data.length) {
      if (this.trailer >= 0) {
        this.trailer += data.length - i;
        for (; i < data.length; i++) if (data[i] !== 0) throw new ArchiveError("data after the end-of-archive blocks");
        if (this.trailer > TRAILER_BYTES) throw new ArchiveError("more than 1 MiB of padding after the end-of-archive blocks");
        return null;
      }
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, data.length - i);
        const part = data.subarray(i, i + n);
        out.push(part);
        i += n;
        this.dataLeft -= n;
        const c = this.collect;
        if (c !== null) {
          c.bytes += n;
          if (c.bytes > c.limit) throw new ArchiveError(`${c.name} is larger than ${c.limit} bytes`);
          c.chunks.push(Buffer.from(part));
        }
        if (this.dataLeft === 0) {
          const v = this.entryDone();
          if (v) return v;
        }
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, data.length - i);
        out.push(data.subarray(i, i + n));
        i += n;
        this.padLeft -= n;
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, data.length - i);
      data.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      if (this.headerFill < BLOCK) continue;
      this.headerFill = 0;
      if (this.header.every((b) => b === 0)) {
        // Go's reader ends here (a second zero block or EOF); so does the daemon: hold it.
        this.trailer = BLOCK;
        continue;
      }
      const v = this.onHeader(this.header);
      out.push(Buffer.from(this.header));
      if (v) return v;
      if (this.dataLeft === 0) {
        const w = this.entryDone();
        if (w) return w;
      }
    }
    return null;
  }

  /** The body ended: the held end-of-archive bytes, or why the archive is refused. */
  finish(): Buffer {
    if (this.trailer >= 0) return Buffer.alloc(this.trailer);
    if (this.headerFill > 0 || this.dataLeft > 0 || this.padLeft > 0) throw new ArchiveError("the archive is truncated");
    if (this.pax !== null || this.longName !== "" || this.longLink !== "") throw new ArchiveError("the archive ends after an extended header");
    return Buffer.alloc(0);
  }

  private onHeader(block: Buffer): Violation | null {
    if (this.first) {
      this.first = false;
      const kind = compressionOf(block);
      if (kind !== undefined) throw new ArchiveError(`the decompressed archive is ${kind}-compressed again (the daemon would decompress it once more)`);
    }
    if (!checksumOk(block)) throw new ArchiveError("a tar header has a bad checksum");
    const type = String.fromCharCode(block[156]!);
    if (!KNOWN_TYPES.has(type)) throw new ArchiveError(`tar entry type ${quote(type)} (only files, links, directories, devices, FIFOs, PAX and GNU long-name headers are read)`);
    const magic = block.toString("latin1", 257, 263);
    let name = cString(block.subarray(0, 100));
    // USTAR/PAX and STAR headers have a name prefix; GNU ("ustar  \0") and V7 ones do not.
    if (magic === "ustar\0") {
      const star = block.toString("latin1", 508, 512) === "tar\0";
      const prefix = cString(block.subarray(345, star ? 476 : 500));
      if (prefix !== "") name = `${prefix}/${name}`;
    }
    let size = octal(block.subarray(124, 136), "size");
    if (type === "x" || type === "L" || type === "K") {
      this.dataLeft = size;
      this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
      const kind = type === "x" ? "pax" : type === "L" ? "long-name" : "long-link";
      this.collect = { kind, name: `a ${kind} header`, limit: SPECIAL_BYTES, chunks: [], bytes: 0 };
      return null;
    }
    // A real entry: PAX records, then GNU long names, as Go's Reader.Next merges them.
    const pax = this.pax;
    this.pax = null;
    if (pax !== null) {
      const p = pax.get("path");
      if (p) name = p;
      const s = pax.get("size");
      if (s) {
        if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new ArchiveError(`PAX size ${quote(s)}`);
        size = Number(s);
      }
    }
    if (this.longName !== "") name = this.longName;
    this.longName = "";
    this.longLink = "";
    const isDir = type === "5" || (type === "\0" && name.endsWith("/"));
    this.dataLeft = HEADER_ONLY.has(type) || isDir ? 0 : size;
    this.padLeft = (BLOCK - (this.dataLeft % BLOCK)) % BLOCK;
    const key = cleanPath(name);
    for (let j = key.indexOf("/"); j >= 0; j = key.indexOf("/", j + 1)) {
      if (this.symlinks.has(key.slice(0, j))) throw new ArchiveError(`entry ${quote(name)} is below ${quote(key.slice(0, j))}, a symbolic link in the archive`);
    }
    if (type === "2") this.symlinks.add(key);
    if (!isDir) {
      // A link or file replacing a directory above a watched path redirects what the daemon opens there.
      for (const p of this.files.paths) if (p.startsWith(key + "/")) throw new ArchiveError(`entry ${quote(name)} is not a directory, and ${quote(p)} is below it`);
    }
    if (this.files.paths.has(key)) {
      if (!(type === "0" || type === "\0") || isDir) throw new ArchiveError(`${quote(name)} is not a regular file`);
      this.collect = { kind: "file", name: key, limit: this.files.limit, chunks: [], bytes: 0 };
    } else {
      this.collect = null;
    }
    return null;
  }

  private entryDone(): Violation | null {
    const c = this.collect;
    this.collect = null;
    if (c === null) return null;
    const data = Buffer.concat(c.chunks);
    switch (c.kind) {
      case "pax":
        this.pax = parsePax(data);
        return null;
      case "long-name":
        this.longName = cString(data);
        return null;
      case "long-link":
        this.longLink = cString(data);
        return null;
      case "file":
        return this.files.check(c.name, data);
    }
  }
}

/**
 * Decompresses gzip or zstd as the body streams, in steps of bounded output: zlib produces no
 * more than its readable buffer holds until that is read, so what one compressed chunk expands
 * to (up to ~1000x for gzip, far more for zstd) is never held at once.
 */
class Inflater {
  private readonly z: zlib.Gunzip | zlib.ZstdDecompress;
  private failure: Error | null = null;
  /** Input writes zlib has not consumed yet (their callbacks are pending). */
  private pending = 0;
  private ending = false;
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(kind: "gzip" | "zstd") {
    this.z = kind === "gzip" ? zlib.createGunzip() : zlib.createZstdDecompress();
    // A 'readable' listener keeps the stream paused: output is pulled with read().
    this.z.on("readable", () => this.poke());
    this.z.on("end", () => {
      this.ended = true;
      this.poke();
    });
    this.z.on("error", (err: Error) => {
      this.failure = err;
      this.poke();
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  write(chunk: Buffer): void {
    this.pending++;
    this.z.write(chunk, () => {
      this.pending--;
      this.poke();
    });
  }

  end(): void {
    this.ending = true;
    this.z.end();
  }

  /**
   * Hands output to `onData` until `budget` bytes were handed ("more": call again for the rest)
   * or all the input so far (after end(): the whole stream) came out ("done"). Rejects on a
   * decompression error.
   */
  async read(budget: number, onData: (b: Buffer) => void): Promise<"more" | "done"> {
    let got = 0;
    for (;;) {
      if (this.failure) throw this.failure;
      let c: Buffer | null;
      while (got < budget && (c = this.z.read() as Buffer | null) !== null) {
        got += c.length;
        onData(c);
      }
      if (got >= budget) return "more";
      if (this.ending ? this.ended : this.pending === 0) return "done";
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  destroy(): void {
    this.z.destroy();
  }
}

/** Decompressed bytes scanned (and, enforcing, handed upstream) per step at most. */
const STEP_BYTES = 1 << 20;

/** Bytes looked at to detect compression (archive.ts). */
const DETECT_BYTES = 6;

/**
 * One body: compression detection, decompression, the tar scan. Enforce mode forwards what the
 * scan releases (the plain tar); audit mode forwards the body as it came and only watches, noting
 * the first would-be denial. An archive that cannot be read is refused under `rule`.
 */
class TarBodyStream implements BodyStream {
  private detect: Buffer[] | null = [];
  private detectBytes = 0;
  private inflater: Inflater | null = null;
  private inflaterEnded = false;
  /** The body's end was seen (end() called). */
  private ending = false;
  private readonly tar: TarScanner;
  /** Bytes the scan released (enforce mode), not yet handed back. */
  private ready: Buffer[] = [];
  private failed: Violation | null = null;
  /** Audit mode: the first would-be denial; the scan stops there. */
  private audited: Denial | null = null;

  constructor(
    private readonly rule: string,
    private readonly files: TarFiles,
    private readonly deny: (v: Violation) => Denial,
    private readonly audit: boolean,
  ) {
    this.tar = new TarScanner(files);
  }

  push(chunk: Buffer): BodyStep | Promise<BodyStep> {
    if (this.detect === null) return this.input(chunk);
    this.detect.push(chunk);
    this.detectBytes += chunk.length;
    if (this.detectBytes < DETECT_BYTES) return { ok: true, forward: [] };
    return this.start();
  }

  async end(): Promise<BodyStep> {
    this.ending = true;
    const first = this.detect === null ? this.step([]) : await this.start();
    if (!first.ok || first.more) return first;
    return this.finish(first.forward);
  }

  /** More of what the input so far decompresses to (a step said `more`). */
  async pull(): Promise<BodyStep> {
    const r = await this.inflate([]);
    if (!r.ok || r.more || !this.ending) return r;
    return this.finish(r.forward);
  }

  /** All input is in: the decompressor's last output (in steps), then the held end of the tar. */
  private async finish(before: readonly Buffer[]): Promise<BodyStep> {
    if (this.inflater !== null && !this.inflaterEnded) {
      this.inflaterEnded = true;
      this.inflater.end();
      const r = await this.inflate([]);
      if (!r.ok) return r;
      if (r.more) return { ...r, forward: [...before, ...r.forward] };
      before = [...before, ...r.forward];
    }
    let tail: Buffer = Buffer.alloc(0);
    if (this.failed === null && this.audited === null) {
      try {
        tail = this.tar.finish();
      } catch (err) {
        if (!(err instanceof ArchiveError)) throw err;
        this.refuse(err.message);
      }
    }
    // Audit mode forwarded the body as it came, trailer included.
    const rest = this.step(this.audit ? [] : [tail]);
    if (!rest.ok) return rest;
    const creates = this.files.creates?.();
    return { ...rest, forward: [...before, ...rest.forward], ...(creates === undefined ? {} : { creates }) };
  }

  /** The first bytes are in: how to read the rest. */
  private start(): BodyStep | Promise<BodyStep> {
    const prefix = Buffer.concat(this.detect!);
    this.detect = null;
    const kind = compressionOf(prefix);
    if (kind === "gzip" || kind === "zstd") this.inflater = new Inflater(kind);
    else if (kind !== undefined) this.refuse(`the archive is ${kind}-compressed, which dockgate cannot read to check it (send it uncompressed, or gzip- or zstd-compressed)`);
    return this.input(prefix);
  }

  private input(chunk: Buffer): BodyStep | Promise<BodyStep> {
    const raw = this.audit ? [chunk] : [];
    if (this.failed !== null || this.audited !== null) return this.step(raw);
    if (this.inflater === null) {
      this.scan(chunk);
      return this.step(raw);
    }
    this.inflater.write(chunk);
    return this.inflate(raw);
  }

  /** Scans up to STEP_BYTES of decompressed output; `more` when the input so far holds more. */
  private async inflate(raw: readonly Buffer[]): Promise<BodyStep> {
    if (this.inflater === null || this.failed !== null || this.audited !== null) return this.step(raw);
    let r: "more" | "done";
    try {
      r = await this.inflater.read(STEP_BYTES, (b) => this.scan(b));
    } catch (err) {
      this.refuse(`the compressed archive cannot be decompressed: ${(err as Error).message}`);
      return this.step(raw);
    }
    const step = this.step(raw);
    return step.ok && r === "more" && this.failed === null && this.audited === null ? { ...step, more: true } : step;
  }

  /** Scans plain bytes; in enforce mode what it releases goes to `ready`. */
  private scan(b: Buffer): void {
    if (this.failed !== null || this.audited !== null) return;
    try {
      const v = this.tar.feed(b, this.audit ? [] : this.ready);
      if (v) this.fail(v);
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err;
      this.refuse(err.message);
    }
  }

  private refuse(detail: string): void {
    this.fail({ rule: this.rule, field: "body", detail: `body: ${detail}` });
  }

  private fail(v: Violation): void {
    if (this.failed !== null || this.audited !== null) return;
    if (this.audit) this.audited = this.deny(v);
    else this.failed = v;
    this.inflater?.destroy();
  }

  private step(extra: readonly Buffer[]): BodyStep {
    if (this.failed !== null) return { ok: false, denial: this.deny(this.failed) };
    const forward = [...this.ready, ...extra];
    this.ready = [];
    return this.audited === null ? { ok: true, forward } : { ok: true, forward, audit: this.audited };
  }
}

/**
 * An allow gets the streamed check of its tar body (plain, gzip or zstd; bzip2 and xz refused),
 * whose named files `files()` reads for one request; an archive not read the way the daemon
 * reads it is refused under `rule`. Denials stand as they are.
 */
export function withTarBodyCheck(
  verdict: Verdict | Promise<Verdict>,
  rule: string,
  files: () => TarFiles,
  audit: boolean,
  deny: (v: Violation) => Denial,
): Verdict | Promise<Verdict> {
  const bodyStream: BodyStreamCheck = { rewrites: true, open: () => new TarBodyStream(rule, files(), deny, audit) };
  const wrap = (v: Verdict): Verdict => (v.kind === "allow" ? { ...v, bodyStream } : v);
  return verdict instanceof Promise ? verdict.then(wrap) : wrap(verdict);
}
