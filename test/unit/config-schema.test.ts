// The published JSON Schema (config/dockgate.schema.json) and the ahead-of-time validator
// (src/config/schema-validator.ts) are generated from the schema the loader validates with, and
// every shipped config names the schema for editors and validates against it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { artifacts } from "../../scripts/generate-schema.mjs";
import { parseConfigText } from "../../src/config/load.js";
import { CONFIG_SCHEMA, RULES_SCHEMA } from "../../src/config/schema.js";
import { NAME_PATTERN } from "../../src/config/types.js";

const CONFIG_DIR = join(import.meta.dirname, "../../config");
const published = readFileSync(join(CONFIG_DIR, "dockgate.schema.json"), "utf8");

describe("config/dockgate.schema.json", () => {
  it("and the validator are current (run `npm run schema` after changing src/config/schema.ts)", () => {
    const { json, validator } = artifacts(CONFIG_SCHEMA, RULES_SCHEMA);
    expect(published).toBe(json);
    expect(readFileSync(join(import.meta.dirname, "../../src/config/schema-validator.ts"), "utf8") === validator).toBe(true);
  });

  const files = readdirSync(CONFIG_DIR).filter((f) => f.endsWith(".yaml"));
  // A plain JSON Schema validator, as an editor would use it (the loader's own checks come on top).
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(published) as object);
  for (const f of files) {
    it(`${f} names the schema on its first line and validates against it`, () => {
      const text = readFileSync(join(CONFIG_DIR, f), "utf8");
      expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=./dockgate.schema.json");
      expect(validate(parse(text)), JSON.stringify(validate.errors)).toBe(true);
    });
  }

  it("refuses what the loader refuses by schema (an unknown key)", () => {
    expect(validate({ listeners: [{ name: "a", unix: { path: "/run/a.sock" }, profile: "p" }], profiles: { p: { allow: ["ping"], alow: [] } } })).toBe(false);
  });
});

describe("the schema's defaults", () => {
  it("are what the loader fills in (the published schema documents the behaviour)", () => {
    const c = parseConfigText("listeners: [{ name: a, tcp: { port: 2375, allow: [127.0.0.1] }, profile: p }]\nprofiles: { p: { allow: [ping] } }\n", "t.yaml", { checkFiles: false });
    const props = CONFIG_SCHEMA.properties;
    expect(c.upstream).toBe(props.upstream.default);
    expect(c.logLevel).toBe(props.log.properties.level.default);
    expect(c.limits).toEqual(Object.fromEntries(Object.entries(props.limits.properties).map(([k, s]) => [k, (s as { default: unknown }).default])));
    expect(c.shutdownGraceSeconds).toBe(props.shutdown.properties.graceSeconds.default);
    expect(c.listeners[0]!.listen).toMatchObject({ host: props.listeners.items.properties.tcp.properties.host.default });
    expect(c.profiles.get("p")!.mode).toBe(props.profiles.patternProperties[NAME_PATTERN]!.properties.mode.default);
  });
});

describe("startup", () => {
  it("loads neither TypeBox nor ajv's compiler: only schema.ts builds the schema, and the loader imports its types only", () => {
    const src = join(import.meta.dirname, "../../src");
    const files = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    for (const f of files) {
      if (f === join("config", "schema.ts")) continue;
      const text = readFileSync(join(src, f), "utf8");
      expect(text, f).not.toMatch(/^import (?!type )[^;]*from "(?:@sinclair\/typebox|ajv)"/m);
      expect(text, f).not.toMatch(/^import (?!type )[^;]*from "\.{1,2}\/(?:config\/)?schema\.js"/m);
    }
  });
});
