// `dockgate learn` over synthetic logs. Audit records are made by the real gate running the
// shipped config/audit.yaml profile, so the messages learn reads are the ones dockgate writes.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Learner, analyze, detailOf, learnText, parseLine, run } from "../../src/cli/learn.js";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { createGate } from "../../src/policy/engine.js";
import { DEFAULT_RULES } from "../../src/policy/rules.js";
import type { Client, Denial, RequestView } from "../../src/policy/verdict.js";

const AUDIT_YAML = readFileSync(join(import.meta.dirname, "../../config/audit.yaml"), "utf8");
const auditGate = createGate(parseConfigText(AUDIT_YAML, "audit.yaml", { checkFiles: false }), { checkImages: false });

const T0 = Date.parse("2026-01-02T03:04:05.000Z");
let clock = 0;

interface Line {
  op: string;
  profile?: string;
  listener?: string;
  method?: string;
  path?: string;
  decision?: "allow" | "deny" | "error";
  status?: number;
  rule?: string;
  field?: string;
  message?: string;
  audit?: { rule: string; field?: string; message: string };
}

/** A request line as src/observe/log.ts writes it. */
function line(l: Line): string {
  const decision = l.decision ?? "allow";
  const entry = {
    level: decision === "allow" ? 30 : 40,
    time: new Date(T0 + 1000 * clock++).toISOString(),
    listener: l.listener ?? "app",
    profile: l.profile ?? "app",
    peer: "unix",
    op: l.op,
    method: l.method ?? "GET",
    path: l.path ?? "/",
    decision,
    rule: decision === "allow" ? undefined : l.rule,
    field: decision === "allow" ? undefined : l.field,
    status: l.status ?? (decision === "allow" ? 200 : 403),
    bytesIn: 0,
    bytesOut: 10,
    ms: 1.5,
    audit: l.audit,
    message: decision === "allow" ? undefined : l.message,
    msg: decision === "allow" ? (l.audit ? "audit: would deny" : "request") : decision === "deny" ? "denied" : "rejected",
  };
  return JSON.stringify(entry);
}

function view(operation: string, query: Array<[string, string]> = []): RequestView {
  return { method: "POST", path: "/", apiVersion: undefined, operation, params: {}, query, headers: {} };
}
const appClient: Client = { listener: "app", profile: "app", peer: "unix", owner: "app" };

/** What the audit profile logs for a request: its would-be denial, if any. */
function auditOf(operation: string, body?: unknown, query: Array<[string, string]> = []): Denial | undefined {
  const v = auditGate.decide(view(operation, query), appClient);
  if (v instanceof Promise) throw new Error("expected a synchronous decision");
  if (v.kind === "deny") throw new Error(`audit mode denied ${operation}`);
  if (v.kind === "allow") return v.audit;
  const r = v.check.inspect(Buffer.from(body === undefined ? "" : JSON.stringify(body)));
  if (r instanceof Promise || !r.ok) throw new Error("expected a synchronous pass");
  return r.audit;
}

/** An audit-mode line for a request, with its would-be denial computed by the real gate. */
function audited(op: string, body?: unknown, status = 201, query: Array<[string, string]> = []): string {
  const d = auditOf(op, body, query);
  if (d === undefined) throw new Error(`${op} ${JSON.stringify(body)} is not a would-be denial`);
  return line({ op, method: "POST", status, audit: { rule: d.rule, ...(d.field !== undefined ? { field: d.field } : {}), message: d.message } });
}

const MINIMAL = "listeners:\n  - name: l\n    unix: { path: /run/dockgate/learned.sock }\n    profile: app\n";

/** The learned YAML embedded in a minimal config, loaded the way `serve` loads it. */
function load(yaml: string, listeners = MINIMAL): Config {
  return parseConfigText(listeners + yaml, "learned.yaml", { checkFiles: false });
}

