// Compressed archive uploads (PUT /containers/{id}/archive, `docker cp` into a container). The
// daemon decompresses a body that starts with a compression header before extracting it, and
// Docker Engine before 29.5.1 runs the decompressor it finds *inside the container's filesystem*
// as host root (GHSA-x86f-5xw2-fm2r): a container's own /usr/bin/xz (or unpigz, ...) would run on
// the host. `docker cp` always sends a plain tar, so a compressed body is refused unless the
// profile sets `rules.compressedArchives` (rule archives.compressed). Only the first bytes are
// read: the body is streamed, never buffered (a BodyStreamCheck that holds the first bytes only).
// The same header detection decides how `docker load` bodies are read (image-load.ts).
//
// The headers are those moby's archive/compression Detect recognizes: bzip2, gzip, xz, zstd (a
// frame, or a skippable frame), matched on fewer bytes where that is stricter (gzip by its two
// magic bytes, whatever the method byte; a skippable zstd frame by its 4-byte magic alone).

import type { BodyStep, BodyStreamCheck, Denial, Verdict } from "./verdict.js";

const RULE = "archives.compressed";

const MAGICS: ReadonlyArray<readonly [string, Buffer]> = [
  ["gzip", Buffer.from([0x1f, 0x8b])],
  ["bzip2", Buffer.from([0x42, 0x5a, 0x68])],
  ["xz", Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ["zstd", Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

/** The longest header looked at. */
const PREFIX_BYTES = 6;

/** The compression a body starting with `prefix` is in, as the daemon would detect it, or undefined. */
export function compressionOf(prefix: Buffer): string | undefined {
  for (const [name, magic] of MAGICS) {
    if (prefix.length >= magic.length && prefix.subarray(0, magic.length).equals(magic)) return name;
  }
  // zstd skippable frame: little-endian magic 0x184D2A50 .. 0x184D2A5F.
  if (prefix.length >= 4 && (prefix.readUInt32LE(0) & 0xfffffff0) >>> 0 === 0x184d2a50) return "zstd";
  return undefined;
}

/**
 * PutContainerArchive under a profile without `compressedArchives`: an allow gets the prefix
 * check (in audit mode a compressed body goes through, noted); denials stand as they are.
 */
export function withArchivePrefixCheck(verdict: Verdict | Promise<Verdict>, profile: string, audit: boolean): Verdict | Promise<Verdict> {
  const check = (prefix: Buffer): BodyStep => {
    const kind = compressionOf(prefix);
    if (kind === undefined) return { ok: true, forward: [prefix] };
    const denial: Denial = {
      status: 403,
      message:
        `dockgate: PutContainerArchive denied for profile ${profile}: body: the archive is ${kind}-compressed; only plain tar archives ` +
        `are accepted (the daemon would decompress it with a program from inside the container, GHSA-x86f-5xw2-fm2r) (rule ${RULE})`,
      rule: RULE,
      field: "body",
    };
    return audit ? { ok: true, forward: [prefix], audit: denial } : { ok: false, denial };
  };
  const bodyStream: BodyStreamCheck = {
    rewrites: false,
    open() {
      // The first PREFIX_BYTES are held and checked; everything after passes as it comes.
      let held: Buffer[] | null = [];
      let bytes = 0;
      return {
        push(chunk) {
          if (held === null) return { ok: true, forward: [chunk] };
          held.push(chunk);
          bytes += chunk.length;
          if (bytes < PREFIX_BYTES) return { ok: true, forward: [] };
          const prefix = Buffer.concat(held);
          held = null;
          return check(prefix);
        },
        end() {
          if (held === null) return { ok: true, forward: [] };
          const prefix = Buffer.concat(held);
          held = null;
          return check(prefix);
        },
      };
    },
  };
  const wrap = (v: Verdict): Verdict => (v.kind === "allow" ? { ...v, bodyStream } : v);
  return verdict instanceof Promise ? verdict.then(wrap) : wrap(verdict);
}
