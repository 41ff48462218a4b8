// API version comparison (src/api/engine.ts) against the daemon's versions.compare semantics.

import { describe, expect, it } from "vitest";
import { compareVersions, versionParts } from "../../src/api/engine.js";

describe("compareVersions", () => {
  it.each([
    ["1.24", "1.24", 0],
    ["1.24.0", "1.24", 0],
    ["1.9", "1.24", -1],
    ["1.100", "1.24", 1],
    ["2", "1.99", 1],
    ["1.x", "1.0", 0],
    ["01.024", "1.24", 0],
    ["", "0", 0],
    ["-1.0", "0", -1],
    ["+1.2", "1.2", 0],
  ])("%s vs %s is %i", (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(-want || 0);
  });

  it("splits parts as strconv.Atoi reads them", () => {
    expect(versionParts("1.x.3")).toEqual([1, 0, 3]);
    expect(versionParts("")).toEqual([0]);
  });
});
