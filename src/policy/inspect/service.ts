// ServiceCreate and ServiceUpdate (body: a ServiceSpec). The task template's ContainerSpec carries
// the container settings Swarm exposes: Mounts, Privileges (seccomp / AppArmor / SELinux /
// credential specs), CapabilityAdd, Sysctls, Dir, Isolation, OomScoreAdj; the template also picks
// networks (the `host` network), a log driver, generic resources (GPUs) and the task runtime
// (`plugin` installs plugins on the nodes).

import { GoObject, type GoValue } from "../gojson.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import {
  checkCapabilities,
  checkEndpointDriverOpts,
  checkIsolation,
  checkLogDriver,
  checkMounts,
  checkSysctls,
  checkWorkdir,
} from "./container.js";
import type { InspectContext, Inspection } from "./index.js";
import {
  at,
  bodyObject,
  deny,
  field,
  guard,
  optArray,
  optBool,
  optNumber,
  optObject,
  optString,
  optStringMap,
  optStrings,
  quote,
  typeError,
} from "./util.js";

function secAllowed(rules: RuleSettings, ...opts: string[]): boolean {
  return opts.some((o) => rules.securityOpt.includes(o));
}

function checkPrivileges(p: GoObject, path: string, rules: RuleSettings): void {
  const cred = optObject(p, "CredentialSpec", path);
  if (cred.value) {
    for (const name of ["File", "Registry"]) {
      const f = optString(cred.value, name, cred.path);
      if (f.value) deny("containers.security-opt", f.path, `${f.path}: credential specs read from the host are not allowed`);
    }
  }
  const se = optObject(p, "SELinuxContext", path);
  if (se.value) {
    const dis = optBool(se.value, "Disable", se.path);
    if (dis.value === true && !secAllowed(rules, "label=disable", "label=*")) {
      deny("containers.security-opt", dis.path, `${dis.path}=true: disabling SELinux labeling is not allowed`);
    }
    for (const name of ["User", "Role", "Type", "Level"]) {
      const f = optString(se.value, name, se.path);
      if (f.value && !secAllowed(rules, "label=*")) {
        deny("containers.security-opt", f.path, `${f.path}=${quote(f.value)}: custom SELinux labels are not allowed`);
      }
    }
  }
  const sc = optObject(p, "Seccomp", path);
  if (sc.value) {
    const mode = optString(sc.value, "Mode", sc.path);
    const m = mode.value ?? "";
    if (m === "unconfined" && !secAllowed(rules, "seccomp=unconfined", "seccomp=*")) {
      deny("containers.security-opt", mode.path, `${mode.path}=unconfined: running without seccomp is not allowed`);
    }
    const prof = field(sc.value, "Profile", sc.path);
    const hasProfile = prof.value !== undefined && prof.value !== null && prof.value !== "";
    if ((m === "custom" || hasProfile) && !secAllowed(rules, "seccomp=*")) {
      deny("containers.security-opt", hasProfile ? prof.path : mode.path, `${hasProfile ? prof.path : mode.path}: custom seccomp profiles are not allowed`);
    }
    if (m !== "" && m !== "default" && m !== "unconfined" && m !== "custom") {
      deny("containers.security-opt", mode.path, `${mode.path}=${quote(m)} is not a known seccomp mode`);
    }
  }
  const aa = optObject(p, "AppArmor", path);
  if (aa.value) {
    const mode = optString(aa.value, "Mode", aa.path);
    const m = mode.value ?? "";
    if (m === "disabled" && !secAllowed(rules, "apparmor=unconfined", "apparmor=*")) {
      deny("containers.security-opt", mode.path, `${mode.path}=disabled: running without AppArmor is not allowed`);
    }
    if (m !== "" && m !== "default" && m !== "disabled") {
      deny("containers.security-opt", mode.path, `${mode.path}=${quote(m)} is not a known AppArmor mode`);
    }
  }
}

