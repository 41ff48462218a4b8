import { describe, expect, it } from "vitest";
import { body, rules, ruleOf } from "./helpers.js";

const V = "VolumeCreate";

describe("VolumeCreate", () => {
  it("allows plain volumes", () => {
    expect(body(V, { Name: "data", Driver: "local", DriverOpts: {}, Labels: { a: "b" } })).toBeNull();
    expect(body(V, { Name: "data" })).toBeNull();
    expect(body(V, "")).toBeNull();
  });
  it("allows tmpfs volumes (compose driver_opts type: tmpfs) by default", () => {
    expect(body(V, { Name: "pg", DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=256m,uid=999,mode=0700" } })).toBeNull();
  });
  it("bind volumes: only of allowed host paths, read-only where required", () => {
    expect(body(V, { Name: "r", DriverOpts: { type: "none", o: "bind", device: "/" } })).toMatchObject({ rule: "containers.bind-protected", field: 'DriverOpts["device"]' });
    expect(body(V, { Name: "e", DriverOpts: { type: "none", o: "bind", device: "/etc" } })).toEqual({
      rule: "containers.bind-mounts", field: 'DriverOpts["device"]', detail: 'DriverOpts["device"]: host path "/etc" is not in the allowed bind paths',
    });
    const r = rules({ bindMounts: { allow: ["/srv/cache", { path: "/srv/work", readOnly: false }] } });
    expect(body(V, { DriverOpts: { type: "none", o: "bind,ro", device: "/srv/cache/npm" } }, r)).toBeNull();
    expect(ruleOf(body(V, { DriverOpts: { type: "none", o: "bind", device: "/srv/cache/npm" } }, r))).toBe("containers.bind-mounts");
    // Options apply in order: a later rw undoes ro, a later ro wins.
    expect(ruleOf(body(V, { DriverOpts: { type: "none", o: "bind,ro,rw", device: "/srv/cache/npm" } }, r))).toBe("containers.bind-mounts");
    expect(body(V, { DriverOpts: { type: "none", o: "bind,rw,ro", device: "/srv/cache/npm" } }, r)).toBeNull();
    expect(body(V, { DriverOpts: { type: "none", o: "bind", device: "/srv/work" } }, r)).toBeNull();
    expect(body(V, { DriverOpts: { o: "rbind", device: "/srv/work" } }, r)).toBeNull();
    expect(ruleOf(body(V, { DriverOpts: { type: "none", o: "bind", device: "/srv/work/../../etc" } }, r))).toBe("containers.bind-mounts");
    expect(ruleOf(body(V, { DriverOpts: { type: "none", o: "bind,rshared", device: "/srv/work" } }, r))).toBe("volumes.driver-options");
    expect(ruleOf(body(V, { DriverOpts: { type: "ext4", o: "bind", device: "/srv/work" } }, r))).toBe("volumes.driver-options");
    expect(ruleOf(body(V, { DriverOpts: { type: "none", device: "/srv/work" } }, r))).toBe("volumes.driver-options");
    expect(ruleOf(body(V, { DriverOpts: { type: "none", o: "bind", device: "srv/work" } }, r))).toBe("containers.bind-mounts");
  });
  it.each([
    [{ type: "tmpfs", o: "bind", device: "/" }],
    [{ type: "tmpfs", device: "/etc" }],
    [{ type: "tmpfs", o: "size=1m,rbind" }],
    [{ type: "tmpfs", o: "remount" }],
    [{ type: "ext4", device: "/dev/sda1" }],
    [{ type: "overlay", device: "overlay", o: "lowerdir=/,upperdir=/u,workdir=/w" }],
    [{ type: "nfs", o: "addr=10.0.0.1", device: ":/export" }],
    [{ device: "tmpfs" }],
    [{ type: "tmpfs", extra: "x" }],
  ])("denies driver options %j", (opts) => {
    expect(ruleOf(body(V, { Name: "v", DriverOpts: opts }))).toBe("volumes.driver-options");
  });
  it("volumeDriverOptions none / any", () => {
    expect(ruleOf(body(V, { DriverOpts: { type: "tmpfs", device: "tmpfs" } }, rules({ volumeDriverOptions: "none" })))).toBe("volumes.driver-options");
    expect(body(V, { DriverOpts: { type: "none", o: "bind", device: "/srv" } }, rules({ volumeDriverOptions: "any" }))).toBeNull();
  });
  it("denies non-allowlisted drivers and cluster volumes", () => {
    expect(body(V, { Name: "v", Driver: "rexray/ebs" })).toEqual({ rule: "volumes.driver", field: "Driver", detail: 'Driver: volume driver "rexray/ebs" is not allowed (allowed: local)' });
    expect(body(V, { Name: "v", Driver: "nfs-plugin" }, rules({ volumeDrivers: ["local", "nfs-plugin"] }))).toBeNull();
    expect(ruleOf(body(V, { Name: "v", ClusterVolumeSpec: {} }))).toBe("volumes.cluster");
    expect(body(V, { Name: "v", ClusterVolumeSpec: null })).toBeNull();
  });
  it("denies driver options for other drivers in tmpfs mode, and wrong types", () => {
    expect(ruleOf(body(V, { Driver: "x", DriverOpts: { type: "tmpfs" } }, rules({ volumeDrivers: ["x"] })))).toBe("volumes.driver-options");
    expect(ruleOf(body(V, { DriverOpts: ["type=tmpfs"] }))).toBe("body.type");
    expect(ruleOf(body(V, { DriverOpts: { type: 1 } }))).toBe("body.type");
  });
});
