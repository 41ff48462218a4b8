// Per-job tenants with the shipped config/ci-jobs.yaml (paths moved into a temp directory), run as
// `dockgate serve` processes against the test daemon, driven with `dockgate tenants` and used with
// the docker CLI and docker-compose 1.29: a job creates containers (one left running), networks,
// volumes, a built, a committed and a tagged image, a loaded new image and tags (by load and by
// tag) on an image that existed before; a second job at the same time cannot see or
// touch any of it; dockgate restarts in between and the job's socket comes back; deleting the
// tenant removes everything, checked against a snapshot of the daemon taken before (the image
// that existed before is still there, without the job's tags); a TTL does the same on its own.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { compose } from "../harness/compose.js";
import { docker } from "../harness/docker.js";
import { TAR_END, tarEntry } from "../harness/tar.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const MAIN = path.join(ROOT, "dist/cli/main.js");
const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgj-"));
const configFile = path.join(dir, "ci-jobs.yaml");
const admin = path.join(dir, "admin.sock");
const tag = `dgjob${process.pid}`;

let served: { proc: ChildProcess; stderr: () => string; exited: Promise<unknown> } | undefined;
let baseline: Snapshot;

const lines = (s: string) => s.split("\n").filter(Boolean);

interface Snapshot {
  containers: string[];
  networks: string[];
  volumes: string[];
  images: string[];
}

