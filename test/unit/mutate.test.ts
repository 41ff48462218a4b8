// Hardening of ContainerCreate / ContainerUpdate bodies (src/policy/mutate.ts): every option, both
// sides, every body shape a daemon accepts; and, as a property over random bodies, that the result
// parses back, has one HostConfig that old and new daemons read identically, and is hardened.

import { describe, expect, it } from "vitest";
import { type HardeningConfig, NO_HARDENING } from "../../src/config/types.js";
import { GoObject, parseGoJson, toJson, type GoValue } from "../../src/policy/gojson.js";
import type { Violation } from "../../src/policy/inspect/index.js";
import {
  bytes,
  cpus,
  hardenBuildQuery,
  hardenContainerCreate,
  hardenContainerUpdate,
  HOST_CONFIG_FIELDS,
  isNoNewPrivilegesOpt,
  isSafeUser,
} from "../../src/policy/mutate.js";
import { ruleSettings } from "../../src/config/load.js";
import { DEFAULT_RULES, type RuleSettings } from "../../src/policy/rules.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Nothing forced: each test spreads what it hardens over it. */
const NONE: HardeningConfig = NO_HARDENING;

const FULL: HardeningConfig = {
  labels: { "dockgate.team": "ci", "dockgate.hardened": "yes" },
  noNewPrivileges: true,
  dropAllCapabilities: true,
  memory: { default: 256 * MiB, max: 1 * GiB },
  nanoCpus: { default: 1e9, max: 2e9 },
  pids: { default: 256, max: 1024 },
  user: "65534:65534",
  readOnlyRootfs: true,
  network: "ci-net",
};

function rules(raw: Record<string, unknown> = {}): RuleSettings {
  return ruleSettings(raw);
}

type Json = Record<string, unknown>;

function parse(json: unknown): GoValue | undefined {
  if (json === undefined) return undefined;
  return parseGoJson(Buffer.from(typeof json === "string" ? json : JSON.stringify(json)));
}

/** Hardens, serializes, parses back strictly; the plain JSON the daemon receives. */
function harden(json: unknown, h: Partial<HardeningConfig> = {}, r: RuleSettings = DEFAULT_RULES): Json {
  const res = hardenContainerCreate(parse(json), { ...NONE, ...h }, r);
  if (!res.ok) throw new Error(`unexpected violation: ${JSON.stringify(res.violation)}`);
  const text = toJson(res.body);
  parseGoJson(Buffer.from(text)); // strict: no folded duplicates, valid
  return JSON.parse(text) as Json;
}

function violation(json: unknown, h: Partial<HardeningConfig> = {}, r: RuleSettings = DEFAULT_RULES): Violation {
  const res = hardenContainerCreate(parse(json), { ...NONE, ...h }, r);
  if (res.ok) throw new Error(`expected a violation, got ${toJson(res.body)}`);
  return res.violation;
}

const hcOf = (out: Json) => out.HostConfig as Json;

// What `docker run --rm -it --name web nginx` sends (docker CLI 27).
const DOCKER_CLI_BODY = {
  Hostname: "", Domainname: "", User: "", AttachStdin: true, AttachStdout: true, AttachStderr: true,
  Tty: true, OpenStdin: true, StdinOnce: true, Env: null, Cmd: null,
  Image: "nginx", Volumes: {}, WorkingDir: "", Entrypoint: null, OnBuild: null, Labels: {},
  HostConfig: {
    Binds: null, ContainerIDFile: "", LogConfig: { Type: "", Config: {} }, NetworkMode: "default",
    PortBindings: {}, RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: true, VolumeDriver: "", VolumesFrom: null, ConsoleSize: [50, 200], CapAdd: null, CapDrop: null,
    CgroupnsMode: "", Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null, GroupAdd: null, IpcMode: "",
    Cgroup: "", Links: null, OomScoreAdj: 0, PidMode: "", Privileged: false, PublishAllPorts: false,
    ReadonlyRootfs: false, SecurityOpt: null, UTSMode: "", UsernsMode: "", ShmSize: 0, Isolation: "",
    CpuShares: 0, Memory: 0, NanoCpus: 0, CgroupParent: "", BlkioWeight: 0, BlkioWeightDevice: [],
    BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [],
    CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: "", CpusetMems: "",
    Devices: [], DeviceCgroupRules: null, DeviceRequests: null, MemoryReservation: 0, MemorySwap: 0,
    MemorySwappiness: null, OomKillDisable: null, PidsLimit: null, Ulimits: null, CpuCount: 0, CpuPercent: 0,
    IOMaximumIOps: 0, IOMaximumBandwidth: 0, MaskedPaths: null, ReadonlyPaths: null,
  },
  NetworkingConfig: { EndpointsConfig: { default: {} } },
};

describe("hardenContainerCreate: a real client's body", () => {
  it("docker run: every setting forced, everything else as sent", () => {
    const out = harden(DOCKER_CLI_BODY, FULL);
    const hc = hcOf(out);
    expect(out.Labels).toEqual({ "dockgate.team": "ci", "dockgate.hardened": "yes" });
    expect(out.User).toBe("65534:65534");
    expect(hc.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(hc.CapDrop).toEqual(["ALL"]);
    expect(hc.CapAdd).toBeNull();
    expect(hc.Memory).toBe(256 * MiB);
    expect(hc.NanoCpus).toBe(1e9);
    expect(hc.PidsLimit).toBe(256);
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.NetworkMode).toBe("ci-net");
    expect(out.NetworkingConfig).toEqual({ EndpointsConfig: { "ci-net": {} } });
    // Untouched fields are as the client sent them, in its order.
    expect(hc.ConsoleSize).toEqual([50, 200]);
    expect(hc.AutoRemove).toBe(true);
    expect(Object.keys(hc).slice(0, 4)).toEqual(["Binds", "ContainerIDFile", "LogConfig", "NetworkMode"]);
    expect(out.Image).toBe("nginx");
  });

  it("with no hardening configured, the body is unchanged (apart from an always-present HostConfig)", () => {
    expect(harden(DOCKER_CLI_BODY)).toEqual(DOCKER_CLI_BODY);
    expect(harden({ Image: "a" })).toEqual({ Image: "a", HostConfig: {} });
  });

  it("no body, a null body and an empty object all get a hardened HostConfig", () => {
    for (const b of [undefined, "null", {}]) {
      const out = harden(b, FULL);
      expect(hcOf(out)).toMatchObject({ SecurityOpt: ["no-new-privileges"], CapDrop: ["ALL"], ReadonlyRootfs: true, NetworkMode: "ci-net" });
      expect(out.User).toBe("65534:65534");
    }
  });

  it("does not modify its input", () => {
    const input = parse(DOCKER_CLI_BODY)!;
    const before = toJson(input);
    hardenContainerCreate(input, FULL, DEFAULT_RULES);
    expect(toJson(input)).toBe(before);
  });

  it("refuses a body that is not an object, and a HostConfig that is not an object", () => {
    expect(violation("[]", FULL)).toMatchObject({ rule: "body.type", field: "body" });
    expect(violation('"x"', FULL)).toMatchObject({ rule: "body.type" });
    expect(violation({ HostConfig: [] }, FULL)).toMatchObject({ rule: "body.type", field: "HostConfig" });
    expect(violation({ hostconfig: 1 }, FULL)).toMatchObject({ rule: "body.type", field: "hostconfig" });
  });
});

