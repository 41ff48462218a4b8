// Packaging checks: docker-compose.yml parses with docker-compose (Debian's 1.29.2, installed on
// CI by .ci/run) and keeps the real Docker socket away from the client; the Dockerfile is
// multi-stage, runs as non-root, has a working HEALTHCHECK and ships no dev dependencies.
//
// These are static checks of the files, plus running the healthcheck command against a stand-in
// socket. test/integration/image.test.ts builds the image (on a stand-in base, no registry being
// reachable) and runs docker-compose.yml against the test daemon.

import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');


function compose(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const childEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
    execFile('docker-compose', ['-f', COMPOSE_FILE, ...args], { cwd: ROOT, env: childEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Volume entries as `docker-compose config` prints them: "src:dst[:mode]" or long syntax. */
function mounts(service: Record<string, unknown>): Mount[] {
  const vols = (service.volumes ?? []) as unknown[];
  return vols.map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':');
      return { source, target, readOnly: mode.split(',').includes('ro') };
    }
    const o = v as { source?: string; target?: string; read_only?: boolean };
    return { source: o.source ?? '', target: o.target ?? '', readOnly: o.read_only === true };
  });
}

const isDockerSocket = (p: string) => /(^|\/)docker\.sock$/.test(p) && !p.startsWith('/run/dockgate');

// ---------------------------------------------------------------------------------------------
// A stand-in for dockgate's listen socket, to run the healthcheck commands against.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-packaging-'));
const servers: net.Server[] = [];

function fakeDaemon(name: string, statusLine: string): Promise<string> {
  const sock = path.join(tmp, name);
  const server = net.createServer((c) => {
    c.once('data', () => {
      c.end(`HTTP/1.1 ${statusLine}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK`);
    });
    c.on('error', () => c.destroy());
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(sock, () => resolve(sock)));
}

/**
 * Run a healthcheck's exec-form command (first element "node") with our node, against `sock`.
 * Asynchronously: the stand-in server lives in this process and must keep answering.
 */
function runHealthcheck(cmd: string[], sock: string): Promise<number | null> {
  expect(cmd[0]).toBe('node');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, cmd.slice(1), {
      env: { ...process.env, DOCKGATE_HEALTH_SOCKET: sock },
      stdio: 'ignore',
      timeout: 15_000,
    });
    child.on('exit', (code) => resolve(code));
  });
}

