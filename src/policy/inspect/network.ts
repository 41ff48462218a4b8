// NetworkCreate and NetworkConnect.
//
// NetworkCreate: macvlan / ipvlan (and plugin drivers) attach containers to the host's interfaces;
// bridge options such as com.docker.network.bridge.name can take over an existing host bridge.
// Drivers and option keys are allowlisted (networkDrivers, networkOptions); IPAM must use the
// default driver. NetworkConnect: the endpoint's sysctls driver option is checked against sysctls.

import { GoObject, type GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { checkEndpoint } from "./container.js";
import type { InspectContext, Inspection } from "./index.js";
import { bodyObject, deny, guard, mapKey, optObject, optString, optStringMap, quote } from "./util.js";

export const networkCreate: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (!o) return;
      const driver = optString(o, "Driver", "");
      const d = driver.value ?? "";
      if (d !== "" && !rules.networkDrivers.includes(d)) {
        deny("networks.driver", driver.path, `${driver.path}: network driver ${quote(d)} is not allowed${rules.networkDrivers.length ? ` (allowed: ${rules.networkDrivers.join(", ")})` : ""}`);
      }
      if (d === "" && !rules.networkDrivers.includes("bridge")) {
        deny("networks.driver", driver.path, `${driver.path}: the default (bridge) network driver is not allowed`);
      }
      const opts = optStringMap(o, "Options", "");
      for (const [k, v] of opts.value ?? []) {
        if (!rules.networkOptions.includes(k)) {
          deny("networks.options", mapKey(opts.path, k), `${opts.path}: network option ${quote(k)}=${quote(v)} is not allowed`);
        }
      }
      const ipam = optObject(o, "IPAM", "");
      if (ipam.value) {
        const id = optString(ipam.value, "Driver", ipam.path);
        if (id.value !== undefined && id.value !== "" && id.value !== "default") {
          deny("networks.driver", id.path, `${id.path}: IPAM driver ${quote(id.value)} is not allowed (only the default)`);
        }
      }
    });
  },
};

export const networkConnect: Inspection = {
  query(req: RequestView, rules: RuleSettings, ctx: InspectContext) {
    const id = req.params["id"];
    if (id !== undefined && ctx.hostNetwork.isHostRef(id) && !rules.hostNamespaces.includes("network")) {
      return { rule: "containers.host-namespaces", field: "id", detail: `connecting a container to the host's network (${quote(id)}) is not allowed` };
    }
    return null;
  },
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings, ctx: InspectContext) {
    return guard(() => {
      const o = bodyObject(body, "body");
      if (!o) return;
      const ep = optObject(o, "EndpointConfig", "");
      if (ep.value instanceof GoObject) checkEndpoint(ep.value, ep.path, rules, ctx);
    });
  },
};