/** Everything on the daemon, by id (images with intermediates: `-a`). */
async function snapshot(): Promise<Snapshot> {
  const get = async (args: string[]) => lines((await docker(daemon, args)).stdout).sort();
  return {
    containers: await get(["ps", "-aq", "--no-trunc"]),
    networks: await get(["network", "ls", "-q", "--no-trunc"]),
    volumes: await get(["volume", "ls", "-q"]),
    images: await get(["images", "-aq", "--no-trunc"]),
  };
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

/** Polls `check` until it holds or the deadline passes (then fails with what it last saw). */
async function until<T>(what: string, probe: () => Promise<T>, check: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function serve(): Promise<void> {
  const proc = spawn(process.execPath, [MAIN, "serve", "--config", configFile, "--no-watch"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  served = { proc, stderr: () => err, exited };
  await until("admin socket", () => canConnect(admin), Boolean, 15_000);
}

async function stopServe(): Promise<void> {
  if (!served) return;
  served.proc.kill("SIGTERM");
  await served.exited;
  served = undefined;
}

async function tenants(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, "tenants", ...args, "--admin", admin]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function list(): Promise<any[]> {
  const r = await tenants("list", "--json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** What the daemon holds with the owner label of `owner`. */
async function labelled(owner: string): Promise<Snapshot> {
  const f = ["--filter", `label=dockgate.owner=${owner}`];
  // A row per tag: one image with two tags is listed twice.
  const get = async (args: string[]) => [...new Set(lines((await docker(daemon, [...args, ...f])).stdout))].sort();
  return {
    containers: await get(["ps", "-aq"]),
    networks: await get(["network", "ls", "-q"]),
    volumes: await get(["volume", "ls", "-q"]),
    images: await get(["images", "-q"]),
  };
}

const NOTHING: Snapshot = { containers: [], networks: [], volumes: [], images: [] };

beforeAll(async () => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const shipped = fs.readFileSync(path.join(ROOT, "config/ci-jobs.yaml"), "utf8");
  fs.writeFileSync(configFile, shipped.replaceAll("/run/dockgate", dir).replace("upstream: /var/run/docker.sock", `upstream: ${daemon}`));
  // Archives for the job to load: a new image (committed on the daemon, saved, removed again) and
  // the test image under a new tag (saved, untagged again).
  const ok = async (args: string[]) => expect((await docker(daemon, args)).code, args.join(" ")).toBe(0);
  await ok(["create", "--name", `${tag}-src`, image, "true"]);
  await ok(["commit", `${tag}-src`, `${tag}-new:1`]);
  await ok(["save", "-o", path.join(dir, "new.tar"), `${tag}-new:1`]);
  await ok(["rm", `${tag}-src`]);
  await ok(["rmi", `${tag}-new:1`]);
  await ok(["tag", image, `${tag}-old:1`]);
  await ok(["save", "-o", path.join(dir, "old.tar"), `${tag}-old:1`]);
  await ok(["rmi", `${tag}-old:1`]);
  // A tag someone else put on the test image: the job names it but does not change it.
  await ok(["tag", image, `${tag}-keep:1`]);
  baseline = await snapshot();
  await serve();
});

afterAll(async () => {
  // A failed test may leave tenants: deleting them is what this file tests, so it is also the cleanup.
  if (served) for (const t of await list().catch(() => [])) await tenants("delete", t.name);
  await stopServe();
  await docker(daemon, ["rmi", `${tag}-keep:1`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("per-job tenants (config/ci-jobs.yaml)", () => {
  let A: string;
  let B: string;
  const project = `${tag}p`;
  const composeDir = path.join(dir, "project");

  it("create: a socket per job, refused for a name in use or a profile not allowed", async () => {
    const a = await tenants("create", `${tag}-a`);
    expect(a.code, a.stderr).toBe(0);
    A = a.stdout.trim();
    expect(A).toBe(path.join(dir, "tenants", `${tag}-a.sock`));
    expect((fs.statSync(A).mode & 0o777).toString(8)).toBe("660");
    const b = await tenants("create", `${tag}-b`, "--json");
    expect(JSON.parse(b.stdout)).toMatchObject({ name: `${tag}-b`, owner: `tenant:${tag}-b`, profile: "ci", socket: path.join(dir, "tenants", `${tag}-b.sock`) });
    B = JSON.parse(b.stdout).socket;
    const again = await tenants("create", `${tag}-a`);
    expect([again.code, again.stderr.trim()]).toEqual([1, `dockgate tenants: tenant ${tag}-a already exists`]);
    const other = await tenants("create", `${tag}-x`, "--profile", "monitor");
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('profile "monitor" may not be used for tenants');
    expect((await list()).map((t) => t.name).sort()).toEqual([`${tag}-a`, `${tag}-b`].sort());
  });

  it("a job works as usual: run, network, volume, build, commit, tag, docker-compose up", async () => {
    const ok = async (socket: string, args: string[]) => {
      const r = await docker(socket, args, { timeoutMs: 120_000 });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      return r.stdout.trim();
    };
    await ok(A, ["run", "-d", "--name", `${tag}-web`, image, "sleep", "300"]);
    await ok(A, ["run", "--name", `${tag}-done`, "-v", `${tag}-vol:/data`, image, "sh", "-c", "echo hi > /data/x"]);
    await ok(A, ["network", "create", `${tag}-net`]);
    fs.mkdirSync(path.join(dir, "ctx"));
    fs.writeFileSync(path.join(dir, "ctx", "Dockerfile"), `FROM ${image}\nRUN echo built > /built\n`);
    const build = await docker(A, ["build", "-t", `${tag}-img:1`, path.join(dir, "ctx")], { timeoutMs: 120_000 });
    expect(build.code, build.stderr).toBe(0);
    await ok(A, ["tag", `${tag}-img:1`, `${tag}-img:2`]);
    await ok(A, ["commit", `${tag}-web`, `${tag}-commit:1`]);
    // Images that carry no owner label: recorded in the tenant's state file.
    expect(await ok(A, ["load", "-i", path.join(dir, "new.tar")])).toContain(`Loaded image: ${tag}-new:1`);
    expect(await ok(A, ["load", "-i", path.join(dir, "old.tar")])).toContain(`Loaded image: ${tag}-old:1`);
    await ok(A, ["tag", image, `${tag}-mine:1`]);
    fs.writeFileSync(path.join(dir, "rootfs.tar"), Buffer.concat([tarEntry("hello", "hi\n"), TAR_END]));
    await ok(A, ["import", path.join(dir, "rootfs.tar"), `${tag}-imp:1`]);
    await ok(A, ["run", "--rm", `${tag}-new:1`, "true"]);
    // Requests naming someone else's tag that leave it where it was: a failed tag, a no-op one.
    expect((await docker(A, ["tag", `${tag}-nonexistent:1`, `${tag}-keep:1`])).code).not.toBe(0);
    await ok(A, ["tag", image, `${tag}-keep:1`]);

    fs.mkdirSync(composeDir);
    fs.writeFileSync(
      path.join(composeDir, "docker-compose.yml"),
      `version: "3.7"\nservices:\n  app:\n    image: ${image}\n    command: ["sleep", "300"]\n    volumes: [data:/data]\n    networks: [back]\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n`,
    );
    const up = await compose(A, composeDir, project, ["up", "-d"]);
    expect(up.code, up.stderr).toBe(0);

    const held = await labelled(`tenant:${tag}-a`);
    expect(held.containers).toHaveLength(3);
    expect(held.networks).toHaveLength(2);
    expect(held.volumes).toHaveLength(2);
    expect(held.images).toHaveLength(2); // the built one (two tags) and the committed one
    const a = (await list()).find((t) => t.name === `${tag}-a`);
    expect(a.holds.containers.sort()).toEqual([`${project}_app_1`, `${tag}-done`, `${tag}-web`].sort());
    expect(a.holds.networks.sort()).toEqual([`${project}_back`, `${tag}-net`].sort());
    expect(a.holds.volumes.sort()).toEqual([`${project}_data`, `${tag}-vol`].sort());
    // By label (built, committed) and by record (loaded, tagged, imported); not the tag it left alone.
    expect(a.holds.images.sort()).toEqual([`${tag}-commit:1`, `${tag}-img:1`, `${tag}-img:2`, `${tag}-new:1`, `${tag}-old:1`, `${tag}-mine:1`, `${tag}-imp:1`].sort());
  });

  it("a second job at the same time sees none of it and cannot touch it", async () => {
    expect((await docker(B, ["ps", "-aq"])).stdout.trim()).toBe("");
    expect(lines((await docker(B, ["volume", "ls", "-q"])).stdout)).toEqual([]);
    expect(lines((await docker(B, ["network", "ls", "--format", "{{.Name}}"])).stdout)).toEqual([]);
    expect((await docker(B, ["rm", "-f", `${tag}-web`])).stderr).toContain(`No such container: ${tag}-web`);
    expect((await docker(B, ["exec", `${tag}-web`, "true"])).stderr).toContain(`No such container: ${tag}-web`);
    expect((await docker(B, ["network", "rm", `${tag}-net`])).code).not.toBe(0);
    expect((await docker(B, ["volume", "rm", `${tag}-vol`])).code).not.toBe(0);
    expect((await compose(B, composeDir, project, ["ps", "-q"])).stdout.trim()).toBe("");
    // Deleting B removes nothing of A's.
    const del = await tenants("delete", `${tag}-b`, "--json");
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout).removed).toEqual(NOTHING);
    expect((await labelled(`tenant:${tag}-a`)).containers).toHaveLength(3);
    expect(fs.existsSync(B)).toBe(false);
    expect((await docker(daemon, ["inspect", "-f", "{{.State.Running}}", `${tag}-web`])).stdout.trim()).toBe("true");
  });

  it("after a dockgate restart the tenant is found again on the daemon and its socket is back (a forged marker is not)", async () => {
    // A job making a volume that looks like a tenant's marker: it carries the job's owner label.
    const forged = await docker(A, ["volume", "create", "--label", "dockgate.tenant=forged", "--label", "dockgate.tenant.profile=ci",
      "--label", "dockgate.tenant.label=dockgate.owner", "dockgate-tenant.forged"]);
    expect(forged.code, forged.stderr).toBe(0);
    await stopServe();
    expect(fs.existsSync(A)).toBe(false);
    await serve();
    await until("tenant socket", () => canConnect(A), Boolean, 15_000);
    expect((await list()).map((t) => t.name)).toEqual([`${tag}-a`]);
    const ps = await docker(A, ["ps", "--format", "{{.Names}}"]);
    expect(lines(ps.stdout).sort()).toEqual([`${project}_app_1`, `${tag}-web`].sort());
  });

  it("delete removes everything the job created, running containers too: the daemon is as before", async () => {
    const del = await tenants("delete", `${tag}-a`, "--json");
    expect(del.code, del.stderr).toBe(0);
    const removed = JSON.parse(del.stdout).removed;
    expect(removed.containers.sort()).toEqual([`${project}_app_1`, `${tag}-done`, `${tag}-web`].sort());
    expect(removed.networks.sort()).toEqual([`${project}_back`, `${tag}-net`].sort());
    expect(removed.volumes.sort()).toEqual([`${project}_data`, `${tag}-vol`, "dockgate-tenant.forged"].sort());
    expect(removed.images.sort()).toEqual([`${tag}-commit:1`, `${tag}-img:1`, `${tag}-img:2`, `${tag}-new:1`, `${tag}-old:1`, `${tag}-mine:1`, `${tag}-imp:1`].sort());
    expect(JSON.parse(del.stdout).kept).toEqual([]);
    // The image that existed before stays, without the job's tags; the job's state file is gone.
    const still = JSON.parse((await docker(daemon, ["image", "inspect", "-f", "{{json .RepoTags}}", image])).stdout) as string[];
    expect(still).toContain(image);
    expect(still.filter((t) => t.startsWith(tag))).toEqual([`${tag}-keep:1`]);
    for (const t of [`${tag}-new:1`, `${tag}-old:1`, `${tag}-mine:1`, `${tag}-imp:1`]) expect((await docker(daemon, ["image", "inspect", t])).code, t).not.toBe(0);
    expect(fs.readdirSync(path.join(dir, "tenants"))).toEqual([]);
    expect(fs.existsSync(A)).toBe(false);
    expect(await list()).toEqual([]);
    expect(await labelled(`tenant:${tag}-a`)).toEqual(NOTHING);
    expect(await snapshot()).toEqual(baseline);
    expect((await tenants("delete", `${tag}-a`)).stderr).toContain(`no such tenant: ${tag}-a`);
  });

  it("a tenant whose TTL runs out is removed with everything it created", async () => {
    const c = await tenants("create", `${tag}-c`, "--ttl", "5");
    expect(c.code, c.stderr).toBe(0);
    const C = c.stdout.trim();
    const r = await docker(C, ["run", "-d", "--name", `${tag}-ttl`, image, "sleep", "300"]);
    // Either the container is made before the TTL ends or the socket is already gone: both end clean.
    expect([0, 1]).toContain(r.code);
    await until("tenant expiry", list, (l) => l.length === 0);
    expect(fs.existsSync(C)).toBe(false);
    expect(await labelled(`tenant:${tag}-c`)).toEqual(NOTHING);
    expect(await snapshot()).toEqual(baseline);
  });
});
