// The image policy (rules.images): reference normalization as the daemon's, local registry
// detection (inet_aton forms, IPv6, localhost), patterns, and the checks per operation.

import { describe, expect, it } from "vitest";
import { inspectionFor } from "../../../src/policy/inspect/index.js";
import { parseImagePattern, parseImageRef } from "../../../src/api/image-ref.js";
import { isLocalRegistry, searchTermHost, serverAddressHost } from "../../../src/policy/inspect/image-policy.js";
import { GoObject } from "../../../src/policy/gojson.js";
import { ConfigError, ruleSettings } from "../../../src/config/load.js";
import type { RuleSettings } from "../../../src/policy/rules.js";
import type { RequestView } from "../../../src/policy/verdict.js";

function rules(images: unknown): RuleSettings {
  return ruleSettings({ images });
}

function req(operation: string, query: Array<[string, string]>, params: Record<string, string> = {}, headers: Record<string, string> = {}): RequestView {
  return { method: "POST", path: "/x", apiVersion: "1.41", operation, params, query, headers };
}

const check = (r: RequestView, settings: RuleSettings) => inspectionFor(r.operation)!.query!(r, settings);
const DEFAULT = rules({});

describe("references and registries as the daemon reads them", () => {
  it("normalizes names like ParseNormalizedNamed", () => {
    expect(parseImageRef("alpine")).toEqual({ host: "docker.io", path: "library/alpine", tag: undefined, digest: undefined });
    expect(parseImageRef("alpine:3")).toMatchObject({ host: "docker.io", path: "library/alpine", tag: "3" });
    expect(parseImageRef("acme/app@sha256:" + "a".repeat(64))).toMatchObject({ host: "docker.io", path: "acme/app", digest: "sha256:" + "a".repeat(64) });
    expect(parseImageRef("index.docker.io/alpine")).toMatchObject({ host: "docker.io", path: "library/alpine" });
    expect(parseImageRef("localhost/x")).toMatchObject({ host: "localhost", path: "x" });
    expect(parseImageRef("127.0.0.1:5000/a/b:t")).toMatchObject({ host: "127.0.0.1:5000", path: "a/b", tag: "t" });
    expect(parseImageRef("LocalHost/x")).toMatchObject({ host: "localhost", path: "x" }); // upper case: a registry
  });
  it("reads login addresses and search terms", () => {
    expect(serverAddressHost("")).toBe("docker.io");
    expect(serverAddressHost("https://index.docker.io/v1/")).toBe("docker.io");
    expect(serverAddressHost("http://user@127.0.0.1:5000/v2/")).toBe("127.0.0.1:5000");
    expect(serverAddressHost("ghcr.io")).toBe("ghcr.io");
    expect(searchTermHost("nginx")).toBe("docker.io");
    expect(searchTermHost("acme/nginx")).toBe("docker.io");
    expect(searchTermHost("localhost:5000/nginx")).toBe("localhost:5000");
  });
  it.each(["localhost", "localhost:5000", "LOCALHOST.", "x.localhost:1", "127.0.0.1:5000", "127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "0.0.0.0", "0", "169.254.169.254", "[::1]:5000", "[::]", "[fe80::1%25eth0]", "[::ffff:127.0.0.1]"])(
    "%s is local",
    (h) => expect(isLocalRegistry(h)).toBe(true),
  );
  it.each(["docker.io", "ghcr.io", "10.0.0.1:5000", "192.168.1.10", "[2001:db8::1]:5000", "registry.example.com:443", "128.0.0.1"])("%s is not local", (h) => {
    expect(isLocalRegistry(h)).toBe(false);
  });
});

describe("patterns", () => {
  it("parses registries, repositories, subtrees and digests", () => {
    expect(parseImagePattern("docker.io")).toMatchObject({ host: "docker.io", path: undefined });
    expect(parseImagePattern("docker.io/*")).toMatchObject({ host: "docker.io", path: undefined });
    expect(parseImagePattern("library/*")).toMatchObject({ host: "docker.io", path: "library", below: true });
    expect(parseImagePattern("docker.io/library/*")).toMatchObject({ host: "docker.io", path: "library", below: true });
    expect(parseImagePattern("alpine")).toMatchObject({ host: "docker.io", path: "library/alpine", below: false });
    expect(parseImagePattern("ghcr.io/acme/app@sha256:" + "b".repeat(64))).toMatchObject({ host: "ghcr.io", path: "acme/app", digest: "sha256:" + "b".repeat(64) });
  });
  it.each(["", "a*b", "ghcr.io/*/x", "acme/app:3", "ghcr.io@sha256:" + "c".repeat(64), "x/*@sha256:" + "c".repeat(64), "a@md5", "/x"])("refuses %j", (p) => {
    expect(typeof parseImagePattern(p)).toBe("string");
  });
  it("config errors name the entry", () => {
    const errors = (images: unknown) => {
      try {
        ruleSettings({ images });
      } catch (err) {
        if (err instanceof ConfigError) return err.problems.map((p) => p.message);
      }
      return [];
    };
    expect(errors({ allow: ["ok.io", "acme/app:3"] })).toEqual([
      'profiles.p.rules.images.allow[1]: "acme/app:3": patterns name repositories, not tags (use @sha256:<digest> to pin an image)',
    ]);
    expect(errors({ localregistries: true })).toEqual(['unknown key "localregistries" in profiles.p.rules.images (did you mean "localRegistries"?)']);
  });
});

describe("checks per operation", () => {
  it("pull: a local registry is refused by default, naming the image and the rule; allowed with localRegistries", () => {
    const r = req("ImageCreate", [["fromImage", "127.0.0.1:5000/x"], ["tag", "latest"]]);
    expect(check(r, DEFAULT)).toEqual({
      rule: "images.local-registry",
      field: "fromImage",
      detail: 'fromImage="127.0.0.1:5000/x:latest": registry "127.0.0.1:5000" is on this host\'s loopback, link-local or localhost addresses, which this profile does not allow (images.localRegistries)',
    });
    expect(check(r, rules({ localRegistries: true }))).toBeNull();
    expect(check(req("ImageCreate", [["fromImage", "alpine"], ["tag", "3"]]), DEFAULT)).toBeNull();
    // Every spelling and repeat of the key counts.
    expect(check(req("ImageCreate", [["fromImage", "alpine"], ["FROMIMAGE", "localhost/x"]]), DEFAULT)?.rule).toBe("images.local-registry");
    // An import (fromSrc) without fromImage contacts no registry.
    expect(check(req("ImageCreate", [["fromSrc", "-"], ["repo", "localhost/x"]]), DEFAULT)).toBeNull();
  });
  it("pull against images.allow: registries, subtrees, digests", () => {
    const allow = rules({ allow: ["docker.io/library/*", "ghcr.io/acme/app@sha256:" + "d".repeat(64)] });
    expect(check(req("ImageCreate", [["fromImage", "alpine"], ["tag", "3"]]), allow)).toBeNull();
    expect(check(req("ImageCreate", [["fromImage", "acme/alpine"]]), allow)).toMatchObject({ rule: "images.reference", detail: expect.stringContaining("image docker.io/acme/alpine is not among") });
    expect(check(req("ImageCreate", [["fromImage", "ghcr.io/acme/app"], ["tag", "sha256:" + "d".repeat(64)]]), allow)).toBeNull();
    expect(check(req("ImageCreate", [["fromImage", "ghcr.io/acme/app"], ["tag", "v1"]]), allow)?.detail).toContain("allowed by digest only");
  });
  it("push, distribution and search", () => {
    expect(check(req("ImagePush", [["tag", "t"]], { name: "localhost:5000/x" }), DEFAULT)).toMatchObject({ rule: "images.local-registry", field: "name" });
    expect(check(req("ImagePush", [], { name: "acme/x" }), DEFAULT)).toBeNull();
    expect(check(req("DistributionInspect", [], { name: "[::1]:5000/x:1" }), DEFAULT)).toMatchObject({ rule: "images.local-registry", field: "name" });
    expect(check(req("ImageSearch", [["term", "127.0.0.1:5000/x"]]), DEFAULT)).toMatchObject({ rule: "images.local-registry", field: "term" });
    expect(check(req("ImageSearch", [["term", "nginx"]]), rules({ allow: ["ghcr.io"] }))).toMatchObject({ rule: "images.reference", field: "term" });
  });
  it("plugins: pull and upgrade `remote`, push {name} (with plugins allowed)", () => {
    const open = ruleSettings({ plugins: true });
    expect(check(req("PluginPull", [["remote", "localhost:5000/evil"]]), open)).toMatchObject({ rule: "images.local-registry", field: "remote" });
    expect(check(req("PluginUpgrade", [["remote", "127.0.0.1/evil"]], { name: "p" }), open)).toMatchObject({ rule: "images.local-registry", field: "remote" });
    expect(check(req("PluginPush", [], { name: "[::1]:5000/p" }), open)).toMatchObject({ rule: "images.local-registry", field: "name" });
    expect(check(req("PluginPull", [["remote", "vieux/sshfs"]]), open)).toBeNull();
  });
  it("X-Registry-Auth's serveraddress", () => {
    const header = Buffer.from(JSON.stringify({ username: "u", password: "p", serveraddress: "http://169.254.169.254/" })).toString("base64url");
    expect(check(req("ImageCreate", [["fromImage", "alpine"]], {}, { "x-registry-auth": header }), DEFAULT)).toMatchObject({ rule: "images.local-registry", field: "X-Registry-Auth.serveraddress" });
    expect(check(req("ImageCreate", [["fromImage", "alpine"]], {}, { "x-registry-auth": "e30=" }), DEFAULT)).toBeNull(); // {}
    expect(check(req("ImageCreate", [["fromImage", "alpine"]], {}, { "x-registry-auth": "not json" }), DEFAULT)).toBeNull();
  });
  it("login (/auth body)", () => {
    const body = (o: Record<string, string>) => new GoObject(Object.entries(o));
    const auth = inspectionFor("SystemAuth")!;
    const r = req("SystemAuth", []);
    expect(auth.body!(body({ username: "u", password: "p", serveraddress: "localhost:5000" }), r, DEFAULT)).toMatchObject({ rule: "images.local-registry", field: "serveraddress" });
    expect(auth.body!(body({ username: "u", password: "p", ServerAddress: "127.0.0.1" }), r, DEFAULT)).toMatchObject({ rule: "images.local-registry" });
    expect(auth.body!(body({ username: "u", password: "p" }), r, DEFAULT)).toBeNull(); // Docker Hub
    expect(auth.body!(body({ username: "u", password: "p" }), r, rules({ allow: ["ghcr.io"] }))).toMatchObject({ rule: "images.reference" });
  });
});
