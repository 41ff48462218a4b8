// Profile keys ownership / mutate / redact / limits and the top-level admin endpoint: parsed
// values, and every problem reported at its file:line:col with a did-you-mean where one is close.

import { describe, expect, it } from "vitest";
import { parseSize } from "../../src/api/engine.js";
import { ConfigError, parseConfigText } from "../../src/config/load.js";

const y = (...lines: string[]) => lines.join("\n") + "\n";

const LISTENERS = y(
  "listeners:",
  "  - name: a",
  "    unix: { path: /run/a.sock }",
  "    profile: p",
);

/** A config whose profile `p` has the given extra lines (indented by 4), starting on line 8. */
const profile = (...lines: string[]) => LISTENERS + y("profiles:", "  p:", "    allow: [ping]", ...lines.map((l) => `    ${l}`));

function parse(text: string) {
  return parseConfigText(text, "t.yaml", { checkFiles: false });
}

function problems(text: string): string[] {
  try {
    parseConfigText(text, "t.yaml", { checkFiles: false });
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults", () => {
  it("a profile without the new keys has none of them; no admin endpoint", () => {
    const c = parse(profile());
    const p = c.profiles.get("p")!;
    expect(p.ownership).toBeUndefined();
    expect(p.mutate).toBeUndefined();
    expect(p.redact).toBeUndefined();
    expect(p.limits).toBeUndefined();
    expect(c.admin).toBeUndefined();
  });
});

describe("ownership", () => {
  it("true is the default label, false is off, a map may name the label", () => {
    expect(parse(profile("ownership: true")).profiles.get("p")!.ownership).toEqual({ label: "dockgate.owner" });
    expect(parse(profile("ownership: false")).profiles.get("p")!.ownership).toBeUndefined();
    expect(parse(profile("ownership: {}")).profiles.get("p")!.ownership).toEqual({ label: "dockgate.owner" });
    expect(parse(profile("ownership: { label: example.com/tenant }")).profiles.get("p")!.ownership).toEqual({ label: "example.com/tenant" });
  });

  it("rejects other values, unknown keys, unusable and reserved label keys", () => {
    expect(problems(profile("ownership: yes"))).toEqual([
      't.yaml:8:16: profiles.p.ownership must be true, false or a map like { label: dockgate.owner }, not the string "yes"',
    ]);
    expect(problems(profile("ownership:"))).toEqual([
      "t.yaml:8:5: profiles.p.ownership must be true, false or a map like { label: dockgate.owner }, not nothing",
    ]);
    expect(problems(profile("ownership: { lable: x }"))).toEqual([
      't.yaml:8:18: unknown key "lable" in profiles.p.ownership (did you mean "label"?)',
    ]);
    expect(problems(profile('ownership: { label: "a=b" }'))[0]).toMatch(/^t\.yaml:8:25: profiles\.p\.ownership\.label: "a=b" is not a usable label key/);
    expect(problems(profile("ownership: { label: com.docker.compose.project }"))[0]).toMatch(
      /^t\.yaml:8:25: profiles\.p\.ownership\.label: "com\.docker\.compose\.project" is in a namespace reserved/,
    );
  });

  it("warns about ownership in audit mode", () => {
    const c = parse(profile("mode: audit", "ownership: true"));
    expect(c.warnings).toEqual([
      't.yaml:8:11: warning: profile "p" is in audit mode: requests it would deny are allowed and logged',
      't.yaml:9:5: warning: profile "p" has ownership in audit mode: other clients\' objects stay reachable (each access is logged)',
    ]);
  });
});

