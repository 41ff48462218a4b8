import { describe, expect, it } from "vitest";
import { body, create, query, rules, ruleOf } from "./helpers.js";

const C = "ContainerCreate";
const deniedBy = (hc: Record<string, unknown>, r = rules(), extra: Record<string, unknown> = {}) => ruleOf(body(C, create(hc, extra), r));

// What `docker run --rm -it -v data:/data -p 8080:80 --name web nginx` sends (docker CLI 27).
const DOCKER_CLI_BODY = {
  Hostname: "", Domainname: "", User: "", AttachStdin: true, AttachStdout: true, AttachStderr: true,
  ExposedPorts: { "80/tcp": {} }, Tty: true, OpenStdin: true, StdinOnce: true, Env: null, Cmd: null,
  Image: "nginx", Volumes: {}, WorkingDir: "", Entrypoint: null, OnBuild: null, Labels: {},
  HostConfig: {
    Binds: ["data:/data"], ContainerIDFile: "", LogConfig: { Type: "", Config: {} }, NetworkMode: "default",
    PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] }, RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
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

describe("legitimate clients", () => {
  it("docker run body is allowed", () => {
    expect(body(C, DOCKER_CLI_BODY)).toBeNull();
  });
  it("compose-style body (named network, tmpfs, cap_add default cap, no-new-privileges) is allowed", () => {
    expect(body(C, create({
      NetworkMode: "proj_default", Binds: ["proj_db:/var/lib/postgresql/data:rw"], Tmpfs: { "/run": "rw,noexec" },
      CapAdd: ["NET_BIND_SERVICE"], CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges:true"], Init: true,
      Mounts: [{ Type: "volume", Source: "proj_cache", Target: "/cache", VolumeOptions: {} }, { Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: 1 << 20 } }],
      LogConfig: { Type: "json-file", Config: { "max-size": "10m" } }, RestartPolicy: { Name: "unless-stopped" },
      Sysctls: null, Runtime: "", Isolation: "default",
    }, { NetworkingConfig: { EndpointsConfig: { proj_default: { Aliases: ["db"] } } } }))).toBeNull();
  });
  it("testcontainers-style body (network by id, labels, port bindings) is allowed", () => {
    expect(body(C, create({
      NetworkMode: "3f1c2b8a9d0e", PortBindings: { "5432/tcp": [{ HostIp: "", HostPort: "" }] }, PublishAllPorts: true,
      ExtraHosts: ["host.docker.internal:host-gateway"],
    }, { Labels: { "org.testcontainers": "true" }, Env: ["POSTGRES_PASSWORD=x"] }))).toBeNull();
  });
  it("an empty body and a null body have nothing to inspect", () => {
    expect(body(C, "")).toBeNull();
    expect(body(C, "null")).toBeNull();
    expect(body(C, { Image: "alpine", HostConfig: null })).toBeNull();
  });
});

describe("containers.privileged", () => {
  it("denies HostConfig.Privileged=true with the client's spelling", () => {
    const v = body(C, { Image: "a", hostConfig: { privileged: true } });
    expect(v).toEqual({ rule: "containers.privileged", field: "hostConfig.privileged", detail: expect.stringContaining("hostConfig.privileged=true is not allowed") });
  });
  it("allows Privileged=false and null", () => {
    expect(deniedBy({ Privileged: false })).toBeNull();
    expect(deniedBy({ Privileged: null })).toBeNull();
  });
  it("denies top-level (wrapper-embedded) HostConfig fields, with or without HostConfig", () => {
    expect(ruleOf(body(C, { Image: "a", Privileged: true }))).toBe("containers.privileged");
    expect(ruleOf(body(C, { Image: "a", Privileged: true, HostConfig: null }))).toBe("containers.privileged");
    expect(ruleOf(body(C, { Image: "a", Binds: ["/:/host"], HostConfig: { Privileged: false } }))).toBe("containers.bind-protected");
    expect(ruleOf(body(C, { Image: "a", VolumeDriver: "evil", HostConfig: {} }))).toBe("volumes.driver");
  });
  it("matches keys the way Go does (case-insensitive, Unicode folding)", () => {
    expect(ruleOf(body(C, '{"HOSTCONFIG":{"PRIVILEGED":true}}'))).toBe("containers.privileged");
    // U+017F LATIN SMALL LETTER LONG S folds to s in Go
    expect(ruleOf(body(C, '{"HostConfig":{"\u017fecurityOpt":["seccomp=unconfined"]}}'))).toBe("containers.security-opt");
    expect(ruleOf(body(C, '{"HostConfig":{"\\u017fecurityOpt":["seccomp=unconfined"]}}'))).toBe("containers.security-opt"); // JSON escape
  });
  it("is allowed with allowPrivileged", () => {
    expect(deniedBy({ Privileged: true }, rules({ allowPrivileged: true }))).toBeNull();
  });
});

