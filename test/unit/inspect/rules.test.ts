import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, ruleSettings } from "../../../src/config/load.js";
import { INSPECTED_OPERATIONS } from "../../../src/policy/inspect/index.js";
import { DEFAULT_RULES, RULES, withOwnSocket } from "../../../src/policy/rules.js";

/** The settings, or the loader's messages for a profile `p` with these rules. */
function parse(raw: unknown) {
  try {
    return { r: ruleSettings(raw), errors: [] as string[] };
  } catch (err) {
    if (err instanceof ConfigError) return { r: undefined, errors: err.problems.map((p) => p.message) };
    throw err;
  }
}

describe("rule settings (validated by the config schema, src/config/rules.ts)", () => {
  it("returns the defaults for an empty map or null", () => {
    expect(parse({}).r).toEqual(DEFAULT_RULES);
    expect(parse(null).r).toEqual(DEFAULT_RULES);
    expect(parse({}).errors).toEqual([]);
  });
  it("merges settings over the defaults, normalizing", () => {
    const { r, errors } = parse({
      allowPrivileged: true, capAdd: ["net_admin", "CAP_SYS_PTRACE", "NET_ADMIN"], sysctls: ["net/ipv4/*"],
      securityOpt: ["seccomp:unconfined"], hostNamespaces: ["network"], volumeDriverOptions: "none",
      bindMounts: { allow: ["/srv/cache/", { path: "/srv//work", readOnly: false }] }, fetchUrls: ["https://x.example/"],
    });
    expect(errors).toEqual([]);
    expect(r!.allowPrivileged).toBe(true);
    expect(r!.capAdd).toEqual(["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]);
    expect(r!.sysctls).toEqual(["net.ipv4.*"]);
    expect(r!.securityOpt).toEqual(["seccomp=unconfined"]);
    expect(r!.bindMounts.allow).toEqual([{ path: "/srv/cache", readOnly: true }, { path: "/srv/work", readOnly: false }]);
    expect(r!.runtimes).toEqual(DEFAULT_RULES.runtimes);
    expect(Object.isFrozen(r!.bindMounts.allow)).toBe(true);
  });
  it("bindMounts { ownSocket: true }: no path of its own; withOwnSocket makes it the client's socket, exactly", () => {
    const { r, errors } = parse({ bindMounts: { allow: ["/srv/cache", { ownSocket: true }] } });
    expect(errors).toEqual([]);
    expect(r!.bindMounts).toEqual({ allow: [{ path: "/srv/cache", readOnly: true }], ownSocket: true });
    expect(withOwnSocket(r!, "/run/dockgate//a.sock").bindMounts.allow).toEqual([{ path: "/srv/cache", readOnly: true }, { path: "/run/dockgate/a.sock", readOnly: false }]);
    expect(withOwnSocket(r!, undefined)).toBe(r); // not a unix client: nothing more
    expect(withOwnSocket(DEFAULT_RULES, "/run/dockgate/a.sock")).toBe(DEFAULT_RULES); // not asked for
    expect(parse({ bindMounts: { allow: [{ ownSocket: false }] } }).errors).toEqual([
      "profiles.p.rules.bindMounts.allow[0].ownSocket must be true: { ownSocket: true } allows the socket the client connected through",
    ]);
    expect(parse({ bindMounts: { allow: [{ ownSocket: "yes" }] } }).errors).toHaveLength(1);
    for (const extra of [{ path: "/x" }, { readOnly: true }]) {
      expect(parse({ bindMounts: { allow: [{ ownSocket: true, ...extra }] } }).errors[0]).toMatch(/^unknown key "(path|readOnly)" in profiles\.p\.rules\.bindMounts\.allow\[0\]/);
    }
    expect(parse({ bindMounts: { allow: [{ ownsocket: true }] } }).errors).toContain('unknown key "ownsocket" in profiles.p.rules.bindMounts.allow[0] (did you mean "ownSocket"?)');
  });
  it("reports unknown keys with a suggestion", () => {
    expect(parse({ allowPrivilged: true }).errors).toEqual(['unknown key "allowPrivilged" in profiles.p.rules (did you mean "allowPrivileged"?)']);
    expect(parse({ bindMounts: { alow: [] } }).errors[0]).toContain('(did you mean "allow"?)');
    expect(parse({ bindMounts: { allow: [{ path: "/x", readonly: true }] } }).errors[0]).toMatch(/^unknown key "readonly" .*did you mean "readOnly"/);
  });
  it("reports wrong types", () => {
    expect(parse({ allowPrivileged: "yes", capAdd: "SYS_ADMIN", runtimes: [1], volumeDriverOptions: false }).errors).toEqual([
      'profiles.p.rules.allowPrivileged must be true or false, not the string "yes" (write true or false, unquoted)',
      'profiles.p.rules.capAdd must be a list, not the string "SYS_ADMIN"',
      'profiles.p.rules.runtimes[0] must be a string, not the number 1 (quote it: "...")',
      "profiles.p.rules.volumeDriverOptions must be one of none, safe, any, not false",
    ]);
  });
  it("validates names", () => {
    expect(parse({ capAdd: ["SYS_ADMN"] }).errors[0]).toBe('profiles.p.rules.capAdd[0]: unknown capability "SYS_ADMN" (did you mean "CAP_SYS_ADMIN"?)');
    expect(parse({ hostNamespaces: ["net"] }).errors[0]).toMatch(/^profiles\.p\.rules\.hostNamespaces\[0\] must be one of network, pid, ipc, uts, userns, cgroup, not "net"/);
    expect(parse({ securityOpt: ["secomp=unconfined"] }).errors[0]).toContain('(did you mean "seccomp"?)');
    expect(parse({ securityOpt: ["seccomp"] }).errors[0]).toContain("key=value");
    expect(parse({ sysctls: ["*"] }).errors).toHaveLength(1);
    expect(parse({ sysctls: ["net.*.x"] }).errors).toHaveLength(1);
    expect(parse({ fetchUrls: ["https://ok.example/ x"] }).errors).toHaveLength(1);
  });
  it("validates bind paths", () => {
    expect(parse({ bindMounts: { allow: ["srv/cache"] } }).errors[0]).toMatch(/^profiles\.p\.rules\.bindMounts\.allow\[0\] must be an absolute host path/);
    expect(parse({ bindMounts: { allow: ["/srv/../etc"] } }).errors[0]).toContain('".."');
    expect(parse({ bindMounts: { allow: [{ path: "/srv", readOnly: false }, "/srv/cache"] } }).errors[0]).toMatch(/^profiles\.p\.rules\.bindMounts\.allow\[1\]: "\/srv\/cache" lies inside the writable entry "\/srv"/);
    expect(parse({ bindMounts: { allow: [{ path: "/srv", readOnly: "no" }] } }).errors[0]).toMatch(/^profiles\.p\.rules\.bindMounts\.allow\[0\]\.readOnly must be true or false/);
    expect(parse({ bindMounts: ["/srv"] }).errors[0]).toMatch(/^profiles\.p\.rules\.bindMounts must be a map/);
    expect(parse({ bindMounts: null }).r!.bindMounts.allow).toEqual([]);
  });
  it("reports a rules value that is not a map", () => {
    expect(parse(["a"]).errors).toEqual(["profiles.p.rules must be a map, not a list"]);
  });
});

describe("RULES", () => {
  it("documents every rule id the inspections emit, once", () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const dir = join(import.meta.dirname, "../../../src/policy/inspect");
    const emitted = new Set<string>();
    for (const f of readdirSync(dir)) {
      const src = readFileSync(join(dir, f), "utf8");
      for (const m of src.matchAll(/(?:deny\(|rule: )"([a-z.-]+)"/g)) emitted.add(m[1]!);
    }
    expect(emitted.size).toBeGreaterThan(30);
    for (const id of emitted) expect(ids).toContain(id);
    for (const r of RULES) if (r.needs?.startsWith("rules.")) expect(Object.keys(DEFAULT_RULES)).toContain(r.needs.slice(6));
  });
  it("covers the operations that carry host-reaching settings", () => {
    expect([...INSPECTED_OPERATIONS].sort()).toEqual([
      "ContainerCreate", "ContainerExec", "ContainerStart", "ContainerUpdate", "DistributionInspect", "ImageBuild", "ImageCommit",
      "ImageCreate", "ImagePush", "ImageSearch", "NetworkConnect", "NetworkCreate", "PluginCreate", "PluginEnable", "PluginPull",
      "PluginPush", "PluginSet", "PluginUpgrade", "ServiceCreate", "ServiceUpdate", "SystemAuth", "VolumeCreate",
    ]);
  });
});
