// Compressed archive uploads: the headers the daemon would decompress (moby archive/compression
// Detect), and the gate's prefix check on PutContainerArchive per profile (enforce, audit, allowed).

import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { compressionOf } from "../../src/policy/archive.js";
import { createGate } from "../../src/policy/engine.js";
import type { Client, RequestView, Verdict } from "../../src/policy/verdict.js";

const b = (...bytes: number[]) => Buffer.from(bytes);

describe("compressionOf", () => {
  it("recognizes gzip, bzip2, xz, zstd frames and zstd skippable frames", () => {
    expect(compressionOf(gzipSync("x").subarray(0, 6))).toBe("gzip");
    expect(compressionOf(b(0x1f, 0x8b))).toBe("gzip"); // whatever the method byte
    expect(compressionOf(Buffer.from("BZh91A"))).toBe("bzip2");
    expect(compressionOf(b(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00))).toBe("xz");
    expect(compressionOf(b(0x28, 0xb5, 0x2f, 0xfd, 0, 0))).toBe("zstd");
    for (let low = 0x50; low <= 0x5f; low++) expect(compressionOf(b(low, 0x2a, 0x4d, 0x18, 0, 0))).toBe("zstd");
  });
  it("leaves plain tar and incomplete headers alone", () => {
    expect(compressionOf(Buffer.from("hello.txt\0"))).toBeUndefined();
    expect(compressionOf(b())).toBeUndefined();
    expect(compressionOf(b(0x1f))).toBeUndefined();
    expect(compressionOf(b(0xfd, 0x37, 0x7a, 0x58, 0x5a))).toBeUndefined(); // 5 of xz's 6 bytes
    expect(compressionOf(b(0x4f, 0x2a, 0x4d, 0x18))).toBeUndefined();
  });
});

describe("PutContainerArchive through the gate", () => {
  const config = parseConfigText(
    [
      "listeners:",
      "  - { name: e, unix: { path: /run/e.sock }, profile: enforce }",
      "  - { name: a, unix: { path: /run/a.sock }, profile: audit }",
      "  - { name: o, unix: { path: /run/o.sock }, profile: open }",
      "profiles:",
      "  enforce: { allow: [containers:files] }",
      "  audit: { allow: [containers:files], mode: audit }",
      "  open: { allow: [containers:files], rules: { compressedArchives: true } }",
    ].join("\n"),
    "t.yaml",
    { checkFiles: false },
  );
  const gate = createGate(config, { checkImages: false });
  const req: RequestView = { method: "PUT", path: "/containers/c1/archive", apiVersion: "1.41", operation: "PutContainerArchive", params: { id: "c1" }, query: [["path", "/tmp"]], headers: {} };
  const client = (profile: string): Client => ({ listener: profile[0]!, profile, peer: "unix", owner: profile[0]! });
  const gz = gzipSync("x").subarray(0, 6);

  /** Feeds `chunks` to the verdict's body stream: the steps, in order, then the end's. */
  const run = (v: Verdict, ...chunks: Buffer[]) => {
    const stream = v.kind === "allow" ? v.bodyStream!.open() : undefined;
    return [...chunks.map((c) => stream!.push(c)), stream!.end()];
  };

  it("enforce: a compressed prefix is denied naming the rule; a plain one passes", () => {
    const v = gate.decide(req, client("enforce")) as Verdict;
    expect(v.kind === "allow" && v.bodyStream?.rewrites).toBe(false);
    // Split across reads: nothing is forwarded before the sixth byte is in.
    expect(run(v, gz.subarray(0, 3), gz.subarray(3)).slice(0, 2)).toMatchObject([{ ok: true, forward: [] }, { ok: false, denial: { status: 403, rule: "archives.compressed", field: "body" } }]);
    const plain = run(v, Buffer.from("a.txt\0"), Buffer.from("rest"));
    expect(plain.map((s) => (s as { forward: Buffer[] }).forward.map(String))).toEqual([["a.txt\0"], ["rest"], []]);
    // A body shorter than the prefix is checked at its end.
    expect(run(v, b(0x1f, 0x8b))).toMatchObject([{ ok: true, forward: [] }, { ok: false }]);
  });
  it("audit: a compressed prefix passes, noted", () => {
    const v = gate.decide(req, client("audit")) as Verdict;
    expect(run(v, gz)[0]).toMatchObject({ ok: true, forward: [gz], audit: { rule: "archives.compressed" } });
  });
  it("rules.compressedArchives: true: no check", () => {
    const v = gate.decide(req, client("open")) as Verdict;
    expect(v).toEqual({ kind: "allow" });
  });
});
