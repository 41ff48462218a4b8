import { describe, expect, it } from "vitest";
import { body, rules, ruleOf } from "./helpers.js";

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
