// Two tenants on one daemon with real clients: one config file, two unix listeners (two owners)
// behind one profile with `ownership`. Tenant A's docker CLI never shows or touches tenant B's
// containers, whether it names them by full id, id prefix or name; what it prints is exactly what
// it prints for a container that does not exist; and the daemon's state is unchanged. A's own work
// goes on as usual, with the docker CLI and with docker-compose 1.29 (docker-py).

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { docker, type DockerResult } from "../harness/docker.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dgten${process.pid}`;
const LABEL = `dg-test.tenant-${process.pid}`;

let dir: string;
let gateway: Gateway;
let A: string;
let B: string;
let bId: string;
let aId: string;

const lines = (s: string) => s.split("\n").filter(Boolean);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-"));
  A = path.join(dir, "a.sock");
  B = path.join(dir, "b.sock");
  // One config file, two listeners: each listener's name is its clients' owner.
  const file = path.join(dir, "tenants.yaml");
  fs.writeFileSync(
    file,
    `upstream: ${daemon}
listeners:
  - name: tenant-a
    unix: { path: ${A}, mode: "0600" }
    profile: tenant
  - name: tenant-b
    unix: { path: ${B}, mode: "0600" }
    profile: tenant
profiles:
  tenant:
    description: one CI tenant per listener
    allow: [ping, system:read, events, containers:read, containers:write, containers:attach, containers:files, exec,
            images:read, images:write, build, networks:read, networks:write, volumes:read, volumes:write]
    ownership: { label: ${LABEL} }
`,
  );
  const config = loadConfig(file);
  gateway = await startGateway(config, createGate(config), pino({ level: "silent" }));

  const b = await docker(B, ["run", "-d", "--name", `${tag}-b`, image, "sh", "-c", "echo from-b; sleep 300"]);
  expect(b.code, b.stderr).toBe(0);
  bId = b.stdout.trim();
  const a = await docker(A, ["run", "-d", "--name", `${tag}-a`, image, "sh", "-c", "echo from-a; sleep 300"]);
  expect(a.code, a.stderr).toBe(0);
  aId = a.stdout.trim();
});

