import { describe, expect, it } from "vitest";
import { ruleSettings } from "../../src/config/load.js";
import { DEFAULT_RULES } from "../../src/policy/rules.js";
import { decideSessionCall, dockerfileSyntax } from "../../src/policy/buildkit/session-calls.js";
import { decodePacket, isRegularFile } from "../../src/policy/buildkit/wire.js";

/** protobuf encoding helpers (the test's own, independent of the decoder) */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
const key = (no: number, wire: number) => varint(no * 8 + wire);
const vfield = (no: number, v: number) => Buffer.concat([key(no, 0), varint(v)]);
const bfield = (no: number, b: Buffer) => Buffer.concat([key(no, 2), varint(b.length), b]);
const stat = (path: string, mode: number) => bfield(2, Buffer.concat([bfield(1, Buffer.from(path)), vfield(2, mode)]));
const frame = (payload: Buffer) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
};
const statPkt = (path: string, mode = 0o644) => frame(stat(path, mode));
const endStats = () => frame(Buffer.alloc(0));
const dataPkt = (id: number, data: string) => frame(Buffer.concat([vfield(1, 2), id ? vfield(3, id) : Buffer.alloc(0), data ? bfield(4, Buffer.from(data)) : Buffer.alloc(0)]));

const DIFFCOPY = { ":path": "/moby.filesync.v1.FileSync/DiffCopy", "dir-name": "dockerfile" };

describe("Dockerfile # syntax= as BuildKit reads it", () => {
  it.each([
    ["# syntax=docker/dockerfile:1\nFROM x\n", "docker/dockerfile:1"],
    ["#syntax = a/b:c\nFROM x\n", "a/b:c"],
    ["\uFEFF# escape=`\n# SYNTAX=x/y\nFROM x\n", "x/y"],
    ["\n\n# syntax=late/blank\nFROM x", "late/blank"],
    ["// syntax=x/json\n", "x/json"],
    ['{"syntax": "img/json"}', "img/json"],
    ["FROM x\n# syntax=ignored/after-from\n", undefined],
    ["# just a comment\nFROM x\n", undefined],
  ])("%j → %j", (text, want) => {
    expect(dockerfileSyntax(text)).toBe(want);
  });
});