describe("body.type (fail closed on unexpected JSON types)", () => {
  it.each([
    [{ Privileged: "true" }, "HostConfig.Privileged"],
    [{ Privileged: 1 }, "HostConfig.Privileged"],
    [{ Binds: "/etc:/x" }, "HostConfig.Binds"],
    [{ Binds: [1] }, "HostConfig.Binds[0]"],
    [{ Mounts: {} }, "HostConfig.Mounts"],
    [{ Mounts: ["bind"] }, "HostConfig.Mounts[0]"],
    [{ Mounts: [{ Type: "bind", Source: ["/etc"] }] }, "HostConfig.Mounts[0].Source"],
    [{ SecurityOpt: "seccomp=unconfined" }, "HostConfig.SecurityOpt"],
    [{ Sysctls: { "kernel.x": 1 } }, 'HostConfig.Sysctls["kernel.x"]'],
    [{ NetworkMode: ["host"] }, "HostConfig.NetworkMode"],
    [{ OomScoreAdj: "-1000" }, "HostConfig.OomScoreAdj"],
    [{ LogConfig: "syslog" }, "HostConfig.LogConfig"],
  ])("%j → body.type at %s", (hc, field) => {
    const v = body(C, create(hc as Record<string, unknown>));
    expect(v?.rule).toBe("body.type");
    expect(v?.field).toBe(field);
  });
  it("denies a HostConfig that is not an object, and a body that is not an object", () => {
    expect(ruleOf(body(C, { Image: "a", HostConfig: [] }))).toBe("body.type");
    expect(ruleOf(body(C, "[]"))).toBe("body.type");
    expect(ruleOf(body(C, '"x"'))).toBe("body.type");
  });
  it("reads null list elements as empty strings (Go zero values)", () => {
    expect(deniedBy({ CapAdd: [null] })).toBe("containers.capabilities");
    expect(deniedBy({ Binds: [null] })).toBe("containers.bind-mounts");
  });
});

