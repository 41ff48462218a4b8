// The README is the reference users read: every rule id a refusal can name, every operation
// group, every shipped config and every CLI command must be documented there.

import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { GROUPS } from "../../src/config/groups.js";
import { GATE_RULES } from "../../src/policy/engine.js";
import { LIMIT_RULES } from "../../src/policy/limits.js";
import { HARDENING_RULES } from "../../src/policy/mutate.js";
import { OWNERSHIP_RULES } from "../../src/policy/ownership.js";
import { RULES, SESSION_RULES } from "../../src/policy/rules.js";

const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  const ruleIds = [...RULES, ...SESSION_RULES, ...GATE_RULES, ...OWNERSHIP_RULES, ...HARDENING_RULES, ...LIMIT_RULES].map((r) => r.id);
  it.each([...ruleIds, "http.malformed", "request.target", "endpoint.unknown", "body.size", "upstream.unreachable", "policy.lookup"])(
    "documents rule %s",
    (id) => {
      expect(readme).toContain(`\`${id}\``);
    },
  );

  it.each([...GROUPS.keys()])("documents group %s", (name) => {
    expect(readme).toContain(`\`${name}\``);
  });

  const configs = fs.readdirSync(new URL("../../config/", import.meta.url)).filter((f) => f.endsWith(".yaml"));
  it.each(configs)("documents config/%s", (file) => {
    expect(readme).toContain(`config/${file}`);
  });

  it.each(["serve", "check", "explain", "learn"])("documents dockgate %s", (command) => {
    expect(readme).toMatch(new RegExp(`dockgate ${command}|main\\.js ${command}`));
  });
});
