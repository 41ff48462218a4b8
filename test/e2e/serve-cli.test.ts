// `dockgate serve` as a process: the BUILT CLI (dist/, built by `npm test` before vitest) run
// with a shipped config against the test daemon. What is tested is what only a real process
// shows: the socket file (mode, stale and live predecessors, removal), signals and graceful
// shutdown, exit codes and messages.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { docker } from "../harness/docker.js";
import { rawExchange } from "../harness/raw.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const MAIN = path.join(ROOT, "dist/cli/main.js");
const CI_CONFIG = path.join(ROOT, "config/ci.yaml");
const daemon = inject("dockerSocket");
const image = inject("dockerImage");

interface Served {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code, or the signal that ended the process. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Served[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

function serve(args: string[]): Served {
  const proc = spawn(process.execPath, [MAIN, "serve", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const served = { proc, stdout: () => out, stderr: () => err, exited };
  running.push(served);
  return served;
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-cli-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves true when a connection to the socket succeeds, false on any error. */
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

/** Waits until `served` accepts connections on `socketPath` (fails fast if it exits). */
async function ready(served: Served, socketPath: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void served.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`serve exited early\nstdout: ${served.stdout()}\nstderr: ${served.stderr()}`);
    if (fs.existsSync(socketPath) && (await canConnect(socketPath))) return;
    if (Date.now() > deadline) throw new Error(`serve did not listen on ${socketPath} in ${timeoutMs} ms\nstderr: ${served.stderr()}`);
    await sleep(50);
  }
}

async function exitWithin(served: Served, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    served.exited,
    new Promise<"timeout">((resolve) => (timer = setTimeout(resolve, ms, "timeout"))),
  ]);
  clearTimeout(timer);
  if (result === "timeout") throw new Error(`serve did not exit within ${ms} ms\nstderr: ${served.stderr()}`);
  return result;
}

const PING = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";

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

describe("dockgate serve", () => {
  it("creates the socket with the configured mode 0660 and proxies /_ping", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);
    const st = fs.statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);

    const [pong] = await rawExchange(sock, PING, 1);
    expect(pong).toMatchObject({ status: 200, body: "OK" });
    // The config's profile is in force: swarm is not granted to CI jobs.
    const [swarm] = await rawExchange(sock, "GET /v1.41/swarm HTTP/1.1\r\nHost: docker\r\n\r\n", 1);
    expect(swarm!.status).toBe(403);
    expect(swarm!.headers["content-type"]).toBe("application/json");
  });

  it("refuses the host network by id from the first request on, and the daemon creates nothing", async () => {
    const [host] = await rawExchange(daemon, "GET /networks/host HTTP/1.1\r\nHost: docker\r\n\r\n", 1);
    const hostId = (JSON.parse(host!.body) as { Id: string }).Id.slice(0, 12);
    const name = `dg-first-instant-${process.pid}`;
    const body = JSON.stringify({ Image: image, Cmd: ["true"], HostConfig: { NetworkMode: hostId } });
    const create = `POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    cleanups.push(() => void rawExchange(daemon, `DELETE /containers/${name}?force=1 HTTP/1.1\r\nHost: docker\r\n\r\n`, 1).catch(() => {}));
    // The request goes out on the very first connection the listener accepts.
    const deadline = Date.now() + 15_000;
    let reply: Awaited<ReturnType<typeof rawExchange>>[number] | undefined;
    while (reply === undefined) {
      if (s.proc.exitCode !== null) throw new Error(`serve exited early\nstderr: ${s.stderr()}`);
      if (Date.now() > deadline) throw new Error(`serve did not listen on ${sock}\nstderr: ${s.stderr()}`);
      if (fs.existsSync(sock) && (await canConnect(sock))) {
        [reply] = await rawExchange(sock, create, 1);
      } else await sleep(2);
    }
    expect(reply.status, reply.body).toBe(403);
    expect(reply.body).toContain("containers.host-namespaces");
    // Refused before the daemon saw it: no such container.
    const [inspect] = await rawExchange(daemon, `GET /containers/${name}/json HTTP/1.1\r\nHost: docker\r\n\r\n`, 1);
    expect(inspect!.status).toBe(404);
  });

  it("creates a missing socket directory (like /run/dockgate after a reboot)", async () => {
    const dir = path.join(tempDir(), "run", "dockgate");
    const sock = path.join(dir, "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    const [pong] = await rawExchange(sock, PING, 1);
    expect(pong).toMatchObject({ status: 200, body: "OK" });
  });

  it("replaces a stale socket file left by a killed process", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    // A process that listened on the path and died without unlinking it.
    const squatter = spawn(
      process.execPath,
      ["-e", `require("node:net").createServer().listen(${JSON.stringify(sock)}, () => console.log("up"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      squatter.stdout!.once("data", () => resolve());
      squatter.once("exit", (code) => reject(new Error(`squatter exited with ${code}`)));
    });
    squatter.kill("SIGKILL");
    await new Promise((r) => squatter.once("exit", r));
    expect(fs.lstatSync(sock).isSocket()).toBe(true);
    expect(await canConnect(sock)).toBe(false); // stale: nobody answers

    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);
    const [pong] = await rawExchange(sock, PING, 1);
    expect(pong).toMatchObject({ status: 200, body: "OK" });
    expect(fs.statSync(sock).mode & 0o777).toBe(0o660);
  });

  it("does not steal a socket another live process serves", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const other = net.createServer((c) => {
      c.on("data", () => c.end("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nother"));
      c.on("error", () => {});
    });
    await new Promise<void>((resolve) => other.listen(sock, resolve));
    cleanups.push(() => new Promise<void>((resolve) => other.close(() => resolve())));

    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    const { code } = await exitWithin(s, 15_000);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(s.stderr()).toMatch(/in use by another live process/);
    expect(s.stderr()).toContain(sock);

    // The other server still has its socket and still answers on it.
    expect(fs.lstatSync(sock).isSocket()).toBe(true);
    const [reply] = await rawExchange(sock, PING, 1);
    expect(reply).toMatchObject({ status: 200, body: "other" });
  });

  it("refuses a path that exists and is not a socket", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    fs.writeFileSync(sock, "precious\n");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    const { code } = await exitWithin(s, 15_000);
    expect(code).toBe(1);
    expect(s.stderr()).toMatch(/not a socket/);
    expect(fs.readFileSync(sock, "utf8")).toBe("precious\n");
  });

  it("on SIGTERM finishes the request in flight, refuses new connections, exits 0 and removes the socket", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);

    const name = `dg-serve-wait-${process.pid}-${Date.now()}`;
    const run = await docker(daemon, ["run", "-d", "--name", name, image, "sleep", "3"]);
    expect(run.code, run.stderr).toBe(0);
    cleanups.push(async () => void (await docker(daemon, ["rm", "-f", name])));

    // The daemon sends the head of a wait response at once and its body when the container exits.
    const client = net.createConnection(sock);
    let received = "";
    let headAt = 0;
    const ended = new Promise<number>((resolve, reject) => {
      client.on("data", (c: Buffer) => {
        received += c.toString("latin1");
        if (headAt === 0 && received.includes("\r\n\r\n")) headAt = Date.now();
      });
      client.on("end", () => resolve(Date.now()));
      client.on("error", reject);
    });
    client.write(`POST /v1.41/containers/${name}/wait HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n`);
    const deadline = Date.now() + 10_000;
    while (headAt === 0 && Date.now() < deadline) await sleep(20);
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).not.toContain("StatusCode"); // still waiting

    const termAt = Date.now();
    s.proc.kill("SIGTERM");
    // New connections are refused while the wait is still in flight.
    let refusedAt = 0;
    while (Date.now() - termAt < 2_000) {
      if (!(await canConnect(sock))) {
        refusedAt = Date.now();
        break;
      }
      await sleep(20);
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(received).not.toContain("StatusCode");

    const endAt = await ended;
    expect(received).toMatch(/"StatusCode":0/);
    expect(endAt).toBeGreaterThan(refusedAt);
    expect(endAt - termAt).toBeGreaterThan(500); // the container was still sleeping at SIGTERM

    const { code, signal } = await exitWithin(s, 10_000);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });

  it("on SIGTERM with nothing in flight exits 0 at once, closing idle keep-alive connections", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);
    // An idle keep-alive connection that already had one exchange.
    const idle = net.createConnection(sock);
    const closed = new Promise<void>((resolve) => idle.on("close", () => resolve()));
    idle.on("error", () => {});
    let got = "";
    idle.on("data", (c: Buffer) => (got += c.toString()));
    idle.write(PING);
    const deadline = Date.now() + 5_000;
    while (!got.endsWith("OK") && Date.now() < deadline) await sleep(20);
    expect(got).toMatch(/^HTTP\/1\.1 200 [\s\S]*OK$/);

    const termAt = Date.now();
    s.proc.kill("SIGTERM");
    const { code } = await exitWithin(s, 5_000);
    expect(code).toBe(0);
    await closed;
    // Well before the 10 s grace period of the config.
    expect(Date.now() - termAt).toBeLessThan(5_000);
    expect(fs.existsSync(sock)).toBe(false);
  });

  it("exits 1 on an invalid config and names file:line:col", async () => {
    const dir = tempDir();
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(
      file,
      [
        "upstream: /var/run/docker.sock",
        "listeners:",
        "  - name: a",
        "    unix:",
        `      path: ${path.join(dir, "a.sock")}`,
        "    profile: p",
        "profiles:",
        "  p:",
        "    allow: [ping, no-such-group]",
        "",
      ].join("\n"),
    );
    const s = serve(["--config", file, "--listen", path.join(dir, "dg.sock"), "--upstream", daemon]);
    const { code } = await exitWithin(s, 15_000);
    expect(code).toBe(1);
    expect(s.stderr()).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:9:\\d+: .*no-such-group`));
    expect(fs.existsSync(path.join(dir, "dg.sock"))).toBe(false);
  });

  it("exits 1 when the config file does not exist, and 2 on a bad option", async () => {
    const missing = serve(["--config", "/nonexistent/dockgate.yaml"]);
    expect((await exitWithin(missing, 15_000)).code).toBe(1);
    expect(missing.stderr()).toContain("/nonexistent/dockgate.yaml");

    const bad = serve(["--no-such-option"]);
    expect((await exitWithin(bad, 15_000)).code).toBe(2);
    expect(bad.stderr()).toMatch(/unknown option --no-such-option/);
  });

  it("refuses the host network named by its id (learned from the daemon at start)", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", daemon]);
    await ready(s, sock);
    const [net] = await rawExchange(daemon, "GET /v1.41/networks/host HTTP/1.1\r\nHost: d\r\n\r\n", 1);
    const hostId = JSON.parse(net!.body).Id as string;
    const name = `dg-hostid-${process.pid}`;
    const body = JSON.stringify({ Image: image, Cmd: ["true"], HostConfig: { NetworkMode: hostId.slice(0, 12) } });
    const req = `POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    let reply;
    for (let i = 0; i < 50; i++) {
      // The id is learned right after start: give that one lookup a moment.
      [reply] = await rawExchange(sock, req, 1);
      if (reply!.status === 403) break;
      await rawExchange(daemon, `DELETE /v1.41/containers/${name}?force=1 HTTP/1.1\r\nHost: d\r\n\r\n`, 1);
      await sleep(100);
    }
    expect(reply!.status).toBe(403);
    expect(JSON.parse(reply!.body).message).toContain("rule containers.host-namespaces");
    const [inspect] = await rawExchange(daemon, `GET /v1.41/containers/${name}/json HTTP/1.1\r\nHost: d\r\n\r\n`, 1);
    expect(inspect!.status).toBe(404);
  });

  it("answers 502 with a JSON message when the daemon is unreachable", async () => {
    const sock = path.join(tempDir(), "dg.sock");
    const s = serve(["--config", CI_CONFIG, "--listen", sock, "--upstream", "/nonexistent.sock"]);
    await ready(s, sock);
    const [reply] = await rawExchange(sock, PING, 1);
    expect(reply!.status).toBe(502);
    expect(reply!.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(reply!.body) as { message?: unknown };
    expect(typeof body.message).toBe("string");
    expect(body.message).toMatch(/nonexistent\.sock/);
    // Still serving: the next connection gets the same clean answer.
    const [again] = await rawExchange(sock, PING, 1);
    expect(again!.status).toBe(502);
  });
});
