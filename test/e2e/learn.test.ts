// The audit → learn → enforce workflow with the BUILT CLI (dist/, built by `npm test` before
// vitest) and the docker CLI against the test daemon:
//
//   1. `dockgate serve --config config/audit.yaml` with its log on a file; a small workflow
//      (ps, run, run with a bind mount that enforce mode would refuse, exec, a failing stop);
//   2. `dockgate learn LOG`;
//   3. the learned profile in a config, served in enforce mode: the same workflow works, the bind
//      mount (proposed only as a commented REVIEW line) and what the workflow never did are denied.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { docker } from "../harness/docker.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const MAIN = path.join(ROOT, "dist/cli/main.js");
const AUDIT_CONFIG = path.join(ROOT, "config/audit.yaml");
const daemon = inject("dockerSocket");
const image = inject("dockerImage");

interface Served {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Served[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

/** `dockgate serve ARGS` with its stdout (the request log) written to `logFile`. */
function serve(args: string[], logFile: string): Served {
  const out = fs.openSync(logFile, "w");
  const proc = spawn(process.execPath, [MAIN, "serve", "--no-watch", ...args], { cwd: ROOT, stdio: ["ignore", out, "pipe"] });
  fs.closeSync(out);
  let err = "";
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const served = { proc, stderr: () => err, exited };
  running.push(served);
  return served;
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function ready(served: Served, socketPath: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let exited = false;
  void served.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`serve exited early\nlog: ${fs.readFileSync(logFile, "utf8")}\nstderr: ${served.stderr()}`);
    if (fs.existsSync(socketPath) && (await canConnect(socketPath))) return;
    if (Date.now() > deadline) throw new Error(`serve did not listen on ${socketPath}\nstderr: ${served.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, and wait for the exit that flushes the log. */
async function stop(served: Served): Promise<void> {
  served.proc.kill("SIGTERM");
  const { code } = await served.exited;
  expect(code, served.stderr()).toBe(0);
}

function learn(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, "learn", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Rec {
  op?: string;
  decision?: string;
  status?: number;
  rule?: string;
  audit?: { rule: string; field?: string; message?: string };
}

function records(logFile: string): Rec[] {
  const out: Rec[] = [];
  for (const l of fs.readFileSync(logFile, "utf8").split("\n")) {
    if (!l.startsWith("{")) continue;
    const r = JSON.parse(l) as Rec;
    if (typeof r.op === "string") out.push(r);
  }
  return out;
}

/** Entries of the active (uncommented) `allow:` list of the profile in the learned YAML. */
function activeAllow(yaml: string): string[] {
  const lines = yaml.split("\n");
  let i = lines.findIndex((l) => /^ {4}allow:/.test(l));
  const out: string[] = [];
  for (i++; i > 0 && i < lines.length && /^ {6}/.test(lines[i]!); i++) {
    const m = /^ {6}- (\S+)/.exec(lines[i]!);
    if (m) out.push(m[1]!);
  }
  return out;
}

function tempDir(): string {
  // Short: unix socket paths are limited to 107 bytes.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-learn-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

beforeAll(() => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
});

afterEach(async () => {
  for (const s of running.splice(0)) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill("SIGKILL");
      await s.exited;
    }
  }
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The workflow: what an application does with the docker CLI. */
async function workflow(sock: string, name: string) {
  cleanups.push(async () => void (await docker(daemon, ["rm", "-f", name])));
  const ps = await docker(sock, ["ps"]);
  const hi = await docker(sock, ["run", "--rm", image, "echo", "hi"]);
  const bind = await docker(sock, ["run", "--rm", "-v", "/tmp:/x", image, "true"]);
  const detached = await docker(sock, ["run", "-d", "--name", name, image, "sleep", "60"]);
  const exec = await docker(sock, ["exec", name, "echo", "from-exec"]);
  const rm = await docker(sock, ["rm", "-f", name]);
  // Fails at the daemon (no such container): must not become a grant.
  const stopMissing = await docker(sock, ["stop", `${name}-missing`]);
  return { ps, hi, bind, detached, exec, rm, stopMissing };
}

describe("audit → learn → enforce", () => {
  it("learns the smallest profile for a docker CLI workflow, and enforcing it allows that workflow only", { timeout: 240_000 }, async () => {
    const dir = tempDir();
    const name = `dg-learn-${process.pid}-${Date.now()}`;

    // ── 1. audit ──
    const auditSock = path.join(dir, "audit.sock");
    const auditLog = path.join(dir, "audit.log");
    const audit = serve(["--config", AUDIT_CONFIG, "--listen", auditSock, "--upstream", daemon], auditLog);
    await ready(audit, auditSock, auditLog);
    const a = await workflow(auditSock, name);
    expect(a.ps.code, a.ps.stderr).toBe(0);
    expect(a.hi.code, a.hi.stderr).toBe(0);
    expect(a.hi.stdout).toBe("hi\n");
    expect(a.bind.code, a.bind.stderr).toBe(0); // audit mode lets it through
    expect(a.detached.code, a.detached.stderr).toBe(0);
    expect(a.exec.code, a.exec.stderr).toBe(0);
    expect(a.exec.stdout).toBe("from-exec\n");
    expect(a.rm.code, a.rm.stderr).toBe(0);
    expect(a.stopMissing.code).not.toBe(0);
    await stop(audit);

    const logged = records(auditLog);
    // What the log shows: every request allowed, the bind mount as an audit record.
    expect(logged.every((r) => r.decision === "allow")).toBe(true);
    const bindAudit = logged.filter((r) => r.audit?.rule === "containers.bind-mounts");
    expect(bindAudit).toHaveLength(1);
    expect(bindAudit[0]).toMatchObject({ op: "ContainerCreate", audit: { field: "HostConfig.Binds[0]" } });
    expect(logged.some((r) => r.op === "ContainerStop" && r.status === 404)).toBe(true);
    // The expected grant, from the log: operations with at least one answer below 400.
    const used = [...new Set(logged.filter((r) => (r.status ?? 0) < 400).map((r) => r.op!))].sort();
    const failedOnly = [...new Set(logged.map((r) => r.op!))].filter((op) => !used.includes(op)).sort();
    expect(failedOnly).toContain("ContainerStop");

    // ── 2. learn ──
    const learned = await learn([auditLog]);
    expect(learned.code, learned.stderr).toBe(0);
    expect(learned.stderr).toBe("");
    const yaml = learned.stdout;
    expect(activeAllow(yaml)).toEqual(used);
    for (const op of ["ContainerList", "ContainerCreate", "ContainerStart", "ContainerWait", "ContainerExec", "ExecStart", "ContainerDelete"]) {
      expect(activeAllow(yaml), op).toContain(op);
    }
    expect(yaml).not.toContain("SwarmInit");
    for (const op of failedOnly) expect(yaml).toMatch(new RegExp(`^ {6}# - ${op} +# `, "m"));
    // The bind mount: only a commented line under a REVIEW note, never an active grant.
    expect(yaml).toMatch(/^ {6}# REVIEW: bindMounts is not granted/m);
    expect(yaml).toMatch(/^ {6}# {5}- \{ path: "\/tmp", readOnly: false \}/m);
    expect(yaml).not.toMatch(/^\s*bindMounts:/m);
    expect(yaml).not.toMatch(/^\s*-\s*\{ path:/m);
    expect(yaml).toMatch(/^ {4}mode: enforce$/m);
    // `-` reads the same log from standard input
    const viaStdin = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [MAIN, "learn", "-"], { cwd: ROOT, stdio: [fs.openSync(auditLog, "r"), "pipe", "inherit"] });
      let out = "";
      p.stdout.on("data", (c: Buffer) => (out += c.toString()));
      p.on("error", reject);
      p.on("close", () => resolve(out));
    });
    expect(activeAllow(viaStdin)).toEqual(used);

    // ── 3. enforce ──
    const config = [
      "listeners:",
      "  - name: app",
      "    unix:",
      "      path: /run/dockgate/app.sock     # replaced by --listen",
      "    profile: app",
      yaml,
    ].join("\n");
    const enforceConfig = path.join(dir, "enforce.yaml");
    fs.writeFileSync(enforceConfig, config);
    const parsed = parseConfigText(config, enforceConfig, { checkFiles: false });
    expect(parsed.warnings).toBeUndefined();
    expect([...parsed.profiles.get("app")!.allow].sort()).toEqual(used);

    const enforceSock = path.join(dir, "enforce.sock");
    const enforceLog = path.join(dir, "enforce.log");
    const enforce = serve(["--config", enforceConfig, "--listen", enforceSock, "--upstream", daemon], enforceLog);
    await ready(enforce, enforceSock, enforceLog);
    const e = await workflow(enforceSock, `${name}-e`);
    expect(e.ps.code, e.ps.stderr).toBe(0);
    expect(e.hi.code, e.hi.stderr).toBe(0);
    expect(e.hi.stdout).toBe("hi\n");
    expect(e.detached.code, e.detached.stderr).toBe(0);
    expect(e.exec.code, e.exec.stderr).toBe(0);
    expect(e.exec.stdout).toBe("from-exec\n");
    expect(e.rm.code, e.rm.stderr).toBe(0);
    // Refused now: the bind mount (not granted), and the stop that had only ever failed.
    expect(e.bind.code).not.toBe(0);
    expect(e.bind.stderr).toContain("rule containers.bind-mounts");
    expect(e.stopMissing.code).not.toBe(0);
    expect(e.stopMissing.stderr).toContain("rule endpoint.allow");
    // ... and anything the workflow never did.
    const networks = await docker(enforceSock, ["network", "ls"]);
    expect(networks.code).not.toBe(0);
    expect(networks.stderr).toContain("rule endpoint.allow");
    await stop(enforce);

    // Enforce mode allowed every operation the learned profile grants, as the audit run used them.
    const enforced = records(enforceLog);
    const denied = enforced.filter((r) => r.decision !== "allow");
    expect(denied.map((r) => `${r.op} ${r.rule}`).sort()).toEqual([
      "ContainerCreate containers.bind-mounts",
      "ContainerStop endpoint.allow",
      "NetworkList endpoint.allow",
    ]);
    const allowedOps = new Set(enforced.filter((r) => r.decision === "allow").map((r) => r.op!));
    for (const op of used) expect(allowedOps.has(op), op).toBe(true);
  });
});
