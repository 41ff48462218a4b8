// The classic build's context stream (build-context.ts over tar-body.ts): the Dockerfile's images
// are checked under images.allow (every spelling of its path, every entry at it, gzip bodies),
// a symlinked Dockerfile or one below a symlink is refused, the end-of-archive is held until the
// Dockerfile was read; a remote context is refused there; BuildKit builds get no body stream.

import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { createGate } from "../../src/policy/engine.js";
import type { BodyStep, Client, RequestView, Verdict } from "../../src/policy/verdict.js";
import { TAR_END, tarEntry } from "../harness/tar.js";

const config = parseConfigText(
  [
    "listeners:",
    "  - { name: e, unix: { path: /run/e.sock }, profile: enforce }",
    "profiles:",
    "  enforce: { allow: [build], rules: { images: { allow: [docker.io/library/ok] } } }",
    "  open: { allow: [build] }",
    "  fetch: { allow: [build], rules: { fetchUrls: [\"https://example.com/\"], images: { allow: [docker.io/library/ok] } } }",
  ].join("\n"),
  "t.yaml",
  { checkFiles: false },
);
const gate = createGate(config, { checkImages: false });
const build = (query: Array<[string, string]> = []): RequestView => ({ method: "POST", path: "/build", apiVersion: "1.41", operation: "ImageBuild", params: {}, query, headers: {} });
const client = (profile: string): Client => ({ listener: "e", profile, peer: "unix", owner: "e" });

async function run(body: Buffer, req = build(), profile = "enforce"): Promise<{ last: BodyStep; before: Buffer }> {
  const v = gate.decide(req, client(profile)) as Verdict;
  if (v.kind !== "allow" || v.bodyStream === undefined) throw new Error(`no body stream: ${JSON.stringify(v)}`);
  const stream = v.bodyStream.open();
  const out: Buffer[] = [];
  const follow = async (first: BodyStep): Promise<BodyStep> => {
    let step = first;
    while (step.ok && step.more) step = await stream.pull!();
    if (step.ok) out.push(...step.forward);
    return step;
  };
  for (let i = 0; i < body.length; i += 1000) {
    const step = await follow(await stream.push(body.subarray(i, i + 1000)));
    if (!step.ok) return { last: step, before: Buffer.concat(out) };
  }
  const before = Buffer.concat(out);
  return { last: await follow(await stream.end()), before };
}

const rule = (s: BodyStep) => (s.ok ? undefined : s.denial.rule);

describe("a classic build's context under images.allow", () => {
  it("has a body stream only under images.allow and only for the classic builder", () => {
    expect((gate.decide(build(), client("open")) as Verdict).kind === "allow" && (gate.decide(build(), client("open")) as { bodyStream?: unknown }).bodyStream).toBeFalsy();
    const v = gate.decide(build([["version", "2"], ["session", "s"]]), client("enforce")) as Verdict;
    expect(v.kind === "allow" && v.bodyStream !== undefined).toBe(false);
  });

  it("an allowed FROM passes whole, the tar's end held to the last step; also gzip, and a default `dockerfile`", async () => {
    const tar = Buffer.concat([tarEntry("Dockerfile", "FROM ok:1\nCOPY --from=ok x /\n"), tarEntry("a.txt", "x"), TAR_END]);
    const r = await run(tar);
    expect(r.last.ok).toBe(true);
    expect(r.before.length).toBe(tar.length - 1024);
    expect((await run(gzipSync(tar))).last.ok).toBe(true);
  });

  it("a denied FROM, COPY --from, an ARG-built reference, the lower-case fallback and a second entry are refused", async () => {
    const cases: Array<[Buffer, Array<[string, string]>, string]> = [
      [tarEntry("Dockerfile", "FROM evil:1\n"), [], "images.reference"],
      [tarEntry("./Dockerfile", "FROM ok\nCOPY --from=evil / /\n"), [], "images.reference"],
      [tarEntry("Dockerfile", "ARG B=ok\nFROM $B\n"), [["buildargs", '{"B":"evil"}']], "images.reference"],
      [tarEntry("Dockerfile", "FROM $UNDECLARED\n"), [], "buildkit.image-ref"],
      [tarEntry("dockerfile", "FROM evil\n"), [], "images.reference"],
      [Buffer.concat([tarEntry("Dockerfile", "FROM ok\n"), tarEntry("x/../Dockerfile", "FROM evil\n")]), [], "images.reference"],
      [tarEntry("sub/Build.df", "FROM evil\n"), [["dockerfile", "./sub/Build.df"]], "images.reference"],
    ];
    for (const [entries, query, want] of cases) {
      const r = await run(Buffer.concat([entries, TAR_END]), build(query));
      expect(rule(r.last)).toBe(want);
    }
  });

  it("a symlinked Dockerfile, a symlink above it, an entry below a symlink, bzip2 are refused", async () => {
    const cases = [
      Buffer.concat([tarEntry("real", "FROM evil\n"), tarEntry("Dockerfile", "", "2", "real")]),
      Buffer.concat([tarEntry("d", "", "2", "e"), tarEntry("e/Dockerfile", "FROM evil\n")]),
      Buffer.concat([tarEntry("l", "", "2", "."), tarEntry("l/Dockerfile", "FROM evil\n")]),
      Buffer.concat([tarEntry("Dockerfile", "", "1", "other")]),
    ];
    const queries: Array<Array<[string, string]>> = [[], [["dockerfile", "d/Dockerfile"]], [], []];
    for (const [i, entries] of cases.entries()) expect(rule((await run(Buffer.concat([entries, TAR_END]), build(queries[i]))).last)).toBe("build.context");
    expect(rule((await run(Buffer.from("BZh91AY&SY" + "x".repeat(100)))).last)).toBe("build.context");
  });

  it("a remote context is refused under images.allow", () => {
    const v = gate.decide(build([["remote", "https://example.com/ctx.tar"]]), client("fetch")) as Verdict;
    expect(v.kind === "deny" && v.denial.rule).toBe("build.context");
  });
});