describe("containers.bind-mounts", () => {
  const cache = rules({ bindMounts: { allow: ["/srv/cache", { path: "/srv/work", readOnly: false }] } });
  it("denies host paths by default, with a clear message", () => {
    const v = body(C, create({ Binds: ["/etc:/host-etc"] }));
    expect(v).toEqual({ rule: "containers.bind-mounts", field: "HostConfig.Binds[0]", detail: 'HostConfig.Binds[0]: host path "/etc" is not in the allowed bind paths' });
  });
  it("allows named and anonymous volumes", () => {
    expect(deniedBy({ Binds: ["data:/data", "data2:/d2:ro,nocopy", "/anon"] })).toBeNull();
  });
  it("denies volume names that are not plain names", () => {
    expect(deniedBy({ Binds: ["./etc:/x"] })).toBe("containers.volume-name");
    expect(deniedBy({ Binds: ["etc/passwd:/x"] })).toBe("containers.volume-name");
    expect(deniedBy({ Binds: ["\\etc:/x"] })).toBe("containers.volume-name");
    expect(deniedBy({ Binds: ["..:/x"] })).toBe("containers.volume-name");
  });
  it("denies invalid specs", () => {
    expect(deniedBy({ Binds: ["/a:/b:ro:extra"] })).toBe("containers.bind-mounts");
    expect(deniedBy({ Binds: [":/b"] })).toBe("containers.bind-mounts");
    expect(deniedBy({ Binds: [""] })).toBe("containers.bind-mounts");
  });
  it("allows a read-only entry and below it, read-only only", () => {
    expect(deniedBy({ Binds: ["/srv/cache:/c:ro"] }, cache)).toBeNull();
    expect(deniedBy({ Binds: ["/srv/cache/npm:/c:ro,z"] }, cache)).toBeNull();
    expect(deniedBy({ Binds: ["//srv//cache/./:/c:ro"] }, cache)).toBeNull();
    const v = body(C, create({ Binds: ["/srv/cache:/c"] }), cache);
    expect(v?.rule).toBe("containers.bind-mounts");
    expect(v?.detail).toContain("read-only");
    expect(deniedBy({ Binds: ["/srv/cache:/c:rw"] }, cache)).toBe("containers.bind-mounts");
  });
  it("normalizes .. so a prefix cannot be climbed out of", () => {
    const v = body(C, create({ Binds: ["/srv/cache/../../etc:/x:ro"] }), cache);
    expect(v?.rule).toBe("containers.bind-mounts");
    expect(v?.detail).toContain('"/srv/cache/../../etc" ("/etc")');
    expect(deniedBy({ Binds: ["/srv/cachex:/x:ro"] }, cache)).toBe("containers.bind-mounts");
    expect(deniedBy({ Binds: ["/srv:/x:ro"] }, cache)).toBe("containers.bind-mounts");
  });
  it("allows a writable entry exactly, rw or ro, but nothing below it (symlinks)", () => {
    expect(deniedBy({ Binds: ["/srv/work:/w"] }, cache)).toBeNull();
    expect(deniedBy({ Binds: ["/srv/work/:/w:ro"] }, cache)).toBeNull();
    const v = body(C, create({ Binds: ["/srv/work/link:/w:ro"] }), cache);
    expect(v?.rule).toBe("containers.bind-mounts");
    expect(v?.detail).toContain("below the writable bind path");
  });
  it("denies shared propagation", () => {
    expect(deniedBy({ Binds: ["/srv/cache:/c:ro,rshared"] }, cache)).toBe("containers.bind-propagation");
    expect(deniedBy({ Binds: ["/srv/cache:/c:ro,rslave"] }, cache)).toBeNull();
  });
});

describe("containers.bind-protected", () => {
  const everything = rules({ bindMounts: { allow: [{ path: "/", readOnly: true }] } });
  it.each(["/var/run/docker.sock", "/run/docker.sock", "/", "/var", "/run", "/var/lib/docker/volumes", "/proc", "/proc/1/root", "/sys/fs/cgroup", "/run/containerd/containerd.sock"])(
    "denies %s even when / is allowed",
    (p) => {
      expect(deniedBy({ Binds: [`${p}:/x:ro`] }, everything)).toBe("containers.bind-protected");
      expect(deniedBy({ Mounts: [{ Type: "bind", Source: p, Target: "/x", ReadOnly: true }] }, everything)).toBe("containers.bind-protected");
    },
  );
  it("still allows unrelated paths under an allowed /", () => {
    expect(deniedBy({ Binds: ["/home/ci/.m2:/root/.m2:ro"] }, everything)).toBeNull();
    expect(deniedBy({ Binds: ["/var/cache/apt:/x:ro"] }, everything)).toBeNull();
  });
  it("cleans the path first", () => {
    expect(deniedBy({ Binds: ["/home/../var/run/docker.sock:/s:ro"] }, everything)).toBe("containers.bind-protected");
  });
});