describe("mutate", () => {
  it("reads every key; sizes are binary units; cpus become NanoCpus", () => {
    const c = parse(profile(
      "ownership: true",
      "mutate:",
      "  labels: { team: ci, tier: \"2\" }",
      "  noNewPrivileges: true",
      "  dropAllCapabilities: true",
      "  memory: { default: 512m, max: 2g }",
      "  cpus: { default: 1, max: 1.5 }",
      "  pids: { max: 4096 }",
      '  user: "65534:65534"',
      "  readOnlyRootfs: true",
      "  network: ci-net",
    ));
    expect(c.profiles.get("p")!.mutate).toEqual({
      labels: { team: "ci", tier: "2" },
      noNewPrivileges: true,
      dropAllCapabilities: true,
      memory: { default: 512 * 1048576, max: 2 * 1073741824 },
      nanoCpus: { default: 1e9, max: 1.5e9 },
      pids: { max: 4096 },
      user: "65534:65534",
      readOnlyRootfs: true,
      network: "ci-net",
    });
    // A forced user would be undone by exec as root: the profile's exec-as-root goes with it.
    expect(c.profiles.get("p")!.rules.execRoot).toBe(false);
  });

  it("an empty mutate map changes nothing; nanoCpus and byte counts are accepted as integers", () => {
    expect(parse(profile("mutate: {}")).profiles.get("p")!.mutate).toEqual({
      labels: {},
      noNewPrivileges: false,
      dropAllCapabilities: false,
      memory: undefined,
      nanoCpus: undefined,
      pids: undefined,
      user: undefined,
      readOnlyRootfs: false,
      network: undefined,
    });
    const m = parse(profile("mutate: { nanoCpus: { max: 250000000 }, memory: { max: 67108864 } }")).profiles.get("p")!.mutate!;
    expect(m.nanoCpus).toEqual({ max: 250000000 });
    expect(m.memory).toEqual({ max: 67108864 });
  });

  it("parseSize reads sizes as docker run -m does", () => {
    expect(parseSize("512m")).toBe(536870912);
    expect(parseSize("2g")).toBe(2147483648);
    expect(parseSize("1.5GiB")).toBe(1610612736);
    expect(parseSize("64MB")).toBe(67108864);
    expect(parseSize("100")).toBe(100);
    expect(parseSize("100b")).toBe(100);
    expect(parseSize("1x")).toBeUndefined();
    expect(parseSize("-1m")).toBeUndefined();
    expect(parseSize("m")).toBeUndefined();
  });

  it("reports each bad value at its position", () => {
    expect(problems(profile(
      "mutate:",
      "  memroy: { max: 1g }",
      "  memory: { default: 4g, max: 2g }",
      "  cpus: { max: 0.001 }",
      "  pids: { default: 0 }",
      "  noNewPrivileges: \"yes\"",
      "  user: root",
      "  network: host",
      "  labels: { a: 1 }",
    ))).toEqual([
      't.yaml:9:7: unknown key "memroy" in profiles.p.mutate (did you mean "memory"?)',
      "t.yaml:10:26: profiles.p.mutate.memory.default is above profiles.p.mutate.memory.max",
      "t.yaml:11:20: profiles.p.mutate.cpus.max must be at least 0.01, not 0.001",
      "t.yaml:12:24: profiles.p.mutate.pids.default must be between 1 and 4194304, not 0",
      't.yaml:13:24: profiles.p.mutate.noNewPrivileges must be true or false, not the string "yes" (write true or false, unquoted)',
      't.yaml:14:13: profiles.p.mutate.user "root" is root: forcing root is not hardening (try "65534:65534")',
      't.yaml:15:16: profiles.p.mutate.network "host" shares another namespace: use "none", "bridge" or the name of a network',
      't.yaml:16:20: profiles.p.mutate.labels["a"] must be a string, not the number 1 (quote it: "...")',
    ]);
  });

  it("sizes, cpus and bounds", () => {
    expect(problems(profile("mutate: { memory: { max: 1k } }"))).toEqual([
      "t.yaml:8:30: profiles.p.mutate.memory.max 1k is below the daemon's minimum of 6m",
    ]);
    expect(problems(profile("mutate: { memory: { max: lots } }"))).toEqual([
      't.yaml:8:30: profiles.p.mutate.memory.max must be a size like "512m", "2g" or a number of bytes, not the string "lots"',
    ]);
    expect(problems(profile("mutate: { cpus: { max: 1.0000000001 } }"))).toEqual([
      "t.yaml:8:28: profiles.p.mutate.cpus.max must be a number of CPUs like 1.5 (at most 9 decimals), not the number 1.0000000001",
    ]);
    expect(problems(profile("mutate: { cpus: { max: 1 }, nanoCpus: { max: 1 } }"))).toEqual([
      't.yaml:8:33: profiles.p.mutate has both "cpus" and "nanoCpus": use one (cpus: 1.5 is nanoCpus: 1500000000)',
      "t.yaml:8:50: profiles.p.mutate.nanoCpus.max must be between 10000000 and 9007199254740991, not 1",
    ]);
    expect(problems(profile("mutate: { pids: {} }"))).toEqual([
      't.yaml:8:21: profiles.p.mutate.pids needs "default", "max" or both',
    ]);
    expect(problems(profile("mutate: { pids: { maxx: 3 } }"))).toEqual([
      't.yaml:8:23: unknown key "maxx" in profiles.p.mutate.pids (did you mean "max"?)',
    ]);
    expect(problems(profile('mutate: { user: "a b" }'))).toEqual([
      't.yaml:8:21: profiles.p.mutate.user must be "user", "uid" or "uid:gid" (names or numbers), not "a b"',
    ]);
    expect(problems(profile('mutate: { user: "0:0" }'))[0]).toMatch(/is root/);
  });

  it("mutate.labels may not set the ownership label", () => {
    expect(problems(profile("ownership: true", "mutate: { labels: { dockgate.owner: x } }"))).toEqual([
      't.yaml:9:25: profiles.p.mutate.labels: "dockgate.owner" is the ownership label; dockgate sets it to the client\'s owner name',
    ]);
  });
});