/** Uncomments the YAML lines of one commented-out setting block (its key and indented lines). */
function uncomment(yaml: string, key: string): string {
  const lines = yaml.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^(\\s*)# ${key}:`).test(l));
  if (start < 0) throw new Error(`no commented ${key}: in\n${yaml}`);
  const indent = /^(\s*)#/.exec(lines[start]!)![1]!;
  lines[start] = lines[start]!.replace(`${indent}# `, indent);
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith(`${indent}#   `) && !lines[i]!.startsWith(`${indent}#   ${key}`); i++) {
    if (/^\s*#\s+(?:-|[A-Za-z]+:)/.test(lines[i]!) && !/REVIEW|Needed by/.test(lines[i]!)) lines[i] = lines[i]!.replace(`${indent}# `, indent);
    else break;
  }
  return lines.join("\n");
}

/** Entries of the active `allow:` list of a profile in the output. */
function activeAllow(yaml: string, profile = "app"): string[] {
  const lines = yaml.split("\n");
  let i = lines.indexOf(`  ${profile}:`);
  while (i < lines.length && !/^ {4}allow:/.test(lines[i]!)) i++;
  const out: string[] = [];
  for (i++; i < lines.length && /^ {6}/.test(lines[i]!); i++) {
    const m = /^ {6}- (\S+)/.exec(lines[i]!);
    if (m) out.push(m[1]!);
  }
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe("reading the log", () => {
  it("takes request records and ignores everything else", () => {
    expect(parseLine(line({ op: "ContainerList" }))).toMatchObject({ op: "ContainerList", profile: "app", decision: "allow", status: 200 });
    for (const junk of [
      "",
      "not json at all",
      "{broken json",
      "[1,2,3]",
      "null",
      '{"level":30,"msg":"dockgate started","config":"/etc/dockgate.yaml"}',
      '{"level":30,"listener":"app","address":"unix:/run/x.sock","profile":"app","msg":"listening"}',
      '{"op":"ContainerList","msg":"no profile or decision"}',
      '{"op":"ContainerList","profile":"app","decision":"maybe"}',
      '{"op":42,"profile":"app","decision":"allow"}',
    ]) {
      expect(parseLine(junk), junk).toBeUndefined();
    }
    // A prefix before the JSON (journald, docker logs -t) is tolerated.
    expect(parseLine(`Jan 02 03:04:05 host dockgate[42]: ${line({ op: "SystemPing" })}`)).toMatchObject({ op: "SystemPing" });
  });

  it("counts ignored lines, and learns nothing from a log without request records", () => {
    const { learner, yaml } = learnText(["garbage", '{"msg":"listening"}', "", "{oops"].join("\n"));
    expect(learner.ignored).toBe(3);
    expect(learner.profiles.size).toBe(0);
    expect(yaml).toContain("0 request records of 0 profiles");
  });

  it("reads the message's sentence", () => {
    expect(detailOf('dockgate: ContainerCreate denied for profile app: HostConfig.Binds[0]: host path "/tmp" is not in the allowed bind paths (rule containers.bind-mounts)'))
      .toBe('HostConfig.Binds[0]: host path "/tmp" is not in the allowed bind paths');
    expect(detailOf("something else")).toBe("something else");
  });
});

describe("allow: the operations used", () => {
  const log = [
    "dockgate starting up (not JSON)",
    '{"level":30,"time":"2026-01-02T03:04:04.000Z","msg":"dockgate started"}',
    line({ op: "SystemPingHead", method: "HEAD" }),
    line({ op: "ContainerList" }),
    line({ op: "SystemPingHead", method: "HEAD" }),
    line({ op: "ContainerCreate", method: "POST", status: 201 }),
    line({ op: "ContainerCreate", method: "POST", status: 404 }), // no such image, then pulled
    line({ op: "ContainerStart", method: "POST", status: 204 }),
    line({ op: "ContainerAttach", method: "POST", status: 101 }),
    line({ op: "ContainerWait", method: "POST" }),
    line({ op: "ContainerStop", method: "POST", status: 304 }), // not modified: not a failure
    // audit mode passed an operation outside the audited profile's allow list
    line({ op: "PluginList", audit: { rule: "endpoint.allow", message: "dockgate: PluginList denied for profile app: operation is not allowed (rule endpoint.allow)" } }),
    // probes that only ever failed at the daemon
    line({ op: "ImageInspect", status: 404 }),
    line({ op: "ImageInspect", status: 404 }),
    line({ op: "VolumeInspect", status: 404 }),
    line({ op: "NetworkInspect", status: 404, audit: { rule: "endpoint.allow", message: "dockgate: NetworkInspect denied for profile app: operation is not allowed (rule endpoint.allow)" } }),
    // BuildKit: used, but never granted active
    line({ op: "Session", method: "POST", status: 101 }),
    line({ op: "Grpc", method: "POST", status: 101 }),
    // a dockgate error (daemon unreachable) is not a use
    line({ op: "SystemInfo", decision: "error", status: 502, rule: "upstream.unreachable", message: "dockgate: the Docker daemon is unreachable" }),
    // an enforce-mode denial is not a use
    line({ op: "SwarmInit", decision: "deny", rule: "endpoint.allow", message: "dockgate: SwarmInit denied for profile app: operation is not allowed (rule endpoint.allow)" }),
  ].join("\n");
  const { yaml, learner } = learnText(log);
  const expected = ["ContainerAttach", "ContainerCreate", "ContainerList", "ContainerStart", "ContainerStop", "ContainerWait", "PluginList", "SystemPingHead"];

  it("lists exactly the operations that succeeded, sorted, with group and route comments", () => {
    expect(learner.ignored).toBe(2);
    expect(activeAllow(yaml)).toEqual(expected);
    expect(yaml).toMatch(/^ {6}- ContainerCreate +# containers:write: POST \/containers\/create \(1 request; also failed: 404\)$/m);
    expect(yaml).toMatch(/^ {6}- SystemPingHead +# ping: HEAD \/_ping \(2 requests\)$/m);
    expect(yaml).toMatch(/^ {6}- PluginList +# plugins:read: GET \/plugins \(1 request; 1 passed by audit mode\)$/m);
    // the groups used, with what they are for
    expect(yaml).toMatch(/^ {6}# {3}containers:attach +attach to a container's stdin\/stdout\/stderr/m);
    expect(yaml).toMatch(/^ {6}# {3}ping +GET and HEAD \/_ping/m);
  });

  it("has a header with the counts and the time range", () => {
    expect(yaml).toContain("# 18 requests through listener app, 2026-01-02T03:04:05.000Z .. 2026-01-02T03:04:22.000Z:");
    expect(yaml).toMatch(/14 allowed; 2 passed by audit mode .*; 1 denied; 1 dockgate errors; 5 of the allowed and audited failed at the daemon/);
    expect(yaml).toContain('description: "learned by dockgate learn from 18 requests, 2026-01-02T03:04:05.000Z .. 2026-01-02T03:04:22.000Z"');
  });

  it("writes operations that only failed, were denied or are not inspected as comments", () => {
    expect(yaml).toMatch(/^ {6}# - ImageInspect +# images:read: GET \/images\/\{name\}\/json \(2 requests: 404 ×2\)$/m);
    expect(yaml).toMatch(/^ {6}# - VolumeInspect +# volumes:read/m);
    expect(yaml).toMatch(/^ {6}# - NetworkInspect +# networks:read/m);
    expect(yaml).toMatch(/^ {6}# - SwarmInit +# swarm:write: POST \/swarm\/init \(denied: endpoint.allow\)$/m);
    expect(yaml).toMatch(/^ {6}# - SystemInfo +# system:read: GET \/info \(errors: upstream.unreachable\)$/m);
    expect(yaml).toMatch(/^ {6}# REVIEW: Grpc was used, but is not granted: BuildKit builds are inspected/m);
    expect(yaml).toMatch(/^ {6}# - Session +# buildkit: POST \/session/m);
  });

  it("loads as a config, in enforce mode, granting exactly those operations and no rules", () => {
    const c = load(yaml);
    expect(c.warnings).toBeUndefined();
    const p = c.profiles.get("app")!;
    expect(p.mode).toBe("enforce");
    expect([...p.allow].sort()).toEqual(expected);
    expect(p.rules).toEqual(DEFAULT_RULES);
    expect(yaml).toContain("# rules: the safe defaults; the traffic needed no setting beyond them");

    const gate = createGate(c, { checkImages: false });
    const client: Client = { listener: "l", profile: "app", peer: "unix", owner: "l" };
    for (const op of expected) {
      const v = gate.decide({ ...view(op), method: "GET" }, client);
      expect(v instanceof Promise ? "async" : v.kind, op).not.toBe("deny");
    }
    for (const op of ["ImageInspect", "SwarmInit", "Session", "Grpc", "SystemInfo", "SystemPing"]) {
      const v = gate.decide(view(op), client);
      expect(v instanceof Promise ? "async" : v.kind, op).toBe("deny");
    }
  });
});

describe("rules: what the audited traffic needed", () => {
  const log = [
    line({ op: "ContainerCreate", method: "POST", status: 201 }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Binds: ["/srv/data:/data"] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Binds: ["/srv/data:/data:ro"] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Mounts: [{ Type: "bind", Source: "/home/ci/../ci/work", Target: "/w" }] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Privileged: true } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { CapAdd: ["net_admin"] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { NetworkMode: "host" } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { PidMode: "host" } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Devices: [{ PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" }] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { SecurityOpt: ["seccomp=unconfined"] } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { LogConfig: { Type: "syslog" } } }),
    audited("ContainerCreate", { Image: "x", HostConfig: { Sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" } } }),
    audited("ContainerExec", { Cmd: ["sh"], Privileged: true }),
    audited("ImageCreate", undefined, 200, [["fromSrc", "https://example.com/rootfs.tar"]]),
    // a would-be denial that failed at the daemon anyway
    audited("ContainerCreate", { Image: "x", HostConfig: { CapAdd: ["SYS_TIME"] } }, 404),
    // never allowed, whatever the rules
    audited("ContainerCreate", { Image: "x", HostConfig: { Binds: ["/var/run/docker.sock:/var/run/docker.sock"] } }),
  ].join("\n");
  const { yaml } = learnText(log);

  it("proposes dangerous settings commented out, each under a REVIEW line", () => {
    expect(yaml).toMatch(/^ {6}# REVIEW: allowPrivileged is not granted: a privileged container/m);
    expect(yaml).toMatch(/^ {6}# allowPrivileged: true {3}# 2 requests$/m);
    expect(yaml).toMatch(/^ {6}# REVIEW: bindMounts is not granted/m);
    expect(yaml).toMatch(/^ {6}# bindMounts:$/m);
    expect(yaml).toMatch(/^ {6}# {5}- \{ path: "\/srv\/data", readOnly: false \} {3}# 2 requests$/m);
    expect(yaml).toMatch(/^ {6}# {5}- \{ path: "\/home\/ci\/work", readOnly: false \} {3}# 1 request$/m); // the cleaned path
    expect(yaml).toMatch(/^ {6}#   ContainerCreate: HostConfig.Binds\[0\]: host path "\/srv\/data" is not in the allowed bind paths \(×2\)$/m);
    expect(yaml).toMatch(/^ {6}# capAdd:\n {6}# {3}- CAP_NET_ADMIN {3}# 1 request\n {6}# {3}- CAP_SYS_TIME {3}# 1 request, none of them succeeded$/m);
    expect(yaml).toMatch(/^ {6}# hostNamespaces:\n {6}# {3}- network {3}# 1 request\n {6}# {3}- pid {3}# 1 request$/m);
    expect(yaml).toMatch(/^ {6}# devices: true/m);
    expect(yaml).toMatch(/^ {6}# securityOpt:\n {6}# {3}- seccomp=unconfined/m);
    // list settings with non-empty defaults keep them
    expect(yaml).toMatch(/^ {6}# logDrivers: {3}# the defaults, and what the traffic used\n {6}# {3}- json-file\n {6}# {3}- local\n {6}# {3}- none\n {6}# {3}- syslog {3}# 1 request$/m);
  });

  it("writes narrow, host-safe settings active", () => {
    expect(yaml).toMatch(/^ {6}sysctls:\n {8}- net.ipv4.ip_unprivileged_port_start {3}# 1 request$/m);
    expect(yaml).toMatch(/^ {6}fetchUrls:\n {8}- "https:\/\/example.com\/rootfs.tar" {3}# 1 request$/m);
  });

  it("notes what no setting allows", () => {
    expect(yaml).toMatch(/^ {4}# REVIEW: enforce mode refuses these whatever the profile says/m);
    expect(yaml).toMatch(/^ {4}# {3}rule containers.bind-protected \(1 request\):\n {4}# {5}ContainerCreate: HostConfig.Binds\[0\]: host path "\/var\/run\/docker.sock" exposes/m);
  });

  it("loads as is, granting only the host-safe settings", () => {
    const p = load(yaml).profiles.get("app")!;
    expect(p.rules).toEqual({ ...DEFAULT_RULES, sysctls: ["net.ipv4.ip_unprivileged_port_start"], fetchUrls: ["https://example.com/rootfs.tar"] });
  });

  it("loads with the REVIEW proposals uncommented, and they then allow the audited requests", () => {
    let text = yaml;
    for (const key of ["allowPrivileged", "bindMounts", "capAdd", "hostNamespaces", "devices", "securityOpt", "logDrivers"]) text = uncomment(text, key);
    const c = load(text);
    const rules = c.profiles.get("app")!.rules;
    expect(rules.allowPrivileged).toBe(true);
    expect(rules.bindMounts.allow).toEqual([{ path: "/home/ci/work", readOnly: false }, { path: "/srv/data", readOnly: false }]);
    expect(rules.capAdd).toEqual(["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    expect(rules.hostNamespaces).toEqual(["network", "pid"]);
    expect(rules.devices).toBe(true);
    expect(rules.securityOpt).toEqual(["seccomp=unconfined"]);
    expect(rules.logDrivers).toEqual(["json-file", "local", "none", "syslog"]);

    const gate = createGate(c, { checkImages: false });
    const client: Client = { listener: "l", profile: "app", peer: "unix", owner: "l" };
    const create = (hc: unknown) => {
      const v = gate.decide(view("ContainerCreate"), client);
      if (v instanceof Promise || v.kind !== "inspect") throw new Error("expected a body inspection");
      const r = v.check.inspect(Buffer.from(JSON.stringify({ Image: "x", HostConfig: hc })));
      if (r instanceof Promise) throw new Error("async");
      return r.ok ? "allow" : r.denial.rule;
    };
    expect(create({ Binds: ["/srv/data:/data"] })).toBe("allow");
    expect(create({ Mounts: [{ Type: "bind", Source: "/home/ci/work", Target: "/w" }] })).toBe("allow");
    expect(create({ Privileged: true, CapAdd: ["NET_ADMIN"], NetworkMode: "host" })).toBe("allow");
    expect(create({ Binds: ["/etc:/etc"] })).toBe("containers.bind-mounts");
    expect(create({ Binds: ["/var/run/docker.sock:/s"] })).toBe("containers.bind-protected");
  });

  it("quotes the message in a REVIEW line when the value cannot be read reliably", () => {
    const long = `/${"d".repeat(130)}`;
    const { yaml: y } = learnText(audited("ContainerCreate", { Image: "x", HostConfig: { Binds: [`${long}:/x`] } }));
    expect(y).not.toMatch(/^\s*# bindMounts:/m);
    expect(y).toMatch(/^ {6}# REVIEW: set bindMounts by hand if appropriate .*the value could not be read reliably/m);
    expect(y).toMatch(/^ {6}# {3}ContainerCreate: HostConfig.Binds\[0\]: host path "\/ddd+…" is not in the allowed bind paths$/m);
    expect(load(y).profiles.get("app")!.rules).toEqual(DEFAULT_RULES);
  });

  it("keeps proposals seen only in denied or failed requests commented, even host-safe ones", () => {
    const { yaml: y } = learnText([
      line({ op: "ContainerCreate", method: "POST", status: 201 }),
      line({
        op: "ContainerCreate", decision: "deny", rule: "containers.sysctls", field: 'HostConfig.Sysctls["kernel.shmmax"]',
        message: 'dockgate: ContainerCreate denied for profile app: HostConfig.Sysctls: sysctl "kernel.shmmax" is not allowed (rule containers.sysctls)',
      }),
      line({ op: "ContainerCreate", decision: "deny", rule: "ownership.not-found", message: "dockgate: ContainerCreate denied for profile app: No such network: other-team (rule ownership.not-found)" }),
      line({ op: "SystemPing", decision: "deny", rule: "limits.rate", message: "dockgate: too many requests (rule limits.rate)" }),
      line({ op: "SystemPing", audit: { rule: "api.min-version", message: "dockgate: SystemPing denied for profile app: API version 1.30 is below the profile's minimum 1.41 (rule api.min-version)" } }),
    ].join("\n"));
    expect(y).toMatch(/^ {6}# REVIEW: sysctls is not granted/m);
    expect(y).toMatch(/^ {6}#   Only requests that failed or were denied asked for it. Needed by:$/m);
    expect(y).toMatch(/^ {6}# sysctls:\n {6}# {3}- kernel.shmmax {3}# 1 request, none of them succeeded$/m);
    expect(y).toMatch(/^ {4}# REVIEW: refused by the logged profile's ownership, limits or mutate settings/m);
    expect(y).toMatch(/^ {4}# {3}rule ownership.not-found \(1 request\):$/m);
    expect(y).toMatch(/^ {4}# {3}rule limits.rate \(1 request\):$/m);
    expect(y).toMatch(/^ {4}# Refused by the logged profile, but allowed by the defaults this profile uses:\n {4}# {3}rule api.min-version/m);
    expect(activeAllow(y)).toEqual(["ContainerCreate", "SystemPing"]);
    expect(load(y).profiles.get("app")!.rules).toEqual(DEFAULT_RULES);
  });

  it("maps rule ids and messages to settings", () => {
    const d = (op: string, body?: unknown, q: Array<[string, string]> = []) => {
      const a = auditOf(op, body, q)!;
      return analyze(a.rule, a.message);
    };
    expect(d("ContainerCreate", { HostConfig: { Binds: ["/a/b/../c:/x"] } })).toMatchObject({ kind: "setting", setting: "bindMounts", value: "/a/c" });
    expect(d("ContainerCreate", { HostConfig: { CapAdd: "ALL" } })).toMatchObject({ kind: "setting", setting: "capAdd", value: "ALL" });
    expect(d("ContainerCreate", { HostConfig: { IpcMode: "host" } })).toMatchObject({ kind: "setting", setting: "hostNamespaces", value: "ipc" });
    expect(d("ContainerCreate", { HostConfig: { PidMode: "container:abc" } })).toMatchObject({ kind: "setting", setting: "namespaceJoins", value: "pid" });
    expect(d("ContainerCreate", { HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] } })).toMatchObject({ setting: "securityOpt", value: "seccomp=*" });
    expect(d("ContainerCreate", { HostConfig: { SecurityOpt: ["apparmor:unconfined"] } })).toMatchObject({ setting: "securityOpt", value: "apparmor=unconfined" });
    expect(d("ContainerCreate", { HostConfig: { Runtime: "runsc" } })).toMatchObject({ setting: "runtimes", value: "runsc" });
    expect(d("ContainerCreate", { HostConfig: { DeviceRequests: [{ Count: -1 }] } })).toMatchObject({ setting: "gpus", value: true });
    expect(d("ContainerCreate", { HostConfig: { CgroupParent: "/x" } })).toMatchObject({ setting: "cgroupParent", value: true });
    expect(d("ContainerCreate", { HostConfig: { VolumesFrom: ["other"] } })).toMatchObject({ setting: "volumesFrom", value: true });
    expect(d("ContainerCreate", { HostConfig: { OomKillDisable: true } })).toMatchObject({ setting: "oomOverrides", value: true });
    expect(d("ContainerCreate", { HostConfig: { MaskedPaths: [] } })).toMatchObject({ setting: "systemPaths", value: true });
    expect(d("ContainerCreate", { HostConfig: { Annotations: { a: "b" } } })).toMatchObject({ setting: "annotations", value: true });
    expect(d("ContainerCreate", { HostConfig: { VolumeDriver: "nfs-plugin" } })).toMatchObject({ setting: "volumeDrivers", value: "nfs-plugin" });
    expect(d("ContainerCreate", { HostConfig: { Tmpfs: { "/x": "bind" } } })).toMatchObject({ kind: "never" });
    expect(d("ContainerCreate", { WorkingDir: "/proc/self/fd/8" })).toMatchObject({ kind: "never" });
    expect(d("NetworkCreate", { Name: "n", Driver: "macvlan" })).toMatchObject({ setting: "networkDrivers", value: "macvlan" });
    expect(d("NetworkCreate", { Name: "n", Options: { "com.docker.network.bridge.name": "eth0" } })).toMatchObject({ setting: "networkOptions", value: "com.docker.network.bridge.name" });
    expect(d("NetworkCreate", { Name: "n", IPAM: { Driver: "other" } })).toMatchObject({ kind: "never" });
    expect(d("VolumeCreate", { Name: "v", DriverOpts: { type: "ext4", device: "/dev/sda1" } })).toMatchObject({ setting: "volumeDriverOptions", value: "any" });
    expect(d("ImageBuild", undefined, [["networkmode", "host"]])).toMatchObject({ setting: "buildNetworkHost", value: true });
    expect(d("ImageBuild", undefined, [["remote", "https://github.com/org/repo.git"]])).toMatchObject({ setting: "fetchUrls", value: "https://github.com/org/repo.git" });
    // plugins are outside the audit profile's allow list (endpoint.allow comes first): the message as the gate writes it
    expect(analyze("plugins.manage", "dockgate: PluginPull denied for profile app: installing plugins is not allowed (plugins run with host privileges) (rule plugins.manage)"))
      .toEqual({ kind: "setting", setting: "plugins", value: true, detail: "installing plugins is not allowed (plugins run with host privileges)" });
    expect(d("PluginPull", undefined, [["remote", "vieux/sshfs"]])).toEqual({ kind: "endpoint" });
    expect(d("ContainerStart", undefined, [["checkpoint", "c1"]])).toMatchObject({ kind: "never" });
    expect(analyze("endpoint.allow", "dockgate: X denied for profile app: operation is not allowed (rule endpoint.allow)")).toEqual({ kind: "endpoint" });
    expect(analyze("some.future-rule", "dockgate: X denied for profile app: who knows (rule some.future-rule)")).toMatchObject({ kind: "never", detail: "who knows" });
  });
});

describe("profiles", () => {
  const log = [
    line({ op: "ContainerList", profile: "web", listener: "web" }),
    line({ op: "SystemPing", profile: "ci", listener: "ci" }),
    line({ op: "ContainerCreate", profile: "ci", listener: "ci", method: "POST", status: 201 }),
    line({ op: "ContainerInspect", profile: "web", listener: "web" }),
    audited("ContainerCreate", { HostConfig: { Privileged: true } }).replace('"profile":"app"', '"profile":"ci"'),
  ].join("\n");

  it("learns one profile per profile in the log", () => {
    const { yaml } = learnText(log);
    expect(activeAllow(yaml, "ci")).toEqual(["ContainerCreate", "SystemPing"]);
    expect(activeAllow(yaml, "web")).toEqual(["ContainerInspect", "ContainerList"]);
    expect(yaml.indexOf("  ci:")).toBeLessThan(yaml.indexOf("  web:"));
    const c = load(yaml, "listeners:\n  - { name: ci, unix: { path: /run/ci.sock }, profile: ci }\n  - { name: web, unix: { path: /run/web.sock }, profile: web }\n");
    expect([...c.profiles.keys()].sort()).toEqual(["ci", "web"]);
    expect([...c.profiles.get("web")!.allow].sort()).toEqual(["ContainerInspect", "ContainerList"]);
    // the privileged proposal belongs to ci only
    const web = yaml.slice(yaml.indexOf("  web:"));
    expect(web).not.toContain("allowPrivileged");
    expect(yaml.slice(0, yaml.indexOf("  web:"))).toContain("# allowPrivileged: true");
  });

  it("learns only the profile asked for", () => {
    const { yaml, learner } = learnText(log, { profile: "web" });
    expect([...learner.profiles.keys()]).toEqual(["web"]);
    expect(yaml).toContain("other profiles skipped: ci ×3");
    expect(yaml).not.toMatch(/^ {2}ci:/m);
  });

  it("quotes profile names YAML would read as something else", () => {
    const { yaml } = learnText(line({ op: "SystemPing", profile: "007" }));
    expect(yaml).toMatch(/^ {2}"007":$/m);
    const c = load(yaml, "listeners:\n  - { name: l, unix: { path: /run/l.sock }, profile: \"007\" }\n");
    expect([...c.profiles.get("007")!.allow]).toEqual(["SystemPing"]);
  });

  it("keeps the learner usable line by line", () => {
    const l = new Learner();
    l.addLine(line({ op: "SystemPing" }));
    l.addLine("noise");
    expect(l.profiles.get("app")!.requests).toBe(1);
    expect(l.ignored).toBe(1);
  });
});

describe("dockgate learn (command)", () => {
  function capture() {
    let out = "";
    let err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
    return { out: () => out, err: () => err };
  }
  const dir = mkdtempSync(join(tmpdir(), "dockgate-learn-"));
  const a = join(dir, "a.log");
  const b = join(dir, "b.log");
  writeFileSync(a, `${line({ op: "SystemPing" })}\nnoise\n${line({ op: "ContainerList", profile: "other" })}\n`);
  writeFileSync(b, `${line({ op: "ContainerList" })}\r\n`);

  it("merges several files", async () => {
    const io = capture();
    expect(await run([a, b])).toBe(0);
    expect(activeAllow(io.out())).toEqual(["ContainerList", "SystemPing"]);
    expect(activeAllow(io.out(), "other")).toEqual(["ContainerList"]);
    expect(io.out()).toContain(`# Learned by \`dockgate learn\` from ${a}, ${b}:`);
    expect(io.err()).toBe("");
  });

  it("--profile", async () => {
    const io = capture();
    expect(await run(["--profile", "other", a, b])).toBe(0);
    expect(io.out()).not.toMatch(/^ {2}app:/m);
    expect(await run(["--profile=ghost", a])).toBe(1);
    expect(io.err()).toContain("no request records of profile ghost (the log has app, other)");
  });

  it("errors", async () => {
    const io = capture();
    expect(await run([])).toBe(2);
    expect(await run(["--bogus", a])).toBe(2);
    expect(await run(["--profile"])).toBe(2);
    expect(await run(["-", "-"])).toBe(2);
    expect(await run([join(dir, "missing.log")])).toBe(1);
    expect(io.err()).toContain("missing.log: no such file");
    const empty = join(dir, "empty.log");
    writeFileSync(empty, "nothing here\n");
    expect(await run([empty])).toBe(1);
    expect(io.err()).toContain("no request records in");
    expect(await run(["--help"])).toBe(0);
    expect(io.out()).toContain("usage: dockgate learn");
  });
});
