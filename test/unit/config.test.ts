import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareVersions } from "../../src/api/engine.js";
import { ConfigError, loadConfig, normalizeCidr, parseConfigText } from "../../src/config/load.js";
import { DEFAULT_RULES } from "../../src/policy/rules.js";

const CONFIG_DIR = join(import.meta.dirname, "../../config");

/** Lines joined with "\n" so positions in the tests are easy to count. */
const y = (...lines: string[]) => lines.join("\n") + "\n";

const BASE_LISTENERS = y(
  "listeners:",
  "  - name: a",
  "    unix: { path: /run/a.sock }",
  "    profile: p",
);
const BASE_PROFILES = y(
  "profiles:",
  "  p:",
  "    allow: [ping]",
);

function parse(text: string) {
  return parseConfigText(text, "t.yaml", { checkFiles: false });
}

function problems(text: string, options = { checkFiles: false }): string[] {
  try {
    parseConfigText(text, "t.yaml", options);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("valid configs", () => {
  it("fills in defaults", () => {
    const c = parse(BASE_LISTENERS + BASE_PROFILES);
    expect(c.upstream).toBe("/var/run/docker.sock");
    expect(c.logLevel).toBe("info");
    expect(c.limits).toEqual({ maxHeaderBytes: 65536, maxBodyBytes: 1048576, headerTimeoutSeconds: 30 });
    expect(c.shutdownGraceSeconds).toBe(10);
    expect(c.listeners).toEqual([{ name: "a", listen: { kind: "unix", path: "/run/a.sock", mode: 0o660 }, profile: "p" }]);
    const p = c.profiles.get("p")!;
    expect([...p.allow].sort()).toEqual(["SystemPing", "SystemPingHead"]);
    expect(p.mode).toBe("enforce");
    expect(p.minApiVersion).toBe("1.24");
    expect(p.rules).toEqual(DEFAULT_RULES);
    expect(p.grants).toEqual({ allow: ["ping"], deny: [] });
    expect(c.source).toMatch(/\/t\.yaml$/);
    expect(c.warnings).toBeUndefined();
  });

  it("reads every section", () => {
    const c = parse(y(
      "upstream: unix:///var/run/other.sock",
      "log: { level: debug }",
      "limits: { maxHeaderBytes: 131072, maxBodyBytes: 2097152, headerTimeoutSeconds: 5 }",
      "shutdown: { graceSeconds: 0 }",
      "listeners:",
      "  - name: local",
      "    description: the CI runners",
      "    unix: { path: /run/dockgate/ci.sock, mode: 0640, owner: 0, group: \"999\" }",
      "    profile: ci",
      "  - name: net",
      "    tcp: { port: 2375, allow: [127.0.0.1, \"10.0.0.0/8\", \"::1\"] }",
      "    profile: ro",
      "profiles:",
      "  ci:",
      "    allow: [containers:read, containers:write, exec]",
      "    deny: [ContainerPrune, exec]",
      "    mode: audit",
      "    minApiVersion: 1.40",
      "  ro:",
      "    description: read only",
      "    allow: [ping]",
    ));
    expect(c.upstream).toBe("/var/run/other.sock");
    expect(c.logLevel).toBe("debug");
    expect(c.limits).toEqual({ maxHeaderBytes: 131072, maxBodyBytes: 2097152, headerTimeoutSeconds: 5 });
    expect(c.shutdownGraceSeconds).toBe(0);
    expect(c.listeners[0]).toEqual({
      name: "local",
      listen: { kind: "unix", path: "/run/dockgate/ci.sock", mode: 0o640, uid: 0, gid: 999 },
      profile: "ci",
    });
    expect(c.listeners[1]).toEqual({
      name: "net",
      listen: { kind: "tcp", host: "127.0.0.1", port: 2375, allow: ["127.0.0.1/32", "10.0.0.0/8", "::1/128"] },
      profile: "ro",
    });
    const ci = c.profiles.get("ci")!;
    expect(ci.mode).toBe("audit");
    expect(ci.minApiVersion).toBe("1.40"); // plain 1.40 is not the float 1.4
    expect(ci.allow.has("ContainerCreate")).toBe(true);
    expect(ci.allow.has("ContainerPrune")).toBe(false);
    expect(ci.allow.has("ContainerExec")).toBe(false);
    expect(c.profiles.get("ro")!.description).toBe("read only");
    expect(c.warnings).toEqual(["t.yaml:17:11: warning: profile \"ci\" is in audit mode: requests it would deny are allowed and logged"]);
  });

  it("accepts aliases", () => {
    const c = parse(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "profiles:",
      "  p:",
      "    allow: &basic [ping, events]",
      "  q:",
      "    allow: *basic",
    ));
    expect(c.profiles.get("q")!.allow.has("SystemEvents")).toBe(true);
    expect(c.warnings).toEqual(["t.yaml:8:3: warning: profile \"q\" is not used by any listener"]);
  });

  it("warns about grants and listeners that deserve a second look", () => {
    const c = parse(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock, mode: \"0666\" }",
      "    profile: p",
      "  - name: b",
      "    tcp: { host: 0.0.0.0, port: 2375, allow: [10.0.0.0/8] }",
      "    profile: p",
      "profiles:",
      "  p:",
      "    allow: [ping, buildkit]",
      "    rules: { buildNetworkHost: true }",
      "  q:",
      "    allow: []",
    ));
    expect(c.warnings).toEqual([
      't.yaml:3:38: warning: listener "a".unix.mode 0666 lets every local user connect',
      't.yaml:6:5: warning: listener "b".tcp listens on 0.0.0.0 without TLS: anyone in the allowed ranges who can reach it gets the profile',
      't.yaml:11:14: warning: profile "p" sets buildNetworkHost: BuildKit builds may ask for the network.host entitlement and run steps on the host\'s network',
      't.yaml:12:3: warning: profile "q" is not used by any listener',
      't.yaml:13:12: warning: profile "q" allows nothing: every request through it is denied',
    ]);
  });

  it("reads unix modes as octal however they are written", () => {
    for (const [mode, want] of [["0660", 0o660], ["\"0600\"", 0o600], ["660", 0o660], ["0o666", 0o666], ["\"0755\"", 0o755]] as const) {
      const c = parse(BASE_LISTENERS.replace("{ path: /run/a.sock }", `{ path: /run/a.sock, mode: ${mode} }`) + BASE_PROFILES);
      expect(c.listeners[0]!.listen).toMatchObject({ mode: want });
    }
  });

  it("reads a TLS listener and resolves its files next to the config", () => {
    const dir = mkdtempSync(join(tmpdir(), "dockgate-config-"));
    for (const f of ["cert.pem", "key.pem", "ca.pem"]) writeFileSync(join(dir, f), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const file = join(dir, "c.yaml");
    writeFileSync(file, y(
      "listeners:",
      "  - name: remote",
      "    tls: { host: 0.0.0.0, port: 2376, cert: cert.pem, key: key.pem, ca: ca.pem }",
      "    profile: p",
      "    identities: { \"CN=runner-1\": p, \"DNS:ci.example.com\": p, \"IP:10.0.0.1\": p }",
    ) + BASE_PROFILES);
    const c = loadConfig(file);
    expect(c.listeners[0]!.listen).toEqual({
      kind: "tls", host: "0.0.0.0", port: 2376,
      cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), ca: join(dir, "ca.pem"),
    });
    expect(c.listeners[0]!.identities).toEqual({ "CN=runner-1": "p", "DNS:ci.example.com": "p", "IP:10.0.0.1": "p" });
    expect(c.source).toBe(file);
  });
});

