// Test harness: a Docker daemon and a tiny busybox image for integration tests.
//
// ensureDaemon() reuses a running daemon ($DOCKGATE_TEST_DOCKER_SOCK, then
// /var/run/docker.sock) or starts a private dockerd under /tmp that does not
// interfere with any other daemon on the machine (including another private
// one started by a parallel test run). stopOwnedDaemon() tears down only a
// daemon this process started.
//
// Isolation of a private daemon (slot N, 0 <= N < SLOTS):
//   - own bridge "dgtestN" (created here; it doubles as the slot lock because
//     `ip link add` is atomic) with address 10.(200+N).0.1/24 -> `--bridge`;
//   - own pool for user-defined networks (docker-compose):
//     `--default-address-pool base=10.(200+N).128.0/17,size=24`;
//   - `--iptables=false`: a dockerd with iptables enabled flushes the shared
//     DOCKER* chains on start-up, breaking every other daemon. Instead one
//     FORWARD ACCEPT rule for 10.(200+N).0.0/16 is added (br_netfilter makes
//     container-to-container traffic traverse FORWARD, whose policy is often
//     DROP). Published ports work through docker-proxy. No NAT: containers
//     cannot reach the outside world (nothing to pull anyway).
//   - own --config-file (ignores /etc/docker/daemon.json), containerd namespaces.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';

const execFileP = promisify(execFile);

export const TEST_IMAGE = 'dockgate-test:busybox';
const SHARED_SOCKET = '/var/run/docker.sock';
const SLOTS = 48;
const PING_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
// dockerd needs containerd, runc, docker-proxy, iptables on PATH; so do we (ip, iptables).
const SBIN_PATH = [process.env.PATH ?? '', '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
  .filter(Boolean)
  .join(':');

export interface DockerDaemon {
  socket: string;
  image: string;
  owned: boolean;
}

interface OwnedDaemon {
  proc: ChildProcess;
  exited: Promise<void>;
  dir: string;
  socket: string;
  bridge: string;
  subnet: string;
}

let owned: OwnedDaemon | undefined;
let pending: Promise<DockerDaemon> | undefined;

// ---------------------------------------------------------------- HTTP over the socket

interface Reply {
  status: number;
  body: string;
}

function request(socket: string, method: string, urlPath: string, body?: Readable, timeoutMs = 30_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: urlPath, headers: { host: 'docker' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body) {
      req.setHeader('content-type', 'application/x-tar');
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end();
    }
  });
}

async function ping(socket: string): Promise<boolean> {
  try {
    const r = await request(socket, 'GET', '/_ping', undefined, 2_000);
    return r.status === 200 && r.body === 'OK';
  } catch {
    return false;
  }
}

