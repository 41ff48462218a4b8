import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KNOWN_OPERATIONS } from "../../src/api/routes.js";
import { GROUPS, OPERATIONS, OPERATION_ALIASES, expandGrant, groupsOf } from "../../src/config/groups.js";

const SPEC = join(import.meta.dirname, "../../../shared/docker-api/swagger-v1.56.yaml");

function specOperationIds(): string[] {
  const spec = parse(readFileSync(SPEC, "utf8")) as { paths: Record<string, Record<string, { operationId?: string }>> };
  const ids: string[] = [];
  for (const item of Object.values(spec.paths)) {
    for (const op of Object.values(item)) if (op && typeof op === "object" && op.operationId) ids.push(op.operationId);
  }
  return ids;
}

describe("operation groups", () => {
  it("cover every operation the route table knows", () => {
    const grouped = new Set([...GROUPS.values()].flatMap((g) => g.operations));
    expect([...KNOWN_OPERATIONS].filter((op) => !grouped.has(op))).toEqual([]);
    expect(OPERATIONS.length).toBe(KNOWN_OPERATIONS.size);
  });

  // The spec sits beside the repository (../shared, as in CI); the route table is generated from it.
  it("cover every operation id of the API spec, plus Grpc", () => {
    if (!existsSync(SPEC)) throw new Error(`the API spec is missing at ${SPEC}`);
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
