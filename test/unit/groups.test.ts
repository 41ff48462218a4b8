import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KNOWN_OPERATIONS } from "../../src/api/routes.js";
import { SPEC_ROUTES, SPEC_VERSION } from "../../src/api/spec-routes.js";
import { GROUPS, OPERATIONS, OPERATION_ALIASES, expandGrant, groupsOf } from "../../src/config/groups.js";

// The spec's facts as scripts/generate-routes.mjs extracted them (the full spec is not in the
// repository; `generate-routes.mjs --check` compares both generated files with it where it is).
interface Extract {
  version: string;
  operations: Array<{ operation: string; method: string; path: string; parameters: Array<{ name: string; in: string; required: boolean }> }>;
}
const EXTRACT = JSON.parse(readFileSync(join(import.meta.dirname, "../../src/api/spec-extract.json"), "utf8")) as Extract;

function specOperationIds(): string[] {
  return EXTRACT.operations.map((o) => o.operation);
}

describe("the spec extract", () => {
  it("is the spec the route table was generated from", () => {
    expect(EXTRACT.version).toBe(SPEC_VERSION);
    expect(EXTRACT.operations.map(({ method, path, operation }) => ({ method, path, operation }))).toEqual(SPEC_ROUTES);
    expect(EXTRACT.operations.length).toBeGreaterThan(100);
  });
  it("names each path's {parameters} as required path parameters", () => {
    for (const o of EXTRACT.operations) {
      const inPath = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = o.parameters.filter((p) => p.in === "path").map((p) => p.name).sort();
      expect(declared, o.operation).toEqual(inPath);
      for (const p of o.parameters.filter((p) => p.in === "path")) expect(p.required, `${o.operation} ${p.name}`).toBe(true);
    }
  });
});

describe("operation groups", () => {
  it("cover every operation the route table knows", () => {
    const grouped = new Set([...GROUPS.values()].flatMap((g) => g.operations));
    expect([...KNOWN_OPERATIONS].filter((op) => !grouped.has(op))).toEqual([]);
    expect(OPERATIONS.length).toBe(KNOWN_OPERATIONS.size);
  });

  it("cover every operation id of the API spec, plus Grpc", () => {
    const ids = specOperationIds();
    expect(new Set([...ids, "Grpc"])).toEqual(new Set(KNOWN_OPERATIONS));
    const grouped = new Set([...GROUPS.values()].flatMap((g) => g.operations));
    expect(ids.filter((id) => !grouped.has(id))).toEqual([]);
  });

  it("keep dangerous operations out of read grants", () => {
    for (const [name, g] of GROUPS) {
      if (!name.endsWith(":read")) continue;
      for (const op of ["ContainerArchive", "ContainerExport", "ContainerAttach", "ContainerExec", "ImageGet", "ImageGetAll", "SwarmUnlockkey"]) {
        expect(g.operations, `${name} has ${op}`).not.toContain(op);
      }
    }
    expect(groupsOf("Grpc")).toEqual(["buildkit"]);
    expect(groupsOf("Session")).toEqual(["buildkit"]);
    expect(groupsOf("ContainerExport")).toEqual(["containers:files"]);
  });

  it("have the documented members", () => {
    expect(expandGrant("ping")).toEqual(["SystemPing", "SystemPingHead"]);
    expect(expandGrant("exec")).toEqual(["ContainerExec", "ExecStart", "ExecResize", "ExecInspect"]);
    expect(expandGrant("containers:files")).toEqual(["ContainerArchiveInfo", "ContainerArchive", "PutContainerArchive", "ContainerExport"]);
    expect(expandGrant("ContainerCreate")).toEqual(["ContainerCreate"]);
    expect(expandGrant("nope")).toBeUndefined();
    // group names never collide with operation ids
    for (const name of GROUPS.keys()) expect(KNOWN_OPERATIONS.has(name)).toBe(false);
  });

  it("alias hints point at real operations", () => {
    for (const [alias, op] of OPERATION_ALIASES) {
      expect(KNOWN_OPERATIONS.has(op), alias).toBe(true);
      expect(KNOWN_OPERATIONS.has(alias), alias).toBe(false);
    }
  });
});
