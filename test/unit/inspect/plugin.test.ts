import { describe, expect, it } from "vitest";
import { inspectionFor } from "../../../src/policy/inspect/index.js";
import { query, rules, ruleOf } from "./helpers.js";

describe("plugins", () => {
  it.each(["PluginPull", "PluginUpgrade", "PluginCreate", "PluginSet", "PluginEnable"])("%s is denied by default", (op) => {
    const v = query(op, [["remote", "vieux/sshfs"]]);
    expect(v?.rule).toBe("plugins.manage");
    expect(v?.detail).toMatch(/ is not allowed \(plugins run with host privileges\)$/);
  });
  it("is allowed with plugins: true", () => {
    expect(query("PluginPull", [["remote", "vieux/sshfs"]], rules({ plugins: true }))).toBeNull();
  });
  it("leaves list / inspect / disable / delete alone", () => {
    for (const op of ["PluginList", "PluginInspect", "PluginDisable", "PluginDelete", "GetPluginPrivileges"]) expect(inspectionFor(op)).toBeUndefined();
  });
  it("PluginEnable", () => {
    expect(ruleOf(query("PluginEnable", []))).toBe("plugins.manage");
  });
});