async function getJson<T>(socket: string, urlPath: string): Promise<T> {
  const r = await request(socket, 'GET', urlPath);
  if (r.status !== 200) throw new Error(`GET ${urlPath}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

// ---------------------------------------------------------------- small helpers

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { env: { ...process.env, PATH: SBIN_PATH } });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** IPv4 routes of the host as [network, mask] (host byte order), default route excluded. */
function hostRoutes(): Array<[number, number]> {
  const le = (hex: string) => {
    const n = parseInt(hex, 16);
    return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) >>> 0;
  };
  return fs
    .readFileSync('/proc/net/route', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f): [number, number] => [le(f[1]!), le(f[7]!)])
    .filter(([, mask]) => mask !== 0);
}

/** true if /bin/busybox-like file is a static ELF (no PT_INTERP program header). */
function isStaticElf(file: string): boolean {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // 64-bit ELF only
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

// ---------------------------------------------------------------- private daemon

/** Claims a free slot by creating its bridge (atomic); returns slot data. */
async function claimSlot(): Promise<{ bridge: string; net: string }> {
  const routes = hostRoutes();
  for (let n = 0; n < SLOTS; n++) {
    const octet = 200 + n;
    const base = ((10 << 24) | (octet << 16)) >>> 0;
    const mask = 0xffff0000;
    if (routes.some(([net, m]) => ((net & m & mask) >>> 0) === ((base & m & mask) >>> 0))) continue;
    const bridge = `dgtest${n}`;
    try {
      await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    } catch {
      continue; // taken by another run (or left over by a crashed one)
    }
    try {
      await run('ip', ['addr', 'add', `10.${octet}.0.1/24`, 'dev', bridge]);
      await run('ip', ['link', 'set', bridge, 'up']);
    } catch (err) {
      await run('ip', ['link', 'del', bridge]).catch(() => {});
      throw err;
    }
    return { bridge, net: `10.${octet}` };
  }
  throw new Error(
    `no free dockgate test network slot (bridges dgtest0..dgtest${SLOTS - 1} all exist or 10.200-247.0.0/16 overlap host routes); ` +
      `stale ones from crashed runs can be removed with: ip link del dgtestN`,
  );
}

function forwardRule(action: '-I' | '-D', subnet: string): string[] {
  return ['-w', action, 'FORWARD', '-s', subnet, '-d', subnet, '-m', 'comment', '--comment', 'dockgate-test', '-j', 'ACCEPT'];
}

async function startDaemon(): Promise<OwnedDaemon> {
  if (process.getuid?.() !== 0) {
    throw new Error('no Docker daemon reachable and starting a private dockerd needs root (set DOCKGATE_TEST_DOCKER_SOCK to a running daemon)');
  }
  const dir = fs.mkdtempSync(path.join('/tmp', 'dgt-'));
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const configFile = path.join(dir, 'daemon.json');
  fs.writeFileSync(configFile, '{}\n');

  let slot: { bridge: string; net: string };
  try {
    slot = await claimSlot();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const subnet = `${slot.net}.0.0/16`;
  const args = [
    '--host', `unix://${socket}`,
    '--data-root', path.join(dir, 'root'),
    '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'docker.pid'),
    '--config-file', configFile,
    '--bridge', slot.bridge,
    '--default-address-pool', `base=${slot.net}.128.0/17,size=24`,
    '--iptables=false',
    '--ip-masq=false',
    '--containerd-namespace', `dockgate-${slot.bridge}`,
    '--containerd-plugins-namespace', `dockgate-${slot.bridge}-plugins`,
    '--shutdown-timeout', '5',
  ];
  const log = fs.openSync(logFile, 'a');
  const proc = spawn('dockerd', args, { stdio: ['ignore', log, log], env: { ...process.env, PATH: SBIN_PATH } });
  fs.closeSync(log);
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
    proc.on('error', (err) => {
      exitInfo = `failed to spawn: ${err.message}`;
      resolve();
    });
  });
  const daemon: OwnedDaemon = { proc, exited, dir, socket, bridge: slot.bridge, subnet };
  owned = daemon;
  process.once('exit', () => {
    // last resort if teardown never ran: at least do not leave dockerd running
    if (owned === daemon && proc.exitCode === null) proc.kill('SIGTERM');
  });

  try {
    await run('iptables', forwardRule('-I', subnet));
    const deadline = Date.now() + PING_TIMEOUT_MS;
    while (!(await ping(socket))) {
      if (exitInfo) throw new Error(`dockerd ${exitInfo}`);
      if (Date.now() > deadline) throw new Error(`dockerd did not answer /_ping within ${PING_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
  } catch (err) {
    const msg = `${(err as Error).message}\n--- dockerd ${args.join(' ')}\n--- tail of ${logFile}:\n${tail(logFile)}`;
    await stopOwnedDaemon().catch(() => {});
    throw new Error(msg);
  }
  return daemon;
}

/** Stops the daemon started by this process (if any) and removes everything it created. */
export async function stopOwnedDaemon(): Promise<void> {
  const d = owned;
  if (!d) return;
  pending = undefined;
  const problems: string[] = [];

  // 1. containers and user-defined networks: removing them lets dockerd exit fast and delete its br-* bridges
  const leftoverBridges: string[] = [];
  if (d.proc.exitCode === null && (await ping(d.socket))) {
    try {
      const containers = await getJson<Array<{ Id: string }>>(d.socket, '/containers/json?all=1');
      await Promise.all(containers.map((c) => request(d.socket, 'DELETE', `/containers/${c.Id}?force=1&v=1`)));
      const networks = await getJson<Array<{ Id: string; Name: string; Driver: string; Options?: Record<string, string> }>>(
        d.socket,
        '/networks',
      );
      for (const n of networks) {
        if (n.Driver !== 'bridge' || n.Name === 'bridge') continue;
        leftoverBridges.push(n.Options?.['com.docker.network.bridge.name'] ?? `br-${n.Id.slice(0, 12)}`);
        await request(d.socket, 'DELETE', `/networks/${n.Id}`);
      }
    } catch (err) {
      problems.push(`cleaning containers/networks: ${(err as Error).message}`);
    }
  }

  // 2. the daemon itself
  if (d.proc.exitCode === null && d.proc.signalCode === null) {
    d.proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      d.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS, false))),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      problems.push(`dockerd did not stop within ${STOP_TIMEOUT_MS / 1000} s after SIGTERM; killed`);
      d.proc.kill('SIGKILL');
      await d.exited;
      try {
        const pid = Number(fs.readFileSync(path.join(d.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8'));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        /* no managed containerd left */
      }
    }
  }

  // 3. host networking state
  await run('iptables', forwardRule('-D', d.subnet)).catch(() => {});
  for (const link of [d.bridge, ...leftoverBridges]) {
    await run('ip', ['link', 'del', link]).catch(() => {});
  }

  // 4. mounts dockerd may leave behind (it bind-mounts its data root), then the directory
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === d.dir || m.startsWith(d.dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    await run('umount', [m]).catch(() => run('umount', ['-l', m]).catch((err: Error) => problems.push(err.message)));
  }
  try {
    fs.rmSync(d.dir, { recursive: true, force: true });
  } catch (err) {
    problems.push(`removing ${d.dir}: ${(err as Error).message}`);
  }
  owned = undefined;
  if (problems.length) throw new Error(`stopping private dockerd (${d.dir}): ${problems.join('; ')}`);
}

// ---------------------------------------------------------------- image

async function ensureImage(socket: string): Promise<string> {
  const ref = encodeURIComponent(TEST_IMAGE);
  if ((await request(socket, 'GET', `/images/${ref}/json`)).status === 200) return TEST_IMAGE;

  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((f) => fs.existsSync(f));
  if (!busybox) throw new Error('busybox not found (/bin/busybox, /usr/bin/busybox): apt-get install busybox-static');
  if (!isStaticElf(busybox)) throw new Error(`${busybox} is not statically linked: apt-get install busybox-static`);

  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'dgt-img-'));
  try {
    for (const d of ['bin', 'usr/bin', 'etc', 'proc', 'sys', 'dev', 'root', 'tmp', 'var/tmp']) {
      fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    }
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.chmodSync(path.join(rootfs, 'var/tmp'), 0o1777);
    fs.chmodSync(path.join(rootfs, 'root'), 0o700);
    fs.copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    const applets = (await run(busybox, ['--list'])).split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
    for (const a of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
    fs.symlinkSync('../../bin/busybox', path.join(rootfs, 'usr/bin/env')); // for #!/usr/bin/env
    fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');

    const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tarErr = '';
    tar.stderr.on('data', (c: Buffer) => (tarErr += c.toString()));
    const tarDone = new Promise<number | null>((resolve) => tar.on('close', resolve));
    const [repo, tag] = TEST_IMAGE.split(':') as [string, string];
    const q = new URLSearchParams({ fromSrc: '-', repo, tag, changes: 'CMD ["sh"]' });
    const r = await request(socket, 'POST', `/images/create?${q}`, tar.stdout, 120_000);
    const tarCode = await tarDone;
    if (tarCode !== 0) throw new Error(`tar of the test image failed (${tarCode}): ${tarErr}`);
    if (r.status !== 200 || r.body.includes('"error"')) throw new Error(`importing ${TEST_IMAGE}: HTTP ${r.status} ${r.body}`);
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
  if ((await request(socket, 'GET', `/images/${ref}/json`)).status !== 200) {
    throw new Error(`${TEST_IMAGE} missing right after import`);
  }
  return TEST_IMAGE;
}

// ---------------------------------------------------------------- public API

/**
 * Returns a Docker daemon to test against (socket path) with the test image present.
 * Reuses $DOCKGATE_TEST_DOCKER_SOCK or /var/run/docker.sock when they answer /_ping,
 * otherwise starts a private dockerd (owned=true; stop it with stopOwnedDaemon()).
 * Throws (with the tail of dockerd's log) when no daemon can be had.
 */
export function ensureDaemon(): Promise<DockerDaemon> {
  pending ??= (async () => {
    if (owned) return { socket: owned.socket, image: await ensureImage(owned.socket), owned: true };
    const fromEnv = process.env.DOCKGATE_TEST_DOCKER_SOCK;
    const candidates = [fromEnv, SHARED_SOCKET].filter((s): s is string => !!s);
    for (const socket of candidates) {
      if (await ping(socket)) return { socket, image: await ensureImage(socket), owned: false };
      if (socket === fromEnv) console.warn(`[dockgate-test] DOCKGATE_TEST_DOCKER_SOCK=${fromEnv} does not answer /_ping; ignoring it`);
    }
    const d = await startDaemon();
    try {
      return { socket: d.socket, image: await ensureImage(d.socket), owned: true };
    } catch (err) {
      await stopOwnedDaemon().catch(() => {});
      throw err;
    }
  })();
  const p = pending;
  p.catch(() => {
    if (pending === p) pending = undefined;
  });
  return p;
}

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the docker CLI against `socket` (DOCKER_HOST=unix://socket); never throws on a non-zero exit.
 * `binary` picks another CLI (/usr/bin/docker is Debian's 20.10), `env` adds to its environment.
 */
export function docker(socket: string, args: string[], opts: { input?: string; timeoutMs?: number; binary?: string; env?: NodeJS.ProcessEnv } = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, PATH: SBIN_PATH, ...opts.env };
    delete env.DOCKER_CONTEXT;
    const p = spawn(opts.binary ?? 'docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    // A CLI that exits without reading its stdin makes this write fail with EPIPE: that is no error.
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
  });
}