describe("HostConfig at the top level (old daemons' embedded *HostConfig)", () => {
  it("no HostConfig: top-level HostConfig fields move into a HostConfig and leave the top level", () => {
    const out = harden({ Image: "a", Memory: 128 * MiB, Privileged: false, ShmSize: 1024, capadd: ["CHOWN"], Cpuset: "0" }, FULL);
    expect(Object.keys(out).sort()).toEqual(["HostConfig", "Image", "Labels", "User"]);
    expect(hcOf(out)).toMatchObject({ Memory: 128 * MiB, Privileged: false, ShmSize: 1024, capadd: [], CpusetCpus: "0", CapDrop: ["ALL"] });
  });

  it("HostConfig null is the same as absent", () => {
    const out = harden({ Image: "a", HostConfig: null, Memory: 128 * MiB, ReadonlyRootfs: false }, FULL);
    expect(out.HostConfig).toMatchObject({ Memory: 128 * MiB, ReadonlyRootfs: true });
    expect(out).not.toHaveProperty("Memory");
    expect(out).not.toHaveProperty("ReadonlyRootfs");
  });

  it("a top-level limit above the max is denied, naming the client's key", () => {
    expect(violation({ Image: "a", memory: 4 * GiB }, FULL)).toEqual({
      rule: "hardening.memory",
      field: "memory",
      detail: "memory=4294967296 (4 GiB) is above this profile's maximum of 1073741824 (1 GiB)",
    });
    expect(violation({ Image: "a", HostConfig: null, PidsLimit: -1 }, FULL)).toMatchObject({ rule: "hardening.pids", field: "PidsLimit" });
  });

  it("HostConfig present: a top-level Memory/MemorySwap/CpuShares/CpusetCpus/VolumeDriver wins where HostConfig's is zero (and is checked)", () => {
    const out = harden({
      Image: "a", Memory: 512 * MiB, MemorySwap: GiB, CpuShares: 512, CpusetCpus: "1", VolumeDriver: "local",
      HostConfig: { Memory: 0, MemorySwap: 0, CpuShares: 100 },
    }, FULL);
    expect(hcOf(out)).toMatchObject({ Memory: 512 * MiB, MemorySwap: GiB, CpuShares: 100, CpusetCpus: "1", VolumeDriver: "local" });
    expect(out).not.toHaveProperty("Memory");
    expect(violation({ Image: "a", Memory: 2 * GiB, HostConfig: {} }, FULL)).toMatchObject({ rule: "hardening.memory", field: "Memory" });
    expect(violation({ Image: "a", Memory: 2 * GiB, HostConfig: { Memory: null } }, FULL)).toMatchObject({ rule: "hardening.memory", field: "Memory" });
    // HostConfig's own non-zero value wins; the ignored top-level one is dropped.
    const kept = harden({ Image: "a", Memory: 2 * GiB, HostConfig: { Memory: 300 * MiB } }, FULL);
    expect(hcOf(kept).Memory).toBe(300 * MiB);
    expect(kept).not.toHaveProperty("Memory");
  });

  it("HostConfig present: other top-level HostConfig fields (ignored by every daemon) are dropped", () => {
    const out = harden({ Image: "a", Privileged: true, PidsLimit: -1, HostConfig: {} }, FULL);
    expect(out).not.toHaveProperty("Privileged");
    expect(out).not.toHaveProperty("PidsLimit");
    expect(hcOf(out).PidsLimit).toBe(256);
  });

  it("the wrapper's Cpuset fills an empty CpusetCpus and is removed", () => {
    expect(hcOf(harden({ Cpuset: "0-1", HostConfig: { CpusetCpus: "" } }))).toEqual({ CpusetCpus: "0-1" });
    expect(hcOf(harden({ Cpuset: "0-1", HostConfig: { CpusetCpus: "3" } }))).toEqual({ CpusetCpus: "3" });
    expect(harden({ Cpuset: "0-1", HostConfig: {} })).toEqual({ HostConfig: { CpusetCpus: "0-1" } });
  });

  it("merged fields of the wrong type are refused", () => {
    expect(violation({ Memory: "1g", HostConfig: {} })).toMatchObject({ rule: "body.type", field: "Memory" });
    expect(violation({ VolumeDriver: 1, HostConfig: {} })).toMatchObject({ rule: "body.type", field: "VolumeDriver" });
  });

  it("keeps the client's key spelling (Go matches case-insensitively) and never duplicates a key", () => {
    const out = harden({ image: "a", labels: { x: "1" }, user: "", hostconfig: { memory: 0, securityopt: null, capdrop: "NET_RAW", readonlyrootfs: false, networkmode: "default", pidslimit: 0, nanocpus: 0 } }, FULL);
    expect(Object.keys(out)).toEqual(["image", "labels", "user", "hostconfig"]);
    expect(out.hostconfig).toEqual({
      memory: 256 * MiB, securityopt: ["no-new-privileges"], capdrop: ["ALL"], readonlyrootfs: true, networkmode: "ci-net", pidslimit: 256, nanocpus: 1e9,
    });
  });

  it("a key Go ignores but that folds like one dockgate sets (dotless ı) is refused rather than guessed", () => {
    const v = violation('{"Image":"a","HostConf\\u0131g":{"Privileged":true}}', FULL);
    expect(v.rule).toBe("hardening.body");
    expect(v.detail).toContain("cannot be hardened unambiguously");
  });
});