describe("redact", () => {
  it("reads containerEnv all or a list, and field lists", () => {
    expect(parse(profile("redact: { containerEnv: all, info: [Name, RegistryConfig], systemDf: [Volumes] }")).profiles.get("p")!.redact).toEqual({
      containerEnv: "all",
      info: ["Name", "RegistryConfig"],
      systemDf: ["Volumes"],
    });
    expect(parse(profile("redact: { containerEnv: [PATH, HOME] }")).profiles.get("p")!.redact).toEqual({
      containerEnv: ["PATH", "HOME"],
      info: [],
      systemDf: [],
    });
  });

  it("near misses of known fields are errors; unknown fields are warnings", () => {
    expect(problems(profile("redact: { containerEnv: al, info: [name], systemDf: [Volume] }"))).toEqual([
      't.yaml:8:29: profiles.p.redact.containerEnv must be "all" or a list of variable names whose values stay visible, not "al" (did you mean "all"?)',
      't.yaml:8:40: profiles.p.redact.info[0]: "name" is not a field of GET /info (did you mean "Name"?); field names are case-sensitive',
      't.yaml:8:58: profiles.p.redact.systemDf[0]: "Volume" is not a field of GET /system/df (did you mean "Volumes"?); field names are case-sensitive',
    ]);
    const c = parse(profile("redact: { info: [SomeFutureThing] }"));
    expect(c.profiles.get("p")!.redact!.info).toEqual(["SomeFutureThing"]);
    expect(c.warnings).toEqual([
      't.yaml:8:22: warning: profiles.p.redact.info[0]: "SomeFutureThing" is not a field of GET /info that dockgate knows; it is redacted if a newer daemon sends it',
    ]);
    expect(problems(profile("redact: { containerEnv: [A=b] }"))).toEqual([
      't.yaml:8:30: profiles.p.redact.containerEnv[0]: "A=b" is not a variable name (no "=")',
    ]);
    expect(problems(profile("redact: { containerEnv: 3 }"))).toEqual([
      't.yaml:8:29: profiles.p.redact.containerEnv must be "all" or a list of variable names whose values stay visible, not the number 3',
    ]);
  });
});

describe("limits", () => {
  it("reads every key", () => {
    expect(parse(profile(
      "ownership: true",
      "limits: { requestsPerSecond: 2.5, burst: 10, maxConnections: 8, maxStreams: 4, maxContainers: 20 }",
    )).profiles.get("p")!.limits).toEqual({ requestsPerSecond: 2.5, burst: 10, maxConnections: 8, maxStreams: 4, maxContainers: 20 });
    expect(parse(profile("limits: { maxConnections: 1 }")).profiles.get("p")!.limits).toEqual({
      requestsPerSecond: undefined,
      burst: undefined,
      maxConnections: 1,
      maxStreams: undefined,
      maxContainers: undefined,
    });
  });

  it("maxContainers needs ownership; burst needs a rate; ranges", () => {
    expect(problems(profile("limits: { maxContainers: 3 }"))).toEqual([
      't.yaml:8:15: profiles.p.limits.maxContainers needs ownership (add "ownership: true" to the profile): containers are counted by their owner label',
    ]);
    expect(problems(profile("ownership: false", "limits: { maxContainers: 3 }"))).toEqual([
      "t.yaml:9:15: profiles.p.limits.maxContainers needs ownership, which is off for this profile: containers are counted by their owner label",
    ]);
    expect(problems(profile("limits: { burst: 3 }"))).toEqual([
      "t.yaml:8:15: profiles.p.limits.burst needs profiles.p.limits.requestsPerSecond (it is the bucket above the sustained rate)",
    ]);
    expect(problems(profile("limits: { requestsPerSecond: 0, maxConnections: 0, maxStream: 1 }"))).toEqual([
      "t.yaml:8:34: profiles.p.limits.requestsPerSecond must be between 0.001 and 1000000, not 0",
      "t.yaml:8:53: profiles.p.limits.maxConnections must be between 1 and 1000000, not 0",
      't.yaml:8:56: unknown key "maxStream" in profiles.p.limits (did you mean "maxStreams"?)',
    ]);
  });
});

