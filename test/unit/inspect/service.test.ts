import { describe, expect, it } from "vitest";
import { body, rules, ruleOf } from "./helpers.js";

const S = "ServiceCreate";
const spec = (cs: Record<string, unknown>, tt: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
  ({ Name: "web", ...top, TaskTemplate: { ContainerSpec: { Image: "nginx", ...cs }, ...tt }, Mode: { Replicated: { Replicas: 1 } } });

describe("ServiceCreate / ServiceUpdate", () => {
  it("allows a docker service create body", () => {
    expect(body(S, spec({ Mounts: [{ Type: "volume", Source: "data", Target: "/data" }], Init: true, CapabilityDrop: ["ALL"] }, { Networks: [{ Target: "overlay1" }], LogDriver: { Name: "json-file" }, Resources: { Limits: { MemoryBytes: 1 } }, RestartPolicy: { Condition: "any" } }))).toBeNull();
    expect(body("ServiceUpdate", spec({}))).toBeNull();
  });
  it("denies bind mounts and volume driver options in ContainerSpec.Mounts", () => {
    expect(body(S, spec({ Mounts: [{ Type: "bind", Source: "/etc", Target: "/x" }] }))).toMatchObject({ rule: "containers.bind-mounts", field: "TaskTemplate.ContainerSpec.Mounts[0].Source" });
    expect(ruleOf(body(S, spec({ Mounts: [{ Type: "volume", Source: "r", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "ext4", device: "/dev/sda1" } } } }] })))).toBe("volumes.driver-options");
    expect(ruleOf(body("ServiceUpdate", spec({ Mounts: [{ Type: "bind", Source: "/var/run/docker.sock", Target: "/s" }] })))).toBe("containers.bind-protected");
  });
  it("denies capabilities, sysctls, /proc workdir, negative OomScoreAdj, isolation", () => {
    expect(ruleOf(body(S, spec({ CapabilityAdd: ["CAP_SYS_ADMIN"] })))).toBe("containers.capabilities");
    expect(body(S, spec({ CapabilityAdd: ["CAP_NET_BIND_SERVICE"] }))).toBeNull();
    expect(ruleOf(body(S, spec({ Sysctls: { "net.ipv4.ip_forward": "1" } })))).toBe("containers.sysctls");
    expect(ruleOf(body(S, spec({ Dir: "/proc/self/fd/8" })))).toBe("containers.workdir");
    expect(ruleOf(body(S, spec({ OomScoreAdj: -1000 })))).toBe("containers.oom");
    expect(ruleOf(body(S, spec({ Isolation: "process" })))).toBe("containers.isolation");
  });
  it("denies weakening Privileges", () => {
    expect(ruleOf(body(S, spec({ Privileges: { Seccomp: { Mode: "unconfined" } } })))).toBe("containers.security-opt");
    expect(ruleOf(body(S, spec({ Privileges: { Seccomp: { Mode: "custom", Profile: "e30=" } } })))).toBe("containers.security-opt");
    expect(ruleOf(body(S, spec({ Privileges: { AppArmor: { Mode: "disabled" } } })))).toBe("containers.security-opt");
    expect(ruleOf(body(S, spec({ Privileges: { SELinuxContext: { Disable: true } } })))).toBe("containers.security-opt");
    expect(ruleOf(body(S, spec({ Privileges: { SELinuxContext: { Type: "spc_t" } } })))).toBe("containers.security-opt");
    expect(ruleOf(body(S, spec({ Privileges: { CredentialSpec: { File: "spec.json" } } })))).toBe("containers.security-opt");
    expect(body(S, spec({ Privileges: { NoNewPrivileges: true, Seccomp: { Mode: "default" }, AppArmor: { Mode: "default" } } }))).toBeNull();
    expect(body(S, spec({ Privileges: { Seccomp: { Mode: "unconfined" } } }), rules({ securityOpt: ["seccomp=unconfined"] }))).toBeNull();
  });
  it("denies the host network, plugin tasks, generic resources and other log drivers", () => {
    expect(ruleOf(body(S, spec({}, { Networks: [{ Target: "host" }] })))).toBe("containers.host-namespaces");
    expect(ruleOf(body(S, spec({}, {}, { Networks: [{ Target: "host" }] })))).toBe("containers.host-namespaces");
    expect(body(S, spec({}, { Networks: [{ Target: "host" }] }), rules({ hostNamespaces: ["network"] }))).toBeNull();
    expect(ruleOf(body(S, { Name: "p", TaskTemplate: { Runtime: "plugin", PluginSpec: { Name: "x", Remote: "evil/plugin", PluginPrivilege: [{ Name: "network", Value: ["host"] }] } } }))).toBe("services.plugin");
    expect(ruleOf(body(S, { Name: "p", TaskTemplate: { Runtime: "plugin" } }))).toBe("services.plugin");
    expect(ruleOf(body(S, { Name: "p", TaskTemplate: { NetworkAttachmentSpec: { ContainerID: "x" } } }))).toBe("services.plugin");
    expect(ruleOf(body(S, spec({}, { Resources: { Reservations: { GenericResources: [{ DiscreteResourceSpec: { Kind: "gpu", Value: 1 } }] } } })))).toBe("containers.device-requests");
    expect(ruleOf(body(S, spec({}, { LogDriver: { Name: "gelf", Options: { "gelf-address": "udp://10.0.0.1:12201" } } })))).toBe("containers.log-driver");
  });
});