describe("labels", () => {
  it("adds the profile's labels and keeps the client's others", () => {
    expect(harden({ Labels: { app: "web" } }, { labels: { team: "ci" } }).Labels).toEqual({ app: "web", team: "ci" });
  });
  it("overwrites a client label of the same key, or one differing only in case", () => {
    expect(harden({ Labels: { team: "evil", app: "web" } }, { labels: { team: "ci" } }).Labels).toEqual({ app: "web", team: "ci" });
    expect(harden({ Labels: { TEAM: "evil" } }, { labels: { team: "ci" } }).Labels).toEqual({ team: "ci" });
  });
  it("Labels null or absent, in any key spelling", () => {
    expect(harden({ Labels: null }, { labels: { team: "ci" } }).Labels).toEqual({ team: "ci" });
    expect(harden({ LABELS: { a: "b" } }, { labels: { team: "ci" } })).toMatchObject({ LABELS: { a: "b", team: "ci" } });
  });
  it("Labels of the wrong type are refused; no labels configured leaves Labels alone", () => {
    expect(violation({ Labels: ["a=b"] }, { labels: { team: "ci" } })).toMatchObject({ rule: "body.type", field: "Labels" });
    expect(harden({ Labels: { team: "x" } }).Labels).toEqual({ team: "x" });
  });
});

describe("noNewPrivileges", () => {
  it("appends no-new-privileges, keeping other options", () => {
    expect(hcOf(harden({ HostConfig: { SecurityOpt: ["seccomp=builtin", "apparmor=docker-default"] } }, { noNewPrivileges: true })).SecurityOpt)
      .toEqual(["seccomp=builtin", "apparmor=docker-default", "no-new-privileges"]);
  });
  it("removes the client's no-new-privileges settings in every spelling (the last one wins in the daemon)", () => {
    const opts = ["no-new-privileges=false", "no-new-privileges:false", "no-new-privileges", "no-new-privileges=true", "label=disable"];
    expect(hcOf(harden({ HostConfig: { SecurityOpt: opts } }, { noNewPrivileges: true })).SecurityOpt).toEqual(["label=disable", "no-new-privileges"]);
  });
  it("SecurityOpt null, absent or with null entries", () => {
    expect(hcOf(harden({ HostConfig: { SecurityOpt: null } }, { noNewPrivileges: true })).SecurityOpt).toEqual(["no-new-privileges"]);
    expect(hcOf(harden({}, { noNewPrivileges: true })).SecurityOpt).toEqual(["no-new-privileges"]);
    expect(hcOf(harden({ HostConfig: { SecurityOpt: [null] } }, { noNewPrivileges: true })).SecurityOpt).toEqual(["", "no-new-privileges"]);
  });
  it("refuses a SecurityOpt of the wrong type; off leaves it alone", () => {
    expect(violation({ HostConfig: { SecurityOpt: "no-new-privileges=false" } }, { noNewPrivileges: true })).toMatchObject({ rule: "body.type", field: "HostConfig.SecurityOpt" });
    expect(hcOf(harden({ HostConfig: { SecurityOpt: ["no-new-privileges=false"] } })).SecurityOpt).toEqual(["no-new-privileges=false"]);
  });
  it("isNoNewPrivilegesOpt reads options as the daemon does", () => {
    for (const o of ["no-new-privileges", "no-new-privileges=false", "no-new-privileges:1", "no-new-privileges=", "no-new-privileges=x:y"]) expect(isNoNewPrivilegesOpt(o)).toBe(true);
    for (const o of ["No-New-Privileges", " no-new-privileges", "no-new-privilegesx", "seccomp=no-new-privileges", "label:no-new-privileges=1"]) expect(isNoNewPrivilegesOpt(o)).toBe(false);
  });
});