describe("admin", () => {
  it("unix (mode defaults to 0660) or loopback tcp", () => {
    expect(parse(profile() + "admin: { unix: { path: /run/dg-admin.sock } }\n").admin).toEqual({ kind: "unix", path: "/run/dg-admin.sock", mode: 0o660 });
    expect(parse(profile() + 'admin: { unix: { path: /run/dg-admin.sock, mode: "0600" } }\n').admin).toEqual({ kind: "unix", path: "/run/dg-admin.sock", mode: 0o600 });
    expect(parse(profile() + "admin: { tcp: { port: 9323 } }\n").admin).toEqual({ kind: "tcp", host: "127.0.0.1", port: 9323 });
    expect(parse(profile() + 'admin: { tcp: { host: "::1", port: 9323 } }\n').admin).toEqual({ kind: "tcp", host: "::1", port: 9323 });
    expect(parse(profile() + "admin: { tcp: { host: localhost, port: 9323 } }\n").admin).toEqual({ kind: "tcp", host: "localhost", port: 9323 });
  });

  it("tcp must be loopback; one address; no clash with listeners or the upstream", () => {
    const base = profile();
    const line = base.split("\n").length; // the admin line's number
    expect(problems(base + "admin: { tcp: { host: 0.0.0.0, port: 9323 } }\n")).toEqual([
      `t.yaml:${line}:23: admin.tcp.host must be a loopback address (127.0.0.1, ::1 or localhost), not "0.0.0.0": /metrics and /healthz have no authentication; use admin.unix for anything else`,
    ]);
    expect(problems(base + "admin: { tcp: { host: 10.1.2.3, port: 9323 } }\n")[0]).toMatch(/must be a loopback address/);
    expect(problems(base + "admin: { unix: { path: /a.sock }, tcp: { port: 1 } }\n")).toEqual([
      `t.yaml:${line}:35: admin has both "unix" and "tcp": the admin endpoint listens on exactly one address`,
    ]);
    expect(problems(base + "admin: {}\n")).toEqual([`t.yaml:${line}:8: admin needs one of "unix" or "tcp"`]);
    expect(problems(base + "admin: { unix: { path: /run/a.sock } }\n")).toEqual([
      `t.yaml:${line}:24: admin.unix.path is the socket of listener "a"`,
    ]);
    expect(problems(base + "admin: { unix: { path: /var/run/docker.sock } }\n")).toEqual([
      `t.yaml:${line}:24: admin.unix.path is the upstream socket /var/run/docker.sock`,
    ]);
    expect(problems(base + "admin: { unix: { path: rel.sock } }\n")).toEqual([
      `t.yaml:${line}:24: admin.unix.path must be an absolute path, not "rel.sock"`,
    ]);
    expect(problems(base + "admin: { tpc: { port: 1 } }\n")).toEqual([
      `t.yaml:${line}:10: unknown key "tpc" in admin (did you mean "tcp"?)`,
    ]);
    expect(problems(base + 'admin: { unix: { path: /a.sock, mode: "0999" } }\n')).toEqual([
      `t.yaml:${line}:39: admin.unix.mode must be an octal file mode like "0660", not "0999"`,
    ]);
  });

  it("tcp admin may not take a tcp listener's port", () => {
    const text = y(
      "listeners:",
      "  - name: a",
      "    tcp: { port: 2375, allow: [127.0.0.1] }",
      "    profile: p",
      "profiles:",
      "  p: { allow: [ping] }",
      "admin: { tcp: { port: 2375 } }",
    );
    expect(problems(text)).toEqual(['t.yaml:7:23: admin.tcp.port 2375 is the port of listener "a"']);
  });
});