describe("Mounts", () => {
  const cache = rules({ bindMounts: { allow: ["/srv/cache"] } });
  it("denies bind mounts of host paths", () => {
    const v = body(C, create({ Mounts: [{ Type: "bind", Source: "/etc", Target: "/x" }] }));
    expect(v).toMatchObject({ rule: "containers.bind-mounts", field: "HostConfig.Mounts[0].Source" });
  });
  it("allows an allowed bind path read-only, not read-write or non-recursively read-only", () => {
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "/srv/cache", Target: "/c", ReadOnly: true }] }, cache)).toBeNull();
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "/srv/cache", Target: "/c" }] }, cache)).toBe("containers.bind-mounts");
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "/srv/cache", Target: "/c", ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true } }] }, cache)).toBe("containers.bind-mounts");
  });
  it("denies relative and backslash sources", () => {
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "etc", Target: "/x" }] }, cache)).toBe("containers.bind-mounts");
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "\\etc", Target: "/x" }] }, cache)).toBe("containers.bind-mounts");
  });
  it("denies shared propagation in BindOptions", () => {
    expect(deniedBy({ Mounts: [{ Type: "bind", Source: "/srv/cache", Target: "/c", ReadOnly: true, BindOptions: { Propagation: "shared" } }] }, cache)).toBe("containers.bind-propagation");
  });
  it("denies the bind-through-a-volume escape and other driver options", () => {
    const v = body(C, create({ Mounts: [{ Type: "volume", Source: "root", Target: "/x", VolumeOptions: { DriverConfig: { Name: "local", Options: { type: "none", o: "bind", device: "/" } } } }] }));
    expect(v).toMatchObject({ rule: "containers.bind-protected", field: 'HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options["device"]' });
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "d", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "none", o: "bind", device: "/etc" } } } }] })).toBe("containers.bind-mounts");
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "d", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "ext4", device: "/dev/sda1" } } } }] })).toBe("volumes.driver-options");
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "d", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "overlay", o: "lowerdir=/,upperdir=/tmp/u,workdir=/tmp/w", device: "overlay" } } } }] })).toBe("volumes.driver-options");
  });
  it("inspects VolumeOptions even on a mount of another type", () => {
    expect(deniedBy({ Mounts: [{ Type: "tmpfs", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "none", o: "bind", device: "/etc" } } } }] })).toBe("containers.bind-mounts");
  });
  it("allows tmpfs volumes with plain tmpfs options", () => {
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "fast", Target: "/x", VolumeOptions: { DriverConfig: { Name: "local", Options: { type: "tmpfs", device: "tmpfs", o: "size=100m,uid=1000" } } } }] })).toBeNull();
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "fast", Target: "/x", VolumeOptions: { DriverConfig: { Options: { type: "tmpfs", device: "tmpfs", o: "size=1m,bind" } } } }] })).toBe("volumes.driver-options");
  });
  it("denies non-allowlisted volume drivers", () => {
    expect(deniedBy({ Mounts: [{ Type: "volume", Source: "d", Target: "/x", VolumeOptions: { DriverConfig: { Name: "rexray" } } }] })).toBe("volumes.driver");
    expect(deniedBy({ VolumeDriver: "rexray", Binds: ["d:/x"] })).toBe("volumes.driver");
    expect(deniedBy({ VolumeDriver: "local" })).toBeNull();
  });
  it("denies npipe, cluster and unknown mount types; allows tmpfs and image", () => {
    expect(deniedBy({ Mounts: [{ Type: "npipe", Source: "\\\\.\\pipe\\docker_engine", Target: "/x" }] })).toBe("containers.mount-type");
    expect(deniedBy({ Mounts: [{ Type: "cluster", Source: "v", Target: "/x" }] })).toBe("containers.mount-type");
    expect(deniedBy({ Mounts: [{ Type: "Bind", Source: "/etc", Target: "/x" }] })).toBe("containers.mount-type");
    expect(deniedBy({ Mounts: [{ Source: "/etc", Target: "/x" }] })).toBe("containers.mount-type");
    expect(deniedBy({ Mounts: [{ Type: "tmpfs", Target: "/x", TmpfsOptions: { Options: [["exec"]] } }] })).toBeNull();
    expect(deniedBy({ Mounts: [{ Type: "image", Source: "alpine:3", Target: "/x" }] })).toBeNull();
  });
  it("matches Mount keys case-insensitively", () => {
    expect(deniedBy({ mounts: [{ type: "bind", source: "/etc", target: "/x" }] })).toBe("containers.bind-mounts");
  });
});

describe("containers.capabilities", () => {
  it.each(["SYS_ADMIN", "sys_admin", "CAP_SYS_ADMIN", "cap_sys_module", "ALL", "all"])("denies %s", (c) => {
    expect(deniedBy({ CapAdd: [c] })).toBe("containers.capabilities");
  });
  it("denies a lone string (strslice) and the Capabilities field", () => {
    expect(deniedBy({ CapAdd: "SYS_ADMIN" })).toBe("containers.capabilities");
    expect(deniedBy({ Capabilities: ["CAP_SYS_ADMIN"] })).toBe("containers.capabilities");
  });
  it("allows Docker's default capabilities and dropping anything", () => {
    expect(deniedBy({ CapAdd: ["NET_BIND_SERVICE", "cap_chown", "KILL"], CapDrop: ["ALL"] })).toBeNull();
  });
  it("allows allowlisted capabilities, normalized", () => {
    expect(deniedBy({ CapAdd: ["NET_ADMIN", "cap_net_admin"] }, rules({ capAdd: ["net_admin"] }))).toBeNull();
    expect(deniedBy({ CapAdd: ["SYS_ADMIN"] }, rules({ capAdd: ["net_admin"] }))).toBe("containers.capabilities");
    expect(deniedBy({ CapAdd: ["ALL"] }, rules({ capAdd: ["ALL"] }))).toBeNull();
  });
});

