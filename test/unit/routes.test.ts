// matchRoute: method + decoded path → operation id, as the daemon's router routes it.

import { describe, expect, it } from "vitest";
import { KNOWN_OPERATIONS, matchRoute, templatesOverlap } from "../../src/api/routes.js";
import { SPEC_ROUTES } from "../../src/api/spec-routes.js";

function ok(method: string, path: string) {
  const r = matchRoute(method, path);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${r.reason}`);
  return r.match;
}

function fails(method: string, path: string, status: 400 | 404) {
  const r = matchRoute(method, path);
  expect(r.ok, `${method} ${path}`).toBe(false);
  if (r.ok) throw new Error("unreachable");
  expect(r.status, `${method} ${path}: ${r.reason}`).toBe(status);
  return r.reason;
}

describe("literal routes", () => {
  it.each([
    ["GET", "/_ping", "SystemPing"],
    ["HEAD", "/_ping", "SystemPingHead"],
    ["GET", "/containers/json", "ContainerList"],
    ["POST", "/containers/create", "ContainerCreate"],
    ["POST", "/containers/prune", "ContainerPrune"],
    ["GET", "/images/json", "ImageList"],
    ["GET", "/images/search", "ImageSearch"],
    ["GET", "/images/get", "ImageGetAll"],
    ["POST", "/images/create", "ImageCreate"],
    ["POST", "/images/load", "ImageLoad"],
    ["GET", "/info", "SystemInfo"],
    ["GET", "/version", "SystemVersion"],
    ["GET", "/events", "SystemEvents"],
    ["POST", "/build", "ImageBuild"],
    ["POST", "/session", "Session"],
    ["POST", "/grpc", "Grpc"],
    ["GET", "/plugins/privileges", "GetPluginPrivileges"],
    ["POST", "/plugins/create", "PluginCreate"],
    ["POST", "/plugins/pull", "PluginPull"],
  ])("%s %s → %s", (method, path, operation) => {
    const m = ok(method, path);
    expect(m.operation).toBe(operation);
    expect(m.params).toEqual({});
    expect(m.apiVersion).toBeUndefined();
  });
});

describe("parameterised routes", () => {
  it.each([
    ["GET", "/containers/abc123/json", "ContainerInspect", { id: "abc123" }],
    ["GET", "/containers/my_app-1.web/logs", "ContainerLogs", { id: "my_app-1.web" }],
    ["DELETE", "/containers/abc", "ContainerDelete", { id: "abc" }],
    ["HEAD", "/containers/abc/archive", "ContainerArchiveInfo", { id: "abc" }],
    ["PUT", "/containers/abc/archive", "PutContainerArchive", { id: "abc" }],
    ["GET", "/containers/abc/attach/ws", "ContainerAttachWebsocket", { id: "abc" }],
    ["POST", "/containers/create/start", "ContainerStart", { id: "create" }],
    ["GET", "/containers/json/json", "ContainerInspect", { id: "json" }],
    ["POST", "/exec/e1/start", "ExecStart", { id: "e1" }],
    ["GET", "/networks/n1", "NetworkInspect", { id: "n1" }],
    ["GET", "/volumes/v1", "VolumeInspect", { name: "v1" }],
  ])("%s %s → %s %j", (method, path, operation, params) => {
    const m = ok(method, path);
    expect(m.operation).toBe(operation);
    expect(m.params).toEqual(params);
  });

  it("gives image names their slashes, tags, ports and digests", () => {
    expect(ok("GET", "/images/library/busybox:latest/json")).toMatchObject({ operation: "ImageInspect", params: { name: "library/busybox:latest" } });
    expect(ok("GET", "/images/registry:5000/team/app:1.0/history")).toMatchObject({
      operation: "ImageHistory",
      params: { name: "registry:5000/team/app:1.0" },
    });
    expect(ok("GET", "/images/busybox@sha256:0123abcd/json").params).toEqual({ name: "busybox@sha256:0123abcd" });
    expect(ok("POST", "/images/a/b/c/tag")).toMatchObject({ operation: "ImageTag", params: { name: "a/b/c" } });
    expect(ok("DELETE", "/images/a/b:c")).toMatchObject({ operation: "ImageDelete", params: { name: "a/b:c" } });
    expect(ok("GET", "/images/a/get")).toMatchObject({ operation: "ImageGet", params: { name: "a" } });
    expect(ok("GET", "/images/json/json")).toMatchObject({ operation: "ImageInspect", params: { name: "json" } });
    // The last "/json" is the operation's, the rest is the name (as "{name:.*}" matches greedily).
    expect(ok("GET", "/images/a/json/json")).toMatchObject({ operation: "ImageInspect", params: { name: "a/json" } });
    expect(ok("GET", "/images/a/history/json")).toMatchObject({ operation: "ImageInspect", params: { name: "a/history" } });
  });

  it("gives plugin and distribution names their slashes", () => {
    expect(ok("GET", "/plugins/vieux/sshfs:latest/json")).toMatchObject({ operation: "PluginInspect", params: { name: "vieux/sshfs:latest" } });
    expect(ok("POST", "/plugins/vieux/sshfs/enable")).toMatchObject({ operation: "PluginEnable", params: { name: "vieux/sshfs" } });
    expect(ok("GET", "/distribution/docker.io/library/busybox:latest/json")).toMatchObject({
      operation: "DistributionInspect",
      params: { name: "docker.io/library/busybox:latest" },
    });
  });

  it.each([
    ["GET", "/containers/a/b/json"],
    ["DELETE", "/containers/a/b"],
    ["POST", "/containers/a/b/start"],
    ["POST", "/exec/a/b/start"],
    ["GET", "/networks/a/b"],
    ["GET", "/volumes/a/b"],
    ["DELETE", "/volumes/a/b"],
    ["GET", "/secrets/a/b"],
  ])("never gives a container, exec, network, volume or secret id a '/': %s %s", (method, path) => {
    fails(method, path, 404);
  });

  it("does not match an empty parameter", () => {
    fails("DELETE", "/containers/", 404);
    fails("GET", "/images//json", 404);
  });
});

describe("version prefix", () => {
  it("strips /vMAJOR.MINOR and reports it", () => {
    expect(ok("GET", "/v1.41/containers/json")).toEqual({ operation: "ContainerList", params: {}, apiVersion: "1.41" });
    expect(ok("GET", "/v1.24/_ping").apiVersion).toBe("1.24");
    expect(ok("GET", "/v10.100/_ping").apiVersion).toBe("10.100");
    expect(ok("GET", "/v1.41/images/library/busybox:latest/json")).toEqual({
      operation: "ImageInspect",
      params: { name: "library/busybox:latest" },
      apiVersion: "1.41",
    });
    expect(ok("HEAD", "/v1.41/_ping").operation).toBe("SystemPingHead");
  });

  it.each(["/v1..2/_ping", "/v1/_ping", "/v1.41.1/_ping", "/v./_ping", "/v.1/_ping", "/v1./_ping", "/v../_ping", "/v1.4.1/containers/json"])(
    "answers 400 for %s (version not MAJOR.MINOR)",
    (path) => {
      expect(fails("GET", path, 400)).toMatch(/MAJOR\.MINOR/);
    },
  );

  it.each(["/v1.41", "/V1.41/_ping", "/v1.41/v1.41/_ping", "/vx/_ping", "/v1.41_ping", "/v/_ping"])("does not route %s", (path) => {
    fails("GET", path, 404);
  });
});

describe("no match", () => {
  it.each([
    ["GET", "/nope"],
    ["GET", "/"],
    ["GET", ""],
    ["GET", "/containers"],
    ["GET", "/containers/json/"],
    ["GET", "/_ping/"],
    ["GET", "/_PING"],
    ["PATCH", "/containers/json"],
    ["get", "/_ping"],
    ["POST", "/_ping"],
    ["HEAD", "/containers/json"],
    ["GET", "/grpc"],
    ["DELETE", "/containers/json/x"],
  ])("%s %j → 404 with a reason", (method, path) => {
    expect(fails(method, path, 404)).toMatch(/no API operation/);
  });
});

/** A sample value for a path parameter: image-like names with slashes where the daemon allows them. */
function sample(path: string, name: string): string {
  if (/^\/(images|plugins|distribution)\//.test(path)) return `registry.example:5000/team/${name}-x:1.0`;
  return `${name}0123abc`;
}

function fill(path: string): { path: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const filled = path.replace(/\{([^}]+)\}/g, (_, name: string) => (params[name] = sample(path, name)));
  return { path: filled, params };
}

describe("the spec table", () => {
  it("has each method + path once and is routed by dockgate", () => {
    const keys = SPEC_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(SPEC_ROUTES.length).toBeGreaterThan(100);
    for (const r of SPEC_ROUTES) expect(KNOWN_OPERATIONS.has(r.operation)).toBe(true);
    expect(KNOWN_OPERATIONS.has("Grpc")).toBe(true);
  });

  it.each(SPEC_ROUTES.map((r) => [r.method, r.path, r.operation] as const))("%s %s matches itself as %s", (method, path, operation) => {
    const { path: filled, params } = fill(path);
    expect(matchRoute(method, filled)).toEqual({ ok: true, match: { operation, params, apiVersion: undefined } });
    expect(matchRoute(method, `/v1.41${filled}`)).toEqual({ ok: true, match: { operation, params, apiVersion: "1.41" } });
    // One-segment values work for every parameter.
    const simple: Record<string, string> = {};
    const plain = path.replace(/\{([^}]+)\}/g, (_, name: string) => (simple[name] = "x1"));
    expect(matchRoute(method, plain)).toEqual({ ok: true, match: { operation, params: simple, apiVersion: undefined } });
  });

  it.each(SPEC_ROUTES.filter((r) => r.path.includes("{") && !/^\/(images|plugins|distribution)\//.test(r.path)).map((r) => [r.method, r.path] as const))(
    "%s %s does not match with a '/' in its id",
    (method, path) => {
      const r = matchRoute(method, path.replace(/\{[^}]+\}/g, "a/b"));
      if (r.ok) expect(Object.values(r.match.params).some((v) => v.includes("/"))).toBe(false);
      else expect(r.status).toBe(404);
    },
  );
});

describe("route overlap (checked when the table is built, so a request takes the first match)", () => {
  it.each([
    ["/images/{name}", "/images/{name}/json", true], // a name may contain "/"
    ["/images/{name}/json", "/images/{name}/get", false],
    ["/images/{name}/push", "/images/{name}/x/push", true],
    ["/containers/{id}", "/containers/{id}/json", false], // an id is one segment
    ["/containers/{id}/start", "/containers/{id}/{op}", true],
    ["/containers/{id}/start", "/containers/{id}/stop", false],
    ["/containers/{id}/json", "/containers/json", false],
    ["/containers/{id}", "/containers/json", true],
    ["/plugins/{name}/json", "/plugins/{name}", true],
  ])("%s vs %s: %s", (a, b, want) => {
    expect(templatesOverlap(a, b)).toBe(want);
    expect(templatesOverlap(b, a)).toBe(want);
  });
});