describe("sockets a profile's bind mounts would expose", () => {
  /** Listeners a and b (sockets /run/dockgate/a.sock, b.sock) on profile p, whose bindMounts.allow is `allow` (line 12 on). */
  const tenants = (...allow: string[]) =>
    y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/dockgate/a.sock }",
      "    profile: p",
      "  - name: b",
      "    unix: { path: /run/dockgate/b.sock }",
      "    profile: p",
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules:",
      "      bindMounts:",
      "        allow:",
      ...allow.map((a) => `          - ${a}`),
    );

  it("{ ownSocket: true } is accepted: each listener's clients get their own socket only", () => {
    const c = parse(tenants("{ ownSocket: true }", "/srv/cache"));
    expect(c.profiles.get("p")!.rules.bindMounts).toEqual({ allow: [{ path: "/srv/cache", readOnly: true }], ownSocket: true });
  });

  it("refuses a literal socket path another listener's clients could bind, at the entry, naming both listeners", () => {
    expect(problems(tenants("{ path: /run/dockgate/a.sock, readOnly: false }"))).toEqual([
      't.yaml:14:13: profiles.p.rules.bindMounts.allow: /run/dockgate/a.sock lets clients of listener "b" bind-mount listener "a"\'s socket /run/dockgate/a.sock and talk through it as its clients do; use { ownSocket: true } to let each client mount the socket it connected through',
    ]);
  });

  it("refuses a read-only directory above another listener's socket (a socket connects through a read-only mount)", () => {
    const out = problems(tenants("/srv/cache", "/run/dockgate"));
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(
      't.yaml:15:13: profiles.p.rules.bindMounts.allow: /run/dockgate lets clients of listener "a" bind-mount listener "b"\'s socket /run/dockgate/b.sock (below the read-only entry /run/dockgate) and talk through it as its clients do; use { ownSocket: true } to let each client mount the socket it connected through',
    );
    expect(out[1]).toContain('lets clients of listener "b" bind-mount listener "a"\'s socket /run/dockgate/a.sock');
  });

  it("one listener may list its own socket literally; a profile of another listener may not", () => {
    const text = y(
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/dockgate/a.sock }",
      "    profile: pa",
      "  - name: b",
      "    unix: { path: /run/dockgate/b.sock }",
      "    profile: pb",
      "profiles:",
      "  pa:",
      "    allow: [ping]",
      "    rules: { bindMounts: { allow: [{ path: /run/dockgate/a.sock, readOnly: false }] } }",
      "  pb:",
      "    allow: [ping]",
      "    rules: { bindMounts: { allow: [/run/dockgate/a.sock] } }",
    );
    expect(problems(text)).toEqual([
      't.yaml:14:36: profiles.pb.rules.bindMounts.allow: /run/dockgate/a.sock lets clients of listener "b" bind-mount listener "a"\'s socket /run/dockgate/a.sock and talk through it as its clients do; use { ownSocket: true } to let each client mount the socket it connected through',
    ]);
  });

  it("refuses an entry that exposes a per-job tenant socket, to listeners and to tenants alike", () => {
    const withTenants = (allow: string) =>
      y(
        "admin: { unix: { path: /run/dockgate/admin.sock } }",
        "tenants: { directory: /run/dockgate/tenants, profiles: [o] }",
        "listeners:",
        "  - name: a",
        "    unix: { path: /run/dockgate/a.sock }",
        "    profile: o",
        "profiles:",
        "  o:",
        "    allow: [ping]",
        "    ownership: true",
        `    rules: { bindMounts: { allow: [${allow}] } }`,
      );
    expect(parse(withTenants("{ ownSocket: true }")).tenants?.directory).toBe("/run/dockgate/tenants");
    const inside = problems(withTenants("/run/dockgate/tenants/job-1.sock"));
    expect(inside.length).toBeGreaterThan(0);
    for (const p of inside) expect(p).toContain("bind-mount the per-job tenant sockets in /run/dockgate/tenants");
    expect(inside.some((p) => p.includes("clients of per-job tenant sockets"))).toBe(true);
    expect(inside.some((p) => p.includes('clients of listener "a"'))).toBe(true);
    const above = problems(withTenants("/run"));
    expect(above.some((p) => p.includes("bind-mount the per-job tenant sockets in /run/dockgate/tenants (below the read-only entry /run)"))).toBe(true);
  });

  it("refuses the admin socket and a non-default upstream socket for any listener", () => {
    const text = y(
      "upstream: /srv/docker/docker.sock",
      "admin: { unix: { path: /run/dockgate/admin.sock } }",
      "listeners:",
      "  - name: a",
      "    unix: { path: /run/dockgate/a.sock }",
      "    profile: p",
      "profiles:",
      "  p:",
      "    allow: [ping]",
      "    rules: { bindMounts: { allow: [/run/dockgate/admin.sock, /srv/docker] } }",
    );
    const out = problems(text);
    expect(out).toEqual([
      expect.stringMatching(/^t\.yaml:10:36: .*\/run\/dockgate\/admin\.sock lets clients of listener "a" bind-mount the admin socket \/run\/dockgate\/admin\.sock .*remove the entry$/),
      expect.stringMatching(/^t\.yaml:10:62: .*\/srv\/docker lets clients of listener "a" bind-mount the upstream \(daemon\) socket \/srv\/docker\/docker\.sock \(below the read-only entry \/srv\/docker\).*remove the entry$/),
    ]);
  });
});
