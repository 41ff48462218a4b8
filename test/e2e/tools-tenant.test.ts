// Real tools through the shipped config/ci-tenant.yaml (socket moved into a temp directory) must
// not be able to tell dockgate from the daemon: docker-compose 1.29 up / run / exec / down print
// no warning (it compares the labels it reads with its file, and `run` links the one-off
// container to the service's), and Ansible's community.docker.docker_container run twice reports
// nothing changed the second time (it compares what it reads back, NetworkMode included, with
// what it asked for).

import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { compose } from "../harness/compose.js";
import { docker } from "../harness/docker.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgtools-"));
const socket = path.join(dir, "ci-tenant.sock");
const tag = `dgtool${process.pid}`;
let gateway: Gateway;

const lines = (s: string) => s.split("\n").filter(Boolean);

beforeAll(async () => {
  const shipped = fs.readFileSync(path.join(ROOT, "config/ci-tenant.yaml"), "utf8");
  const file = path.join(dir, "ci-tenant.yaml");
  fs.writeFileSync(file, shipped.replaceAll("/run/dockgate/ci-tenant.sock", socket).replace("upstream: /var/run/docker.sock", `upstream: ${daemon}`));
  const config = loadConfig(file);
  gateway = await startGateway(config, createGate(config), pino({ level: "silent" }));
});

afterAll(async () => {
  await gateway?.stop(5);
  await closeDaemonClients();
  for (const id of lines((await docker(daemon, ["ps", "-aq", "--filter", "label=dockgate.owner=ci"])).stdout)) await docker(daemon, ["rm", "-f", "-v", id]);
  for (const id of lines((await docker(daemon, ["network", "ls", "-q", "--filter", "label=dockgate.owner=ci"])).stdout)) await docker(daemon, ["network", "rm", id]);
  for (const id of lines((await docker(daemon, ["volume", "ls", "-q", "--filter", "label=dockgate.owner=ci"])).stdout)) await docker(daemon, ["volume", "rm", id]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** compose's stderr without its progress lines: what is left is what it warned about. */
function warnings(stderr: string): string[] {
  return lines(stderr).filter((l) => /warn|has changed|error/i.test(l));
}

describe("docker-compose 1.29 through ci-tenant", () => {
  const project = `${tag}c`;
  const composeDir = path.join(dir, "compose");

  beforeAll(() => {
    fs.mkdirSync(composeDir);
    fs.writeFileSync(
      path.join(composeDir, "docker-compose.yml"),
      `version: "3.7"
services:
  web:
    image: ${image}
    command: ["sh", "-c", "echo hi > /data/hello; httpd -f -p 8080 -h /data"]
    volumes: [data:/data]
    networks: [back]
  client:
    image: ${image}
    command: ["sleep", "300"]
    depends_on: [web]
    networks: [back]
volumes:
  data: {}
networks:
  back: {}
`,
    );
  });

  it("up, up again, run, exec, ps, down: all succeed and none warns", async () => {
    const steps: Array<[string, string[]]> = [
      ["up", ["up", "-d"]],
      ["up again", ["up", "-d"]],
      ["run", ["run", "--rm", "-T", "client", "wget", "-qO-", "http://web:8080/hello"]],
      ["run attached", ["run", "--rm", "client", "echo", "hi"]],
      ["exec", ["exec", "-T", "web", "cat", "/data/hello"]],
      ["ps", ["ps"]],
      ["down", ["down", "-v", "-t", "0"]],
    ];
    for (const [what, args] of steps) {
      const r = await compose(socket, composeDir, project, args);
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(warnings(r.stderr), what).toEqual([]);
      if (what === "run" || what === "run attached" || what === "exec") expect(r.stdout.trim(), what).toBe("hi");
      if (what === "up again") expect(r.stderr, what).toMatch(/is up-to-date/);
    }
    expect(lines((await docker(daemon, ["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`])).stdout)).toEqual([]);
    expect((await docker(daemon, ["network", "inspect", `${project}_back`])).code).not.toBe(0);
  });
});

describe("Ansible community.docker through ci-tenant", () => {
  it("docker_network, docker_volume, docker_container twice: the second run changes nothing", async () => {
    const playbook = path.join(dir, "playbook.yml");
    fs.writeFileSync(
      playbook,
      `- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/community.docker.docker:
      docker_host: unix://${socket}
  tasks:
    - community.docker.docker_network:
        name: ${tag}-net
    - community.docker.docker_volume:
        name: ${tag}-vol
    - community.docker.docker_container:
        name: ${tag}-web
        image: ${image}
        command: ["sleep", "300"]
        network_mode: ${tag}-net
        networks: [{ name: "${tag}-net" }]
        volumes: ["${tag}-vol:/data"]
        labels: { app: web }
        state: started
`,
    );
    const play = async () => {
      const { stdout } = await run("ansible-playbook", ["-i", "localhost,", playbook], {
        env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3", ANSIBLE_LOCALHOST_WARNING: "0" },
        timeout: 180_000,
      });
      const recap = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(stdout);
      expect(recap, stdout).not.toBeNull();
      return { stdout, ok: Number(recap![1]), changed: Number(recap![2]), failed: Number(recap![4]) };
    };
    const first = await play();
    expect([first.changed, first.failed], first.stdout).toEqual([3, 0]);
    const id = (await docker(daemon, ["inspect", "-f", "{{.Id}}", `${tag}-web`])).stdout.trim();
    expect((await docker(daemon, ["inspect", "-f", '{{index .Config.Labels "dockgate.owner"}}', id])).stdout.trim()).toBe("ci");
    const second = await play();
    expect([second.changed, second.failed], second.stdout).toEqual([0, 0]);
    // The same container: not recreated.
    expect((await docker(daemon, ["inspect", "-f", "{{.Id}}", `${tag}-web`])).stdout.trim()).toBe(id);
  });
});

describe("docker events through ci-tenant", () => {
  it("a live stream shows the job's container events without the owner label in their attributes", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}` };
    const events = spawn("docker", ["events", "--filter", "type=container", "--format", "{{json .Actor.Attributes}}"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    events.stdout.on("data", (c: Buffer) => (out += c.toString()));
    try {
      // The stream is open once the daemon answered it: wait for dockgate to have the exchange running.
      const deadline = Date.now() + 30_000;
      let created = false;
      while (!out.includes(`${tag}-ev`)) {
        if (!created) {
          const r = await docker(socket, ["create", "--name", `${tag}-ev`, "--label", "app=ev", image, "true"]);
          expect(r.code, r.stderr).toBe(0);
          created = true;
        }
        if (Date.now() > deadline) throw new Error(`no event seen: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
        // The create may have happened before the subscription: make another event.
        if (!out.includes(`${tag}-ev`)) await docker(socket, ["start", `${tag}-ev`]);
      }
      const attrs = lines(out).map((l) => JSON.parse(l) as Record<string, string>).filter((a) => a["name"] === `${tag}-ev`);
      expect(attrs.length).toBeGreaterThan(0);
      for (const a of attrs) {
        expect(a["app"]).toBe("ev");
        expect(Object.keys(a).filter((k) => k.startsWith("dockgate.owner"))).toEqual([]);
      }
      // On the daemon the label is there.
      expect((await docker(daemon, ["inspect", "-f", '{{index .Config.Labels "dockgate.owner"}}', `${tag}-ev`])).stdout.trim()).toBe("ci");
    } finally {
      events.kill();
    }
  });
});
