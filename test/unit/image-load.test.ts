// The docker load body stream (image-load.ts) read the way Go's archive/tar reads an archive:
// PAX paths, GNU long names, link entries whose size field is not data, checksums, truncation,
// limits; what is held back (the end-of-archive blocks) and what is forwarded (the plain tar,
// also from gzip); audit mode forwards the body as it came.

import { randomBytes } from "node:crypto";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { createGate } from "../../src/policy/engine.js";
import type { BodyStep, Client, RequestView, Verdict } from "../../src/policy/verdict.js";
import { paxEntry, TAR_END, tarEntry, tarHeader, withChecksum } from "../harness/tar.js";

const config = parseConfigText(
  [
    "listeners:",
    "  - { name: e, unix: { path: /run/e.sock }, profile: enforce }",
    "profiles:",
    "  enforce: { allow: [images:transfer], rules: { images: { allow: [docker.io/library/ok] } } }",
    "  audit: { allow: [images:transfer], mode: audit, rules: { images: { allow: [docker.io/library/ok] } } }",
    "  open: { allow: [images:transfer] }",
  ].join("\n"),
  "t.yaml",
  { checkFiles: false },
);
const gate = createGate(config, { checkImages: false });
const req: RequestView = { method: "POST", path: "/images/load", apiVersion: "1.41", operation: "ImageLoad", params: {}, query: [], headers: {} };
const client = (profile: string): Client => ({ listener: "e", profile, peer: "unix", owner: "e" });

const manifest = (tag: string) => JSON.stringify([{ Config: "c.json", RepoTags: [tag], Layers: [] }]);
const layer = tarEntry("abc/layer.tar", Buffer.alloc(3000, 7));

/** Runs `body` through the profile's load stream in `size`-byte reads: every step, and what was forwarded before the end. */
async function run(body: Buffer, profile = "enforce", size = 4096): Promise<{ steps: BodyStep[]; before: Buffer; all: Buffer; last: BodyStep }> {
  const v = gate.decide(req, client(profile)) as Verdict;
  if (v.kind !== "allow" || v.bodyStream === undefined) throw new Error("no body stream");
  const stream = v.bodyStream.open();
  const steps: BodyStep[] = [];
  // As the session does: a step that says `more` is followed by pull()s before the next chunk.
  const follow = async (first: BodyStep): Promise<BodyStep> => {
    let step = first;
    steps.push(step);
    while (step.ok && step.more) steps.push((step = await stream.pull!()));
    return step;
  };
  for (let i = 0; i < body.length; i += size) {
    const step = await follow(await stream.push(body.subarray(i, i + size)));
    if (!step.ok) break;
  }
  const before = Buffer.concat(steps.flatMap((s) => (s.ok ? s.forward : [])));
  const last = steps.every((s) => s.ok) ? await follow(await stream.end()) : steps[steps.length - 1]!;
  return { steps, before, all: Buffer.concat(steps.flatMap((s) => (s.ok ? s.forward : []))), last };
}

const denied = (r: { last: BodyStep }) => (r.last.ok ? undefined : r.last.denial);

