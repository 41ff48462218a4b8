import { describe, expect, it } from "vitest";
import { query, rules, ruleOf } from "./helpers.js";

const B = "ImageBuild";

describe("ImageBuild query", () => {
  it("allows what docker build / compose / dockerode send", () => {
    expect(query(B, [["t", "app:1"], ["dockerfile", "Dockerfile"], ["buildargs", '{"A":"b"}'], ["labels", "{}"], ["networkmode", "default"], ["rm", "1"], ["pull", "1"], ["cachefrom", "[]"], ["extrahosts", "h:1.2.3.4"], ["shmsize", "0"], ["platform", "linux/amd64"], ["target", "test"], ["version", "1"]])).toBeNull();
    expect(query(B, [["remote", "client-session"], ["session", "abc"], ["version", "2"], ["networkmode", "default"]])).toBeNull();
    expect(query(B, [["networkmode", "none"]])).toBeNull();
    expect(query(B, [["remote", "upload-request"], ["buildid", "b1"]])).toBeNull();
    expect(query(B, [["networkmode", "my-net"]])).toBeNull();
  });
  it("denies BuildKit builds through /build (version=2) when the profile sets buildkit: false", () => {
    expect(query(B, [["version", "2"], ["session", "s"]], rules({ buildkit: false }))).toMatchObject({ rule: "build.buildkit", field: "version" });
    expect(query(B, [["version", "1"]], rules({ buildkit: false }))).toBeNull();
    expect(query(B, [], rules({ buildkit: false }))).toBeNull();
    expect(query(B, [["version", "2"], ["session", "s"], ["remote", "client-session"]])).toBeNull();
    // No remote, or an empty one: the daemon would build from the body's context and Dockerfile.
    expect(query(B, [["version", "2"], ["session", "s"]])).toMatchObject({ rule: "build.remote", field: "remote" });
    expect(query(B, [["version", "2"], ["session", "s"], ["remote", ""]])).toMatchObject({ rule: "build.remote", field: "remote" });
  });
  it("BuildKit: refuses parameters the daemon does not read, and what only BuildKit reads by rule", () => {
    const bk = (...q: Array<[string, string]>) => query(B, [["version", "2"], ["session", "s"], ["remote", "client-session"], ...q]);
    expect(bk(["t", "a:1"], ["dockerfile", "Dockerfile"], ["target", "final"], ["platform", "linux/amd64"], ["cachefrom", '["a:1"]'], ["buildargs", '{"A":"b","BUILDKIT_INLINE_CACHE":"1","X":null}'], ["outputs", '[{"Type":"local","Attrs":{}}]'], ["networkmode", "none"], ["shmsize", "0"], ["ulimits", "[]"], ["extrahosts", "h:1.2.3.4"], ["labels", "{}"], ["pull", "1"], ["nocache", "1"], ["q", "1"], ["rm", "1"], ["forcerm", "1"], ["buildid", "b"], ["memory", "0"])).toBeNull();
    expect(bk(["frontend", "gateway.v0"])).toMatchObject({ rule: "buildkit.parameter", field: "frontend" });
    expect(bk(["Target", "x"])).toMatchObject({ rule: "buildkit.parameter" });
    expect(bk(["buildargs", '{"BUILDKIT_SYNTAX":"docker/dockerfile:1"}'])).toMatchObject({ rule: "buildkit.frontend", field: 'buildargs["BUILDKIT_SYNTAX"]' });
    expect(query(B, [["version", "2"], ["session", "s"], ["remote", "client-session"], ["buildargs", '{"BUILDKIT_SYNTAX":"docker/dockerfile:1"}']], rules({ buildkitFrontends: ["docker/dockerfile:1"] }))).toBeNull();
    expect(bk(["buildargs", '{"BUILDKIT_NEW_THING":"1"}'])).toMatchObject({ rule: "buildkit.build-arg" });
    expect(bk(["buildargs", '{"A":1}'])).toMatchObject({ rule: "body.type" });
    expect(bk(["platform", "linux/amd64;x"])).toMatchObject({ rule: "buildkit.platform" });
    expect(bk(["networkmode", "my-net"])).toMatchObject({ rule: "build.network" });
    expect(bk(["networkmode", "host"])).toMatchObject({ rule: "build.network" });
    expect(ruleOf(query(B, [["version", "2"], ["session", "s"], ["remote", "upload-request"]]))).toBe("build.remote");
    expect(ruleOf(query(B, [["version", "2"], ["session", "s"], ["remote", "https://example.com/ctx.tar"]], rules({ fetchUrls: ["https://example.com/"] })))).toBe("build.remote");
    expect(query(B, [["version", "2"]])).toMatchObject({ rule: "buildkit.session" });
    expect(query(B, [["version", "2"], ["session", "a"], ["session", "b"]])).toMatchObject({ rule: "buildkit.session" });
  });

  it("denies networkmode=host and container joins", () => {
    expect(query(B, [["networkmode", "host"]])).toEqual({ rule: "build.network", field: "networkmode", detail: 'networkmode="host": building on the host\'s network is not allowed' });
    expect(ruleOf(query(B, [["NetworkMode", "HOST"]]))).toBe("build.network");
    expect(ruleOf(query(B, [["networkmode", "default"], ["networkmode", "host"]]))).toBe("build.network");
    expect(ruleOf(query(B, [["networkmode", "container:abc"]]))).toBe("build.network");
    expect(query(B, [["networkmode", "host"]], rules({ buildNetworkHost: true }))).toBeNull();
    expect(query(B, [["networkmode", "container:abc"]], rules({ namespaceJoins: ["network"] }))).toBeNull();
  });
  it("denies cgroupparent, securityopt, isolation", () => {
    expect(ruleOf(query(B, [["cgroupparent", "/"]]))).toBe("build.cgroup-parent");
    expect(query(B, [["cgroupparent", ""]])).toBeNull();
    expect(query(B, [["cgroupparent", "ci.slice"]], rules({ cgroupParent: true }))).toBeNull();
    expect(ruleOf(query(B, [["securityopt", "seccomp=unconfined"]]))).toBe("build.security-opt");
    expect(ruleOf(query(B, [["securityopt", ""]]))).toBe("build.security-opt");
    expect(ruleOf(query(B, [["isolation", "hyperv"]]))).toBe("containers.isolation");
    expect(query(B, [["isolation", "default"]])).toBeNull();
  });
  it("denies remote contexts outside fetchUrls", () => {
    for (const r of ["http://169.254.169.254/latest/meta-data/", "https://github.com/org/repo.git", "git@github.com:org/repo.git", "github.com/org/repo", "10.0.0.1:8080"]) {
      expect(ruleOf(query(B, [["remote", r]]))).toBe("build.remote");
    }
  });
  it("allows remote contexts under an allowed prefix, at a boundary", () => {
    const r = rules({ fetchUrls: ["https://git.example.com/ci/", "https://artifacts.example.com", "git@github.com:org/"] });
    expect(query(B, [["remote", "https://git.example.com/ci/app.git#main:docker"]], r)).toBeNull();
    expect(query(B, [["remote", "https://artifacts.example.com/ctx.tar.gz"]], r)).toBeNull();
    expect(query(B, [["remote", "git@github.com:org/repo.git"]], r)).toBeNull();
    expect(ruleOf(query(B, [["remote", "https://artifacts.example.com.evil.org/x"]], r))).toBe("build.remote");
    expect(ruleOf(query(B, [["remote", "https://artifacts.example.com@evil.org/x"]], r))).toBe("build.remote");
    expect(ruleOf(query(B, [["remote", "https://git.example.com/ci/../admin/x.git"]], r))).toBe("build.remote");
    expect(ruleOf(query(B, [["remote", "https://git.example.com/ci/%2e%2e/admin"]], r))).toBe("build.remote");
    expect(ruleOf(query(B, [["remote", "https://git.example.com/cix/app.git"]], r))).toBe("build.remote");
  });
  it("allows only moby / image / cacheonly / local / tar outputs", () => {
    expect(query(B, [["outputs", '[{"Type":"moby","Attrs":{"compression":"zstd"}}]']])).toBeNull();
    expect(query(B, [["outputs", '[{"type":"image"}]']])).toBeNull();
    expect(query(B, [["outputs", '[{"Type":"tar"}]']])).toBeNull();
    expect(ruleOf(query(B, [["outputs", '[{"Type":"oci","Attrs":{"dest":"/etc"}}]']]))).toBe("build.outputs");
    expect(ruleOf(query(B, [["outputs", "not json"]]))).toBe("build.outputs");
    expect(ruleOf(query(B, [["outputs", '{"Type":"moby"}']]))).toBe("build.outputs");
  });
  it("denies a form-encoded body (Go would read it as more parameters)", () => {
    const h = { "content-type": "application/x-www-form-urlencoded", "content-length": "40" };
    expect(ruleOf(query(B, [["t", "x"]], rules(), h))).toBe("request.form-body");
    expect(ruleOf(query(B, [], rules(), { "content-type": "Multipart/Form-Data; boundary=x", "transfer-encoding": "chunked" }))).toBe("request.form-body");
    expect(query(B, [], rules(), { "content-type": "application/x-www-form-urlencoded", "content-length": "0" })).toBeNull();
    expect(query(B, [], rules(), { "content-type": "application/x-tar", "content-length": "10240" })).toBeNull();
  });
});
