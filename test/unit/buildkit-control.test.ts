import { describe, expect, it } from "vitest";
import { decideControlCall, decodeSolve } from "../../src/policy/buildkit/control.js";
import { MAX_SESSION_BUILDS, SessionRegistry } from "../../src/policy/buildkit/sessions.js";
import { ruleSettings } from "../../src/config/load.js";
import { DEFAULT_RULES } from "../../src/policy/rules.js";
import type { Client } from "../../src/policy/verdict.js";

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
const v = (no: number, n: number) => Buffer.concat([varint(no * 8), varint(n)]);
const b = (no: number, d: Buffer | string) => {
  const x = typeof d === "string" ? Buffer.from(d) : d;
  return Buffer.concat([varint(no * 8 + 2), varint(x.length), x]);
};
const kv = (k: string, val: string) => Buffer.concat([b(1, k), b(2, val)]);
const frame = (p: Buffer) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(p.length, 1);
  return Buffer.concat([h, p]);
};
const client = (listener: string): Client => ({ listener, profile: "ci", peer: "unix", owner: listener });
const ctx = (over: Partial<Parameters<typeof decideControlCall>[1]> = {}) => ({
  rules: DEFAULT_RULES, profile: "ci", client: client("a"), allow: new Set(["BuildPrune"]), ownership: false, ...over,
});
const source = (id: string, attrs: Buffer[] = []) => b(3, Buffer.concat([b(1, id), ...attrs.map((a) => b(2, a))]));
const execOp = (extra: Buffer) => b(2, Buffer.concat([b(1, b(1, "true")), extra]));
const def = (...ops: Buffer[]) => Buffer.concat(ops.map((o) => b(1, o)));

async function solve(req: Buffer, c = ctx(), registry = new SessionRegistry()) {
  const d = decideControlCall({ ":path": "/moby.buildkit.v1.Control/Solve" }, c, registry);
  if (d.kind !== "inspect") throw new Error(d.kind);
  return d.check(frame(req));
}

describe("Control methods", () => {
  it("classifies every method", () => {
    const path = (m: string) => ({ ":path": `/moby.buildkit.v1.Control/${m}` });
    for (const m of ["ListWorkers", "Info", "DiskUsage", "Prune"]) expect(decideControlCall(path(m), ctx()).kind, m).toBe("pass");
    expect(decideControlCall(path("Prune"), ctx({ allow: new Set() }))).toMatchObject({ kind: "refuse", code: 7 });
    expect(decideControlCall(path("Prune"), ctx({ ownership: true }))).toMatchObject({ message: expect.stringContaining("ownership.unsupported") });
    for (const m of ["Session", "ListenBuildHistory", "UpdateBuildHistory", "Nope"]) expect(decideControlCall(path(m), ctx()), m).toMatchObject({ kind: "refuse", message: expect.stringContaining("(rule buildkit.method)") });
    expect(decideControlCall({ ":path": "/other.Service/X" }, ctx())).toMatchObject({ kind: "refuse" });
    expect(decideControlCall(path("Solve"), ctx()).kind).toBe("inspect");
  });
});