describe("devices", () => {
  it("denies Devices, DeviceCgroupRules, DeviceRequests", () => {
    expect(deniedBy({ Devices: [{ PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rwm" }] })).toBe("containers.devices");
    expect(deniedBy({ DeviceCgroupRules: ["b *:* rwm"] })).toBe("containers.devices");
    expect(deniedBy({ DeviceRequests: [{ Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] }] })).toBe("containers.device-requests");
  });
  it("allows empty lists and the settings", () => {
    expect(deniedBy({ Devices: [], DeviceCgroupRules: [], DeviceRequests: [] })).toBeNull();
    expect(deniedBy({ Devices: [{ PathOnHost: "/dev/fuse" }] }, rules({ devices: true }))).toBeNull();
    expect(deniedBy({ DeviceRequests: [{ Count: -1 }] }, rules({ gpus: true }))).toBeNull();
  });
});

describe("namespaces", () => {
  it.each([
    ["NetworkMode", "host"], ["NetworkMode", "HOST"], ["PidMode", "host"], ["IpcMode", "host"],
    ["UTSMode", "host"], ["UsernsMode", "host"], ["CgroupnsMode", "host"],
  ])("denies %s=%s", (f, v) => {
    expect(deniedBy({ [f]: v })).toBe("containers.host-namespaces");
  });
  it.each([
    ["NetworkMode", "container:db"], ["NetworkMode", "Container:db"], ["PidMode", "container:db"],
    ["IpcMode", "container:db"], ["Cgroup", "container:db"],
  ])("denies the join %s=%s", (f, v) => {
    expect(deniedBy({ [f]: v })).toBe("containers.namespace-joins");
  });
  it.each([
    ["NetworkMode", ""], ["NetworkMode", "default"], ["NetworkMode", "bridge"], ["NetworkMode", "none"],
    ["NetworkMode", "my-net"], ["IpcMode", "private"], ["IpcMode", "shareable"], ["IpcMode", "none"],
    ["CgroupnsMode", "private"], ["PidMode", ""],
  ])("allows %s=%s", (f, v) => {
    expect(deniedBy({ [f]: v })).toBeNull();
  });
  it("denies modes the daemon does not define", () => {
    expect(deniedBy({ PidMode: "private" })).toBe("containers.namespace-mode");
    expect(deniedBy({ Cgroup: "host" })).toBe("containers.namespace-mode");
    expect(deniedBy({ CgroupnsMode: "container:x" })).toBe("containers.namespace-mode");
  });
  it("follows hostNamespaces / namespaceJoins", () => {
    const r = rules({ hostNamespaces: ["network"], namespaceJoins: ["network"] });
    expect(deniedBy({ NetworkMode: "host" }, r)).toBeNull();
    expect(deniedBy({ NetworkMode: "container:db" }, r)).toBeNull();
    expect(deniedBy({ PidMode: "host" }, r)).toBe("containers.host-namespaces");
  });
});

describe("containers.security-opt", () => {
  it.each([
    "seccomp=unconfined", "seccomp:unconfined", 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "apparmor=unconfined",
    "apparmor:unconfined", "label=disable", "label:disable", "disable", "label=type:spc_t", "systempaths=unconfined",
    "no-new-privileges=maybe", "writable-cgroups=true", "writable-cgroups", "unknown", "Seccomp=unconfined",
  ])("denies %s", (o) => {
    expect(deniedBy({ SecurityOpt: [o] })).toBe("containers.security-opt");
  });
  it("does not echo an inline seccomp profile", () => {
    expect(body(C, create({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] }))?.detail).toContain("seccomp=<custom profile>");
  });
  it.each(["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true", "no-new-privileges=false", "seccomp=builtin", "apparmor=docker-default", "writable-cgroups=false"])(
    "allows %s",
    (o) => {
      expect(deniedBy({ SecurityOpt: [o] })).toBeNull();
    },
  );
  it("follows the securityOpt allowlist, in either separator spelling", () => {
    const r = rules({ securityOpt: ["seccomp:unconfined", "label=*"] });
    expect(deniedBy({ SecurityOpt: ["seccomp=unconfined", "label=disable", "label:level:s0:c1"] }, r)).toBeNull();
    expect(deniedBy({ SecurityOpt: ["disable"] }, r)).toBeNull();
    expect(deniedBy({ SecurityOpt: ["apparmor=unconfined"] }, r)).toBe("containers.security-opt");
    expect(deniedBy({ SecurityOpt: ['seccomp={"a":1}'] }, rules({ securityOpt: ["seccomp=*"] }))).toBeNull();
  });
});

describe("other HostConfig rules", () => {
  it("system paths: any non-null MaskedPaths / ReadonlyPaths", () => {
    expect(deniedBy({ MaskedPaths: [] })).toBe("containers.system-paths");
    expect(deniedBy({ ReadonlyPaths: ["/proc/sys"] })).toBe("containers.system-paths");
    expect(deniedBy({ MaskedPaths: null, ReadonlyPaths: null })).toBeNull();
    expect(deniedBy({ MaskedPaths: [] }, rules({ systemPaths: true }))).toBeNull();
  });
  it("sysctls: denied unless allowlisted", () => {
    expect(deniedBy({ Sysctls: { "net.ipv4.ip_forward": "1" } })).toBe("containers.sysctls");
    expect(deniedBy({ Sysctls: {} })).toBeNull();
    const r = rules({ sysctls: ["net.ipv4.*", "kernel.shmmax"] });
    expect(deniedBy({ Sysctls: { "net.ipv4.ip_forward": "1", "net/ipv4/ping_group_range": "0 0", "kernel.shmmax": "1" } }, r)).toBeNull();
    expect(deniedBy({ Sysctls: { "kernel.shmall": "1" } }, r)).toBe("containers.sysctls");
  });
  it("endpoint sysctls in NetworkingConfig driver options", () => {
    const nc = { NetworkingConfig: { EndpointsConfig: { n: { DriverOpts: { "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1" } } } } };
    expect(deniedBy({}, rules(), nc)).toBe("containers.sysctls");
    expect(deniedBy({}, rules({ sysctls: ["net.ipv4.conf.*"] }), nc)).toBeNull();
    expect(deniedBy({}, rules(), { NetworkingConfig: { EndpointsConfig: { n: { DriverOpts: { "com.docker.network.endpoint.ifname": "eth3" } } } } })).toBeNull();
  });
  it("cgroup parent", () => {
    expect(deniedBy({ CgroupParent: "/" })).toBe("containers.cgroup-parent");
    expect(deniedBy({ CgroupParent: "" })).toBeNull();
    expect(deniedBy({ CgroupParent: "ci.slice" }, rules({ cgroupParent: true }))).toBeNull();
  });
  it("runtime allowlist", () => {
    expect(deniedBy({ Runtime: "nvidia" })).toBe("containers.runtime");
    expect(deniedBy({ Runtime: "runc" })).toBeNull();
    expect(deniedBy({ Runtime: "" })).toBeNull();
    expect(deniedBy({ Runtime: "runsc" }, rules({ runtimes: ["runsc"] }))).toBeNull();
  });
  it("volumes-from", () => {
    expect(deniedBy({ VolumesFrom: ["other:ro"] })).toBe("containers.volumes-from");
    expect(deniedBy({ VolumesFrom: [] })).toBeNull();
    expect(deniedBy({ VolumesFrom: ["other"] }, rules({ volumesFrom: true }))).toBeNull();
  });
  it("oom overrides", () => {
    expect(deniedBy({ OomKillDisable: true })).toBe("containers.oom");
    expect(deniedBy({ OomScoreAdj: -1000 })).toBe("containers.oom");
    expect(deniedBy({ OomScoreAdj: 500, OomKillDisable: false })).toBeNull();
  });
  it("log drivers", () => {
    expect(deniedBy({ LogConfig: { Type: "syslog", Config: { "syslog-address": "tcp://10.0.0.1:514" } } })).toBe("containers.log-driver");
    expect(deniedBy({ LogConfig: { Type: "awslogs" } })).toBe("containers.log-driver");
    expect(deniedBy({ LogConfig: { Type: "local" } })).toBeNull();
  });
  it("annotations", () => {
    expect(deniedBy({ Annotations: { "org.criu.config": "/etc/x" } })).toBe("containers.annotations");
    expect(deniedBy({ Annotations: {} })).toBeNull();
  });
  it("blkio device paths", () => {
    expect(deniedBy({ BlkioDeviceReadBps: [{ Path: "/dev/sda", Rate: 1048576 }], BlkioWeightDevice: [] })).toBeNull();
    expect(deniedBy({ BlkioDeviceReadBps: [{ Path: "/root/.ssh/id_rsa", Rate: 1 }] })).toBe("containers.blkio-path");
    expect(deniedBy({ BlkioWeightDevice: [{ Path: "/dev/../etc/shadow", Weight: 10 }] })).toBe("containers.blkio-path");
    expect(deniedBy({ BlkioDeviceWriteIOps: [{ Rate: 1 }] })).toBe("containers.blkio-path");
  });
  it("tmpfs options", () => {
    expect(deniedBy({ Tmpfs: { "/run": "rw,noexec,nosuid,size=65536k", "/tmp": "" } })).toBeNull();
    expect(deniedBy({ Tmpfs: { "/x": "rbind" } })).toBe("containers.tmpfs");
    expect(deniedBy({ Tmpfs: { "/x": "size=1m,Bind" } })).toBe("containers.tmpfs");
    expect(deniedBy({ Tmpfs: { "/x": "remount,rw" } })).toBe("containers.tmpfs");
  });
  it("isolation", () => {
    expect(deniedBy({ Isolation: "hyperv" })).toBe("containers.isolation");
    expect(deniedBy({ Isolation: "Default" })).toBeNull();
  });
});

describe("containers.workdir", () => {
  it.each(["/proc/self/fd/8", "/proc/self/fd/8/", "/proc/../proc/1/cwd", "//proc/self/fd/7", "/proc", "proc/self/fd/8", "fd/7"])("denies WorkingDir %s", (wd) => {
    expect(ruleOf(body(C, { Image: "a", WorkingDir: wd }))).toBe("containers.workdir");
  });
  it.each(["", "/app", "/procfs", "/srv/proc-data"])("allows WorkingDir %s", (wd) => {
    expect(body(C, { Image: "a", WorkingDir: wd })).toBeNull();
  });
  it("checks OnBuild WORKDIR instructions", () => {
    expect(ruleOf(body(C, { Image: "a", OnBuild: ["WORKDIR /proc/self/fd/5"] }))).toBe("containers.workdir");
    expect(body(C, { Image: "a", OnBuild: ["RUN make", "WORKDIR /src"] })).toBeNull();
  });
});

describe("ContainerUpdate", () => {
  const U = "ContainerUpdate";
  it("allows a docker update body", () => {
    expect(body(U, { CpuShares: 512, Memory: 314572800, MemorySwap: 514288000, RestartPolicy: { Name: "on-failure", MaximumRetryCount: 4 }, Devices: null, CgroupParent: "" })).toBeNull();
  });
  it("denies devices, device requests, cgroup parent, OomKillDisable", () => {
    expect(ruleOf(body(U, { Devices: [{ PathOnHost: "/dev/mem" }] }))).toBe("containers.devices");
    expect(ruleOf(body(U, { DeviceCgroupRules: ["c *:* rwm"] }))).toBe("containers.devices");
    expect(ruleOf(body(U, { DeviceRequests: [{ Count: 1 }] }))).toBe("containers.device-requests");
    expect(ruleOf(body(U, { CgroupParent: "/" }))).toBe("containers.cgroup-parent");
    expect(ruleOf(body(U, { OomKillDisable: true }))).toBe("containers.oom");
  });
});

describe("ContainerStart", () => {
  it("denies checkpoint restores", () => {
    expect(ruleOf(query("ContainerStart", [["checkpoint-dir", "/etc"]]))).toBe("containers.checkpoint");
    expect(ruleOf(query("ContainerStart", [["checkpoint", "c1"]]))).toBe("containers.checkpoint");
  });
  it("allows a plain start and empty values", () => {
    expect(query("ContainerStart", [])).toBeNull();
    expect(query("ContainerStart", [["checkpoint", ""]])).toBeNull();
  });
});