function checkContainerSpec(cs: GoObject, path: string, rules: RuleSettings): void {
  const mounts = optArray(cs, "Mounts", path);
  if (mounts.value) checkMounts(mounts.value, mounts.path, rules);
  const priv = optObject(cs, "Privileges", path);
  if (priv.value) checkPrivileges(priv.value, priv.path, rules);
  const caps = optStrings(cs, "CapabilityAdd", path);
  if (caps.value) checkCapabilities(caps.value, caps.path, rules);
  const sysctls = optStringMap(cs, "Sysctls", path);
  if (sysctls.value) checkSysctls(sysctls.value, sysctls.path, rules);
  const dir = optString(cs, "Dir", path);
  checkWorkdir(dir.value, dir.path);
  const iso = optString(cs, "Isolation", path);
  checkIsolation(iso.value, iso.path);
  if (!rules.oomOverrides) {
    const adj = optNumber(cs, "OomScoreAdj", path);
    if (adj.value !== undefined && adj.value < 0) {
      deny("containers.oom", adj.path, `${adj.path}=${adj.value}: a negative OOM score adjustment is not allowed`);
    }
  }
}

/** NetworkAttachmentConfig list: the `host` network, and endpoint sysctls in DriverOpts. */
function checkNetworks(nets: GoValue[], path: string, rules: RuleSettings, ctx: InspectContext): void {
  for (let i = 0; i < nets.length; i++) {
    const n = nets[i]!;
    const p = at(path, i);
    if (n === null) continue;
    if (!(n instanceof GoObject)) typeError(p, "an object", n);
    const target = optString(n, "Target", p);
    if (target.value !== undefined && ctx.hostNetwork.isHostRef(target.value) && !rules.hostNamespaces.includes("network")) {
      deny("containers.host-namespaces", target.path, `${target.path}=${quote(target.value)}: services on the host's network are not allowed`);
    }
    checkEndpointDriverOpts(n, p, rules);
  }
}

function checkTaskTemplate(tt: GoObject, path: string, rules: RuleSettings, ctx: InspectContext): void {
  const ps = field(tt, "PluginSpec", path);
  if (ps.value !== undefined && ps.value !== null && !rules.plugins) {
    deny("services.plugin", ps.path, `${ps.path}: services that install plugins are not allowed`);
  }
  const nas = field(tt, "NetworkAttachmentSpec", path);
  if (nas.value !== undefined && nas.value !== null) {
    deny("services.plugin", nas.path, `${nas.path}: network attachment tasks cannot be created through the API`);
  }
  const rt = optString(tt, "Runtime", path);
  const r = rt.value ?? "";
  if (r === "plugin") {
    if (!rules.plugins) deny("services.plugin", rt.path, `${rt.path}=plugin: services that install plugins are not allowed`);
  } else if (r !== "" && r !== "container") {
    deny("services.plugin", rt.path, `${rt.path}=${quote(r)}: only container tasks are allowed`);
  }
  const cs = optObject(tt, "ContainerSpec", path);
  if (cs.value) checkContainerSpec(cs.value, cs.path, rules);
  const res = optObject(tt, "Resources", path);
  if (res.value && !rules.gpus) {
    const resv = optObject(res.value, "Reservations", res.path);
    if (resv.value) {
      const gr = optArray(resv.value, "GenericResources", resv.path);
      if (gr.value && gr.value.length > 0) {
        deny("containers.device-requests", gr.path, `${gr.path}: generic resources (GPUs and other devices) are not allowed`);
      }
    }
  }
  const log = optObject(tt, "LogDriver", path);
  if (log.value) {
    const name = optString(log.value, "Name", log.path);
    checkLogDriver(name.value, name.path, rules);
  }
  const nets = optArray(tt, "Networks", path);
  if (nets.value) checkNetworks(nets.value, nets.path, rules, ctx);
}

function checkServiceSpec(body: GoValue | undefined, rules: RuleSettings, ctx: InspectContext) {
  return guard(() => {
    const o = bodyObject(body, "body");
    if (!o) return;
    const tt = optObject(o, "TaskTemplate", "");
    if (tt.value) checkTaskTemplate(tt.value, tt.path, rules, ctx);
    const nets = optArray(o, "Networks", ""); // deprecated top-level networks
    if (nets.value) checkNetworks(nets.value, nets.path, rules, ctx);
  });
}

export const serviceCreate: Inspection = {
  body(body: GoValue | undefined, _req: RequestView, rules: RuleSettings, ctx: InspectContext) {
    return checkServiceSpec(body, rules, ctx);
  },
};

export const serviceUpdate: Inspection = serviceCreate;