describe("errors carry file:line:col", () => {
  it("unknown top-level key, with a suggestion", () => {
    expect(problems(BASE_LISTENERS + BASE_PROFILES + "upstreem: /x.sock\n")).toEqual([
      't.yaml:8:1: unknown key "upstreem" in the config (did you mean "upstream"?)',
    ]);
  });

  it("unknown nested keys", () => {
    expect(problems(y(
      "log: { levle: info }",
      "limits:",
      "  maxHeaderByte: 1",
    ) + BASE_LISTENERS + BASE_PROFILES)).toEqual([
      't.yaml:1:8: unknown key "levle" in log (did you mean "level"?)',
      't.yaml:3:3: unknown key "maxHeaderByte" in limits (did you mean "maxHeaderBytes"?)',
    ]);
  });

  it("unknown listener and profile keys; the missing required key is reported too", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock, mod: \"0600\" }",
      "    profle: p",
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    minApiVersoin: \"1.40\"",
    ))).toEqual([
      't.yaml:2:5: listener "a" needs "profile"',
      't.yaml:3:32: unknown key "mod" in listener "a".unix (did you mean "mode"?)',
      't.yaml:4:5: unknown key "profle" in listener "a" (did you mean "profile"?)',
      't.yaml:8:5: unknown key "minApiVersoin" in profiles.p (did you mean "minApiVersion"?)',
    ]);
  });

  it("unknown operation ids and groups, with suggestions", () => {
    expect(problems(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow:",
      "      - ContainerCreat",
      "      - container:read",
      "      - containercreate",
      "      - everything",
      "    deny: [ExecCreate]",
    ))).toEqual([
      't.yaml:8:9: unknown operation or group "ContainerCreat" (did you mean "ContainerCreate"?)',
      't.yaml:9:9: unknown operation or group "container:read" (did you mean "containers:read"?)',
      't.yaml:10:9: unknown operation or group "containercreate" (did you mean "ContainerCreate"?)',
      't.yaml:11:9: unknown operation or group "everything"',
      't.yaml:12:12: unknown operation or group "ExecCreate" (did you mean "ContainerExec"?)',
    ]);
  });

  it("unix identities: uid, gid, user and group names resolved at load to the peer's numeric credentials", () => {
    const c = parseConfigText(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "    identities: { \"uid:01001\": p, \"gid:1002\": q, \"user:root\": q, \"group:root\": p }",
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "  q:",
      "    allow: [ping]",
    ), "t.yaml");
    expect(c.listeners[0]!.identities).toEqual({ "uid:1001": "p", "gid:1002": "q", "user:root": "q", "group:root": "p" });
    expect(c.listeners[0]!.credentials).toEqual({ "uid:1001": "uid:1001", "gid:1002": "gid:1002", "uid:0": "user:root", "gid:0": "group:root" });
  });

  it("unix identities: malformed keys, unknown names and one uid written twice are refused with their position", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "    identities:",
      "      \"CN=x\": p",
      "      \"uid:abc\": p",
      "      \"user:no-such-user-here\": p",
      "      \"uid:0\": p",
      "      \"user:root\": p",
      "profiles:",
      "  p:",
      "    allow: [ping]",
    ), { checkFiles: true })).toEqual([
      't.yaml:6:7: listener "a".identities: "CN=x" is not a peer identity: use "uid:<number>", "gid:<number>", "user:<name>" or "group:<name>"',
      't.yaml:7:7: listener "a".identities: "uid:abc": abc is not a valid uid',
      't.yaml:8:7: listener "a".identities: "user:no-such-user-here": no user named "no-such-user-here" in /etc/passwd',
      't.yaml:10:7: listener "a".identities: "user:root" is the same identity as "uid:0" (line 9)',
    ]);
  });

  it("tenants: read with defaults; need admin.unix and profiles with ownership", () => {
    const base = y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "  o:",
      "    allow: [ping]",
      "    ownership: true",
    );
    const c = parse(base + y("admin: { unix: { path: /run/admin.sock } }", "tenants:", "  directory: /run/t", "  profiles: [o]", "  socket: { mode: \"0600\" }"));
    expect(c.tenants).toEqual({ directory: "/run/t", profiles: ["o"], defaultProfile: undefined, mode: 0o600, max: 100, defaultTtlSeconds: undefined, onRestart: "restore" });
    expect(problems(base + y("admin: { tcp: { port: 9323 } }", "tenants:", "  directory: t", "  profiles: [p, nope]", "  defaultProfile: x", "  onRestart: later"))).toEqual([
      't.yaml:11:1: tenants needs admin.unix, not admin.tcp: a loopback port has no authentication, and creating a tenant hands out a socket',
      't.yaml:13:14: tenants.directory must be an absolute path, not "t"',
      't.yaml:14:14: tenants.profiles[0]: profile "p" has no ownership: a tenant\'s objects are found and removed by their owner label',
      't.yaml:14:17: tenants.profiles[1]: unknown profile "nope"',
      't.yaml:15:19: tenants.defaultProfile "x" is not in tenants.profiles',
      't.yaml:16:14: tenants.onRestart must be one of restore, clean, not "later"',
    ]);
    expect(problems(base + y("tenants:", "  directory: /run/t", "  profiles: [o]"))).toEqual([
      "t.yaml:11:1: tenants needs the admin endpoint on a unix socket (admin.unix): tenants are created through it",
    ]);
  });

  it("unknown profile references", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: cii",
      "  - name: b",
      "    tls: { port: 2376, cert: c.pem, key: k.pem, ca: ca.pem }",
      "    profile: p",
      "    identities: { \"CN=x\": nope }",
      "profiles:",
      "  ci:",
      "    allow: [ping]",
      "  p:",
      "    allow: [ping]",
    ))).toEqual([
      't.yaml:4:14: listener "a".profile: unknown profile "cii" (did you mean "ci"?)',
      't.yaml:8:27: listener "b".identities["CN=x"]: unknown profile "nope"',
    ]);
  });

  it("duplicate listener names and socket paths", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "  - name: a",
      "    unix: { path: /run/b.sock }",
      "    profile: p",
      "  - name: c",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "  - name: d",
      "    tcp: { host: 0.0.0.0, port: 2375, allow: [10.0.0.0/8] }",
      "    profile: p",
      "  - name: e",
      "    tcp: { port: 2375, allow: [10.0.0.0/8] }",
      "    profile: p",
    ) + BASE_PROFILES)).toEqual([
      't.yaml:5:11: duplicate listener name "a" (first at line 2)',
      't.yaml:9:11: listener "c" uses the same socket path /run/a.sock as listener "a" (line 3)',
      't.yaml:15:10: listener "e" uses the same port 2375 as listener "d" (line 12)',
    ]);
  });

  it("YAML syntax errors", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock",
      "    profile: p",
    ) + BASE_PROFILES)[0]).toMatch(/^t\.yaml:\d+:\d+: invalid YAML: /);
  });

  it("YAML errors with their own positions", () => {
    expect(problems("a: 1\n\tb: 2\n")).toEqual(["t.yaml:2:1: invalid YAML: Tabs are not allowed as indentation"]);
    expect(problems(BASE_LISTENERS + BASE_PROFILES + "---\nupstream: /x.sock\n")).toEqual([
      "t.yaml:8:1: a config is a single YAML document (remove the second `---`)",
    ]);
    expect(problems(BASE_LISTENERS + "profiles: *nope\n")).toEqual([
      "t.yaml:5:11: invalid YAML: alias *nope refers to no anchor &nope before it",
    ]);
  });

  it("duplicate YAML keys", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: p",
      "    profile: q",
    ) + BASE_PROFILES)).toEqual(["t.yaml:5:5: invalid YAML: Map keys must be unique"]);
  });

  it("an empty file", () => {
    expect(problems("")).toEqual(["t.yaml:1:1: the config is empty: it needs at least `listeners` and `profiles`"]);
    expect(problems("# nothing\n")).toEqual(["t.yaml:1:1: the config is empty: it needs at least `listeners` and `profiles`"]);
  });

  it("a top level that is not a map, and missing sections", () => {
    expect(problems("- a\n")).toEqual(["t.yaml:1:1: the config must be a map, not a list"]);
    expect(problems("upstream: /var/run/docker.sock\n")).toEqual([
      't.yaml:1:1: the config needs "listeners"',
      't.yaml:1:1: the config needs "profiles"',
    ]);
    expect(problems("listeners: []\nprofiles: {}\n")).toEqual([
      "t.yaml:1:12: listeners must define at least one listener",
      "t.yaml:2:11: profiles must define at least one profile",
    ]);
  });

  it("listener address: none, two, relative, the upstream itself", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    profile: p",
      "  - name: b",
      "    unix: { path: /run/b.sock }",
      "    tcp: { port: 1, allow: [127.0.0.1] }",
      "    profile: p",
      "  - name: c",
      "    unix: { path: /var/run/docker.sock }",
      "    profile: p",
    ) + BASE_PROFILES)).toEqual([
      't.yaml:2:5: listener "a" needs one of "unix", "tcp" or "tls"',
      't.yaml:6:5: listener "b" has both "unix" and "tcp": a listener listens on exactly one address',
      "t.yaml:9:19: listener \"c\".unix.path is the upstream socket /var/run/docker.sock: dockgate would replace the daemon's socket with itself",
    ]);
  });

  it("tcp needs an allowlist; tls needs its files; identities need an identity", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    tcp: { port: 2375 }",
      "    profile: p",
      "  - name: b",
      "    tcp: { port: 2376, allow: [10.0.0.0/33, example.com] }",
      "    profile: p",
      "    identities: { \"CN=x\": p }",
      "  - name: c",
      "    tls: { port: 70000, cert: c.pem }",
      "    profile: p",
      "    identities: { \"cn=x\": p, \"IP:nope\": p }",
    ) + BASE_PROFILES)).toEqual([
      't.yaml:3:5: listener "a".tcp (plain TCP has no client authentication, so a client address allowlist) needs "allow"',
      't.yaml:6:32: listener "b".tcp.allow[0] must be an IP address or CIDR like 10.0.0.0/8, not "10.0.0.0/33"',
      't.yaml:6:45: listener "b".tcp.allow[1] must be an IP address or CIDR like 10.0.0.0/8, not "example.com"',
      't.yaml:8:5: listener "b": identities need a tls listener (a plain TCP client has no identity)',
      't.yaml:10:5: listener "c".tls needs "key"',
      't.yaml:10:5: listener "c".tls (client certificates are required) needs "ca"',
      't.yaml:10:18: listener "c".tls.port must be between 1 and 65535, not 70000',
      't.yaml:12:19: listener "c".identities: "cn=x" is not a certificate identity: use "CN=<subject common name>" or a SAN as "DNS:<name>", "IP:<address>", "URI:<uri>", "email:<address>"',
      't.yaml:12:30: listener "c".identities: "IP:nope": nope is not an IP address',
    ]);
  });

  it("tls files must exist and be PEM", () => {
    const dir = mkdtempSync(join(tmpdir(), "dockgate-config-"));
    writeFileSync(join(dir, "cert.pem"), "not pem");
    const file = join(dir, "c.yaml");
    writeFileSync(file, y(
      "listeners:",
      "  - name: a",
      "    tls:",
      "      port: 2376",
      "      cert: cert.pem",
      "      key: missing.pem",
      "      ca: /",
      "    profile: p",
    ) + BASE_PROFILES);
    let message = "";
    try {
      loadConfig(file);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split("\n")).toEqual([
      `${file}:5:13: listener "a".tls.cert: ${join(dir, "cert.pem")} is not a PEM file (no "-----BEGIN" line)`,
      `${file}:6:12: listener "a".tls.key: cannot read ${join(dir, "missing.pem")}: no such file`,
      `${file}:7:11: listener "a".tls.ca: / is not a file`,
    ]);
  });

  it("user and group names must exist", () => {
    expect(problems(BASE_LISTENERS.replace("{ path: /run/a.sock }", "{ path: /run/a.sock, owner: no-such-user-x, group: no-such-group-x }") + BASE_PROFILES, { checkFiles: true })).toEqual([
      't.yaml:3:39: listener "a".unix.owner: no user named "no-such-user-x" in /etc/passwd',
      't.yaml:3:62: listener "a".unix.group: no group named "no-such-group-x" in /etc/group',
    ]);
  });

  it("profile values: mode, minApiVersion, allow shape", () => {
    expect(problems(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    mode: enforced",
      "    minApiVersion: \"1.12\"",
      "  q:",
      "    allow: ping",
      "    minApiVersion: v1.40",
      "  \"bad name\":",
      "    allow: []",
    ))).toEqual([
      't.yaml:8:11: profiles.p.mode must be one of enforce, audit, not "enforced" (did you mean "enforce"?)',
      "t.yaml:9:20: profiles.p.minApiVersion must be at least 1.24: older API versions have semantics dockgate does not inspect",
      't.yaml:11:12: profiles.q.allow must be a list, not the string "ping"',
      't.yaml:12:20: profiles.q.minApiVersion must be an API version like "1.24", not "v1.40"',
      't.yaml:13:3: profile name "bad name" must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$',
    ]);
  });

  it("top-level values", () => {
    expect(problems(y(
      "upstream: var/run/docker.sock",
      "log: { level: loud }",
      "limits: { maxHeaderBytes: \"64k\", maxBodyBytes: 10, headerTimeoutSeconds: 0 }",
      "shutdown: { graceSeconds: 1.5 }",
    ) + BASE_LISTENERS + BASE_PROFILES)).toEqual([
      't.yaml:1:11: upstream must be an absolute socket path (or unix:///path), not "var/run/docker.sock"',
      't.yaml:2:15: log.level must be one of trace, debug, info, warn, error, fatal, silent, not "loud"',
      't.yaml:3:27: limits.maxHeaderBytes must be an integer, not the string "64k"',
      "t.yaml:3:48: limits.maxBodyBytes must be between 1024 and 67108864, not 10",
      "t.yaml:3:74: limits.headerTimeoutSeconds must be between 1 and 3600, not 0",
      "t.yaml:4:27: shutdown.graceSeconds must be an integer, not the number 1.5",
    ]);
  });

  it("unix socket values", () => {
    expect(problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: run/a.sock, mode: \"0999\", group: true }",
      "    profile: p",
      "  - name: b",
      "    unix: { path: /run/b.sock, mode: 0o1777 }",
      "    profile: p",
    ) + BASE_PROFILES)).toEqual([
      't.yaml:3:19: listener "a".unix.path must be an absolute path, not "run/a.sock"',
      't.yaml:3:37: listener "a".unix.mode must be an octal file mode like "0660", not "0999"',
      't.yaml:3:52: listener "a".unix.group must be a group name or number, not true',
      't.yaml:6:38: listener "b".unix.mode must be an octal file mode like "0660", not "0o1777"',
    ]);
  });

  it("rule settings errors point into the rules map", () => {
    const lines = problems(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules:",
      "      no-such-rule-setting: 1",
    ));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^t\.yaml:9:7: unknown key "no-such-rule-setting" in profiles\.p\.rules/);
    expect(problems(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules:",
      "      allowPrivileged: yes",
      "      bindMounts:",
      "        allow:",
      "          - /srv/cache",
      "          - relative/path",
      "          - { path: /srv/data, readOnly: maybe }",
    ))).toEqual([
      't.yaml:9:24: profiles.p.rules.allowPrivileged must be true or false, not the string "yes" (write true or false, unquoted)',
      't.yaml:13:13: profiles.p.rules.bindMounts.allow[1] must be an absolute host path, not the string "relative/path"',
      't.yaml:14:42: profiles.p.rules.bindMounts.allow[2].readOnly must be true or false, not the string "maybe"',
    ]);
    const ok = parse(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules: { allowPrivileged: true, capAdd: [net_admin] }",
    ));
    expect(ok.profiles.get("p")!.rules).toMatchObject({ allowPrivileged: true, capAdd: ["CAP_NET_ADMIN"] });
    expect(problems(BASE_LISTENERS + y(
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules: [a]",
    ))).toEqual(["t.yaml:8:12: profiles.p.rules must be a map, not a list"]);
  });

  it("lists every problem, in file order", () => {
    const lines = problems(y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/a.sock }",
      "    profile: nope",
      "profiles:",
      "  p:",
      "    allow: [pnig]",
      "bogus: 1",
    ));
    expect(lines).toEqual([
      't.yaml:4:14: listener "a".profile: unknown profile "nope"',
      't.yaml:7:13: unknown operation or group "pnig" (did you mean "ping"?)',
      't.yaml:8:1: unknown key "bogus" in the config',
    ]);
  });

  it("an unreadable file", () => {
    expect(() => loadConfig("/nonexistent/dockgate.yaml")).toThrow("/nonexistent/dockgate.yaml: cannot read config: no such file");
  });
});

