// Hardening and redaction against the real daemon: a gate built here runs the create inspection,
// hardenContainerCreate / hardenContainerUpdate on the bodies and redact* on the responses, the way
// the engine wires them. What counts is what the daemon did: containers are inspected directly on
// the daemon, and the kernel's view from inside the container (/proc/self/status).

import http from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { HardeningConfig, RedactConfig } from "../../src/config/types.js";
import { violationDenial } from "../../src/policy/engine.js";
import { GoJsonError, parseGoJson, toJson, type GoValue } from "../../src/policy/gojson.js";
import { HostNetwork } from "../../src/policy/host-network.js";
import { type InspectContext, inspectionFor } from "../../src/policy/inspect/index.js";
import { hardenContainerCreate, hardenContainerUpdate } from "../../src/policy/mutate.js";
import { redactContainerInspect, redactInfo, redactSystemDf } from "../../src/policy/redact.js";
import { DEFAULT_RULES } from "../../src/policy/rules.js";
import type { BodyResult, Gate, RequestView, Verdict } from "../../src/policy/verdict.js";
import { docker } from "../harness/docker.js";
import { startProxyWithGate, type TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dg-harden-${process.pid}`;
const net = `${tag}-net`;
const MiB = 1024 * 1024;

const HARDENING: HardeningConfig = {
  labels: { [tag]: "yes", "dockgate.test.team": "ci" },
  noNewPrivileges: true,
  dropAllCapabilities: true,
  memory: { default: 64 * MiB, max: 256 * MiB },
  nanoCpus: { default: 5e8, max: 1e9 },
  pids: { default: 64, max: 128 },
  user: "65534:65534",
  readOnlyRootfs: true,
  network: net,
};

const REDACT: RedactConfig = { containerEnv: ["KEEP", "PATH"], info: ["Name", "RegistryConfig"], systemDf: ["Volumes"] };

/** The inspections' context: the host network's id known (the test daemon's is not named here). */
const NO_HOST_IDS: InspectContext = { hostNetwork: new HostNetwork([]) };

/** Every body the gate forwarded, for failure messages. */
const forwarded: string[] = [];

function parseBody(buf: Buffer): GoValue | undefined {
  return buf.toString().trim() === "" ? undefined : parseGoJson(buf);
}

function badJson(op: string, err: unknown): BodyResult {
  const msg = err instanceof GoJsonError ? err.message : String(err);
  return { ok: false, denial: { status: 400, message: `dockgate: ${op} denied for profile test: ${msg} (rule body.json)`, rule: "body.json" } };
}

const gate: Gate = {
  decide(req: RequestView): Verdict {
    switch (req.operation) {
      case "ContainerCreate":
        return {
          kind: "inspect",
          check: {
            maxBytes: 1 << 20,
            inspect(buf): BodyResult {
              let value: GoValue | undefined;
              try {
                value = parseBody(buf);
              } catch (err) {
                return badJson(req.operation, err);
              }
              const v = inspectionFor("ContainerCreate")!.body!(value, req, DEFAULT_RULES, NO_HOST_IDS);
              if (v) return { ok: false, denial: violationDenial(req.operation, "test", v) };
              const r = hardenContainerCreate(value, HARDENING, DEFAULT_RULES);
              if (!r.ok) return { ok: false, denial: violationDenial(req.operation, "test", r.violation) };
              const text = toJson(r.body);
              forwarded.push(text);
              return { ok: true, body: Buffer.from(text) };
            },
          },
        };
      case "ContainerUpdate":
        return {
          kind: "inspect",
          check: {
            maxBytes: 1 << 20,
            inspect(buf): BodyResult {
              let value: GoValue | undefined;
              try {
                value = parseBody(buf);
              } catch (err) {
                return badJson(req.operation, err);
              }
              const v = inspectionFor("ContainerUpdate")!.body!(value, req, DEFAULT_RULES, NO_HOST_IDS) ?? hardenContainerUpdate(value, HARDENING);
              return v ? { ok: false, denial: violationDenial(req.operation, "test", v) } : { ok: true };
            },
          },
        };
      case "ContainerInspect":
        return { kind: "allow", rewrite: { response: { maxBytes: 4 << 20, transform: (b) => redactContainerInspect(b, REDACT) } } };
      case "SystemInfo":
        return { kind: "allow", rewrite: { response: { maxBytes: 4 << 20, transform: (b) => redactInfo(b, REDACT.info) } } };
      case "SystemDataUsage":
        return { kind: "allow", rewrite: { response: { maxBytes: 4 << 20, transform: (b) => redactSystemDf(b, REDACT.systemDf) } } };
      default:
        return { kind: "allow" };
    }
  },
};

interface Reply {
  status: number;
  body: string;
}

function api(socket: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(
      {
        socketPath: socket,
        method,
        path,
        headers: { host: "docker", ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

interface Inspect {
  Config: { User: string; Labels: Record<string, string> | null; Env: string[] | null };
  HostConfig: {
    SecurityOpt: string[] | null;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    PidsLimit: number | null;
    ReadonlyRootfs: boolean;
    NetworkMode: string;
    Privileged: boolean;
  };
  NetworkSettings: { Networks: Record<string, unknown> };
}

/** `docker inspect` straight on the daemon: what was really created. */
async function inspectDirect(name: string): Promise<Inspect> {
  const r = await api(daemon, "GET", `/v1.41/containers/${encodeURIComponent(name)}/json`);
  if (r.status !== 200) throw new Error(`inspect ${name}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as Inspect;
}

