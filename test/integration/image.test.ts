// The container image, built and run: scripts/build-image.sh makes the stand-in base image
// (Debian bookworm minbase + Node 24 from the `node` npm package, cached between runs) on the
// test daemon and builds the Dockerfile with the classic builder; then the repository's
// docker-compose.yml runs against the test daemon's socket. Checked: dockgate turns healthy, its
// process runs as uid 1000 with no capabilities, no-new-privileges and a read-only root
// filesystem; the client service (dockgate's socket only) lists containers and gets dockgate's
// denial for a create, which leaves nothing on the daemon; `docker-compose stop` lets dockgate
// drain and exit 0 (not killed at the stop timeout); the build's CA bundle is not in the image.
//
// The only override of docker-compose.yml (a second -f file): the daemon socket's path, and a
// client image with the docker CLI mounted in (no registry here to pull docker:cli from).

import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const ROOT = path.resolve(import.meta.dirname, "../..");
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const PROJECT = `dgt${process.pid}img`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "dg-image-"));
const OVERRIDE = path.join(work, "override.yml");
const ENV: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${daemon}`, DOCKER_GID: String(fs.statSync(daemon).gid) };
delete ENV.DOCKER_CONTEXT;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env: opts.env ?? ENV, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const docker = (...args: string[]) => run("docker", args);
const compose = (...args: string[]) => run("docker-compose", ["-p", PROJECT, "-f", path.join(ROOT, "docker-compose.yml"), "-f", OVERRIDE, ...args]);

async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 120_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function containerOf(service: string): Promise<string> {
  const r = await compose("ps", "-q", service);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function state(id: string): Promise<{ Status: string; ExitCode: number; Health?: { Status: string } }> {
  const r = await docker("inspect", "--format", "{{json .State}}", id);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

let built: Result;
let dockgate = "";

beforeAll(async () => {
  const registry = execFileSync("npm", ["config", "get", "registry"], { cwd: ROOT, encoding: "utf8" }).trim();
  built = await run("bash", ["scripts/build-image.sh", "dockgate:latest"], {
    env: {
      ...ENV,
      // The test daemon's containers have no route out (no NAT): RUN steps use the host's network.
      BUILD_NETWORK: "host",
      NPM_REGISTRY: registry,
      ...(fs.existsSync(CA_BUNDLE) ? { EXTRA_CA_FILE: CA_BUNDLE } : {}),
    },
    timeoutMs: 900_000,
  });
  expect(built.code, `${built.stdout}\n${built.stderr}`).toBe(0);
  fs.writeFileSync(
    OVERRIDE,
    [
      "services:",
      "  dockgate:",
      "    volumes:",
      `      - ${daemon}:/var/run/docker.sock:ro`,
      "  client:",
      `    image: ${image}`,
      "    volumes:",
      "      - /usr/local/bin/docker:/usr/local/bin/docker:ro",
      "    environment:",
      "      DOCKER_CONFIG: /tmp/docker-config",
      "    tmpfs: [/tmp]",
      "",
    ].join("\n"),
  );
  const up = await compose("up", "-d", "--no-build");
  expect(up.code, up.stderr).toBe(0);
  dockgate = await containerOf("dockgate");
}, 1_000_000);

afterAll(async () => {
  await compose("down", "-v", "--remove-orphans");
  fs.rmSync(work, { recursive: true, force: true });
});

describe("the image built by scripts/build-image.sh", () => {
  it("built on the stand-in base from the cached (or fresh) bootstrap", () => {
    expect(built.stdout).toMatch(/build-image: (reusing \S+bookworm-minbase\.tar|debootstrap --variant=minbase bookworm)/);
    expect(built.stdout).toContain("docker import as node:24-bookworm-slim");
    expect(built.stdout).toContain("built dockgate:latest");
  });

  it("carries none of the build's npm settings or certificates", async () => {
    const history = await docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "dockgate:latest");
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(/BEGIN CERTIFICATE|EXTRA_CA_CERTS|NPM_REGISTRY/);
    const env = await docker("image", "inspect", "--format", "{{json .Config.Env}}", "dockgate:latest");
    expect(env.stdout).not.toMatch(/NODE_EXTRA_CA_CERTS|npm_config/);
    const files = await docker("run", "--rm", "--entrypoint", "sh", "dockgate:latest", "-c", "ls -A /tmp; command -v npm || echo no npm");
    expect(files).toEqual({ code: 0, stdout: "no npm\n", stderr: "" });
  });
});

describe("docker-compose.yml on the test daemon", () => {
  it("turns dockgate healthy, and the client then lists containers through it", async () => {
    expect((await state(dockgate)).Health?.Status).toBe("healthy");
    const client = await containerOf("client");
    const done = await until("the client's docker ps", async () => {
      const s = await state(client);
      return s.Status === "exited" ? s : undefined;
    });
    const logs = await docker("logs", client);
    expect(done.ExitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^CONTAINER ID\s+IMAGE/);
  });

  it("runs dockgate as uid 1000 with no capabilities, no-new-privileges and a read-only root", async () => {
    const status = await docker("exec", dockgate, "cat", "/proc/1/status");
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(status.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m);
    expect(status.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect((await docker("exec", dockgate, "cat", "/proc/1/cmdline")).stdout.split("\0").slice(0, 2)).toEqual(["node", "dist/cli/main.js"]);
    // Even root (the owner of /app) cannot write there: the file system is read-only.
    const write = await docker("exec", "-u", "0", dockgate, "touch", "/app/x");
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain("Read-only file system");
  });

  it("gives the client dockgate's denial for a create, and the daemon creates nothing", async () => {
    const name = `${PROJECT}-denied`;
    const r = await compose("run", "--rm", "--no-deps", "client", "docker", "create", "--name", name, image, "true");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Error response from daemon: dockgate: ContainerCreate denied for profile read-only: operation is not allowed (rule endpoint.allow)");
    const onDaemon = await docker("ps", "-a", "-q", "--filter", `name=^/${name}$`);
    expect(onDaemon).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("stops with docker-compose stop: dockgate drains and exits 0 before the stop timeout", async () => {
    const stop = await compose("stop", "-t", "30", "dockgate");
    expect(stop.code, stop.stderr).toBe(0);
    const s = await state(dockgate);
    expect(s.Status).toBe("exited");
    expect(s.ExitCode).toBe(0); // 137 would mean killed at the timeout
    const logs = await docker("logs", dockgate);
    expect(logs.stdout).toMatch(/"signal":"SIGTERM"[\s\S]*"msg":"stopped"/);
  });
});
