// The README's commands, run as written: every command line of its ```sh blocks is either run here
// (from the repository root, with the sockets it names swapped for this test's: the daemon's for
// /var/run/docker.sock, fresh ones for /run/dockgate/*.sock) and its documented outcome checked,
// or listed with the reason it is not run here. A command the README gains without a line here
// fails the first test.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";

const daemon = inject("dockerSocket");
const ROOT = path.resolve(import.meta.dirname, "../..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "dg-readme-"));
const SOCKETS: Record<string, string> = {
  "/run/dockgate/docker.sock": path.join(work, "docker.sock"),
  "/run/dockgate/ci.sock": path.join(work, "ci.sock"),
  "/var/run/docker.sock": daemon,
};

/** The README's sh commands: each line of a ```sh block, trailing `# comment` split off. */
function readmeCommands(): Array<{ command: string; comment: string }> {
  const out: Array<{ command: string; comment: string }> = [];
  for (const block of README.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const line of block[1]!.split("\n")) {
      if (line.trim() === "" || line.trim().startsWith("#")) continue;
      const m = /^(.*?)(?:\s+#\s(.*))?$/.exec(line)!;
      out.push({ command: m[1]!.trim(), comment: m[2]?.trim() ?? "" });
    }
  }
  return out;
}

function localized(command: string): string {
  let c = command;
  for (const [from, to] of Object.entries(SOCKETS)) c = c.replaceAll(from, to);
  return c;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ReturnType<typeof spawn>>();

/** bash -c COMMAND in the repository root; resolves when it exits. */
function sh(command: string, opts: { timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.DOCKER_HOST;
    delete env.DOCKER_CONTEXT;
    const p = spawn("bash", ["-c", command], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A long-running command (serve), in its own process group: `npm exec` does not pass a SIGTERM on
 * to the node it started, so stop() signals the group, as a terminal's Ctrl-C does. `closed`
 * settles when every process of it has exited (they all hold the output pipes).
 */
function background(command: string) {
  const p = spawn("bash", ["-c", `exec ${command}`], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.add(p);
  let output = "";
  p.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  p.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const closed = new Promise<void>((resolve) => p.on("close", () => (children.delete(p), resolve())));
  return { stop: (signal: NodeJS.Signals = "SIGTERM") => process.kill(-p.pid!, signal), closed, output: () => output };
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    let b = "";
    s.on("error", () => resolve(false));
    s.on("connect", () => s.write("GET /_ping HTTP/1.1\r\nHost: dockgate\r\nConnection: close\r\n\r\n"));
    s.on("data", (d) => (b += d.toString()));
    s.on("close", () => resolve(/^HTTP\/1\.1 200 /.test(b)));
  });
}

async function until(what: string, check: () => Promise<boolean>, output: () => string, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** dockgate as `npm start` runs it (package.json scripts.start, without the build), on this test's sockets. */
let started: ReturnType<typeof background> | undefined;
async function npmStartEquivalent(): Promise<void> {
  if (started) return;
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } };
  expect(pkg.scripts.start).toBe("npm run build && node dist/cli/main.js serve --config config/read-only.yaml");
  started = background(`npm exec -- node dist/cli/main.js serve --config config/read-only.yaml --listen ${SOCKETS["/run/dockgate/docker.sock"]} --upstream ${daemon}`);
  await until("npm start's dockgate", () => ping(SOCKETS["/run/dockgate/docker.sock"]!), started.output);
}

type Handler = { run: (command: string, comment: string) => Promise<void> } | { notRun: string };

const CLI = "npm exec -- node dist/cli/main.js";
const COMMANDS: Record<string, Handler> = {
  "npm ci && npm start": {
    notRun: "npm ci reinstalls the dependencies these tests run on (.ci/run runs it); the serve that npm start runs is started by the docker ps / docker run commands below",
  },
  "bash .ci/run": { notRun: "it is the CI run that runs this test" },
  "DOCKER_HOST=unix:///run/dockgate/docker.sock docker ps": {
    run: async (command) => {
      await npmStartEquivalent();
      const r = await sh(localized(command));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^CONTAINER ID\s+IMAGE/);
    },
  },
  "DOCKER_HOST=unix:///run/dockgate/docker.sock docker run --rm busybox": {
    run: async (command, comment) => {
      await npmStartEquivalent();
      const r = await sh(localized(command));
      expect(r.code).toBe(125);
      expect(comment).toMatch(/^Error response from daemon: dockgate: /);
      expect(r.stderr).toContain(comment);
    },
  },
  [`${CLI} serve --config config/ci.yaml --listen /run/dockgate/ci.sock --upstream /var/run/docker.sock`]: {
    run: async (command) => {
      const serve = background(localized(command));
      await until("dockgate serve", () => ping(SOCKETS["/run/dockgate/ci.sock"]!), serve.output);
      serve.stop();
      await serve.closed;
      expect(serve.output()).toMatch(/"msg":"dockgate started"[\s\S]*"signal":"SIGTERM"[\s\S]*"msg":"stopped"/);
    },
  },
  [`${CLI} check config/ci.yaml`]: {
    run: async (command) => {
      const r = await sh(command);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("ci.yaml: valid");
    },
  },
  [`${CLI} explain --config config/ci.yaml --profile ci POST /v1.41/containers/create examples/create-privileged.json`]: {
    run: async (command, comment) => {
      expect(comment).toBe("deny 403, rule containers.privileged (exit 1)");
      const r = await sh(command);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toContain("decision   deny 403\nrule       containers.privileged:");
    },
  },
  [`${CLI} explain --config config/ci.yaml --profile ci POST /v1.41/containers/create examples/create.json`]: {
    run: async (command, comment) => {
      expect(comment).toBe("allow (exit 0)");
      const r = await sh(command);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("decision   allow\n");
    },
  },
  [`${CLI} rules --json`]: {
    run: async (command) => {
      const r = await sh(command);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Array<{ id: string }>).map((x) => x.id)).toContain("containers.privileged");
    },
  },
  [`${CLI} --version`]: {
    run: async (command) => {
      const r = await sh(command);
      expect(r).toEqual({ code: 0, stdout: `dockgate ${(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version}\n`, stderr: "" });
    },
  },
  "npm run bench": { notRun: "benchmarks measure timing and take minutes; tests assert no timings (bench/README.md)" },
  "npm ci": { notRun: "reinstalls the dependencies these tests run on (.ci/run runs it)" },
  "npm test": { notRun: "it is the run that runs this test" },
  "npm exec -- vitest run test/unit": { notRun: "part of npm test" },
  "npm exec -- vitest run test/e2e/proxy-core.test.ts": { notRun: "part of npm test" },
  "npm run schema": { notRun: "rewrites config/dockgate.schema.json and src/config/schema-validator.ts; test/unit/config-schema.test.ts checks both are current" },
  "npm exec -- node scripts/generate-routes.mjs ../shared/docker-api/swagger-v1.56.yaml": {
    notRun: "rewrites src/api from the full spec, which is not in the repository; .ci/run runs its --check where the spec is",
  },
};

afterAll(async () => {
  if (started) {
    started.stop();
    await started.closed;
  }
  for (const c of children) process.kill(-c.pid!, "SIGKILL");
});

describe("README commands", () => {
  it("are all known to this test, and this test knows no other", () => {
    const commands = readmeCommands().map((c) => c.command);
    expect(commands.length).toBeGreaterThan(10);
    expect(commands.filter((c) => !(c in COMMANDS))).toEqual([]);
    expect(Object.keys(COMMANDS).filter((c) => !commands.includes(c))).toEqual([]);
  });

  for (const { command, comment } of readmeCommands()) {
    const h = COMMANDS[command];
    if (h === undefined || !("run" in h)) continue;
    it(`runs as written: ${command}`, () => h.run(command, comment));
  }
});
