// `dockgate check` warns about BuildKit only for settings that open an entitlement or a frontend
// a granted request can use (issue 8): buildNetworkHost and buildkitFrontends where the profile
// reaches BuildKit (/grpc, or /session with builds and rules.buildkit); the shipped CI configs,
// which grant inspected BuildKit, warn about nothing.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfigText } from "../../src/config/load.js";

const CONFIG_DIR = join(import.meta.dirname, "../../config");

function warnings(allow: string, rules: string): string[] {
  const text = ["listeners:", "  - { name: a, unix: { path: /run/a.sock }, profile: p }", "profiles:", "  p:", `    allow: [${allow}]`, `    rules: ${rules}`, ""].join("\n");
  return (parseConfigText(text, "t.yaml", { checkFiles: false }).warnings ?? []).map((w) => w.replace(/^t\.yaml:\d+:\d+: warning: /, ""));
}

const HOST = `profile "p" sets buildNetworkHost: BuildKit builds may ask for the network.host entitlement and run steps on the host's network`;
const FRONTENDS = `profile "p" allows BuildKit frontend images: the daemon pulls and runs them with the build's session and entitlements`;

describe("check: BuildKit warnings", () => {
  it("warn for buildNetworkHost and buildkitFrontends where BuildKit is reachable", () => {
    expect(warnings("ping, build, buildkit", "{ buildNetworkHost: true, buildkitFrontends: [docker/dockerfile:1] }")).toEqual([HOST, FRONTENDS]);
  });

  it("say nothing where no granted request can use them", () => {
    // No BuildKit grant; BuildKit switched off for /build with no /grpc; BuildKit but no builds.
    expect(warnings("ping, build", "{ buildNetworkHost: true, buildkitFrontends: [docker/dockerfile:1] }")).toEqual([]);
    expect(warnings("ping, build, buildkit", "{ buildkit: false, buildNetworkHost: true }")).toEqual([HOST]); // /grpc is in the group
    expect(warnings("ping, build", "{ buildkit: false, buildkitFrontends: [docker/dockerfile:1] }")).toEqual([]);
  });

  it("say nothing for the inspected BuildKit of the shipped CI configs", () => {
    for (const f of ["ci.yaml", "ci-tenant.yaml"]) {
      const c = loadConfig(join(CONFIG_DIR, f), { checkFiles: false });
      expect(c.warnings ?? [], f).toEqual([]);
      expect([...c.profiles.values()].some((p) => p.allow.has("Session") && p.allow.has("ImageBuild")), f).toBe(true);
    }
  });
});
