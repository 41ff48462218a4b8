import { describe, expect, it } from "vitest";
import { HostNetwork } from "../../../src/policy/host-network.js";
import type { InspectContext } from "../../../src/policy/inspect/index.js";
import { DEFAULT_RULES } from "../../../src/policy/rules.js";
import { body, query, rules, ruleOf } from "./helpers.js";

describe("NetworkCreate", () => {
  const N = "NetworkCreate";
  it("allows what docker network create / compose / testcontainers send", () => {
    expect(body(N, { Name: "ci", Driver: "bridge", Options: {}, Labels: { "com.docker.compose.network": "default" }, IPAM: { Driver: "default", Config: [], Options: {} }, EnableIPv6: false })).toBeNull();
    expect(body(N, { Name: "tc", CheckDuplicate: true })).toBeNull();
    expect(body(N, { Name: "mtu", Options: { "com.docker.network.driver.mtu": "1450" } })).toBeNull();
  });
  it("denies other drivers, options and IPAM drivers", () => {
    expect(body(N, { Name: "m", Driver: "macvlan", Options: { parent: "eth0" } })).toMatchObject({ rule: "networks.driver", field: "Driver" });
    expect(ruleOf(body(N, { Name: "b", Options: { "com.docker.network.bridge.name": "br0" } }))).toBe("networks.options");
    expect(ruleOf(body(N, { Name: "b", IPAM: { Driver: "infoblox" } }))).toBe("networks.driver");
    expect(body(N, { Name: "m", Driver: "macvlan" }, rules({ networkDrivers: ["bridge", "macvlan"] }))).toBeNull();
    expect(body(N, { Name: "b", Options: { "com.docker.network.bridge.name": "br-ci" } }, rules({ networkOptions: ["com.docker.network.bridge.name"] }))).toBeNull();
  });
});

describe("NetworkConnect", () => {
  const N = "NetworkConnect";
  it("allows a connect with aliases", () => {
    expect(body(N, { Container: "abc", EndpointConfig: { Aliases: ["db"] } })).toBeNull();
  });
  it("denies endpoint sysctls unless allowlisted", () => {
    const b = { Container: "abc", EndpointConfig: { DriverOpts: { "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1" } } };
    expect(ruleOf(body(N, b))).toBe("containers.sysctls");
    expect(body(N, b, rules({ sysctls: ["net.ipv4.conf.*"] }))).toBeNull();
  });
});

describe("the host network by ID (HostNetwork, the gate's context)", () => {
  const HOST_ID = "7f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
  const known: InspectContext = { hostNetwork: new HostNetwork([HOST_ID]) };
  const createWith = (b: unknown, ctx = known) => body("ContainerCreate", b, DEFAULT_RULES, undefined, ctx);
  it("denies NetworkMode, EndpointsConfig keys / NetworkID, connect, service targets and builds naming it", () => {
    expect(ruleOf(createWith({ Image: "a", HostConfig: { NetworkMode: HOST_ID } }))).toBe("containers.host-namespaces");
    expect(ruleOf(createWith({ Image: "a", HostConfig: { NetworkMode: "7F0A1C" } }))).toBe("containers.host-namespaces");
    expect(ruleOf(createWith({ Image: "a", NetworkingConfig: { EndpointsConfig: { [HOST_ID.slice(0, 12)]: {} } } }))).toBe("containers.host-namespaces");
    expect(ruleOf(createWith({ Image: "a", NetworkingConfig: { EndpointsConfig: { mynet: { NetworkID: HOST_ID } } } }))).toBe("containers.host-namespaces");
    expect(ruleOf(query("NetworkConnect", [], rules(), {}, { id: HOST_ID }, known))).toBe("containers.host-namespaces");
    expect(ruleOf(body("ServiceCreate", { TaskTemplate: { Networks: [{ Target: HOST_ID }] } }, DEFAULT_RULES, undefined, known))).toBe("containers.host-namespaces");
    expect(ruleOf(query("ImageBuild", [["networkmode", HOST_ID.slice(0, 5)]], DEFAULT_RULES, {}, {}, known))).toBe("build.network");
  });
  it("still allows other networks by id and name", () => {
    expect(createWith({ Image: "a", HostConfig: { NetworkMode: "3f1c2b8a9d0e" } })).toBeNull();
    expect(createWith({ Image: "a", HostConfig: { NetworkMode: "ci-net" }, NetworkingConfig: { EndpointsConfig: { "ci-net": { NetworkID: "3f1c" } } } })).toBeNull();
    expect(query("NetworkConnect", [], rules(), {}, { id: "ci-net" }, known)).toBeNull();
  });
  it("denies the name host with no id known", () => {
    expect(ruleOf(body("ContainerCreate", { Image: "a", NetworkingConfig: { EndpointsConfig: { host: {} } } }))).toBe("containers.host-namespaces");
    expect(ruleOf(query("NetworkConnect", [], rules(), {}, { id: "host" }))).toBe("containers.host-namespaces");
  });
  it("until the ids are known, fails closed: every reference that could be an id prefix counts as the host network", () => {
    const unknown: InspectContext = { hostNetwork: new HostNetwork() };
    expect(ruleOf(createWith({ Image: "a", HostConfig: { NetworkMode: "3f1c2b8a9d0e" } }, unknown))).toBe("containers.host-namespaces");
    expect(ruleOf(createWith({ Image: "a", NetworkingConfig: { EndpointsConfig: { cafe: {} } } }, unknown))).toBe("containers.host-namespaces");
    expect(ruleOf(query("NetworkConnect", [], rules(), {}, { id: "7f0a" }, unknown))).toBe("containers.host-namespaces");
    // Names that cannot be an id prefix still work.
    expect(createWith({ Image: "a", HostConfig: { NetworkMode: "ci-net" } }, unknown)).toBeNull();
    expect(createWith({ Image: "a", HostConfig: { NetworkMode: "bridge" } }, unknown)).toBeNull();
  });
});
