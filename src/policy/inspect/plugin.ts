// Plugin management. A plugin runs as a daemon-managed container with whatever it declares
// (host network, host paths, devices, CAP_SYS_ADMIN): installing (PluginPull, PluginCreate from an
// uploaded tar), upgrading, re-configuring (PluginSet can point a plugin mount at any host path)
// or enabling one is root on the host. Refused unless the profile sets `plugins: true`; listing,
// inspecting, disabling and removing are not inspected.

import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import type { Inspection, Violation } from "./index.js";
import { formBodyViolation } from "./util.js";

const WHAT: Readonly<Record<string, string>> = {
  PluginPull: "installing plugins",
  PluginUpgrade: "upgrading plugins",
  PluginCreate: "creating plugins",
  PluginSet: "configuring plugins",
  PluginEnable: "enabling plugins",
};

function pluginGate(op: string): Inspection {
  const what = WHAT[op] ?? "managing plugins";
  const refuse = (rules: RuleSettings): Violation | null =>
    rules.plugins ? null : { rule: "plugins.manage", field: op, detail: `${what} is not allowed (plugins run with host privileges)` };
  return {
    query(req: RequestView, rules: RuleSettings) {
      return refuse(rules) ?? formBodyViolation(req);
    },
  };
}

export const pluginInspections: ReadonlyMap<string, Inspection> = new Map(
  Object.keys(WHAT).map((op) => [op, pluginGate(op)] as const),
);