afterAll(async () => {
  await gateway?.stop(5);
  await closeDaemonClients();
  const ids = lines((await docker(daemon, ["ps", "-aq", "--filter", `label=${LABEL}`])).stdout);
  if (ids.length > 0) await docker(daemon, ["rm", "-fv", ...ids]);
  for (const n of lines((await docker(daemon, ["network", "ls", "-q", "--filter", `label=${LABEL}`])).stdout)) await docker(daemon, ["network", "rm", n]);
  for (const v of lines((await docker(daemon, ["volume", "ls", "-q", "--filter", `label=${LABEL}`])).stdout)) await docker(daemon, ["volume", "rm", v]);
  await docker(daemon, ["rmi", `${tag}-built`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** B's container as the daemon sees it (state that must not change). */
async function bState(): Promise<string> {
  const r = await docker(daemon, ["inspect", "-f", "{{.Id}} {{.Name}} {{.State.Status}} {{.State.Pid}} {{.RestartCount}}", bId]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** What `args` prints naming `ref`, with `ref` written as REF (to compare with a missing container). */
function shape(r: DockerResult, ref: string): { code: number; stdout: string; stderr: string } {
  const sub = (s: string) => s.split(ref).join("REF");
  return { code: r.code, stdout: sub(r.stdout), stderr: sub(r.stderr) };
}

describe("tenant A and tenant B's containers", () => {
  it("docker ps -a shows each tenant its own containers only", async () => {
    const a = await docker(A, ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    expect(lines(a.stdout)).toEqual([`${aId} ${tag}-a`]);
    const b = await docker(B, ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    expect(lines(b.stdout)).toEqual([`${bId} ${tag}-b`]);
    const q = await docker(A, ["ps", "-aq", "--filter", `name=${tag}-b`]);
    expect(q.stdout).toBe("");
  });

  const commands: Array<[string, (ref: string) => string[]]> = [
    ["stop", (ref) => ["stop", "-t", "0", ref]],
    ["logs", (ref) => ["logs", ref]],
    ["inspect", (ref) => ["inspect", ref]],
    ["container inspect", (ref) => ["container", "inspect", ref]],
    ["rm -f", (ref) => ["rm", "-f", ref]],
    ["kill", (ref) => ["kill", ref]],
    ["exec", (ref) => ["exec", ref, "true"]],
    ["top", (ref) => ["top", ref]],
    ["cp", (ref) => ["cp", `${ref}:/etc/passwd`, path.join(dir, "stolen")]],
    ["rename", (ref) => ["rename", ref, `${tag}-stolen`]],
    ["restart", (ref) => ["restart", "-t", "0", ref]],
    ["pause", (ref) => ["pause", ref]],
    ["commit", (ref) => ["commit", ref, `${tag}-stolen:latest`]],
  ];

  for (const [name, args] of commands) {
    it(`docker ${name} of B's container by full id, id prefix and name prints what it prints for a missing container`, async () => {
      const before = await bState();
      const missing = shape(await docker(A, args(`${tag}-missing`)), `${tag}-missing`);
      if (name !== "rm -f") expect(missing.code).not.toBe(0); // rm -f of a missing container succeeds
      for (const ref of [bId, bId.slice(0, 12), `${tag}-b`]) {
        const got = shape(await docker(A, args(ref)), ref);
        expect(got, `${name} ${ref}`).toEqual(missing);
      }
      expect(await bState()).toBe(before);
    });
  }

  it("docker logs and docker stop of A's own container work, by prefix and name", async () => {
    const logs = await docker(A, ["logs", aId.slice(0, 12)]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.trim()).toBe("from-a");
    const exec = await docker(A, ["exec", `${tag}-a`, "echo", "in-a"]);
    expect(exec.stdout.trim()).toBe("in-a");
    const stop = await docker(A, ["stop", "-t", "0", `${tag}-a`]);
    expect(stop.code, stop.stderr).toBe(0);
    expect((await docker(daemon, ["inspect", "-f", "{{.State.Status}}", aId])).stdout.trim()).toBe("exited");
  });

  it("docker events shows A its own containers' events only", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const a = await docker(A, ["create", "--name", `${tag}-ev-a`, image, "true"]);
    const b = await docker(B, ["create", "--name", `${tag}-ev-b`, image, "true"]);
    await docker(A, ["rm", `${tag}-ev-a`]);
    await docker(B, ["rm", `${tag}-ev-b`]);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const ev = await docker(A, ["events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"]);
    expect(ev.code, ev.stderr).toBe(0);
    const got = lines(ev.stdout);
    const aid = a.stdout.trim();
    expect(got.filter((l) => l.endsWith(aid))).toEqual([`container create ${aid}`, `container destroy ${aid}`]);
    expect(got.every((l) => l.startsWith("container "))).toBe(true);
    expect(ev.stdout).not.toContain(b.stdout.trim());
    expect(ev.stdout).not.toContain(bId);
    // The daemon had both.
    const all = await docker(daemon, ["events", "--since", since, "--until", until, "--format", "{{.Actor.ID}}"]);
    expect(all.stdout).toContain(b.stdout.trim());
  });

  it("docker rm of A's own container works; B's container is untouched throughout", async () => {
    const rm = await docker(A, ["rm", "-f", `${tag}-a`]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await docker(daemon, ["inspect", aId])).code).not.toBe(0);
    expect((await bState()).endsWith("running " + (await docker(daemon, ["inspect", "-f", "{{.State.Pid}}", bId])).stdout.trim() + " 0")).toBe(true);
    const logs = await docker(B, ["logs", `${tag}-b`]);
    expect(logs.stdout.trim()).toBe("from-b");
  });

  it("networks and volumes: each tenant lists and removes its own only", async () => {
    expect((await docker(A, ["network", "create", `${tag}-net-a`])).code).toBe(0);
    expect((await docker(A, ["volume", "create", `${tag}-vol-a`])).code).toBe(0);
    expect(lines((await docker(B, ["network", "ls", "--format", "{{.Name}}"])).stdout)).toEqual([]);
    expect(lines((await docker(B, ["volume", "ls", "-q"])).stdout)).toEqual([]);
    expect(lines((await docker(A, ["network", "ls", "--format", "{{.Name}}"])).stdout)).toEqual([`${tag}-net-a`]);
    const missingNet = shape(await docker(B, ["network", "rm", `${tag}-nothing`]), `${tag}-nothing`);
    expect(shape(await docker(B, ["network", "rm", `${tag}-net-a`]), `${tag}-net-a`)).toEqual(missingNet);
    const missingVol = shape(await docker(B, ["volume", "rm", `${tag}-nothing`]), `${tag}-nothing`);
    expect(shape(await docker(B, ["volume", "rm", `${tag}-vol-a`]), `${tag}-vol-a`)).toEqual(missingVol);
    expect((await docker(B, ["run", "--rm", "-v", `${tag}-vol-a:/data`, image, "true"])).stderr).toMatch(/already in use \(rule ownership\.volume\)/);
    // Create refuses it in the daemon's words (the daemon itself would only fail at start).
    const foreign = await docker(B, ["run", "--rm", "--network", `${tag}-net-a`, image, "true"]);
    expect(foreign.stderr).toContain(`Error response from daemon: network ${tag}-net-a not found`);
    expect(foreign.stderr).not.toContain("Unable to find image");
    const nowhere = await docker(B, ["run", "--rm", "--network", `${tag}-nothing`, image, "true"]);
    expect(shape(foreign, `${tag}-net-a`)).toEqual(shape(nowhere, `${tag}-nothing`));
    expect((await docker(daemon, ["network", "inspect", `${tag}-net-a`])).code).toBe(0);
    expect((await docker(daemon, ["volume", "inspect", `${tag}-vol-a`])).code).toBe(0);
    // A's own: used and removed.
    const run = await docker(A, ["run", "--rm", "--network", `${tag}-net-a`, "-v", `${tag}-vol-a:/data`, image, "sh", "-c", "echo ok > /data/f && cat /data/f"]);
    expect(run.stdout.trim(), run.stderr).toBe("ok");
    expect((await docker(A, ["network", "rm", `${tag}-net-a`])).code).toBe(0);
    expect((await docker(A, ["volume", "rm", `${tag}-vol-a`])).code).toBe(0);
  });

  it("docker build (classic builder): the image carries A's owner label", async () => {
    const r = await new Promise<DockerResult>((resolve, reject) => {
      const p = spawn("docker", ["build", "-q", "-t", `${tag}-built`, "-"], {
        env: { ...process.env, DOCKER_HOST: `unix://${A}`, DOCKER_BUILDKIT: "0" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      p.on("error", reject);
      p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
      p.stdin.on("error", () => {}); // an early exit shows in code and stderr
      p.stdin.end(`FROM ${image}\nLABEL ${LABEL}=tenant-b\nRUN true\n`);
    });
    expect(r.code, r.stderr).toBe(0);
    const labels = await docker(daemon, ["image", "inspect", "-f", `{{index .Config.Labels "${LABEL}"}}`, `${tag}-built`]);
    expect(labels.stdout.trim()).toBe("tenant-a");
  });
});

describe("docker-compose 1.29 (docker-py) through the ownership profile", () => {
  let project: string;
  let composeDir: string;

  const compose = (socket: string, args: string[], timeoutMs = 120_000): Promise<DockerResult> =>
    new Promise((resolve, reject) => {
      const p = spawn("docker-compose", ["-H", `unix://${socket}`, "-p", project, ...args], {
        cwd: composeDir,
        env: { ...process.env, COMPOSE_INTERACTIVE_NO_CLI: "1", DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0" },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: timeoutMs,
      });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      p.on("error", reject);
      p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });

  beforeAll(() => {
    project = `${tag}proj`;
    composeDir = fs.mkdtempSync(path.join(os.tmpdir(), "dgc-"));
    fs.writeFileSync(
      path.join(composeDir, "docker-compose.yml"),
      `version: "3.7"
services:
  web:
    image: ${image}
    command: ["sh", "-c", "echo web-up; echo hi > /data/hello; httpd -f -p 8080 -h /data"]
    volumes: [data:/data]
    networks: [back]
  client:
    image: ${image}
    command: ["sh", "-c", "until wget -qO- http://web:8080/hello; do sleep 0.2; done; sleep 300"]
    depends_on: [web]
    networks: [back]
volumes:
  data: {}
networks:
  back: {}
`,
    );
  });

  afterAll(() => fs.rmSync(composeDir, { recursive: true, force: true }));

  it("up -d, ps, logs, exec, down -v: works, everything carries A's label, B sees none of it", async () => {
    const up = await compose(A, ["up", "-d"]);
    expect(up.code, up.stderr).toBe(0);

    const ps = await compose(A, ["ps", "-q"]);
    expect(lines(ps.stdout)).toHaveLength(2);
    for (const id of lines(ps.stdout)) {
      const owner = await docker(daemon, ["inspect", "-f", `{{index .Config.Labels "${LABEL}"}}`, id]);
      expect(owner.stdout.trim()).toBe("tenant-a");
    }
    const net = await docker(daemon, ["network", "inspect", "-f", `{{index .Labels "${LABEL}"}}`, `${project}_back`]);
    expect(net.stdout.trim()).toBe("tenant-a");
    const vol = await docker(daemon, ["volume", "inspect", "-f", `{{index .Labels "${LABEL}"}}`, `${project}_data`]);
    expect(vol.stdout.trim()).toBe("tenant-a");

    // Wait for the lines asserted ("Attaching to ..." names the containers, so "hi" alone is not one).
    const seen = (text: string) => text.includes("web-up") && /client\S*\s*\|\s*hi$/m.test(text);
    let logs = "";
    for (const end = Date.now() + 30_000; !seen(logs) && Date.now() < end; ) {
      logs = (await compose(A, ["logs", "--no-color"])).stdout;
      if (!seen(logs)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).toContain("web-up");
    expect(logs).toMatch(/client\S*\s*\|\s*hi$/m);

    const exec = await compose(A, ["exec", "-T", "web", "cat", "/data/hello"]);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout.trim()).toBe("hi");

    // run: the one-off container links to the service's containers (A's own: checked, allowed).
    const run = await compose(A, ["run", "--rm", "-T", "--no-deps", "client", "wget", "-qO-", "http://web:8080/hello"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("hi");

    // Tenant B, same project name: nothing there; down finds nothing to remove.
    const bps = await compose(B, ["ps", "-q"]);
    expect(bps.stdout.trim()).toBe("");
    const bdown = await compose(B, ["down", "-v"]);
    expect(bdown.stderr).toContain(`Network ${project}_back not found`); // compose's own words for a 404
    expect(lines((await compose(A, ["ps", "-q"])).stdout)).toHaveLength(2);
    expect((await docker(daemon, ["network", "inspect", `${project}_back`])).code).toBe(0);
    expect((await docker(daemon, ["volume", "inspect", `${project}_data`])).code).toBe(0);

    const down = await compose(A, ["down", "-v", "-t", "0"]);
    expect(down.code, down.stderr).toBe(0);
    expect(lines((await docker(daemon, ["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`])).stdout)).toEqual([]);
    expect((await docker(daemon, ["network", "inspect", `${project}_back`])).code).not.toBe(0);
    expect((await docker(daemon, ["volume", "inspect", `${project}_data`])).code).not.toBe(0);
  });
});