let okSock = '';
let deniedSock = '';
beforeAll(async () => {
  okSock = await fakeDaemon('ok.sock', '200 OK');
  deniedSock = await fakeDaemon('denied.sock', '403 Forbidden');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  let config: { services: Record<string, Record<string, unknown>>; volumes?: Record<string, unknown> };

  beforeAll(async () => {
    const r = await compose(['config'], { DOCKER_GID: '999' });
    expect(r.code, r.stderr).toBe(0);
    config = parseYaml(r.stdout);
  });

  it('parses with docker-compose config and has the dockgate and client services', () => {
    expect(Object.keys(config.services).sort()).toEqual(['client', 'dockgate']);
    expect(config.volumes).toHaveProperty('dockgate-socket');
  });

  it('mounts the real Docker socket into dockgate only', () => {
    const dg = mounts(config.services.dockgate!);
    const real = dg.filter((m) => m.source === '/var/run/docker.sock');
    expect(real).toHaveLength(1);
    expect(real[0]!.target).toBe('/var/run/docker.sock');
    expect(real[0]!.readOnly).toBe(true);

    for (const [name, svc] of Object.entries(config.services)) {
      if (name === 'dockgate') continue;
      const bad = mounts(svc).filter((m) => isDockerSocket(m.source) || m.source === '/var/run' || m.source === '/run');
      expect(bad, `service ${name} must not see the Docker socket`).toEqual([]);
    }
  });

  it("gives the client dockgate's socket through the shared named volume", () => {
    const dg = mounts(config.services.dockgate!);
    const cl = mounts(config.services.client!);
    expect(dg).toContainEqual(expect.objectContaining({ source: 'dockgate-socket', target: '/run/dockgate' }));
    expect(cl).toContainEqual(expect.objectContaining({ source: 'dockgate-socket', target: '/run/dockgate' }));
    const env = config.services.client!.environment as Record<string, string>;
    expect(env.DOCKER_HOST).toBe('unix:///run/dockgate/docker.sock');
    // The shipped profile listens where the client looks.
    const ro = parseYaml(fs.readFileSync(path.join(ROOT, 'config/read-only.yaml'), 'utf8'));
    const paths = (ro.listeners as { unix?: { path?: string } }[]).map((l) => l.unix?.path);
    expect(paths).toContain('/run/dockgate/docker.sock');
  });

  it('hardens the dockgate service', () => {
    const dg = config.services.dockgate!;
    expect(dg.read_only).toBe(true);
    expect(dg.cap_drop).toContain('ALL');
    expect((dg.security_opt as string[]).some((s) => /^no-new-privileges(:true)?$/.test(s))).toBe(true);
    expect(dg.group_add).toEqual(['999']);
    expect(dg.user === undefined || !/^(root|0)(:|$)/.test(String(dg.user))).toBe(true);
    expect(dg.privileged).toBeUndefined();
    expect(dg.command).toEqual(['serve', '--config', '/app/config/read-only.yaml']);
  });

  it("asks for DOCKER_GID (the Docker socket's group) instead of guessing it", async () => {
    const r = await compose(['config'], { DOCKER_GID: undefined });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('stat -c %g /var/run/docker.sock');
  });

  it("has a healthcheck that passes on a 200 /_ping and fails otherwise", async () => {
    const test = (config.services.dockgate!.healthcheck as { test: string[] }).test;
    expect(test[0]).toBe('CMD');
    const cmd = test.slice(1);
    expect(await runHealthcheck(cmd, okSock)).toBe(0);
    expect(await runHealthcheck(cmd, deniedSock)).toBe(1);
    expect(await runHealthcheck(cmd, path.join(tmp, 'missing.sock'))).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  body: Instruction[];
}

/** A small Dockerfile reader: comments dropped, continuation lines joined, split into stages. */
function readDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    if (cur.trim()) logical.push(cur.trim());
    cur = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      const image = f?.[1] ?? rest;
      stages.push({ from: image.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), name: f?.[2], body: [] });
    } else if (op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = rest.split('=');
      args.set(k!.trim(), v.trim());
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.body.push({ op, args: rest });
    }
  }
  return { args, stages };
}