describe("dropAllCapabilities", () => {
  const on = { dropAllCapabilities: true };
  it("CapDrop becomes [ALL]; CapAdd keeps only what rules.capAdd lists (defaults included)", () => {
    const hc = hcOf(harden({ HostConfig: { CapAdd: ["NET_BIND_SERVICE", "net_admin", "CAP_CHOWN"], CapDrop: ["MKNOD"] } }, on, rules({ capAdd: ["NET_ADMIN"] })));
    expect(hc).toEqual({ CapAdd: ["net_admin"], CapDrop: ["ALL"] });
    expect(hcOf(harden({ HostConfig: { CapAdd: ["CHOWN"] } }, on)).CapAdd).toEqual([]);
  });
  it("ALL in CapAdd (which beats CapDrop ALL in the daemon) is removed unless the rules allow ALL", () => {
    expect(hcOf(harden({ HostConfig: { CapAdd: ["ALL"] } }, on)).CapAdd).toEqual([]);
    expect(hcOf(harden({ HostConfig: { CapAdd: ["all", "SYS_ADMIN"] } }, on, rules({ capAdd: ["ALL"] }))).CapAdd).toEqual(["all", "SYS_ADMIN"]);
  });
  it("CapAdd as a lone string (strslice) and null", () => {
    expect(hcOf(harden({ HostConfig: { CapAdd: "NET_ADMIN" } }, on, rules({ capAdd: ["NET_ADMIN"] }))).CapAdd).toEqual(["NET_ADMIN"]);
    expect(hcOf(harden({ HostConfig: { CapAdd: null } }, on)).CapAdd).toBeNull();
  });
  it("the API 1.40 exact set Capabilities is filtered the same way", () => {
    expect(hcOf(harden({ HostConfig: { Capabilities: ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_NET_ADMIN"] } }, on, rules({ capAdd: ["NET_ADMIN"] }))).Capabilities).toEqual(["CAP_NET_ADMIN"]);
    expect(hcOf(harden({ HostConfig: { Capabilities: null } }, on)).Capabilities).toBeNull();
    expect(violation({ HostConfig: { Capabilities: "CAP_SYS_ADMIN" } }, on)).toMatchObject({ rule: "body.type" });
  });
  it("Privileged=true is denied (it has every capability); false and null are fine", () => {
    expect(violation({ HostConfig: { Privileged: true } }, on, rules({ allowPrivileged: true }))).toEqual({
      rule: "hardening.capabilities",
      field: "HostConfig.Privileged",
      detail: "HostConfig.Privileged=true is not allowed: this profile drops all capabilities, and a privileged container has every one",
    });
    expect(violation({ Privileged: true }, on)).toMatchObject({ rule: "hardening.capabilities", field: "Privileged" });
    expect(hcOf(harden({ HostConfig: { Privileged: false } }, on)).Privileged).toBe(false);
    expect(violation({ HostConfig: { Privileged: "yes" } }, on)).toMatchObject({ rule: "body.type" });
  });
  it("off leaves capabilities alone", () => {
    expect(hcOf(harden({ HostConfig: { CapAdd: ["SYS_ADMIN"], CapDrop: null, Privileged: true } }))).toEqual({ CapAdd: ["SYS_ADMIN"], CapDrop: null, Privileged: true });
  });
});

describe("memory and pids limits on create", () => {
  const memory = { memory: { default: 256 * MiB, max: GiB } };
  it("default when unset, null or 0 (and -0)", () => {
    for (const m of [undefined, null, 0]) expect(hcOf(harden({ HostConfig: m === undefined ? {} : { Memory: m } }, memory)).Memory).toBe(256 * MiB);
    expect(hcOf(harden('{"HostConfig":{"Memory":-0}}', memory)).Memory).toBe(256 * MiB);
  });
  it("a value up to the max is kept; above is denied with field, value and max", () => {
    expect(hcOf(harden({ HostConfig: { Memory: GiB } }, memory)).Memory).toBe(GiB);
    expect(violation({ HostConfig: { Memory: GiB + 1 } }, memory)).toEqual({
      rule: "hardening.memory",
      field: "HostConfig.Memory",
      detail: "HostConfig.Memory=1073741825 (1 GiB) is above this profile's maximum of 1073741824 (1 GiB)",
    });
    expect(violation({ HostConfig: { Memory: 9223372036854775807 } }, memory).rule).toBe("hardening.memory");
  });
  it("unlimited swap (MemorySwap -1) is denied when memory is limited; a limited swap is kept", () => {
    expect(violation({ HostConfig: { Memory: GiB, MemorySwap: -1 } }, memory)).toMatchObject({ rule: "hardening.memory", field: "HostConfig.MemorySwap" });
    expect(hcOf(harden({ HostConfig: { Memory: 512 * MiB, MemorySwap: GiB } }, memory)).MemorySwap).toBe(GiB);
  });
  it("MemorySwap (memory plus swap) is at most twice the max, however the body spells it; any negative is unlimited", () => {
    const PiB = 1024 * 1024 * GiB;
    expect(hcOf(harden({ HostConfig: { Memory: GiB, MemorySwap: 2 * GiB } }, memory)).MemorySwap).toBe(2 * GiB);
    expect(violation({ HostConfig: { Memory: GiB, MemorySwap: PiB } }, memory)).toEqual({
      rule: "hardening.memory",
      field: "HostConfig.MemorySwap",
      detail: "HostConfig.MemorySwap=1125899906842624 (1 PiB) is above this profile's maximum for memory plus swap of 2147483648 (2 GiB, twice its memory maximum)",
    });
    const bodies = [
      { MemorySwap: PiB }, // swap alone: memory gets the default
      { HostConfig: { Memory: 0, MemorySwap: 2 * GiB + 1 } },
      '{"HostConfig":{"memoryswap":1125899906842624}}', // Go folds the key
      '{"HostConfig":{"MemorySwap":9223372036854775807}}',
      { Memory: GiB, MemorySwap: PiB }, // top level, no HostConfig (old daemons' embedded *HostConfig)
      { MemorySwap: PiB, HostConfig: {} }, // top level merged into a present HostConfig
      { MemorySwap: PiB, HostConfig: { MemorySwap: 0 } },
      { HostConfig: { Memory: GiB, MemorySwap: -2 } },
    ];
    for (const b of bodies) expect(violation(b, memory), JSON.stringify(b)).toMatchObject({ rule: "hardening.memory" });
    // 0 / absent: the daemon's default (twice Memory, within twice the max).
    expect(hcOf(harden({ HostConfig: { Memory: GiB, MemorySwap: 0 } }, memory)).MemorySwap).toBe(0);
    // Without a max, swap is not bounded either.
    expect(hcOf(harden({ HostConfig: { MemorySwap: PiB } }, { memory: { default: GiB } })).MemorySwap).toBe(PiB);
  });
  it("negative (unlimited) is denied under a max", () => {
    expect(violation({ HostConfig: { Memory: -1 } }, memory).detail).toBe("HostConfig.Memory=-1 (unlimited) is not allowed: this profile's maximum is 1073741824 (1 GiB)");
  });
  it("a max without a default is the default; a default without a max limits nothing else", () => {
    expect(hcOf(harden({}, { memory: { max: GiB } })).Memory).toBe(GiB);
    expect(hcOf(harden({ HostConfig: { Memory: 64 * GiB } }, { memory: { default: GiB } })).Memory).toBe(64 * GiB);
    expect(hcOf(harden({ HostConfig: { Memory: -1 } }, { memory: { default: GiB } })).Memory).toBe(-1);
  });
  it("non-integers and strings are refused", () => {
    expect(violation({ HostConfig: { Memory: 1.5 } }, memory)).toMatchObject({ rule: "body.type", field: "HostConfig.Memory" });
    expect(violation({ HostConfig: { Memory: "1g" } }, memory)).toMatchObject({ rule: "body.type" });
  });
  const pids = { pids: { default: 100, max: 500 } };
  it("PidsLimit: default when null/absent/0; -1 and other negatives (unlimited) denied; above max denied", () => {
    for (const p of [undefined, null, 0]) expect(hcOf(harden({ HostConfig: p === undefined ? {} : { PidsLimit: p } }, pids)).PidsLimit).toBe(100);
    expect(hcOf(harden({ HostConfig: { PidsLimit: 500 } }, pids)).PidsLimit).toBe(500);
    expect(violation({ HostConfig: { PidsLimit: -1 } }, pids)).toEqual({
      rule: "hardening.pids",
      field: "HostConfig.PidsLimit",
      detail: "HostConfig.PidsLimit=-1 (unlimited) is not allowed: this profile's maximum is 500 (500)",
    });
    expect(violation({ HostConfig: { PidsLimit: -7 } }, pids).rule).toBe("hardening.pids");
    expect(violation({ HostConfig: { PidsLimit: 501 } }, pids).detail).toContain("PidsLimit=501 (501) is above this profile's maximum of 500");
  });
  it("no limits configured: values pass as sent", () => {
    expect(hcOf(harden({ HostConfig: { Memory: -1, PidsLimit: -1 } }))).toEqual({ Memory: -1, PidsLimit: -1 });
  });
});

describe("cpus", () => {
  const c = { nanoCpus: { default: 5e8, max: 2e9 } };
  it("NanoCpus: default when unset or 0; up to max kept; above or negative denied", () => {
    expect(hcOf(harden({}, c)).NanoCpus).toBe(5e8);
    expect(hcOf(harden({ HostConfig: { NanoCpus: 0 } }, c)).NanoCpus).toBe(5e8);
    expect(hcOf(harden({ HostConfig: { NanoCpus: 2e9 } }, c)).NanoCpus).toBe(2e9);
    expect(violation({ HostConfig: { NanoCpus: 3e9 } }, c)).toEqual({
      rule: "hardening.cpus",
      field: "HostConfig.NanoCpus",
      detail: "HostConfig.NanoCpus=3000000000 (3 CPUs) is above this profile's maximum of 2000000000 (2 CPUs)",
    });
    expect(violation({ HostConfig: { NanoCpus: -1 } }, c).rule).toBe("hardening.cpus");
  });
  it("CpuQuota/CpuPeriod count as CPUs: within the max no NanoCpus is added (the daemon refuses both)", () => {
    const hc = hcOf(harden({ HostConfig: { CpuQuota: 150000, CpuPeriod: 100000 } }, c));
    expect(hc).toEqual({ CpuQuota: 150000, CpuPeriod: 100000 });
    expect(hcOf(harden({ HostConfig: { CpuQuota: 200000 } }, c))).toEqual({ CpuQuota: 200000 }); // default period 100 ms
    expect(violation({ HostConfig: { CpuQuota: 300000 } }, c).detail).toBe("HostConfig.CpuQuota=300000 with the default period of 100000 (3 CPUs) is above this profile's maximum of 2 CPUs");
    expect(violation({ HostConfig: { CpuQuota: 30000, CpuPeriod: 10000 } }, c).detail).toContain("with HostConfig.CpuPeriod=10000 (3 CPUs)");
    expect(violation({ HostConfig: { CpuQuota: -1 } }, c).detail).toBe("HostConfig.CpuQuota=-1 (unlimited) is not allowed: this profile's CPU maximum is 2 CPUs");
  });
  it("a CpuPeriod without quota gets the default as a quota of that period", () => {
    expect(hcOf(harden({ HostConfig: { CpuPeriod: 50000 } }, c))).toEqual({ CpuPeriod: 50000, CpuQuota: 25000 });
    expect(violation({ HostConfig: { CpuPeriod: 1000 } }, c)).toMatchObject({ rule: "hardening.cpus", field: "HostConfig.CpuPeriod" });
  });
  it("without a max, an explicit unlimited quota stays and gets no default", () => {
    expect(hcOf(harden({ HostConfig: { CpuQuota: -1 } }, { nanoCpus: { default: 1e9 } }))).toEqual({ CpuQuota: -1 });
  });
  it("units in messages", () => {
    expect(cpus(1e9)).toBe("1 CPU");
    expect(cpus(1.5e9)).toBe("1.5 CPUs");
    expect(bytes(1536)).toBe("1.5 KiB");
    expect(bytes(6 * MiB)).toBe("6 MiB");
    expect(bytes(-1)).toBe("-1 B");
  });
});

describe("user", () => {
  const u = { user: "65534:65534" };
  it("forces the user when empty, absent, null or root in any spelling", () => {
    for (const v of ["", "root", "0", "00", "+0", "-0", "0:0", "root:root", "0:1000", ":1000"]) {
      expect(harden({ User: v }, u).User, v).toBe("65534:65534");
    }
    expect(harden({}, u).User).toBe("65534:65534");
    expect(harden({ User: null }, u).User).toBe("65534:65534");
    expect(harden({ user: "root" }, u)).toMatchObject({ user: "65534:65534" });
  });
  it("forces it for names (an image can give any name uid 0), odd numbers and a root group", () => {
    for (const v of ["nobody", "app", "1000:0", "1000:root", "1000:00", "01000", "4294967296", "1000 ", "1000:", "-1000"]) {
      expect(harden({ User: v }, u).User, v).toBe("65534:65534");
    }
  });
  it("keeps a numeric non-root uid, with a non-root group, and the forced value itself", () => {
    for (const v of ["1000", "1000:1000", "1000:staff", "2147483647"]) expect(harden({ User: v }, u).User, v).toBe(v);
    expect(harden({ User: "nobody" }, { user: "nobody" }).User).toBe("nobody");
    expect(isSafeUser("2147483648")).toBe(false);
  });
  it("removes the root group from GroupAdd", () => {
    expect(hcOf(harden({ HostConfig: { GroupAdd: ["root", "0", "video", "1000", "000"] } }, u)).GroupAdd).toEqual(["video", "1000"]);
    expect(violation({ HostConfig: { GroupAdd: "root" } }, u)).toMatchObject({ rule: "body.type" });
  });
  it("refuses a User of the wrong type; unset leaves it alone", () => {
    expect(violation({ User: 0 }, u)).toMatchObject({ rule: "body.type", field: "User" });
    expect(harden({ User: "root" }).User).toBe("root");
  });
});

describe("readOnlyRootfs", () => {
  it("forces ReadonlyRootfs=true; off leaves it", () => {
    expect(hcOf(harden({ HostConfig: { ReadonlyRootfs: false } }, { readOnlyRootfs: true })).ReadonlyRootfs).toBe(true);
    expect(hcOf(harden({ ReadonlyRootfs: false }, { readOnlyRootfs: true })).ReadonlyRootfs).toBe(true);
    expect(hcOf(harden({ HostConfig: { ReadonlyRootfs: false } })).ReadonlyRootfs).toBe(false);
  });
});

describe("network", () => {
  const n = { network: "tenant-a" };
  it("the daemon's default (absent, empty, default, bridge) becomes the forced network", () => {
    for (const m of [undefined, "", "default", "bridge"]) {
      expect(hcOf(harden({ HostConfig: m === undefined ? {} : { NetworkMode: m } }, n)).NetworkMode, String(m)).toBe("tenant-a");
    }
  });
  it("the forced network and none are kept", () => {
    expect(hcOf(harden({ HostConfig: { NetworkMode: "tenant-a" } }, n)).NetworkMode).toBe("tenant-a");
    expect(hcOf(harden({ HostConfig: { NetworkMode: "none" } }, n)).NetworkMode).toBe("none");
  });
  it("any other mode is denied, not silently replaced", () => {
    for (const m of ["host", "container:abc", "other", "Bridge", "tenant-b"]) {
      expect(violation({ HostConfig: { NetworkMode: m } }, n), m).toEqual({
        rule: "hardening.network",
        field: "HostConfig.NetworkMode",
        detail: `HostConfig.NetworkMode=${JSON.stringify(m)} is not allowed: containers of this profile are attached to network "tenant-a" (or none)`,
      });
    }
  });
  it("EndpointsConfig: the default entry moves to the forced network; others are denied", () => {
    expect(harden({ NetworkingConfig: { EndpointsConfig: { default: { Aliases: ["x"] } } } }, n).NetworkingConfig).toEqual({ EndpointsConfig: { "tenant-a": { Aliases: ["x"] } } });
    expect(harden({ NetworkingConfig: { EndpointsConfig: { "tenant-a": { Aliases: ["a"] }, bridge: {} } } }, n).NetworkingConfig).toEqual({ EndpointsConfig: { "tenant-a": { Aliases: ["a"] } } });
    expect(violation({ NetworkingConfig: { EndpointsConfig: { default: {}, other: {} } } }, n)).toEqual({
      rule: "hardening.network",
      field: 'NetworkingConfig.EndpointsConfig["other"]',
      detail: 'NetworkingConfig.EndpointsConfig["other"]: connecting to network "other" is not allowed: containers of this profile are attached to network "tenant-a" only',
    });
    expect(harden({ HostConfig: { NetworkMode: "none" }, NetworkingConfig: { EndpointsConfig: { default: {} } } }, n).NetworkingConfig).toEqual({ EndpointsConfig: {} });
    expect(harden({ NetworkingConfig: { EndpointsConfig: null } }, n).NetworkingConfig).toEqual({ EndpointsConfig: null });
    expect(violation({ NetworkingConfig: { EndpointsConfig: [] } }, n)).toMatchObject({ rule: "body.type" });
    expect(violation({ NetworkingConfig: 1 }, n)).toMatchObject({ rule: "body.type" });
  });
  it("a forced network of none or bridge", () => {
    expect(hcOf(harden({ HostConfig: { NetworkMode: "default" } }, { network: "none" })).NetworkMode).toBe("none");
    expect(harden({ NetworkingConfig: { EndpointsConfig: { default: {} } } }, { network: "none" }).NetworkingConfig).toEqual({ EndpointsConfig: {} });
    expect(harden({ HostConfig: { NetworkMode: "default" }, NetworkingConfig: { EndpointsConfig: { default: {} } } }, { network: "bridge" })).toMatchObject({
      HostConfig: { NetworkMode: "bridge" },
      NetworkingConfig: { EndpointsConfig: { bridge: {} } },
    });
  });
  it("off leaves networks alone", () => {
    expect(harden({ HostConfig: { NetworkMode: "host" }, NetworkingConfig: { EndpointsConfig: { x: {} } } })).toEqual({ HostConfig: { NetworkMode: "host" }, NetworkingConfig: { EndpointsConfig: { x: {} } } });
  });
});

describe("hardenContainerUpdate", () => {
  const upd = (json: unknown, h: Partial<HardeningConfig> = FULL) => hardenContainerUpdate(parse(json), { ...NONE, ...h });
  it("allows what stays within the maxima, and bodies that change no limit", () => {
    expect(upd({ Memory: GiB, PidsLimit: 1024, NanoCpus: 2e9 })).toBeNull();
    expect(upd({ Memory: 0, NanoCpus: 0, PidsLimit: null, CpuQuota: 0, CpuPeriod: 0 })).toBeNull();
    expect(upd({ RestartPolicy: { Name: "always" } })).toBeNull();
    expect(upd(undefined)).toBeNull();
    expect(upd("null")).toBeNull();
    expect(upd({ CpuQuota: 100000, CpuPeriod: 50000 })).toBeNull();
  });
  it("denies raising a limit above the max, or to unlimited", () => {
    expect(upd({ Memory: 2 * GiB })).toEqual({ rule: "hardening.memory", field: "Memory", detail: "Memory=2147483648 (2 GiB) is above this profile's maximum of 1073741824 (1 GiB)" });
    expect(upd({ memory: -1 })).toMatchObject({ rule: "hardening.memory", field: "memory" });
    expect(upd({ PidsLimit: 0 })).toEqual({ rule: "hardening.pids", field: "PidsLimit", detail: "PidsLimit=0 (unlimited) is not allowed: this profile's maximum is 1024" });
    expect(upd({ PidsLimit: -1 })).toMatchObject({ rule: "hardening.pids" });
    expect(upd({ PidsLimit: 1025 })).toMatchObject({ rule: "hardening.pids" });
    expect(upd({ NanoCpus: 4e9 })).toMatchObject({ rule: "hardening.cpus", field: "NanoCpus" });
    expect(upd({ CpuQuota: 500000, CpuPeriod: 100000 })).toMatchObject({ rule: "hardening.cpus", field: "CpuQuota" });
    expect(upd({ CpuQuota: -1 })).toMatchObject({ rule: "hardening.cpus", field: "CpuQuota" });
  });
  it("bounds MemorySwap alone or with Memory: at most twice the memory max, never unlimited", () => {
    expect(upd({ MemorySwap: 1125899906842624 })).toMatchObject({ rule: "hardening.memory", field: "MemorySwap" });
    expect(upd({ memoryswap: 2 * GiB + 1 })).toMatchObject({ rule: "hardening.memory", field: "memoryswap" });
    expect(upd({ Memory: GiB, MemorySwap: -1 })).toMatchObject({ rule: "hardening.memory", field: "MemorySwap" });
    expect(upd({ Memory: 512 * MiB, MemorySwap: 2 * GiB })).toBeNull();
    expect(upd({ MemorySwap: 2 * GiB })).toBeNull();
  });
  it("CpuQuota or CpuPeriod alone is denied (the container's other half is unknown)", () => {
    expect(upd({ CpuQuota: 50000 })).toMatchObject({ rule: "hardening.cpus", field: "CpuQuota", detail: expect.stringContaining("must be updated together") });
    expect(upd({ CpuPeriod: 1000 })).toMatchObject({ rule: "hardening.cpus", field: "CpuPeriod" });
  });
  it("without a max nothing is checked; defaults do not apply", () => {
    expect(upd({ Memory: -1, PidsLimit: 0, CpuQuota: 50000 }, { memory: { default: GiB }, pids: { default: 5 }, nanoCpus: { default: 1e9 } })).toBeNull();
  });
  it("refuses wrong types", () => {
    expect(upd("[]")).toMatchObject({ rule: "body.type", field: "body" });
    expect(upd({ Memory: "1g" })).toMatchObject({ rule: "body.type", field: "Memory" });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random bodies, random placements and key spellings.

/** How a daemon with the embedded *HostConfig (moby <= 24, e.g. 20.10) reads the HostConfig. */
function oldDaemonHostConfig(body: Json): Json | null {
  const get = (o: Json, name: string) => {
    for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name.toLowerCase()) return { has: true, v };
    return { has: false, v: undefined };
  };
  const canon = (o: Json): Json => {
    const out: Json = {};
    for (const f of HOST_CONFIG_FIELDS) {
      const g = get(o, f);
      if (g.has) out[f] = g.v;
    }
    return out;
  };
  const innerRaw = get(body, "HostConfig").v;
  const inner = innerRaw && typeof innerRaw === "object" ? canon(innerRaw as Json) : null;
  const topPresent = HOST_CONFIG_FIELDS.some((f) => get(body, f).has);
  let hc: Json | null = topPresent ? canon(body) : null;
  if (hc === null && inner) hc = inner;
  else if (inner && hc) {
    for (const f of ["Memory", "MemorySwap", "CpuShares", "CpusetCpus", "VolumeDriver"]) {
      const zero = (v: unknown) => v === undefined || v === null || v === 0 || v === "";
      if (!zero(hc[f]) && zero(inner[f])) inner[f] = hc[f];
    }
    hc = inner;
  }
  const cpuset = get(body, "Cpuset").v;
  if (hc && typeof cpuset === "string" && cpuset !== "" && !hc.CpusetCpus) hc.CpusetCpus = cpuset;
  return hc;
}

/** How a current daemon (container.CreateRequest) reads it. */
function newDaemonHostConfig(body: Json): Json | null {
  for (const [k, v] of Object.entries(body)) {
    if (k.toLowerCase() === "hostconfig") {
      if (v === null) return null;
      const out: Json = {};
      for (const f of HOST_CONFIG_FIELDS) for (const [kk, vv] of Object.entries(v as Json)) if (kk.toLowerCase() === f.toLowerCase()) out[f] = vv;
      return out;
    }
  }
  return null;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s ^= s >>> 13;
    return (s >>> 0) / 2 ** 32;
  };
}

describe("property: any body shape comes out hardened, parseable and read the same by old and new daemons", () => {
  it("2000 random bodies", () => {
    const r = rng(0xd0c6a7e);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const spell = (k: string) => pick([k, k.toLowerCase(), k.toUpperCase(), k[0]!.toLowerCase() + k.slice(1)]);
    const values: Record<string, unknown[]> = {
      Memory: [undefined, null, 0, 64 * MiB, GiB, 2 * GiB, -1],
      MemorySwap: [undefined, 0, GiB, -1],
      CpuShares: [undefined, 0, 512],
      CpusetCpus: [undefined, "", "0"],
      PidsLimit: [undefined, null, 0, 50, 1024, 5000, -1],
      NanoCpus: [undefined, 0, 1e9, 3e9],
      SecurityOpt: [undefined, null, [], ["no-new-privileges=false"], ["seccomp=builtin", "no-new-privileges:false"]],
      CapAdd: [undefined, null, "NET_ADMIN", ["ALL"], ["CHOWN", "NET_ADMIN"]],
      CapDrop: [undefined, null, ["NET_RAW"]],
      ReadonlyRootfs: [undefined, false, true],
      NetworkMode: [undefined, "", "default", "bridge", "ci-net", "none", "host"],
      ShmSize: [undefined, 0, 1 << 20],
      Privileged: [undefined, false, true],
    };
    let denied = 0;
    for (let i = 0; i < 2000; i++) {
      const top: Json = { Image: "img" };
      const innerMode = pick(["absent", "null", "object"] as const);
      const inner: Json = {};
      for (const [f, vs] of Object.entries(values)) {
        const v = pick(vs);
        if (v === undefined) continue;
        const where = pick(["top", "inner", "both"] as const);
        if (where !== "inner" || innerMode !== "object") top[spell(f)] = v;
        if (where !== "top" && innerMode === "object") inner[spell(f)] = pick(vs) ?? v;
      }
      if (r() < 0.3) top[spell("Cpuset")] = pick(["", "1"]);
      if (r() < 0.5) top[spell("User")] = pick(["", "root", "0:0", "1000", "nobody"]);
      if (r() < 0.5) top[spell("Labels")] = pick([null, {}, { "dockgate.team": "evil", app: "x" }]);
      if (r() < 0.5) top[spell("NetworkingConfig")] = { EndpointsConfig: pick([null, {}, { default: {} }, { other: {} }]) };
      if (innerMode === "null") top[spell("HostConfig")] = null;
      if (innerMode === "object") top[spell("HostConfig")] = inner;

      const input = JSON.stringify(top);
      const res = hardenContainerCreate(parseGoJson(Buffer.from(input)), FULL, rules({ capAdd: ["NET_ADMIN"] }));
      const eff = oldDaemonHostConfig(top) ?? {};
      const numOr0 = (v: unknown) => (typeof v === "number" ? v : 0);
      const mustDeny =
        numOr0(eff.Memory) > GiB || numOr0(eff.Memory) < 0 ||
        numOr0(eff.PidsLimit) > 1024 || numOr0(eff.PidsLimit) < 0 ||
        numOr0(eff.NanoCpus) > 2e9 ||
        eff.Privileged === true ||
        (typeof eff.NetworkMode === "string" && eff.NetworkMode === "host");
      if (!res.ok) {
        denied++;
        expect(res.violation.rule, input).toMatch(/^hardening\./);
        continue;
      }
      expect(mustDeny, `should have been denied: ${input}`).toBe(false);
      const text = toJson(res.body);
      expect(() => parseGoJson(Buffer.from(text)), text).not.toThrow();
      const out = JSON.parse(text) as Json;
      // One shape: no HostConfig field at the top level, so both kinds of daemon read the same.
      const topFields = Object.keys(out).filter((k) => [...HOST_CONFIG_FIELDS, "Cpuset"].some((f) => f.toLowerCase() === k.toLowerCase()));
      expect(topFields, text).toEqual([]);
      const oldHc = oldDaemonHostConfig(out);
      const newHc = newDaemonHostConfig(out);
      expect(oldHc, text).toEqual(newHc);
      const hc = newHc!;
      expect((hc.SecurityOpt as string[]).filter(isNoNewPrivilegesOpt), text).toEqual(["no-new-privileges"]);
      expect(hc.CapDrop).toEqual(["ALL"]);
      for (const c of (hc.CapAdd as string[] | null | undefined) ?? []) expect(c.toUpperCase()).toBe("NET_ADMIN");
      expect(hc.Memory as number).toBeGreaterThan(0);
      expect(hc.Memory as number).toBeLessThanOrEqual(GiB);
      expect(hc.PidsLimit as number).toBeGreaterThan(0);
      expect(hc.PidsLimit as number).toBeLessThanOrEqual(1024);
      expect(hc.NanoCpus as number).toBeGreaterThan(0);
      expect(hc.NanoCpus as number).toBeLessThanOrEqual(2e9);
      expect(hc.ReadonlyRootfs).toBe(true);
      expect(["ci-net", "none"]).toContain(hc.NetworkMode);
      // What was not hardened means what it meant to the old daemon.
      expect(hc.ShmSize, text).toEqual(eff.ShmSize);
      expect(hc.MemorySwap, text).toEqual(eff.MemorySwap);
      expect(hc.CpusetCpus, text).toEqual(eff.CpusetCpus);
      expect(hc.CpuShares, text).toEqual(eff.CpuShares);
      // Config
      const user = Object.entries(out).find(([k]) => k.toLowerCase() === "user")![1];
      expect(["65534:65534", "1000"]).toContain(user);
      const labels = Object.entries(out).find(([k]) => k.toLowerCase() === "labels")![1] as Json;
      expect(labels["dockgate.team"]).toBe("ci");
      const nc = Object.entries(out).find(([k]) => k.toLowerCase() === "networkingconfig")?.[1] as Json | undefined;
      const eps = nc?.EndpointsConfig as Json | null | undefined;
      for (const k of Object.keys(eps ?? {})) expect(k).toBe("ci-net");
    }
    expect(denied).toBeGreaterThan(100);
    expect(denied).toBeLessThan(1900);
  });

  it("GoObject output never holds keys that fold equal (checked through the strict parser)", () => {
    const out = hardenContainerCreate(parse({ hostconfig: { SECURITYOPT: [], capdrop: null, MEMORY: 0 }, LABELS: { "DOCKGATE.TEAM": "x" } }), FULL, DEFAULT_RULES);
    expect(out.ok).toBe(true);
    const body = (out as { body: GoValue }).body as GoObject;
    const text = toJson(body);
    expect(() => parseGoJson(Buffer.from(text))).not.toThrow();
    expect(JSON.parse(text).LABELS).toEqual({ "dockgate.team": "ci", "dockgate.hardened": "yes" });
  });
});

describe("hardenBuildQuery (classic-builder RUN containers)", () => {
  const mem = { ...NONE, memory: { default: 256 * MiB, max: 512 * MiB } };
  it("sets the default when the build asks for none (or 0, or not an int64)", () => {
    for (const q of [[], [["memory", "0"]], [["memory", "lots"]], [["memory", "99999999999999999999"]]] as Array<Array<[string, string]>>) {
      const r = hardenBuildQuery([["t", "x"], ...q], mem);
      expect(r).toEqual({ ok: true, query: [["t", "x"], ["memory", String(256 * MiB)]] });
    }
  });
  it("keeps a value up to the max, as the one value the daemon reads", () => {
    expect(hardenBuildQuery([["memory", String(300 * MiB)], ["memory", "9999999999999"]], mem)).toEqual({ ok: true, query: [["memory", String(300 * MiB)]] });
  });
  it("refuses more than the max, unlimited memory, and unlimited swap", () => {
    expect(hardenBuildQuery([["memory", String(GiB)]], mem)).toMatchObject({ ok: false, violation: { rule: "hardening.memory", field: "memory" } });
    expect(hardenBuildQuery([["memory", "-1"]], mem)).toMatchObject({ ok: false, violation: { rule: "hardening.memory" } });
    expect(hardenBuildQuery([["memswap", "-1"]], mem)).toMatchObject({ ok: false, violation: { rule: "hardening.memory", field: "memswap" } });
  });
  it("refuses a memswap above twice the max; keeps one within; one the daemon reads as 0 (out of int64) is dropped", () => {
    for (const v of [String(GiB + 1), "1125899906842624", "+9223372036854775807"]) {
      expect(hardenBuildQuery([["memswap", v]], mem), v).toMatchObject({ ok: false, violation: { rule: "hardening.memory", field: "memswap" } });
    }
    expect(hardenBuildQuery([["memswap", String(GiB)]], mem)).toEqual({ ok: true, query: [["memory", String(256 * MiB)], ["memswap", String(GiB)]] });
    expect(hardenBuildQuery([["memswap", "99999999999999999999"]], mem)).toEqual({ ok: true, query: [["memory", String(256 * MiB)]] });
  });
  const cpu = { ...NONE, nanoCpus: { default: 1e9, max: 2e9 } };
  it("CPU: the default as a quota of the build's period (or 100 ms) when none is asked for", () => {
    expect(hardenBuildQuery([["t", "x"]], cpu)).toEqual({ ok: true, query: [["t", "x"], ["cpuquota", "100000"]] });
    expect(hardenBuildQuery([["cpuperiod", "50000"], ["cpuperiod", "1"]], cpu)).toEqual({ ok: true, query: [["cpuquota", "50000"], ["cpuperiod", "50000"]] });
    expect(hardenBuildQuery([["cpuperiod", "100"]], cpu)).toMatchObject({ ok: false, violation: { rule: "hardening.cpus", field: "cpuperiod" } });
  });
  it("CPU: a quota up to the max is kept; above, or unlimited, is refused", () => {
    expect(hardenBuildQuery([["cpuquota", "200000"]], cpu)).toEqual({ ok: true, query: [["cpuquota", "200000"]] });
    expect(hardenBuildQuery([["cpuquota", "200001"]], cpu)).toMatchObject({ ok: false, violation: { rule: "hardening.cpus", field: "cpuquota" } });
    expect(hardenBuildQuery([["cpuquota", "100000"], ["cpuperiod", "10000"]], cpu)).toMatchObject({ ok: false, violation: { rule: "hardening.cpus", field: "cpuquota" } });
    expect(hardenBuildQuery([["cpuquota", "-1"]], cpu)).toMatchObject({ ok: false, violation: { rule: "hardening.cpus", field: "cpuquota" } });
  });
  it("leaves the other kind alone when only one is hardened", () => {
    expect(hardenBuildQuery([["cpuquota", "-1"]], mem)).toEqual({ ok: true, query: [["cpuquota", "-1"], ["memory", String(256 * MiB)]] });
    expect(hardenBuildQuery([["memory", "-1"]], cpu)).toEqual({ ok: true, query: [["memory", "-1"], ["cpuquota", "100000"]] });
  });
});