describe("SolveRequest", () => {
  it("decodes the fields dockgate checks", () => {
    const r = decodeSolve(Buffer.concat([b(1, "ref1"), b(2, def(source("docker-image://x"))), b(3, "moby"), b(4, kv("name", "img")), b(5, "sess"), b(6, "dockerfile.v0"), b(7, kv("target", "t")), b(8, b(5, Buffer.concat([b(1, "local"), b(2, kv("src", "/x"))]))), b(9, "network.host"), v(11, 1)]));
    expect(r).toMatchObject({ ref: "ref1", session: "sess", frontend: "dockerfile.v0", entitlements: ["network.host"] });
    expect(r.exporters).toEqual([{ type: "moby", attrs: new Map([["name", "img"]]) }]);
    expect(r.frontendAttrs).toEqual(new Map([["target", "t"]]));
    expect(r.cacheImports[0]!.type).toBe("local");
    expect(r.definitions).toHaveLength(1);
    expect(() => decodeSolve(b(99, "x"))).toThrow(/SolveRequest field 99/);
    expect(() => decodeSolve(b(12, "policy"))).toThrow(/SourcePolicy/);
  });

  it("passes a plain raw-LLB solve and a Dockerfile solve", async () => {
    expect(await solve(Buffer.concat([b(1, "r-ok"), b(2, def(source("docker-image://x"), execOp(Buffer.alloc(0)))), b(3, "moby")]))).toEqual({ kind: "pass" });
    expect(await solve(Buffer.concat([b(1, "r-df"), b(6, "dockerfile.v0"), b(7, kv("filename", "Dockerfile")), b(7, kv("build-arg:A", "1"))]))).toEqual({ kind: "pass" });
  });

  it.each([
    ["network.host entitlement", Buffer.concat([b(6, "dockerfile.v0"), b(9, "network.host")]), "build.network"],
    ["security.insecure", Buffer.concat([b(6, "dockerfile.v0"), b(9, "security.insecure")]), "buildkit.entitlement"],
    ["device", Buffer.concat([b(6, "dockerfile.v0"), b(9, "device")]), "buildkit.entitlement"],
    ["a custom gateway frontend", Buffer.concat([b(6, "gateway.v0"), b(7, kv("source", "evil/fe"))]), "buildkit.frontend"],
    ["BUILDKIT_SYNTAX", Buffer.concat([b(6, "dockerfile.v0"), b(7, kv("build-arg:BUILDKIT_SYNTAX", "evil/fe"))]), "buildkit.frontend"],
    ["an unknown frontend attribute", Buffer.concat([b(6, "dockerfile.v0"), b(7, kv("exec-hook", "x"))]), "buildkit.frontend-attr"],
    ["force-network-mode=host", Buffer.concat([b(6, "dockerfile.v0"), b(7, kv("force-network-mode", "host"))]), "build.network"],
    ["a remote context", Buffer.concat([b(6, "dockerfile.v0"), b(7, kv("context", "https://evil/ctx.git"))]), "build.remote"],
    ["an unknown exporter", Buffer.concat([b(6, "dockerfile.v0"), b(13, b(1, "s3"))]), "build.outputs"],
    ["push without images:push", Buffer.concat([b(6, "dockerfile.v0"), b(3, "image"), b(4, kv("push", "true"))]), "build.outputs"],
    ["a gha cache export", Buffer.concat([b(6, "dockerfile.v0"), b(8, b(4, b(1, "gha")))]), "buildkit.cache"],
    ["exec on the host network", Buffer.concat([b(2, def(execOp(v(3, 1))))]), "build.network"],
    ["exec in insecure mode", Buffer.concat([b(2, def(execOp(v(4, 1))))]), "buildkit.entitlement"],
    ["exec with a cgroup parent", Buffer.concat([b(2, def(b(2, b(1, Buffer.concat([b(1, "x"), b(10, "/")])))))]), "build.cgroup-parent"],
    ["a nested build op", Buffer.concat([b(2, def(b(5, b(1, "x"))))]), "buildkit.llb"],
    ["an unknown source scheme", Buffer.concat([b(2, def(source("file:///etc")))]), "buildkit.llb"],
    ["an http source outside fetchUrls", Buffer.concat([b(2, def(source("http://169.254.169.254/latest/meta-data")))]), "build.remote"],
    ["a git source outside fetchUrls", Buffer.concat([b(2, def(source("git://github.com/evil/x.git", [kv("git.fullurl", "https://github.com/evil/x.git")])))]), "build.remote"],
    ["no definition and no frontend", b(1, "r"), "buildkit.llb"],
  ])("refuses %s", async (_label, req, rule) => {
    expect(await solve(req)).toMatchObject({ kind: "refuse", code: 7, message: expect.stringContaining(`(rule ${rule})`) });
  });

  it("holds the images a Solve fetches to the image policy: LLB sources, named contexts, caches, exporter names", async () => {
    const rules = ruleSettings({ images: { allow: ["docker.io/library/*"] } });
    const df = (...attrs: Array<[string, string]>) => Buffer.concat([b(6, "dockerfile.v0"), ...attrs.map(([k, val]) => b(7, kv(k, val)))]);
    const cases: Array<[Buffer, string]> = [
      [b(2, def(source("docker-image://docker.io/evil/x:1"))), 'source="docker.io/evil/x:1": image docker.io/evil/x is not among'],
      [b(2, def(source("docker-image://127.0.0.1:5000/library/x"))), "(rule images.local-registry)"],
      [df(["context:base", "docker-image://ghcr.io/evil/x"]), 'context:base="ghcr.io/evil/x"'],
      [df(["context:base", "docker-image:localhost:5000/x"]), "(rule images.local-registry)"],
      [df(["context:base", "git@github.com:evil/x.git"]), "(rule build.remote)"],
      [df(["context:base", "s3://bucket"]), "(rule buildkit.frontend-attr)"],
      [df(["context", "git@github.com:evil/x.git"]), "(rule build.remote)"],
      [df(["contextkey", "dockerfile"]), "(rule buildkit.frontend-attr)"],
      [df(["cache-from", "alpine,ghcr.io/evil/cache"]), 'cache-from="ghcr.io/evil/cache"'],
      [df(["cache-imports", JSON.stringify([{ Type: "registry", Attrs: { ref: "ghcr.io/evil/cache" } }])]), 'cache-imports="ghcr.io/evil/cache"'],
      [Buffer.concat([df(), b(8, b(5, Buffer.concat([b(1, "registry"), b(2, kv("ref", "quay.io/evil/c"))])))]), 'cache ref="quay.io/evil/c"'],
      [Buffer.concat([df(), b(3, "moby"), b(4, kv("name", "alpine:mine,ghcr.io/evil/app:1"))]), 'exporter name="ghcr.io/evil/app:1"'],
      [Buffer.concat([df(), b(10, Buffer.concat([b(1, "dockerfile"), b(2, def(source("local://df")))]))]), "(rule buildkit.dockerfile)"],
    ];
    for (const [req, want] of cases) expect(await solve(req, ctx({ rules })), want).toMatchObject({ kind: "refuse", code: 7, message: expect.stringContaining(want) });
    const ok = Buffer.concat([b(2, def(source("docker-image://docker.io/library/alpine:3.20"))), b(6, "dockerfile.v0"), b(7, kv("context:base", "docker-image://busybox")), b(7, kv("context:src", "local:src")), b(3, "moby"), b(4, kv("name", "myapp:1"))]);
    expect(await solve(ok, ctx({ rules }))).toEqual({ kind: "pass" });
  });

  it("records a Dockerfile Solve's build arguments on its session, for the Dockerfile read there", async () => {
    const reg = new SessionRegistry();
    reg.open("s-args", client("a"), () => {});
    expect(reg.buildArgs("s-args")).toEqual([new Map()]);
    const req = Buffer.concat([b(5, "s-args"), b(6, "dockerfile.v0"), b(7, kv("build-arg:BASE", "alpine")), b(7, kv("target", "x"))]);
    expect(await solve(req, ctx(), reg)).toEqual({ kind: "pass" });
    expect(reg.buildArgs("s-args")).toEqual([new Map([["BASE", "alpine"]])]);
    reg.close("s-args");
    expect(reg.buildArgs("s-args")).toEqual([new Map()]);
    // Distinct sets per session are bounded (the same set again is no new one); then the Solve is refused.
    reg.open("s-many", client("a"), () => {});
    for (let i = 0; i < MAX_SESSION_BUILDS; i++) expect(reg.recordBuild("s-many", new Map([["N", String(i)]]))).toBe(true);
    expect(reg.recordBuild("s-many", new Map([["N", "0"]]))).toBe(true);
    const more = Buffer.concat([b(5, "s-many"), b(6, "dockerfile.v0"), b(7, kv("build-arg:N", "new"))]);
    expect(await solve(more, ctx(), reg)).toMatchObject({ kind: "refuse", message: expect.stringContaining(`already served ${MAX_SESSION_BUILDS} builds with different build arguments (rule buildkit.session)`) });
  });

  it("allows http and git sources under fetchUrls", async () => {
    const rules = ruleSettings({ fetchUrls: ["https://example.com/files/", "git://github.com/acme/"] });
    expect(await solve(b(2, def(source("https://example.com/files/a.tgz"))), ctx({ rules }))).toEqual({ kind: "pass" });
    expect(await solve(b(2, def(source("git://github.com/acme/x.git"))), ctx({ rules }))).toEqual({ kind: "pass" });
    expect(await solve(b(2, def(source("git://github.com/acme/x.git", [kv("git.fullurl", "ssh://evil/x.git")]))), ctx({ rules }))).toMatchObject({ message: expect.stringContaining("(rule build.remote)") });
  });

  it("allows the host network by rule, frontends by the allowlist", async () => {
    const rules = ruleSettings({ buildNetworkHost: true, buildkitFrontends: ["ok/fe"] });
    expect(await solve(Buffer.concat([b(6, "dockerfile.v0"), b(9, "network.host")]), ctx({ rules }))).toEqual({ kind: "pass" });
    expect(await solve(Buffer.concat([b(6, "gateway.v0"), b(7, kv("source", "ok/fe"))]), ctx({ rules }))).toEqual({ kind: "pass" });
  });

  it("names only sessions its own client opened, in the request and in LLB local sources", async () => {
    const reg = new SessionRegistry();
    reg.open("mine", client("a"), () => {});
    reg.open("theirs", client("b"), () => {});
    const base = Buffer.concat([b(6, "dockerfile.v0")]);
    expect(await solve(Buffer.concat([base, b(5, "mine")]), ctx(), reg)).toEqual({ kind: "pass" });
    expect(await solve(Buffer.concat([base, b(5, "theirs")]), ctx(), reg)).toMatchObject({ message: expect.stringContaining("was opened by another client (rule buildkit.session)") });
    const llb = b(2, def(source("local://context", [kv("local.session", "theirs")])));
    expect(await solve(llb, ctx(), reg)).toMatchObject({ message: expect.stringContaining("(rule buildkit.session)") });
  });

  it("Status is for the client's own refs; undecodable requests are refused", async () => {
    await solve(Buffer.concat([b(1, "ref-of-a"), b(6, "dockerfile.v0")]));
    const status = (c: Client, ref: string) => {
      const d = decideControlCall({ ":path": "/moby.buildkit.v1.Control/Status" }, ctx({ client: c }));
      if (d.kind !== "inspect") throw new Error();
      return d.check(frame(b(1, ref)));
    };
    expect(await status(client("a"), "ref-of-a")).toEqual({ kind: "pass" });
    // A Status sent before its Solve (buildx sends both at once) waits for it.
    const early = status(client("a"), "ref-later");
    await solve(Buffer.concat([b(1, "ref-later"), b(6, "dockerfile.v0")]));
    expect(await early).toEqual({ kind: "pass" });
    expect(await status(client("b"), "ref-of-a")).toMatchObject({ kind: "refuse" });
    expect(await solve(Buffer.from([0x0a, 0x05, 0x01]))).toMatchObject({ message: expect.stringContaining("(rule buildkit.decode)") });
    // the same ref from another client is refused
    expect(await solve(Buffer.concat([b(1, "ref-of-a"), b(6, "dockerfile.v0")]), ctx({ client: client("b") }))).toMatchObject({ kind: "refuse" });
  });
});