describe("shipped configs", () => {
  const files = readdirSync(CONFIG_DIR).filter((f) => f.endsWith(".yaml"));
  it("include the documented ones", () => {
    expect(files).toEqual(expect.arrayContaining(["read-only.yaml", "ci.yaml", "traefik.yaml", "watchtower.yaml", "dashboard.yaml", "portainer.yaml"]));
  });
  for (const f of files) {
    it(`${f} loads without warnings, one unix listener under /run/dockgate`, () => {
      const c = loadConfig(join(CONFIG_DIR, f));
      // audit.yaml is the start of the learning workflow: its one warning says it does not protect.
      const warnings = (c.warnings ?? []).filter((w) => !(f === "audit.yaml" && w.includes("is in audit mode")));
      expect(warnings).toEqual([]);
      expect(c.listeners).toHaveLength(1);
      expect(c.listeners[0]!.listen).toMatchObject({ kind: "unix", path: expect.stringMatching(/^\/run\/dockgate\//) });
    });
  }
  it("read-only grants nothing that changes state", () => {
    const p = [...loadConfig(join(CONFIG_DIR, "read-only.yaml")).profiles.values()][0]!;
    for (const op of p.allow) expect(op).toMatch(/List|Inspect|Logs|Top|Changes|Stats|History|Attestations|Search|Ping|Info|Version|Events|DataUsage/);
    expect(p.allow.has("ContainerArchive")).toBe(false);
    expect(p.allow.has("ContainerExport")).toBe(false);
  });
  it("ci grants inspected BuildKit (/session, /grpc), not swarm, plugins or secrets", () => {
    for (const file of ["ci.yaml", "ci-tenant.yaml"]) {
      const c = loadConfig(join(CONFIG_DIR, file));
      expect(c.warnings ?? [], file).toEqual([]);
      const p = [...c.profiles.values()][0]!;
      expect(p.allow.has("Session"), file).toBe(true);
      expect(p.allow.has("Grpc"), file).toBe(true);
      expect(p.allow.has("ImageBuild"), file).toBe(true);
      expect(p.rules.buildkit, file).toBe(true);
    }
    const p = [...loadConfig(join(CONFIG_DIR, "ci.yaml")).profiles.values()][0]!;
    for (const op of ["SwarmInit", "PluginPull", "SecretCreate", "ServiceCreate"]) expect(p.allow.has(op)).toBe(false);
    for (const op of ["ContainerCreate", "ContainerExec", "ExecStart", "ContainerAttach", "ContainerArchive", "PutContainerArchive", "ImageBuild", "ImageCreate", "ImageGet", "ImageLoad", "ImageCommit", "ContainerExport", "NetworkCreate", "VolumeCreate", "SystemDataUsage"]) {
      expect(p.allow.has(op)).toBe(true);
    }
  });
});

describe("helpers", () => {
  it("compares versions like the daemon", () => {
    expect(compareVersions("1.24", "1.24")).toBe(0);
    expect(compareVersions("1.9", "1.24")).toBe(-1);
    expect(compareVersions("1.24.1", "1.24")).toBe(1);
    expect(compareVersions("2", "1.99")).toBe(1);
    expect(compareVersions("1.x", "1.0")).toBe(0);
  });
  it("normalizes CIDRs", () => {
    expect(normalizeCidr("10.1.2.3")).toBe("10.1.2.3/32");
    expect(normalizeCidr("fd00::/8")).toBe("fd00::/8");
    expect(normalizeCidr("10.0.0.0/08")).toBe("10.0.0.0/8");
    expect(normalizeCidr("10.0.0.0/")).toBeUndefined();
    expect(normalizeCidr("::1/129")).toBeUndefined();
  });
});
