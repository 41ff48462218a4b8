// The rule catalog (src/policy/rules.ts) against the code: every rule id src/ can emit is
// catalogued, every catalogued id is emitted somewhere, and the denial constructors refuse an id
// the catalog lacks at run time. `dockgate rules --json` prints the same list.

import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_RULES, RULES, catalogued, ruleInfo } from "../../src/policy/rules.js";
import { deny, guard } from "../../src/policy/inspect/util.js";

const ROOT = join(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");

/**
 * Quoted strings of the rule id shape (`word.word-word`) in src/ that are not rule ids: dockgate's
 * own labels (`dockgate.*`, never a rule id's family) and these (a log key, a registry name, BuildKit entitlements and frontends). Every other such literal is taken
 * for a rule id, so a new one cannot slip past by being spelled differently.
 */
const NOT_RULE_IDS = new Set(["log.level", "docker.io", "network.host", "security.insecure", "dockerfile.v0", "gateway.v0", "manifest.json", "index.json", "git.fullurl"]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Rule-shaped ids in one source text (comments aside; a block comment only from a line's start, since "registry/path/*" in a string is no comment): quoted literals, and `(rule x.y)` inside messages. */
function emittedIds(source: string): Set<string> {
  const text = source.replace(/^\s*\/\*[\s\S]*?\*\//gm, "").replace(/^\s*\/\/.*$/gm, "").replace(/\s\/\/\s.*$/gm, "");
  const ids = new Set<string>();
  for (const m of text.matchAll(/["'`|]([a-z][a-z0-9]*\.[a-z][a-z0-9-]*)["'`]/g)) ids.add(m[1]!);
  for (const m of text.matchAll(/\(rule ([a-z]+\.[a-z][a-z-]*)\)/g)) ids.add(m[1]!);
  for (const id of ids) if (NOT_RULE_IDS.has(id) || id.startsWith("dockgate.")) ids.delete(id);
  return ids;
}

const CATALOG = join(SRC, "policy/rules.ts");
const emitted = new Map<string, string[]>();
for (const file of sources(SRC)) {
  if (file === CATALOG) continue;
  for (const id of emittedIds(readFileSync(file, "utf8"))) emitted.set(id, [...(emitted.get(id) ?? []), relative(ROOT, file)]);
}

describe("the rule catalog", () => {
  it("lists each id once, with a description, and needs that name real settings", () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of RULES) {
      expect(r.describe.length, r.id).toBeGreaterThan(10);
      if (r.needs?.startsWith("rules.")) expect(Object.keys(DEFAULT_RULES), r.id).toContain(r.needs.slice("rules.".length));
    }
  });

  it("has every id src/ emits", () => {
    expect(emitted.size).toBeGreaterThan(60);
    const missing = [...emitted].filter(([id]) => ruleInfo(id) === undefined).map(([id, files]) => `${id} (${files.join(", ")})`);
    expect(missing).toEqual([]);
  });

  it("has no id that src/ never emits", () => {
    expect(RULES.map((r) => r.id).filter((id) => !emitted.has(id))).toEqual([]);
  });

  it("includes the ids the proxy core and the daemon lookups emit", () => {
    for (const id of ["ownership.unsupported", "hardening.memory", "limits.rate", "policy.lookup", "upstream.unreachable", "http.malformed"]) {
      expect(ruleInfo(id)?.describe, id).toBeDefined();
    }
  });

  it("the scan finds ids in every form the code writes them", () => {
    const text = `deny("a.b", f, d); x.rule = 'c.d-e'; m = \`... (rule e.f)\`; import "./x.js"; "dockgate.owner"\n// \`g.h\`\n/** \`i.j\` */ y = 1; // \`k.l\``;
    expect([...emittedIds(text)].sort()).toEqual(["a.b", "c.d-e", "e.f"]);
  });
});

describe("the denial constructors", () => {
  it("refuse an uncatalogued id at run time", () => {
    expect(() => catalogued("containers.nope")).toThrow(/not in the rule catalog/);
    expect(catalogued("containers.privileged")).toBe("containers.privileged");
    // An inspection's deny() with an unknown id is not a violation but an error (the gate turns
    // it into inspect.error: still refused).
    expect(() => guard(() => deny("containers.nope", "X", "detail"))).toThrow(/not in the rule catalog/);
    expect(guard(() => deny("containers.privileged", "X", "detail"))).toEqual({ rule: "containers.privileged", field: "X", detail: "detail" });
  });
});

describe("dockgate rules", () => {
  const cli = (...args: string[]) => execFileSync(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/cli/main.js"), "rules", ...args], { encoding: "utf8" });
  it("--json prints the catalog", () => {
    const out = JSON.parse(cli("--json")) as Array<{ id: string; stage: string; needs: string | null; describe: string }>;
    expect(out.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    expect(out.find((r) => r.id === "containers.capabilities")).toEqual({ id: "containers.capabilities", stage: "inspect", needs: "rules.capAdd", describe: ruleInfo("containers.capabilities")!.describe });
    expect(out.find((r) => r.id === "http.malformed")?.needs).toBeNull();
  });
  it("prints one rule, and refuses an unknown id", () => {
    expect(cli("limits.rate")).toBe(`limits.rate  (limits; allowed by limits.requestsPerSecond)\n    ${ruleInfo("limits.rate")!.describe}\n`);
    expect(() => execFileSync(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/cli/main.js"), "rules", "nope.x"], { stdio: "pipe" })).toThrow(/not a rule id: nope\.x/);
  });
});