describe("ImageLoad's body stream", () => {
  it("is set only under images.allow", () => {
    expect((gate.decide(req, client("open")) as Verdict)).toEqual({ kind: "allow" });
    const v = gate.decide(req, client("enforce")) as Verdict;
    expect(v.kind === "allow" && v.bodyStream?.rewrites).toBe(true);
  });

  it("an allowed archive is forwarded whole, the end-of-archive blocks only at the end, also read byte by byte", async () => {
    const tar = Buffer.concat([layer, tarEntry("manifest.json", manifest("ok:1")), TAR_END, Buffer.alloc(4096)]);
    for (const size of [1, 511, 4096]) {
      const r = await run(tar, "enforce", size);
      expect(r.last.ok).toBe(true);
      expect(r.all.equals(tar)).toBe(true);
      expect(r.before.length).toBe(tar.length - 1024 - 4096);
    }
  });

  it("a gzip body is forwarded decompressed", async () => {
    const tar = Buffer.concat([layer, tarEntry("manifest.json", manifest("ok:1")), TAR_END]);
    const r = await run(gzipSync(tar));
    expect(r.last.ok).toBe(true);
    expect(r.all.equals(tar)).toBe(true);
  });

  it("a body that decompresses ~1000x (gzip) or far more (zstd) comes out in steps of at most 1 MiB, whole and in order", async () => {
    const big = Buffer.concat([tarEntry("abc/layer.tar", Buffer.alloc(48 << 20)), tarEntry("manifest.json", manifest("ok:1")), TAR_END]);
    for (const compressed of [gzipSync(big, { level: 9 }), zstdCompressSync(big)]) {
      const r = await run(compressed, "enforce", 65536);
      expect(r.last.ok).toBe(true);
      expect(r.all.equals(big)).toBe(true);
      const sizes = r.steps.map((s) => (s.ok ? s.forward.reduce((n, b) => n + b.length, 0) : 0));
      expect(Math.max(...sizes)).toBeLessThanOrEqual((1 << 20) + 65536);
      expect(r.steps.filter((s) => s.ok && s.more).length).toBeGreaterThan(40);
    }
  });

  it("a denied tag names the tag and the rule", async () => {
    const r = await run(Buffer.concat([layer, tarEntry("manifest.json", manifest("evil:1")), TAR_END]));
    expect(denied(r)).toMatchObject({ status: 403, rule: "images.reference" });
    expect(denied(r)?.message).toContain('manifest.json[0].RepoTags="evil:1"');
  });

  it("paths as Go reads them: PAX path, GNU long name, USTAR prefix, ./ and ../", async () => {
    const cases: Buffer[] = [
      Buffer.concat([paxEntry({ path: "manifest.json" }), tarEntry("harmless.txt", manifest("evil:1"))]),
      Buffer.concat([tarEntry("././@LongLink", "manifest.json\0", "L"), tarEntry("harmless.txt", manifest("evil:1"))]),
      Buffer.concat([tarEntry("x/../manifest.json", manifest("evil:1"))]),
      Buffer.concat([tarEntry("/manifest.json", manifest("evil:1"))]),
      (() => {
        const h = tarHeader("manifest.json", Buffer.byteLength(manifest("evil:1")));
        h.write("a/..", 345, "latin1"); // prefix "a/.." + "/" + name
        withChecksum(h);
        const data = Buffer.from(manifest("evil:1"));
        return Buffer.concat([h, data, Buffer.alloc(512 - data.length)]);
      })(),
    ];
    for (const c of cases) expect(denied(await run(Buffer.concat([layer, c, TAR_END]))), c.toString("latin1", 0, 40)).toMatchObject({ rule: "images.reference" });
  });

  it("a symlink entry has no data whatever its size field says (Go's isHeaderOnlyType): the header after it is read", async () => {
    const m = tarEntry("manifest.json", manifest("evil:1"));
    const tar = Buffer.concat([tarHeader("link", m.length, "2", "elsewhere"), m, TAR_END]);
    expect(denied(await run(tar))).toMatchObject({ rule: "images.reference" });
  });

  it("odd archives are refused as images.load-archive", async () => {
    const big = tarEntry("manifest.json", JSON.stringify([{ RepoTags: ["ok:1"], Pad: "x".repeat(1 << 20) }]));
    const badSum = tarEntry("manifest.json", manifest("ok:1"));
    badSum[148] = 0x37;
    const cases: Array<[string, Buffer, string]> = [
      ["too large", Buffer.concat([big, TAR_END]), "larger than"],
      ["bad checksum", Buffer.concat([badSum, TAR_END]), "bad checksum"],
      ["truncated", Buffer.concat([layer]).subarray(0, 1000), "truncated"],
      ["global PAX", Buffer.concat([tarEntry("g", "11 path=a\n", "g"), TAR_END]), "entry type"],
      ["sparse", Buffer.concat([paxEntry({ "GNU.sparse.major": "1" }), tarEntry("a", "x"), TAR_END]), "sparse"],
      ["symlinked manifest", Buffer.concat([tarEntry("manifest.json", "", "2", "blobs/x"), TAR_END]), "not a regular file"],
      ["hard-linked manifest", Buffer.concat([tarEntry("manifest.json", "", "1", "blobs/x"), TAR_END]), "not a regular file"],
      ["not JSON", Buffer.concat([tarEntry("manifest.json", "[{]"), TAR_END]), "not JSON"],
      ["data after the end", Buffer.concat([layer, TAR_END, tarEntry("manifest.json", manifest("evil:1"))]), "after the end-of-archive"],
      ["compressed twice", gzipSync(gzipSync(Buffer.concat([tarEntry("r", randomBytes(2000)), TAR_END]))), "compressed again"],
      ["xz", Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]), "xz-compressed"],
    ];
    for (const [what, body, detail] of cases) {
      const d = denied(await run(body));
      expect(d?.rule, what).toBe("images.load-archive");
      expect(d?.message, what).toContain(detail);
    }
  });

  it("repositories and index.json name tags too", async () => {
    const repos = await run(Buffer.concat([tarEntry("repositories", JSON.stringify({ evil: { "1": "abc" } })), TAR_END]));
    expect(denied(repos)?.message).toContain('repositories="evil:1"');
    const index = { manifests: [{ annotations: { "io.containerd.image.name": "docker.io/library/evil:1", "org.opencontainers.image.ref.name": "1" } }] };
    expect(denied(await run(Buffer.concat([tarEntry("index.json", JSON.stringify(index)), TAR_END])))?.message).toContain("evil:1");
    const allowed = { manifests: [{ annotations: { "io.containerd.image.name": "docker.io/library/ok:1", "org.opencontainers.image.ref.name": "1" } }] };
    expect((await run(Buffer.concat([tarEntry("index.json", JSON.stringify(allowed)), TAR_END]))).last.ok).toBe(true);
  });

  it("audit mode forwards the body as it came and notes the would-be denial", async () => {
    const tar = gzipSync(Buffer.concat([layer, tarEntry("manifest.json", manifest("evil:1")), TAR_END]));
    const r = await run(tar, "audit");
    expect(r.last).toMatchObject({ ok: true, audit: { rule: "images.reference" } });
    expect(r.all.equals(tar)).toBe(true);
  });
});