async function exists(name: string): Promise<boolean> {
  return (await api(daemon, "GET", `/v1.41/containers/${encodeURIComponent(name)}/json`)).status === 200;
}

const last = () => forwarded.at(-1) ?? "(nothing forwarded)";

let proxy: TestProxy;

beforeAll(async () => {
  const n = await docker(daemon, ["network", "create", net]);
  if (n.code !== 0) throw new Error(n.stderr);
  proxy = await startProxyWithGate(daemon, gate);
});

afterAll(async () => {
  await proxy?.stop();
  const ids = (await docker(daemon, ["ps", "-aq", "--filter", `name=${tag}`])).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await docker(daemon, ["rm", "-f", ...ids]);
  await docker(daemon, ["network", "rm", net]);
});

describe("hardening through the proxy, checked on the daemon and in the kernel", () => {
  it("docker run yields a hardened container: no-new-privileges, no capabilities, limits, read-only, non-root, labels, network", async () => {
    const name = `${tag}-run`;
    const r = await docker(proxy.socket, ["run", "--name", name, image, "cat", "/proc/self/status"]);
    expect(r.code, `${r.stderr}\nforwarded: ${last()}`).toBe(0);
    // The kernel's view from inside the container.
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);

    const c = await inspectDirect(name);
    expect(c.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(c.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(c.HostConfig.Memory).toBe(64 * MiB);
    expect(c.HostConfig.NanoCpus).toBe(5e8);
    expect(c.HostConfig.PidsLimit).toBe(64);
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    expect(c.HostConfig.NetworkMode).toBe(net);
    expect(Object.keys(c.NetworkSettings.Networks)).toEqual([net]);
    expect(c.Config.User).toBe("65534:65534");
    expect(c.Config.Labels).toMatchObject({ [tag]: "yes", "dockgate.test.team": "ci" });
  });

  it("the client's own choices within the limits are kept (cap-add filtered, user root replaced)", async () => {
    const name = `${tag}-opts`;
    const r = await docker(proxy.socket, [
      "create", "--name", name, "-m", "128m", "--pids-limit", "100", "--cpus", "0.75", "--user", "root",
      "--cap-add", "NET_RAW", "--security-opt", "no-new-privileges=false", "--label", `${tag}=client-value`, image, "true",
    ]);
    expect(r.code, `${r.stderr}\nforwarded: ${last()}`).toBe(0);
    const c = await inspectDirect(name);
    expect(c.HostConfig.Memory).toBe(128 * MiB);
    expect(c.HostConfig.PidsLimit).toBe(100);
    expect(c.HostConfig.NanoCpus).toBe(7.5e8);
    expect(c.HostConfig.CapAdd ?? []).toEqual([]);
    expect(c.HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(c.Config.User).toBe("65534:65534");
    expect(c.Config.Labels?.[tag]).toBe("yes");
  });

  it("a request above a max is denied with a clear 403, and no container is created", async () => {
    const name = `${tag}-big`;
    const r = await docker(proxy.socket, ["run", "--name", name, "-m", "1g", image, "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "dockgate: ContainerCreate denied for profile test: HostConfig.Memory=1073741824 (1 GiB) is above this profile's maximum of 268435456 (256 MiB) (rule hardening.memory)",
    );
    expect(await exists(name)).toBe(false);

    const raw = await api(proxy.socket, "POST", `/v1.41/containers/create?name=${tag}-raw`, { Image: image, HostConfig: { PidsLimit: -1 } });
    expect(raw.status).toBe(403);
    expect(JSON.parse(raw.body)).toEqual({
      message: "dockgate: ContainerCreate denied for profile test: HostConfig.PidsLimit=-1 (unlimited) is not allowed: this profile's maximum is 128 (128) (rule hardening.pids)",
    });
    expect(await exists(`${tag}-raw`)).toBe(false);

    const other = await docker(proxy.socket, ["run", "--name", `${tag}-other`, "--network", `${tag}-other-net`, image, "true"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(
      `HostConfig.NetworkMode="${tag}-other-net" is not allowed: containers of this profile are attached to network "${net}" (or none) (rule hardening.network)`,
    );
    expect(await exists(`${tag}-other`)).toBe(false);
  });

  it("HostConfig fields at the top level (no HostConfig) are honoured by this daemon, and still end up hardened", async () => {
    const body = {
      Image: image,
      Cmd: ["cat", "/proc/self/status"],
      Memory: 100 * MiB,
      CapAdd: ["NET_RAW"],
      SecurityOpt: ["no-new-privileges=false"],
      ReadonlyRootfs: false,
    };
    // Control: straight to the daemon, the top-level fields take effect (it embeds *HostConfig).
    const ctl = await api(daemon, "POST", `/v1.41/containers/create?name=${tag}-top-direct`, body);
    expect(ctl.status, ctl.body).toBe(201);
    const direct = await inspectDirect(`${tag}-top-direct`);
    const daemonReadsTopLevel = direct.HostConfig.Memory === 100 * MiB;
    const version = JSON.parse((await api(daemon, "GET", "/version")).body) as { ApiVersion: string };
    // Older daemons embed *HostConfig in the create body (removed in 2024, moby/moby#48007; 20.10 has it).
    if (Number(version.ApiVersion.split(".")[1]) <= 43) expect(daemonReadsTopLevel).toBe(true);
    if (daemonReadsTopLevel) {
      expect(direct.HostConfig.SecurityOpt).toEqual(["no-new-privileges=false"]);
      expect(direct.HostConfig.ReadonlyRootfs).toBe(false);
    }

    const res = await api(proxy.socket, "POST", `/v1.41/containers/create?name=${tag}-top`, body);
    expect(res.status, `${res.body}\nforwarded: ${last()}`).toBe(201);
    const c = await inspectDirect(`${tag}-top`);
    expect(c.HostConfig.Memory).toBe(100 * MiB); // the client's value, within the max, kept
    expect(c.HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(c.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(c.HostConfig.CapAdd ?? []).toEqual([]);
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    expect(c.HostConfig.PidsLimit).toBe(64);
    expect(c.HostConfig.NetworkMode).toBe(net);
    expect(c.Config.User).toBe("65534:65534");
    const start = await docker(daemon, ["start", "-a", `${tag}-top`]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(start.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);

    // "HostConfig": null is read the same way; above the max at the top level is denied.
    const nul = await api(proxy.socket, "POST", `/v1.41/containers/create?name=${tag}-top-null`, { Image: image, HostConfig: null, Memory: 512 * MiB });
    expect(nul.status).toBe(403);
    expect(JSON.parse(nul.body).message).toContain("Memory=536870912 (512 MiB) is above this profile's maximum of 268435456 (256 MiB) (rule hardening.memory)");
    expect(await exists(`${tag}-top-null`)).toBe(false);
    // HostConfig present but without Memory: the daemon would take the top-level one; so do we.
    const merged = await api(proxy.socket, "POST", `/v1.41/containers/create?name=${tag}-top-merge`, { Image: image, Memory: 512 * MiB, HostConfig: {} });
    expect(merged.status).toBe(403);
    expect(await exists(`${tag}-top-merge`)).toBe(false);
  });

  it("docker update cannot raise a limit above the max, or to unlimited; within it works", async () => {
    const name = `${tag}-upd`;
    const c = await docker(proxy.socket, ["create", "--name", name, image, "true"]);
    expect(c.code, c.stderr).toBe(0);
    const big = await docker(proxy.socket, ["update", "--memory", "1g", "--memory-swap", "2g", name]);
    expect(big.code).not.toBe(0);
    expect(big.stderr).toContain("Memory=1073741824 (1 GiB) is above this profile's maximum of 268435456 (256 MiB) (rule hardening.memory)");
    const pids = await docker(proxy.socket, ["update", "--pids-limit", "-1", name]);
    expect(pids.code).not.toBe(0);
    expect(pids.stderr).toContain("(rule hardening.pids)");
    const cpu = await docker(proxy.socket, ["update", "--cpus", "4", name]);
    expect(cpu.code).not.toBe(0);
    expect(cpu.stderr).toContain("(rule hardening.cpus)");
    const after = await inspectDirect(name);
    expect(after.HostConfig.Memory).toBe(64 * MiB);
    expect(after.HostConfig.PidsLimit).toBe(64);

    const ok = await docker(proxy.socket, ["update", "--memory", "200m", "--memory-swap", "400m", "--pids-limit", "128", name]);
    expect(ok.code, ok.stderr).toBe(0);
    const now = await inspectDirect(name);
    expect(now.HostConfig.Memory).toBe(200 * MiB);
    expect(now.HostConfig.PidsLimit).toBe(128);
  });
});

describe("swap is bounded by the memory maximum (memory plus swap at most twice mutate.memory.max)", () => {
  const PiB = 1024 * 1024 * 1024 * MiB;
  const swapMax = 2 * 256 * MiB;

  it("create: 1 PiB of swap in any spelling is refused and no container exists; docker run -m / --memory-swap within works", async () => {
    const spellings: Array<[string, unknown]> = [
      ["hc", { Image: image, HostConfig: { Memory: 64 * MiB, MemorySwap: PiB } }],
      ["hc-alone", { Image: image, HostConfig: { MemorySwap: PiB } }],
      ["fold", `{"Image":${JSON.stringify(image)},"HostConfig":{"Memory":${64 * MiB},"memoryswap":${PiB}}}`],
      ["top", { Image: image, Memory: 64 * MiB, MemorySwap: PiB }],
      ["merged", { Image: image, MemorySwap: PiB, HostConfig: { Memory: 64 * MiB } }],
      ["unlimited", { Image: image, HostConfig: { Memory: 64 * MiB, MemorySwap: -1 } }],
      ["int64max", `{"Image":${JSON.stringify(image)},"HostConfig":{"Memory":${64 * MiB},"MemorySwap":9223372036854775807}}`],
    ];
    for (const [suffix, body] of spellings) {
      const name = `${tag}-swap-${suffix}`;
      const r = await api(proxy.socket, "POST", `/v1.41/containers/create?name=${name}`, body);
      expect(r.status, `${suffix}: ${r.body}`).toBe(403);
      expect(JSON.parse(r.body).message, suffix).toContain("(rule hardening.memory)");
      expect(await exists(name), suffix).toBe(false);
    }

    const ok = await docker(proxy.socket, ["create", "--name", `${tag}-swap-ok`, "-m", "64m", image, "true"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await inspectDirect(`${tag}-swap-ok`)).HostConfig.MemorySwap).toBe(128 * MiB);
    const both = await docker(proxy.socket, ["create", "--name", `${tag}-swap-both`, "-m", "256m", "--memory-swap", "512m", image, "true"]);
    expect(both.code, both.stderr).toBe(0);
    expect((await inspectDirect(`${tag}-swap-both`)).HostConfig.MemorySwap).toBe(swapMax);
    const over = await docker(proxy.socket, ["create", "--name", `${tag}-swap-over`, "-m", "64m", "--memory-swap", "1p", image, "true"]);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain("is above this profile's maximum for memory plus swap of 536870912 (512 MiB, twice its memory maximum) (rule hardening.memory)");
    expect(await exists(`${tag}-swap-over`)).toBe(false);
  });

  it("update: 1 PiB of swap (alone, with memory, unlimited) is refused and the stored swap is unchanged; docker update within works", async () => {
    const name = `${tag}-swap-upd`;
    const c = await docker(proxy.socket, ["create", "--name", name, "-m", "64m", image, "true"]);
    expect(c.code, c.stderr).toBe(0);
    const before = (await inspectDirect(name)).HostConfig.MemorySwap;
    expect(before).toBe(128 * MiB);
    for (const body of [{ MemorySwap: PiB }, { Memory: 128 * MiB, MemorySwap: PiB }, { memoryswap: PiB }, { Memory: 128 * MiB, MemorySwap: -1 }]) {
      const r = await api(proxy.socket, "POST", `/v1.41/containers/${name}/update`, body);
      expect(r.status, `${JSON.stringify(body)}: ${r.body}`).toBe(403);
      expect(JSON.parse(r.body).message).toContain("(rule hardening.memory)");
      expect((await inspectDirect(name)).HostConfig.MemorySwap).toBe(before);
    }
    const cli = await docker(proxy.socket, ["update", "--memory-swap", "1p", name]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain("(rule hardening.memory)");
    expect((await inspectDirect(name)).HostConfig.MemorySwap).toBe(before);

    const ok = await docker(proxy.socket, ["update", "--memory", "128m", "--memory-swap", "512m", name]);
    expect(ok.code, ok.stderr).toBe(0);
    const now = await inspectDirect(name);
    expect(now.HostConfig.Memory).toBe(128 * MiB);
    expect(now.HostConfig.MemorySwap).toBe(swapMax);
  });
});

describe("redaction through the proxy", () => {
  beforeAll(async () => {
    const r = await docker(daemon, ["create", "--name", `${tag}-env`, "-e", "SECRET=hunter2", "-e", "KEEP=visible", image, "true"]);
    if (r.code !== 0) throw new Error(r.stderr);
  });

  it("docker inspect through the proxy shows SECRET= without its value; directly it shows the value", async () => {
    const proxied = await docker(proxy.socket, ["inspect", "-f", "{{json .Config.Env}}", `${tag}-env`]);
    expect(proxied.code, proxied.stderr).toBe(0);
    const env = JSON.parse(proxied.stdout) as string[];
    expect(env).toContain("SECRET=");
    expect(env).toContain("KEEP=visible");
    expect(proxied.stdout).not.toContain("hunter2");
    // The whole inspect output, in every format, never carries it.
    const full = await docker(proxy.socket, ["inspect", `${tag}-env`]);
    expect(full.code).toBe(0);
    expect(full.stdout).not.toContain("hunter2");

    const direct = await docker(daemon, ["inspect", "-f", "{{json .Config.Env}}", `${tag}-env`]);
    expect(JSON.parse(direct.stdout)).toContain("SECRET=hunter2");
  });

  it("docker info and docker system df keep working with fields redacted", async () => {
    const directName = (await docker(daemon, ["info", "-f", "{{.Name}}"])).stdout.trim();
    expect(directName).not.toBe("");
    const name = await docker(proxy.socket, ["info", "-f", "{{.Name}}"]);
    expect(name.code, name.stderr).toBe(0);
    expect(name.stdout.trim()).toBe("");
    const info = await docker(proxy.socket, ["info"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).not.toContain(directName);
    const df = await docker(proxy.socket, ["system", "df"]);
    expect(df.code, df.stderr).toBe(0);
    expect(df.stdout).toMatch(/^Images\s/m);
    const raw = await api(proxy.socket, "GET", "/v1.41/system/df");
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.body).Volumes).toBeNull();
  });
});
