import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { run as check } from "../../src/cli/check.js";
import { run as explain } from "../../src/cli/explain.js";

const CONFIG_DIR = join(import.meta.dirname, "../../config");

function capture() {
  let out = "";
  let err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  return { out: () => out, err: () => err };
}

afterEach(() => vi.restoreAllMocks());

describe("dockgate check", () => {
  it("summarizes a valid config", async () => {
    const io = capture();
    expect(await check([join(CONFIG_DIR, "read-only.yaml")])).toBe(0);
    expect(io.out()).toContain("read-only.yaml: valid");
    expect(io.out()).toContain("monitoring: unix /run/dockgate/docker.sock (mode 0660) -> profile read-only");
    expect(io.out()).toContain("groups: ping, system:read, events, containers:read, images:read, networks:read, volumes:read");
    expect(io.out()).toContain("rules: defaults");
    expect(io.err()).toBe("");
  });

  it("lists every problem with its position and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dockgate-check-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "listeners:\n  - name: a\n    unix: { path: /run/a.sock }\n    profile: p\nprofiles:\n  p:\n    allow: [ping, ContainerCreat]\n    mode: strict\n");
    const io = capture();
    expect(await check([file])).toBe(1);
    expect(io.err()).toBe(
      `${file}:7:19: unknown operation or group "ContainerCreat" (did you mean "ContainerCreate"?)\n` +
        `${file}:8:11: profiles.p.mode must be one of enforce, audit, not "strict"\n` +
        `${file}: invalid (2 problems)\n`,
    );
    expect(io.out()).toBe("");
  });

  it("usage errors exit 2", async () => {
    const io = capture();
    expect(await check([])).toBe(2);
    expect(await check(["a.yaml", "b.yaml"])).toBe(2);
    expect(io.err()).toContain("usage: dockgate check CONFIG");
  });
});

describe("dockgate explain", () => {
  const readOnly = join(CONFIG_DIR, "read-only.yaml");

  it("explains an allow and names the grant", async () => {
    const io = capture();
    expect(await explain(["--config", readOnly, "GET", "/v1.47/containers/json?all=1"])).toBe(0);
    expect(io.out()).toBe(
      [
        "request    GET /v1.47/containers/json?all=1",
        "profile    read-only (enforce, API >= 1.24)",
        "operation  ContainerList (API 1.47; groups: containers:read)",
        "decision   allow",
        "rule       endpoint.allow: ContainerList is granted by containers:read",
        "",
      ].join("\n"),
    );
  });

  it("shows what ownership and hardening forward instead of what was sent", async () => {
    const tenant = join(CONFIG_DIR, "ci-tenant.yaml");
    const io = capture();
    expect(await explain(["--config", tenant, "--profile", "ci", "GET", "/v1.41/containers/json?all=1"])).toBe(0);
    const forwarded = /^forwarded +GET (\S+)$/m.exec(io.out());
    expect(forwarded, io.out()).not.toBeNull();
    const filters = new URL(`http://x${forwarded![1]}`).searchParams.get("filters")!;
    expect(JSON.parse(filters).label).toEqual({ "dockgate.owner=explain": true });

    const dir = mkdtempSync(join(tmpdir(), "dg-explain-"));
    writeFileSync(join(dir, "body.json"), JSON.stringify({ Image: "busybox" }));
    const io2 = capture();
    expect(await explain(["--config", tenant, "--profile", "ci", "POST", "/v1.41/containers/create", join(dir, "body.json")])).toBe(0);
    const body = /^new body +(.*)$/m.exec(io2.out());
    expect(body, io2.out()).not.toBeNull();
    expect(JSON.parse(body![1]!).Labels).toEqual({ "dockgate.owner": "explain" });
  });

  it("explains a denial with the rule and the client's message", async () => {
    const io = capture();
    expect(await explain(["--config", readOnly, "--profile", "read-only", "POST", "/containers/abc/kill"])).toBe(1);
    expect(io.out()).toBe(
      [
        "request    POST /containers/abc/kill",
        "profile    read-only (enforce, API >= 1.24)",
        "operation  ContainerKill (API: daemon default; groups: containers:write; id=abc)",
        "decision   deny 403",
        "rule       endpoint.allow: the operation is not in the profile's allow list",
        "message    dockgate: ContainerKill denied for profile read-only: operation is not allowed (rule endpoint.allow)",
        "needs      profile setting allow",
        "",
      ].join("\n"),
    );
  });

  it("explains unknown endpoints and malformed targets", async () => {
    let io = capture();
    expect(await explain(["--config", readOnly, "GET", "/nope"])).toBe(1);
    expect(io.out()).toContain("rule       endpoint.unknown: no API operation has this method and path");
    vi.restoreAllMocks();
    io = capture();
    expect(await explain(["--config", readOnly, "GET", "/containers//json"])).toBe(1);
    expect(io.out()).toContain("decision   deny 400");
    expect(io.out()).toContain("rule       request.target:");
  });

  it("inspects a body with the profile's rules", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dockgate-explain-"));
    const priv = join(dir, "priv.json");
    writeFileSync(priv, JSON.stringify({ Image: "busybox", HostConfig: { Privileged: true } }));
    const plain = join(dir, "plain.json");
    writeFileSync(plain, JSON.stringify({ Image: "busybox", HostConfig: { Binds: ["/run/dockgate/ci.sock:/var/run/docker.sock"] } }));
    const ci = join(CONFIG_DIR, "ci.yaml");

    let io = capture();
    expect(await explain(["--config", ci, "POST", "/v1.47/containers/create?name=web", priv])).toBe(1);
    const lines = io.out().split("\n");
    expect(lines.slice(0, 7)).toEqual([
      "request    POST /v1.47/containers/create?name=web",
      "profile    ci (enforce, API >= 1.24)",
      "operation  ContainerCreate (API 1.47; groups: containers:write)",
      "body       inspected (52 bytes, limit 1048576)",
      "decision   deny 403",
      "rule       containers.privileged: HostConfig.Privileged=true (docker run --privileged): full access to the host",
      "field      HostConfig.Privileged",
    ]);
    expect(lines[7]).toMatch(/^message    dockgate: ContainerCreate denied for profile ci: HostConfig\.Privileged=true is not allowed.* \(rule containers\.privileged\)$/);
    expect(lines[8]).toBe("needs      profile setting rules.allowPrivileged");
    vi.restoreAllMocks();
    io = capture();
    expect(await explain(["--config", ci, "POST", "/v1.47/containers/create", plain])).toBe(0);
    expect(io.out()).toContain("decision   allow\n");
    expect(io.out()).toContain("rule       endpoint.allow: ContainerCreate is granted by containers:write; query and body pass the profile's rules");
    vi.restoreAllMocks();
    io = capture();
    writeFileSync(plain, '{"Image":"busybox","image":"evil"}');
    expect(await explain(["--config", ci, "POST", "/containers/create", plain])).toBe(1);
    expect(io.out()).toContain("decision   deny 400\n");
    expect(io.out()).toContain("rule       body.json:");
  });

  it("usage and profile errors exit 2", async () => {
    const io = capture();
    expect(await explain(["GET", "/_ping"])).toBe(2);
    expect(await explain(["--config", readOnly, "--profile", "nope", "GET", "/_ping"])).toBe(2);
    expect(io.err()).toContain('no profile "nope"');
  });
});