describe("session calls", () => {
  it("relays the known methods, refuses others with PERMISSION_DENIED", () => {
    expect(decideSessionCall({ ":path": "/grpc.health.v1.Health/Check" }, DEFAULT_RULES, "ci")).toEqual({ kind: "pass" });
    expect(decideSessionCall({ ":path": "/moby.filesync.v1.FileSync/DiffCopy", "dir-name": "context" }, DEFAULT_RULES, "ci")).toEqual({ kind: "pass" });
    expect(decideSessionCall({ ":path": "/moby.buildkit.v1.Control/Solve" }, DEFAULT_RULES, "ci")).toMatchObject({ kind: "refuse", code: 7, message: expect.stringContaining("(rule buildkit.session-method)") });
    expect(decideSessionCall({ ":path": "/moby.filesync.v1.FileSync/TarStream", "dir-name": "dockerfile" }, DEFAULT_RULES, "ci")).toMatchObject({ kind: "refuse", message: expect.stringContaining("(rule buildkit.dockerfile)") });
  });

  function run(chunks: Buffer[], rules = DEFAULT_RULES, buildArgs: Array<Map<string, string>> = [new Map()]) {
    const d = decideSessionCall(DIFFCOPY, rules, "ci", () => buildArgs);
    if (d.kind !== "pass" || !d.filter) throw new Error("no filter");
    const out: Buffer[][] = [];
    for (const c of chunks) {
      const r = d.filter.data(c);
      if (!r.ok) return { refused: r.message, out };
      out.push(r.out);
    }
    const e = d.filter.end();
    if (!e.ok) return { refused: e.message, out };
    out.push(e.out);
    return { refused: undefined, out };
  }

  it("holds the Dockerfile until it is complete, then forwards the same bytes", () => {
    const msgs = [statPkt("Dockerfile"), endStats(), dataPkt(0, "FROM x\n"), dataPkt(0, "RUN true\n"), dataPkt(0, "")];
    const r = run(msgs);
    expect(r.refused).toBeUndefined();
    expect(r.out.map((o) => o.length)).toEqual([1, 1, 0, 0, 3, 0]);
    expect(Buffer.concat(r.out.flat())).toEqual(Buffer.concat(msgs));
  });

  it("refuses a # syntax= frontend not in buildkitFrontends, before any of its bytes pass", () => {
    const split = Buffer.concat([statPkt("Dockerfile"), endStats(), dataPkt(0, "# syntax=evil/frontend\nFROM x\n"), dataPkt(0, "")]);
    // fed in 7-byte pieces: messages straddle chunks
    const pieces: Buffer[] = [];
    for (let i = 0; i < split.length; i += 7) pieces.push(split.subarray(i, i + 7));
    const r = run(pieces);
    expect(r.refused).toBe('dockgate: BuildKit session call denied for profile ci: Dockerfile selects the BuildKit frontend "evil/frontend" (# syntax=), which is not in buildkitFrontends (rule buildkit.frontend)');
    expect(Buffer.concat(r.out.flat()).includes(Buffer.from("syntax"))).toBe(false);
    const allowed = ruleSettings({ buildkitFrontends: ["evil/frontend"] });
    expect(run(pieces, allowed).refused).toBeUndefined();
  });

  it("holds the Dockerfile's images to the image policy, expanded with every build's build arguments", () => {
    const rules = ruleSettings({ images: { allow: ["docker.io/library/alpine"] } });
    const file = (text: string) => [statPkt("Dockerfile"), endStats(), dataPkt(0, text), dataPkt(0, "")];
    const df = "ARG BASE=alpine:3.20\nFROM $BASE AS b\nFROM b\nCOPY --from=b /a /a\n";
    expect(run(file(df), rules).refused).toBeUndefined();
    expect(run(file(df), rules, [new Map(), new Map([["BASE", "ghcr.io/evil/x"]])]).refused).toBe(
      'dockgate: BuildKit session call denied for profile ci: Dockerfile:2 FROM="ghcr.io/evil/x": image ghcr.io/evil/x is not among the images this profile allows (images.allow) (rule images.reference)',
    );
    expect(run(file("FROM alpine\nCOPY --from=localhost:5000/x /a /a\n")).refused).toMatch(/Dockerfile:2 COPY --from="localhost:5000\/x": registry "localhost:5000" is on this host's .*\(rule images\.local-registry\)$/);
    expect(run(file("FROM alpine:${TARGETARCH}\n")).refused).toMatch(/Dockerfile:1: FROM "alpine:\$\{TARGETARCH\}" cannot be resolved: .*\(rule buildkit\.image-ref\)$/);
  });

  it("the .dockerignore next to it is not read as a Dockerfile; an oversized or garbled stream is refused", () => {
    const ok = run([statPkt("Dockerfile"), statPkt("Dockerfile.dockerignore"), endStats(), dataPkt(1, "# syntax=x\n"), dataPkt(1, ""), dataPkt(0, "FROM x\n"), dataPkt(0, "")]);
    expect(ok.refused).toBeUndefined();
    // A Dockerfile named *.dockerignore (-f x.dockerignore) is the Dockerfile: read.
    const named = run([statPkt("x.dockerignore"), statPkt("x.dockerignore.dockerignore"), endStats(), dataPkt(0, "# syntax=evil/fe\nFROM x\n"), dataPkt(0, ""), dataPkt(1, "# syntax=y\n"), dataPkt(1, "")]);
    expect(named.refused).toMatch(/x\.dockerignore selects the BuildKit frontend "evil\/fe"/);
    expect(run([statPkt("Dockerfile"), endStats(), dataPkt(0, "a".repeat(600_000)), dataPkt(0, "a".repeat(600_000))]).refused).toMatch(/larger than 1048576 bytes \(rule buildkit\.dockerfile\)/);
    expect(run([frame(Buffer.from([0x0a, 0xff]))]).refused).toMatch(/could not be read: .*\(rule buildkit\.dockerfile\)/);
    expect(run([statPkt("Dockerfile"), endStats(), dataPkt(0, "FROM x")]).refused).toMatch(/ended inside the Dockerfile/);
  });

  it("decodes fsutil packets; Go file modes", () => {
    expect(decodePacket(Buffer.concat([vfield(1, 2), vfield(3, 5), bfield(4, Buffer.from("hi"))]))).toMatchObject({ type: 2, id: 5, data: Buffer.from("hi") });
    expect(isRegularFile(0o644)).toBe(true);
    expect(isRegularFile(0x80000000 + 0o755)).toBe(false); // ModeDir
    expect(isRegularFile(0x08000000 + 0o777)).toBe(false); // ModeSymlink
  });
});