describe('Dockerfile', () => {
  const { stages } = readDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
  const runtime = stages[stages.length - 1]!;
  const ops = (s: Stage, op: string) => s.body.filter((i) => i.op === op);

  it('is multi-stage on Node 24 and builds dist/ in an earlier stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24([-.]|$)/);
    const build = stages.find((s) => ops(s, 'RUN').some((r) => /npm run build|tsc/.test(r.args)));
    expect(build, 'a stage runs the build').toBeDefined();
    expect(build).not.toBe(runtime);
    expect(ops(runtime, 'COPY').some((c) => new RegExp(`--from=${build!.name}\\b.*\\bdist\\b`).test(c.args))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const users = ops(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1]!.args.trim();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });

  it('ships production dependencies only', () => {
    const byName = new Map(stages.filter((s) => s.name).map((s) => [s.name!, s]));
    // No npm install in the runtime stage without --omit=dev ...
    for (const r of ops(runtime, 'RUN')) {
      if (/npm (ci|install|i)\b/.test(r.args)) expect(r.args).toMatch(/--omit[= ]dev|--production/);
    }
    // ... and node_modules copied in only from a stage that installed with --omit=dev.
    const copies = ops(runtime, 'COPY').filter((c) => /node_modules/.test(c.args));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const from = /--from=(\S+)/.exec(c.args)?.[1];
      expect(from, `COPY ${c.args}`).toBeDefined();
      const src = byName.get(from!);
      expect(src, `stage ${from}`).toBeDefined();
      const installs = ops(src!, 'RUN').filter((r) => /npm (ci|install|i)\b/.test(r.args));
      expect(installs.length).toBeGreaterThan(0);
      for (const r of installs) expect(r.args).toMatch(/--omit[= ]dev/);
    }
    // devDependencies exist (typescript, vitest, ...): they must not be what the runtime gets.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.devDependencies ?? {})).toContain('typescript');
  });

  it('has the entrypoint, default command and files it refers to', () => {
    expect(JSON.parse(ops(runtime, 'ENTRYPOINT').at(-1)!.args)).toEqual(['node', 'dist/cli/main.js']);
    expect(JSON.parse(ops(runtime, 'CMD').at(-1)!.args)).toEqual(['serve', '--config', '/app/config/read-only.yaml']);
    expect(fs.existsSync(path.join(ROOT, 'config/read-only.yaml'))).toBe(true);
    for (const s of stages) {
      for (const c of ops(s, 'COPY')) {
        if (/--from=/.test(c.args)) continue;
        const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) expect(fs.existsSync(path.join(ROOT, src)), `COPY ${src}`).toBe(true);
      }
    }
  });

  it('has a HEALTHCHECK that passes on a 200 /_ping and fails otherwise', async () => {
    const hc = ops(runtime, 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(hc[0]!.args);
    expect(m, 'HEALTHCHECK uses the exec form').not.toBeNull();
    const cmd = JSON.parse(m![1]!) as string[];
    expect(await runHealthcheck(cmd, okSock)).toBe(0);
    expect(await runHealthcheck(cmd, deniedSock)).toBe(1);
    expect(await runHealthcheck(cmd, path.join(tmp, 'missing.sock'))).toBe(1);
  });

  it('keeps the listen socket directory writable with a read-only root filesystem', () => {
    expect(ops(runtime, 'VOLUME').some((v) => v.args.includes('/run/dockgate'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The npm package: only what runs dockgate and documents it (package.json files: dist without
// source maps, which point at src/ that is not shipped; config, README, LICENSE; a JSON Schema
// for the config would sit in config/), and it runs from the unpacked tarball.

function npm(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', args, { cwd, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name],
  );
}

describe('npm pack', () => {
  let files: string[] = [];
  beforeAll(async () => {
    const r = await npm(['pack', '--dry-run', '--json', '--ignore-scripts']);
    expect(r.code, r.stderr).toBe(0);
    files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path).sort();
  });

  it('contains only dist, config, README, LICENSE and package.json', () => {
    const outside = files.filter((f) => !/^(dist\/.+\.js|config\/[^/]+\.(yaml|json))$/.test(f));
    expect(outside).toEqual(['LICENSE', 'README.md', 'package.json']);
  });

  it('ships every shipped config and exactly the compiled sources (nothing stale in dist)', () => {
    const configs = fs.readdirSync(path.join(ROOT, 'config')).filter((f) => /\.(yaml|json)$/.test(f)).map((f) => `config/${f}`);
    expect(files.filter((f) => f.startsWith('config/'))).toEqual(configs.sort());
    const compiled = sources(path.join(ROOT, 'src'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => `dist/${f.replace(/\.ts$/, '.js')}`);
    const shipped = files.filter((f) => f.startsWith('dist/'));
    expect(compiled.filter((f) => !shipped.includes(f)), 'compiled sources missing from the package').toEqual([]);
    // tsc does not delete outputs of removed sources; the package would ship them.
    expect(shipped.filter((f) => !compiled.includes(f)), 'stale files in dist/ (rm -rf dist && npm run build)').toEqual([]);
  });

  it('runs from the unpacked tarball: dockgate --version and check', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-pack-'));
    try {
      const r = await npm(['pack', '--ignore-scripts', '--pack-destination', dir]);
      expect(r.code, r.stderr).toBe(0);
      const tgz = path.join(dir, r.stdout.trim().split('\n').at(-1)!);
      execFileSync('tar', ['-xzf', tgz, '-C', dir]);
      // The dependencies as npm would install them next to the package.
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'package/node_modules'));
      const bin = JSON.parse(fs.readFileSync(path.join(dir, 'package/package.json'), 'utf8')).bin.dockgate as string;
      const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
      expect(execFileSync(process.execPath, [path.join(dir, 'package', bin), '--version'], { encoding: 'utf8' })).toBe(`dockgate ${version}\n`);
      const check = execFileSync(process.execPath, [path.join(dir, 'package', bin), 'check', path.join(dir, 'package/config/ci.yaml')], { encoding: 'utf8' });
      expect(check).toContain('ci.yaml: valid');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
