// The README is the reference users read: every rule id a refusal can name, every operation
// group, every shipped config and every CLI command must be documented there.

import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { GROUPS } from "../../src/config/groups.js";
import { RULES } from "../../src/policy/rules.js";

const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  it.each(RULES.map((r) => r.id))(
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

  it.each(["serve", "check", "explain", "learn", "rules"])("documents dockgate %s", (command) => {
    expect(readme).toMatch(new RegExp(`dockgate ${command}|main\\.js ${command}`));
  });
});
