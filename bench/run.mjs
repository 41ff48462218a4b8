#!/usr/bin/env node
// dockgate bench: one command, one run, three targets measured interleaved round by round
// (direct daemon socket, dockgate, and a zero-parsing node:net pipe as the ceiling for any Node
// proxy), plus the same proxies in front of a stub upstream so the daemon's cost is out of the
// picture. See bench/README.md. Exit code: 0 when it ran (PASS/MISS never change it), 1 when it
// could not run (no daemon, no config, dockgate did not start, global timeout).

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { HttpConn, reqHead, call } from "./client.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");

// ---------------------------------------------------------------------------------------------
// Options

const { values: opt } = parseArgs({
  options: {
    upstream: { type: "string" },
    image: { type: "string" },
    config: { type: "string" },
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    only: { type: "string" },
    "max-seconds": { type: "string" },
    "keep-logs": { type: "string" },
    dockgate: { type: "string" },
    baseline: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  allowPositionals: false,
});

if (opt.help) {
  console.log(`usage: npm run bench -- [options]      (= npm run build && node bench/run.mjs)

  --upstream SOCK    Docker daemon socket (default: $DOCKGATE_BENCH_DOCKER_SOCK, else /var/run/docker.sock,
                     else $DOCKGATE_TEST_DOCKER_SOCK); a reachable daemon is required
  --image IMG        busybox-like image with sh, cat, yes, head, tr (default: $DOCKGATE_BENCH_IMAGE or dgtest:latest)
  --config FILE      dockgate config (default: config/ci.yaml); its profile must allow _ping,
                     container list/logs/archive/attach and events for every row to be measured
  --quick            ~1 minute version (fewer rounds, shorter slots, smaller streams)
  --rounds N         interleaved rounds per measurement (default 6, quick 3)
  --only LIST        comma list of phases: ping,cpu,stub,list,create,logs,images,archive,attach,
                     attachbulk,buildkit,memory
  --max-seconds N    hard stop for the whole run (default 420, quick 150)
  --keep-logs DIR    copy dockgate's log files there before cleanup
  --dockgate FILE    dockgate entry point (default: dist/cli/main.js)
  --baseline FILE    another build's entry point (e.g. main's dist/cli/main.js, in a directory whose
                     node_modules resolve), measured interleaved as one more target in the cpu, stub
                     and create phases: before/after in one run (rows "..., baseline build")`);
  process.exit(0);
}

const QUICK = opt.quick;
const ROUNDS = Math.max(1, parseInt(opt.rounds ?? (QUICK ? "3" : "6"), 10));
const MAX_SECONDS = parseInt(opt["max-seconds"] ?? (QUICK ? "150" : "420"), 10);
const IMAGE = opt.image ?? process.env.DOCKGATE_BENCH_IMAGE ?? "dgtest:latest";
const CONFIG = path.resolve(opt.config ?? path.join(ROOT, "config/ci.yaml"));
const PHASES = new Set(
  (opt.only ?? "ping,cpu,stub,list,create,logs,images,archive,attach,attachbulk,buildkit,memory").split(",").map((s) => s.trim()),
);

const P = QUICK
  ? {
      pingSlotMs: 300,
      cpuCount: 3000,
      stubCount: 8000,
      listSlotMs: 400,
      logsBytes: 32 * 1024 * 1024,
      logsRounds: 2,
      archiveBytes: 40 * 1000 * 1000,
      archiveRounds: 2,
      attachRtts: 100,
      createOps: 40,
      attachBytes: 16 * 1024 * 1024,
      imageGets: 20,
      streamRounds: 2,
      buildRounds: 2,
      buildLargeBytes: 32 * 1024 * 1024,
      budgetMs: { cpu: 8000, stub: 12000, logs: 15000, archive: 8000, attach: 5000, create: 15000, attachBulk: 15000, images: 10000, buildkit: 40000 },
      idleConns: 1000,
      eventStreams: 200,
    }
  : {
      pingSlotMs: 700,
      cpuCount: 8000,
      stubCount: 15000,
      listSlotMs: 1000,
      logsBytes: 200 * 1024 * 1024,
      logsRounds: 2,
      archiveBytes: 150 * 1000 * 1000,
      archiveRounds: 3,
      attachRtts: 200,
      createOps: 100,
      attachBytes: 64 * 1024 * 1024,
      imageGets: 20,
      streamRounds: 3,
      buildRounds: 6,
      buildLargeBytes: 64 * 1024 * 1024,
      budgetMs: { cpu: 30000, stub: 45000, logs: 70000, archive: 30000, attach: 15000, create: 60000, attachBulk: 60000, images: 40000, buildkit: 120000 },
      idleConns: 1000,
      eventStreams: 200,
    };

const CPU_CONC = 16; // concurrency of the fixed-count CPU/request run against the daemon
const STUB_CONC = 64;
const LIST_CONC = 4;
const CREATE_CONC = 4;
const CPU_SECTION = "proxy process CPU (/proc/PID/stat utime+stime)";
const REQ_TIMEOUT = 30000;

// Node 24 for every child process (dockgate needs it; the pipe and stub use the same runtime).
const NODE = fs.existsSync(path.join(ROOT, "node_modules/node/bin/node"))
  ? path.join(ROOT, "node_modules/node/bin/node")
  : process.execPath;
const DOCKGATE_MAIN = path.resolve(opt.dockgate ?? path.join(ROOT, "dist/cli/main.js"));
const BASELINE_MAIN = opt.baseline === undefined ? undefined : path.resolve(opt.baseline);

function pickUpstream() {
  if (opt.upstream) return opt.upstream;
  if (process.env.DOCKGATE_BENCH_DOCKER_SOCK) return process.env.DOCKGATE_BENCH_DOCKER_SOCK;
  // The test harness's private daemon, when the bench runs inside it and there is no system one.
  if (!fs.existsSync("/var/run/docker.sock") && process.env.DOCKGATE_TEST_DOCKER_SOCK) {
    return process.env.DOCKGATE_TEST_DOCKER_SOCK;
  }
  return "/var/run/docker.sock";
}
const UPSTREAM = path.resolve(pickUpstream());

// ---------------------------------------------------------------------------------------------
// Resources to clean up, whatever happens

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "dockgate-bench-"));
fs.writeFileSync(path.join(TMP, "owner"), String(process.pid));
const children = new Set();

/**
 * A run killed with SIGKILL cannot clean up: its pipe and stub children exit with it (IPC
 * channel), but dockgate would stay. Each run therefore records its children's pids in its temp
 * dir, and the next run kills those (only if their command line still names that dir) and
 * removes the dir.
 */
/** Running (not a zombie waiting for its parent to reap it). */
function isAlive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function removeStaleRuns() {
  for (const d of fs.readdirSync(os.tmpdir())) {
    if (!d.startsWith("dockgate-bench-")) continue;
    const dir = path.join(os.tmpdir(), d);
    if (dir === TMP) continue;
    let owner = 0;
    try {
      owner = parseInt(fs.readFileSync(path.join(dir, "owner"), "utf8"), 10);
    } catch {}
    if (owner > 0 && isAlive(owner)) continue; // still running
    let pids = [];
    try {
      pids = fs.readFileSync(path.join(dir, "pids"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {}
    for (const pid of pids) {
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) process.kill(pid, "SIGKILL");
      } catch {}
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const containers = new Set();
let cleaning = null;

function killChildrenSync() {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    } catch {}
  }
}

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (opt["keep-logs"]) {
      try {
        fs.mkdirSync(opt["keep-logs"], { recursive: true });
        for (const f of fs.readdirSync(TMP)) {
          if (f.endsWith(".log")) fs.copyFileSync(path.join(TMP, f), path.join(opt["keep-logs"], f));
        }
      } catch {}
    }
    for (const c of children) await stopChild(c);
    for (const id of containers) {
      try {
        await call(UPSTREAM, "DELETE", `/containers/${id}?force=1&v=1`, undefined, 30000);
      } catch {}
    }
    containers.clear();
    try {
      fs.rmSync(TMP, { recursive: true, force: true });
    } catch {}
  })();
  return cleaning;
}

process.on("exit", () => {
  killChildrenSync();
  try {
    fs.rmSync(TMP, { recursive: true, force: true });
  } catch {}
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(1));
  });
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let CLK_TCK = 100;
try {
  CLK_TCK = parseInt(execFileSync("getconf", ["CLK_TCK"]).toString(), 10) || 100;
} catch {}

/** utime+stime of a process (all its threads) in clock ticks. */
function cpuTicks(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return parseInt(f[11], 10) + parseInt(f[12], 10);
}

function rssKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, "latin1");
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
  return m ? parseInt(m[1], 10) : NaN;
}

/** Median of 3 VmRSS samples 300 ms apart (GC makes single samples jumpy). */
async function rssSample(pid) {
  const xs = [];
  for (let i = 0; i < 3; i++) {
    if (i) await sleep(300);
    xs.push(rssKiB(pid));
  }
  return median(xs);
}

function fdCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

function pct(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(xs) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** (max - min) / median of per-round values: how noisy a cell was. */
function spreadOf(xs) {
  const m = median(xs);
  return xs.length > 1 && m > 0 ? (Math.max(...xs) - Math.min(...xs)) / m : NaN;
}

/** The worst spread of a row's cells. */
function worst(...xs) {
  const f = xs.filter((x) => Number.isFinite(x));
  return f.length ? Math.max(...f) : NaN;
}

function sortedF64(arrays) {
  let n = 0;
  for (const a of arrays) n += a.length;
  const out = new Float64Array(n);
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out.sort();
}

function tail(file, n = 15) {
  try {
    const lines = fs.readFileSync(file, "utf8").trimEnd().split("\n");
    return lines.slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}

function lap(start) {
  return ((performance.now() - start) / 1000).toFixed(1);
}

const T0 = performance.now();
function log(msg) {
  process.stderr.write(`[${lap(T0).padStart(6)}s] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Child processes

function spawnChild(name, args, { ipc = false } = {}) {
  const logFile = path.join(TMP, `${name}.log`);
  const fd = fs.openSync(logFile, "a");
  const child = spawn(NODE, args, {
    cwd: ROOT,
    stdio: ["ignore", fd, fd, ...(ipc ? ["ipc"] : [])],
    env: { ...process.env, NODE_ENV: "production" },
  });
  fs.closeSync(fd);
  fs.appendFileSync(path.join(TMP, "pids"), `${child.pid}\n`);
  child.benchName = name;
  child.logFile = logFile;
  children.add(child);
  child.on("exit", () => {});
  if (ipc) child.on("error", () => {});
  return child;
}

async function stopChild(child) {
  if (!children.has(child)) return;
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  try {
    child.kill("SIGTERM");
  } catch {}
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {}
  }, 3000);
  await exited;
  clearTimeout(t);
}

const PING = Buffer.from(reqHead("GET", "/_ping"));

async function waitReady(sock, child, timeoutMs = 20000) {
  const end = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < end) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `${child.benchName} exited (${child.exitCode ?? child.signalCode}) before listening:\n${tail(child.logFile)}`,
      );
    }
    try {
      const c = await HttpConn.connect(sock, 1000);
      try {
        const r = await c.request(PING, { timeoutMs: 3000 });
        if (r.status === 200) return;
        last = `GET /_ping -> ${r.status}`;
      } finally {
        c.close();
      }
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${sock} not ready after ${timeoutMs} ms (${last})${child ? `:\n${tail(child.logFile)}` : ""}`);
}

async function startPipe(name, upstream) {
  const sock = path.join(TMP, `${name}.sock`);
  const child = spawnChild(name, [path.join(HERE, "pipe.mjs"), sock, upstream], { ipc: true });
  await waitReady(sock, child);
  return { name, sock, pid: child.pid, child };
}

async function startStub(name) {
  const sock = path.join(TMP, `${name}.sock`);
  const child = spawnChild(name, [path.join(HERE, "stub.mjs"), sock], { ipc: true });
  await waitReady(sock, child);
  return { name, sock, pid: child.pid, child };
}

async function startDockgate(name, upstream, extra = [], main = DOCKGATE_MAIN) {
  const sock = path.join(TMP, `${name}.sock`);
  const child = spawnChild(name, [
    main,
    "serve",
    "--config",
    CONFIG,
    "--listen",
    sock,
    "--upstream",
    upstream,
    ...extra,
  ]);
  await waitReady(sock, child);
  return { name, sock, pid: child.pid, child };
}

// ---------------------------------------------------------------------------------------------
// Load generation

async function openConns(sock, n) {
  const conns = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(HttpConn.connect(sock, 10000));
    conns.push(...(await Promise.all(batch)));
  }
  return conns;
}

/**
 * Run `conc` keep-alive connections sending `req` back to back, either for `durationMs` or until
 * `count` requests are done. Returns {n, errs, statuses, elapsedMs, lat: Float64Array, cpuTicks}.
 */
async function load(target, req, conc, { durationMs, count }) {
  const conns = await openConns(target.sock, conc);
  try {
    await Promise.all(conns.map((c) => c.request(req, { timeoutMs: REQ_TIMEOUT })));
    const lat = new Float64Array(count ?? 2_000_000);
    let n = 0;
    let left = count ?? Infinity;
    let errs = 0;
    const statuses = {};
    const cpu0 = target.pid ? cpuTicks(target.pid) : 0;
    const t0 = performance.now();
    const deadline = durationMs ? t0 + durationMs : Infinity;
    await Promise.all(
      conns.map(async (c0, idx) => {
        let c = c0;
        while (left > 0 && performance.now() < deadline) {
          left--;
          const s = performance.now();
          try {
            const r = await c.request(req, { timeoutMs: REQ_TIMEOUT });
            if (n < lat.length) lat[n] = performance.now() - s;
            n++;
            if (r.status !== 200) {
              errs++;
              statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            }
            if (c.closed || !c.reusable) {
              c = conns[idx] = await HttpConn.connect(target.sock);
            }
          } catch (e) {
            errs++;
            statuses[e.message] = (statuses[e.message] ?? 0) + 1;
            if (errs > 100) throw new Error(`too many errors on ${target.name}: ${JSON.stringify(statuses)}`);
            c = conns[idx] = await HttpConn.connect(target.sock);
          }
        }
      }),
    );
    const elapsedMs = performance.now() - t0;
    const cpu = target.pid ? cpuTicks(target.pid) - cpu0 : NaN;
    return { n, errs, statuses, elapsedMs, lat: lat.subarray(0, Math.min(n, lat.length)), cpuTicks: cpu };
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * Run fn(target, round) for every target, `rounds` times, rotating the order each round. With
 * `budgetMs`, no new round starts when the rounds so far say it would end past the budget (at
 * least one round always runs): keeps the run bounded when the machine or the daemon is slow.
 */
async function interleave(rounds, targets, fn, budgetMs = Infinity) {
  const out = new Map(targets.map((t) => [t.name, []]));
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const spent = performance.now() - t0;
    if (r > 0 && (spent / r) * (r + 1) > budgetMs) {
      problems.push(`${targets.map((t) => t.name).join("/")}: ${r} of ${rounds} rounds (time budget ${budgetMs / 1000} s)`);
      break;
    }
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + r) % targets.length];
      out.get(t.name).push(await fn(t, r));
    }
  }
  return out;
}

function summarizeLoad(runs) {
  const rates = runs.map((x) => (x.n / x.elapsedMs) * 1000);
  const sorted = sortedF64(runs.map((x) => x.lat));
  const n = runs.reduce((a, x) => a + x.n, 0);
  const errs = runs.reduce((a, x) => a + x.errs, 0);
  const ticks = runs.reduce((a, x) => a + x.cpuTicks, 0);
  const statuses = {};
  for (const x of runs) for (const [k, v] of Object.entries(x.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    rps: median(rates),
    spread: spreadOf(rates),
    rpsMin: Math.min(...rates),
    rpsMax: Math.max(...rates),
    p50: pct(sorted, 0.5),
    p99: pct(sorted, 0.99),
    n,
    errs,
    statuses,
    cpuUsPerReq: (ticks * 1e6) / CLK_TCK / n,
    cpuTicks: ticks,
  };
}

// ---------------------------------------------------------------------------------------------
// Results table

/** rows: {section, metric, unit, dir: "higher"|"lower", v: {direct, dockgate, pipe}, note, target} */
const rows = [];
const problems = [];

function addRow(row) {
  rows.push(row);
}

function fmt(x, unit) {
  if (x === undefined) return "-";
  if (typeof x === "string") return x;
  if (!Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  const s = a >= 1000 ? x.toFixed(0) : a >= 100 ? x.toFixed(1) : a >= 10 ? x.toFixed(2) : x.toFixed(3);
  return unit ? s : s;
}

function ratio(a, b) {
  return typeof a === "number" && typeof b === "number" && Number.isFinite(a) && Number.isFinite(b) && b !== 0
    ? a / b
    : NaN;
}

function fmtRatio(r) {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : "-";
}

function printTable() {
  const head = ["measurement", "unit", "direct", "dockgate", "pipe", "dg/direct", "dg/pipe", "pipe/direct", "spread", "target", "verdict"];
  const body = [];
  let section = "";
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      body.push({ section });
    }
    const d = r.v.direct;
    const g = r.v.dockgate;
    const p = r.v.pipe;
    let verdict = "";
    if (r.target) {
      const val = r.target.value(r);
      if (!Number.isFinite(val)) verdict = "n/a";
      else verdict = r.target.ok(val) ? "PASS" : "MISS";
    }
    body.push([
      r.metric,
      r.unit,
      fmt(d),
      fmt(g),
      fmt(p),
      fmtRatio(ratio(g, d)),
      fmtRatio(ratio(g, p)),
      fmtRatio(ratio(p, d)),
      Number.isFinite(r.spread) ? `${Math.round(r.spread * 100)}%` : "",
      r.target ? r.target.text : "",
      verdict,
    ]);
  }
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.filter((b) => Array.isArray(b)).map((b) => String(b[i]).length)),
  );
  const line = (cells) =>
    cells.map((c, i) => (i === 0 || i === 1 || i >= 9 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) {
    if (Array.isArray(b)) console.log(line(b));
    else console.log(`[${b.section}]`);
  }
}

// ---------------------------------------------------------------------------------------------
// Daemon setup helpers (always direct, never through a proxy)

async function createContainer(body) {
  const r = await call(UPSTREAM, "POST", "/containers/create", {
    Image: IMAGE,
    Labels: { "dockgate-bench": RUN_ID, "dockgate-bench.pid": String(process.pid) },
    ...body,
  });
  if (r.status !== 201) throw new Error(`create container: ${r.status} ${r.text.trim()}`);
  containers.add(r.json.Id);
  return r.json.Id;
}

async function startContainer(id) {
  const r = await call(UPSTREAM, "POST", `/containers/${id}/start`);
  if (r.status !== 204 && r.status !== 304) throw new Error(`start ${id}: ${r.status} ${r.text.trim()}`);
}

async function removeStaleContainers() {
  const filters = encodeURIComponent(JSON.stringify({ label: ["dockgate-bench"] }));
  const r = await call(UPSTREAM, "GET", `/containers/json?all=1&filters=${filters}`);
  if (r.status !== 200 || !Array.isArray(r.json)) return;
  for (const c of r.json) {
    const pid = parseInt(c.Labels?.["dockgate-bench.pid"] ?? "0", 10);
    if (!(pid > 0 && isAlive(pid))) {
      await call(UPSTREAM, "DELETE", `/containers/${c.Id}?force=1&v=1`);
      log(`removed stale bench container ${c.Id.slice(0, 12)}`);
    }
  }
}

function tarHeader(name, size, type) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(type === "5" ? "0000755\0" : "0000644\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "latin1");
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, "0") + "\0", 136, "latin1");
  h.fill(0x20, 148, 156);
  h.write(type, 156, "latin1");
  h.write("ustar\0", 257, "latin1");
  h.write("00", 263, "latin1");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}

/** A tar with one regular file of `size` bytes (pattern bytes, not all zeros). */
function bigTar(name, size) {
  const pad = (512 - (size % 512)) % 512;
  const buf = Buffer.alloc(512 + size + pad + 1024);
  tarHeader(name, size, "0").copy(buf, 0);
  const pattern = Buffer.from("dockgate-bench archive payload 0123456789abcdef\n");
  buf.fill(pattern, 512, 512 + size);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Phases

async function phasePing(T) {
  const pingCpu = [];
  for (const conc of [1, 16, 64]) {
    log(`/_ping c=${conc}: ${ROUNDS} rounds x ${P.pingSlotMs} ms per target`);
    const res = await interleave(ROUNDS, [T.direct, T.dockgate, T.pipe], (t) =>
      load(t, PING, conc, { durationMs: P.pingSlotMs }),
    );
    const s = Object.fromEntries([...res].map(([k, v]) => [k, summarizeLoad(v)]));
    noteErrors(`/_ping c=${conc}`, s);
    addRow({
      section: "daemon: GET /_ping (keep-alive)",
      metric: `c=${conc} throughput`,
      unit: "req/s",
      v: { direct: s.direct.rps, dockgate: s.dockgate.rps, pipe: s.pipe.rps },
      spread: worst(s.direct.spread, s.dockgate.spread, s.pipe.spread),
    });
    addRow({
      section: "daemon: GET /_ping (keep-alive)",
      metric: `c=${conc} p50 latency`,
      unit: "ms",
      v: { direct: s.direct.p50, dockgate: s.dockgate.p50, pipe: s.pipe.p50 },
    });
    addRow({
      section: "daemon: GET /_ping (keep-alive)",
      metric: `c=${conc} p99 latency`,
      unit: "ms",
      v: { direct: s.direct.p99, dockgate: s.dockgate.p99, pipe: s.pipe.p99 },
    });
    pingCpu.push({ conc, dockgate: s.dockgate.cpuUsPerReq, pipe: s.pipe.cpuUsPerReq });
  }
  // Their CPU per request (over the timed slots, so request counts differ between targets).
  for (const x of pingCpu) {
    addRow({
      section: CPU_SECTION,
      metric: `daemon /_ping c=${x.conc} (timed slots)`,
      unit: "us/req",
      v: { direct: undefined, dockgate: x.dockgate, pipe: x.pipe },
      target: { text: "dg <= 1.5x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (v) => v <= 1.5 },
    });
  }
}

function noteErrors(what, summaries) {
  for (const [name, s] of Object.entries(summaries)) {
    if (s.errs > 0) problems.push(`${what} via ${name}: ${s.errs} non-200/errors ${JSON.stringify(s.statuses)}`);
  }
}

async function phaseCpu(T) {
  log(`CPU/request, daemon /_ping c=${CPU_CONC}: ${ROUNDS} rounds x ${P.cpuCount} requests per proxy`);
  const res = await interleave(
    ROUNDS,
    withBaseline([T.dockgate, T.pipe], T.baseline),
    (t) => load(t, PING, CPU_CONC, { count: P.cpuCount }),
    P.budgetMs.cpu,
  );
  const s = Object.fromEntries([...res].map(([k, v]) => [k, summarizeLoad(v)]));
  noteErrors("cpu /_ping", s);
  addRow({
    section: CPU_SECTION,
    metric: `daemon /_ping c=${CPU_CONC} (${res.get("dockgate").length}x${P.cpuCount})`,
    unit: "us/req",
    v: { direct: undefined, dockgate: s.dockgate.cpuUsPerReq, pipe: s.pipe.cpuUsPerReq },
    target: {
      text: "dg <= 1.5x pipe",
      value: (r) => ratio(r.v.dockgate, r.v.pipe),
      ok: (x) => x <= 1.5,
    },
  });
  baselineRow(CPU_SECTION, s[T.baseline?.name], `daemon /_ping c=${CPU_CONC}, baseline build`, "us/req", (x) => x.cpuUsPerReq, s.pipe.cpuUsPerReq);
}

/** The targets of a phase, with the baseline build (--baseline) when there is one. */
function withBaseline(targets, baseline) {
  return baseline ? [...targets, baseline] : targets;
}

/** A row for the baseline build (--baseline): its value in the dockgate column, next to the same pipe. */
function baselineRow(section, summary, metric, unit, f, pipe) {
  if (summary === undefined) return;
  addRow({ section, metric, unit, v: { direct: undefined, dockgate: f(summary), pipe } });
}

async function phaseStub(T) {
  log(`stub upstream /_ping c=${STUB_CONC}: ${ROUNDS} rounds x ${P.stubCount} requests per target`);
  const targets = [T.stub, T.dockgateStub, T.pipeStub];
  if (T.dockgateQuiet) targets.push(T.dockgateQuiet);
  if (T.baselineStub) targets.push(T.baselineStub);
  const res = await interleave(
    ROUNDS,
    targets,
    (t) => load(t, PING, STUB_CONC, { count: P.stubCount }),
    P.budgetMs.stub,
  );
  const s = Object.fromEntries([...res].map(([k, v]) => [k, summarizeLoad(v)]));
  noteErrors("stub /_ping", s);
  const v = (f) => ({ direct: f(s.stub), dockgate: f(s["dockgate-stub"]), pipe: f(s["pipe-stub"]) });
  const section = "stub upstream (canned /_ping reply; 'direct' = the stub itself)";
  addRow({
    section,
    metric: `c=${STUB_CONC} throughput`,
    unit: "req/s",
    v: v((x) => x.rps),
    spread: worst(...Object.values(s).map((x) => x.spread)),
    target: { text: "dg >= 0.7x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (x) => x >= 0.7 },
  });
  addRow({ section, metric: `c=${STUB_CONC} p50 latency`, unit: "ms", v: v((x) => x.p50) });
  addRow({ section, metric: `c=${STUB_CONC} p99 latency`, unit: "ms", v: v((x) => x.p99) });
  addRow({
    section,
    metric: `proxy CPU per request c=${STUB_CONC}`,
    unit: "us/req",
    v: { direct: undefined, dockgate: s["dockgate-stub"].cpuUsPerReq, pipe: s["pipe-stub"].cpuUsPerReq },
    target: { text: "dg <= 1.5x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (x) => x <= 1.5 },
  });
  baselineRow(section, s[T.baselineStub?.name], `proxy CPU per request c=${STUB_CONC}, baseline build`, "us/req", (x) => x.cpuUsPerReq, s["pipe-stub"].cpuUsPerReq);
  const q = s["dockgate-stub-quiet"];
  if (q) {
    // The same dockgate with --log-level warn: how much of its cost is the per-request log line.
    addRow({
      section,
      metric: `c=${STUB_CONC} throughput, dockgate --log-level warn`,
      unit: "req/s",
      v: { direct: s.stub.rps, dockgate: q.rps, pipe: s["pipe-stub"].rps },
    });
    addRow({
      section,
      metric: `proxy CPU per request, dockgate --log-level warn`,
      unit: "us/req",
      v: { direct: undefined, dockgate: q.cpuUsPerReq, pipe: s["pipe-stub"].cpuUsPerReq },
    });
  }
}

async function phaseList(T) {
  const req = Buffer.from(reqHead("GET", "/v1.41/containers/json?all=1"));
  log(`GET /containers/json?all=1 c=${LIST_CONC}: ${ROUNDS} rounds x ${P.listSlotMs} ms per target`);
  const res = await interleave(ROUNDS, [T.direct, T.dockgate, T.pipe], (t) =>
    load(t, req, LIST_CONC, { durationMs: P.listSlotMs }),
  );
  const s = Object.fromEntries([...res].map(([k, v]) => [k, summarizeLoad(v)]));
  noteErrors("containers/json", s);
  const section = "daemon workloads";
  addRow({
    section,
    metric: `GET /containers/json c=${LIST_CONC}`,
    unit: "req/s",
    v: { direct: s.direct.rps, dockgate: s.dockgate.rps, pipe: s.pipe.rps },
    spread: worst(s.direct.spread, s.dockgate.spread, s.pipe.spread),
    target: { text: "dg >= 0.9x direct", value: (r) => ratio(r.v.dockgate, r.v.direct), ok: (x) => x >= 0.9 },
  });
  addRow({
    section,
    metric: `GET /containers/json c=${LIST_CONC} p50`,
    unit: "ms",
    v: { direct: s.direct.p50, dockgate: s.dockgate.p50, pipe: s.pipe.p50 },
  });
}

async function phaseLogs(T) {
  const bytes = P.logsBytes;
  log(`logs: container writing ${(bytes / 1048576).toFixed(0)} MiB of 1 KiB lines to stdout`);
  const id = await createContainer({
    Cmd: ["sh", "-c", `yes "$(head -c 1023 /dev/zero | tr '\\0' a)" | head -c ${bytes}`],
    Tty: false,
  });
  await startContainer(id);
  const w = await call(UPSTREAM, "POST", `/containers/${id}/wait`, undefined, 300000);
  if (w.status !== 200) throw new Error(`wait: ${w.status} ${w.text}`);
  const req = Buffer.from(reqHead("GET", `/v1.41/containers/${id}/logs?stdout=1&stderr=1`));
  log(`logs: ${P.logsRounds} rounds per target`);
  const res = await interleave(P.logsRounds, [T.direct, T.dockgate, T.pipe], async (t) => {
    const c = await HttpConn.connect(t.sock);
    try {
      const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
      const t0 = performance.now();
      const r = await c.request(req, { timeoutMs: 300000 });
      const ms = performance.now() - t0;
      return { status: r.status, got: r.bytes, ms, cpu: cpuSecondsSince(t, ticks0) };
    } finally {
      c.close();
    }
  }, P.budgetMs.logs);
  const got = Object.fromEntries([...res].map(([name, runs]) => [name, runs.map((x) => x.got)]));
  const all = Object.values(got).flat();
  if (new Set(all.filter((b) => b > 0)).size > 1) problems.push(`logs: byte counts differ: ${JSON.stringify(got)}`);
  streamRows(res, `logs download ${(all[0] / 1e6).toFixed(0)} MB`, NaN, 200, "per GB");
}

async function phaseArchive(T) {
  const id = await createContainer({ Cmd: ["cat"] });
  // The image may have no /tmp: make one with a tiny tar, directly on the daemon.
  const mk = Buffer.concat([tarHeader("tmp/", 0, "5"), Buffer.alloc(1024)]);
  const conn0 = await HttpConn.connect(UPSTREAM);
  const r0 = await conn0.request(
    reqHead("PUT", `/containers/${id}/archive?path=/`, {
      "Content-Type": "application/x-tar",
      "Content-Length": String(mk.length),
    }),
    { body: mk, collect: true, timeoutMs: 30000 },
  );
  conn0.close();
  if (r0.status !== 200) throw new Error(`archive setup: ${r0.status} ${r0.body}`);
  const tar = bigTar("bench.bin", P.archiveBytes);
  const head = reqHead("PUT", `/v1.41/containers/${id}/archive?path=/tmp`, {
    "Content-Type": "application/x-tar",
    "Content-Length": String(tar.length),
  });
  log(`archive upload ${(tar.length / 1e6).toFixed(0)} MB tar: ${P.archiveRounds} rounds per target`);
  const res = await interleave(P.archiveRounds, [T.direct, T.dockgate, T.pipe], async (t) => {
    const c = await HttpConn.connect(t.sock);
    try {
      const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
      const t0 = performance.now();
      const r = await c.request(head, { body: tar, collect: true, timeoutMs: 300000 });
      const ms = performance.now() - t0;
      if (r.status !== 200) problems.push(`archive via ${t.name}: ${r.body?.toString().slice(0, 200)}`);
      return { status: r.status, ms, got: tar.length, cpu: cpuSecondsSince(t, ticks0) };
    } finally {
      c.close();
    }
  }, P.budgetMs.archive);
  streamRows(res, `archive upload ${(tar.length / 1e6).toFixed(0)} MB`, tar.length, 200, "per GB");
}

async function attachRtts(t, id, n) {
  const c = await HttpConn.connect(t.sock);
  try {
    const r = await c.request(
      reqHead("POST", `/v1.41/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, {
        "Content-Type": "text/plain",
        "Content-Length": "0",
        Connection: "Upgrade",
        Upgrade: "tcp",
      }),
      { timeoutMs: 10000, collect: true },
    );
    if (r.status !== 101) return { status: r.status, lat: [] };
    let acc = r.rest.toString("latin1");
    let want = null;
    let wake = null;
    c.onRaw = (d) => {
      acc += d.toString("latin1");
      if (want && acc.includes(want) && wake) wake();
    };
    const lat = [];
    for (let i = 0; i < n; i++) {
      want = `rt-${i}-${RUN_ID}\n`;
      const got = new Promise((res, rej) => {
        wake = res;
        setTimeout(() => rej(new Error("attach echo timed out")), 10000).unref();
        c.onClose = () => rej(new Error("attach stream closed"));
      });
      const t0 = performance.now();
      c.write(want);
      if (!acc.includes(want)) await got;
      lat.push(performance.now() - t0);
      acc = "";
    }
    return { status: 101, lat };
  } finally {
    c.close();
  }
}

async function phaseAttach(T) {
  const targets = [T.direct, T.dockgate, T.pipe];
  const ids = {};
  for (const t of targets) {
    ids[t.name] = await createContainer({
      Cmd: ["cat"],
      OpenStdin: true,
      StdinOnce: false,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    await startContainer(ids[t.name]);
  }
  log(`attach round trips: ${ROUNDS} rounds x ${P.attachRtts} per target`);
  const res = await interleave(ROUNDS, targets, (t) => attachRtts(t, ids[t.name], P.attachRtts), P.budgetMs.attach);
  const p50 = {};
  const p99 = {};
  for (const [name, runs] of res) {
    const bad = runs.find((x) => x.status !== 101);
    if (bad) problems.push(`attach via ${name}: HTTP ${bad.status}`);
    const sorted = sortedF64(runs.map((x) => Float64Array.from(x.lat)));
    p50[name] = bad ? NaN : pct(sorted, 0.5);
    p99[name] = bad ? NaN : pct(sorted, 0.99);
  }
  addRow({ section: "streams", metric: "attach echo round trip p50", unit: "ms", v: p50 });
  addRow({ section: "streams", metric: "attach echo round trip p99", unit: "ms", v: p99 });
}

/** CPU seconds of a proxy process (NaN for the daemon itself) since `t0` ticks. */
function cpuSecondsSince(t, ticks0) {
  return t.pid ? (cpuTicks(t.pid) - ticks0) / CLK_TCK : NaN;
}

/** A create body shaped like the docker CLI's for `docker run`, padded to about 2.4 KB. */
function createBody() {
  const env = [];
  for (let i = 0; env.join("").length < 800; i++) env.push(`BENCH_VAR_${i}=value-${i}-${"x".repeat(24)}`);
  return Buffer.from(
    JSON.stringify({
      Hostname: "", Domainname: "", User: "", AttachStdin: false, AttachStdout: true, AttachStderr: true,
      Tty: false, OpenStdin: false, StdinOnce: false, Env: env, Cmd: ["true"], Image: IMAGE, Volumes: {},
      WorkingDir: "", Entrypoint: null, OnBuild: null,
      Labels: { "dockgate-bench": RUN_ID, "dockgate-bench.pid": String(process.pid) },
      HostConfig: {
        Binds: null, ContainerIDFile: "", LogConfig: { Type: "", Config: {} }, NetworkMode: "default",
        PortBindings: {}, RestartPolicy: { Name: "no", MaximumRetryCount: 0 }, AutoRemove: false,
        VolumeDriver: "", VolumesFrom: null, ConsoleSize: [0, 0], CapAdd: null, CapDrop: null,
        CgroupnsMode: "", Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null, GroupAdd: null,
        IpcMode: "", Cgroup: "", Links: null, OomScoreAdj: 0, PidMode: "", Privileged: false,
        PublishAllPorts: false, ReadonlyRootfs: false, SecurityOpt: null, UTSMode: "", UsernsMode: "",
        ShmSize: 0, Isolation: "", CpuShares: 0, Memory: 0, NanoCpus: 0, CgroupParent: "",
        BlkioWeight: 0, BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [],
        BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [], CpuPeriod: 0, CpuQuota: 0,
        CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: "", CpusetMems: "", Devices: [],
        DeviceCgroupRules: null, DeviceRequests: null, MemoryReservation: 0, MemorySwap: 0,
        MemorySwappiness: -1, OomKillDisable: false, PidsLimit: 0, Ulimits: [], CpuCount: 0,
        CpuPercent: 0, IOMaximumIOps: 0, IOMaximumBandwidth: 0, MaskedPaths: null, ReadonlyPaths: null,
      },
      NetworkingConfig: { EndpointsConfig: {} },
    }),
  );
}

async function phaseCreate(T) {
  const body = createBody();
  const createHead = Buffer.from(
    reqHead("POST", "/v1.41/containers/create", { "Content-Type": "application/json", "Content-Length": String(body.length) }),
  );
  const targets = withBaseline([T.direct, T.dockgate, T.pipe], T.baseline);
  log(`container create (${body.length} B body) + delete c=${CREATE_CONC}: ${ROUNDS} rounds x ${P.createOps} ops per target`);
  const createOps = async (t, count) => {
    const conns = await openConns(t.sock, CREATE_CONC);
    let left = count;
    let errs = 0;
    const statuses = {};
    try {
      const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
      const t0 = performance.now();
      await Promise.all(
        conns.map(async (c) => {
          while (left > 0) {
            left--;
            const r = await c.request(createHead, { body, collect: true, timeoutMs: REQ_TIMEOUT });
            if (r.status !== 201) {
              errs++;
              statuses[r.status] = `${r.body?.toString().slice(0, 200)}`;
              if (errs > 10) throw new Error(`create via ${t.name}: ${JSON.stringify(statuses)}`);
              continue;
            }
            const id = JSON.parse(r.body.toString()).Id;
            containers.add(id);
            const d = await c.request(reqHead("DELETE", `/v1.41/containers/${id}?force=1`), { timeoutMs: REQ_TIMEOUT });
            if (d.status !== 204) {
              errs++;
              statuses[`delete ${d.status}`] = 1;
            } else containers.delete(id);
          }
        }),
      );
      const ms = performance.now() - t0;
      return { ops: count, ms, cpu: cpuSecondsSince(t, ticks0), errs, statuses };
    } finally {
      for (const c of conns) c.close();
    }
  };
  // Warm-up (not counted): the first creates through a fresh process pay for its JIT.
  for (const t of targets) await createOps(t, 2 * CREATE_CONC);
  const res = await interleave(ROUNDS, targets, (t) => createOps(t, P.createOps), P.budgetMs.create);
  const ops = {};
  const cpu = {};
  const spreads = [];
  for (const [name, runs] of res) {
    const e = runs.reduce((a, x) => a + x.errs, 0);
    if (e) problems.push(`create via ${name}: ${e} errors ${JSON.stringify(Object.assign({}, ...runs.map((x) => x.statuses)))}`);
    const rates = runs.map((x) => x.ops / (x.ms / 1000));
    ops[name] = median(rates);
    spreads.push(spreadOf(rates));
    const n = runs.reduce((a, x) => a + x.ops, 0);
    cpu[name] = (runs.reduce((a, x) => a + x.cpu, 0) * 1e6) / n;
  }
  const section = "daemon workloads";
  addRow({
    section,
    metric: `container create (${(body.length / 1000).toFixed(1)} KB) + delete c=${CREATE_CONC}`,
    unit: "ops/s",
    v: { direct: ops.direct, dockgate: ops.dockgate, pipe: ops.pipe },
    spread: worst(...spreads),
  });
  addRow({
    section: CPU_SECTION,
    metric: `container create + delete c=${CREATE_CONC} (${res.get("dockgate").length}x${P.createOps})`,
    unit: "us/op",
    v: { direct: undefined, dockgate: cpu.dockgate, pipe: cpu.pipe },
    target: { text: "dg <= 1.5x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (x) => x <= 1.5 },
  });
  if (T.baseline) baselineRow(CPU_SECTION, cpu, `container create + delete c=${CREATE_CONC}, baseline build`, "us/op", (x) => x[T.baseline.name], cpu.pipe);
}

/**
 * Attach to a `cat` container, write `bytes` of stdin and read them back (stdout frames, no TTY):
 * the hijacked stream in bulk. Resolves {status, ms, got}.
 */
async function attachBulk(t, id, bytes) {
  const c = await HttpConn.connect(t.sock);
  try {
    const r = await c.request(
      reqHead("POST", `/v1.41/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, {
        "Content-Length": "0",
        Connection: "Upgrade",
        Upgrade: "tcp",
      }),
      { timeoutMs: 10000, collect: true },
    );
    if (r.status !== 101) return { status: r.status, ms: NaN, got: 0 };
    // stdcopy framing: 8-byte header (stream, 0, 0, 0, big-endian size), then the payload.
    let got = 0;
    let hdr = Buffer.alloc(0);
    let inFrame = 0;
    let wake = null;
    const feed = (d) => {
      let i = 0;
      while (i < d.length) {
        if (inFrame > 0) {
          const n = Math.min(inFrame, d.length - i);
          inFrame -= n;
          got += n;
          i += n;
          continue;
        }
        const need = 8 - hdr.length;
        hdr = Buffer.concat([hdr, d.subarray(i, i + need)]);
        i += Math.min(need, d.length - i);
        if (hdr.length === 8) {
          inFrame = hdr.readUInt32BE(4);
          hdr = Buffer.alloc(0);
        }
      }
      if (got >= bytes && wake) wake();
    };
    const done = new Promise((res, rej) => {
      wake = res;
      c.onClose = () => rej(new Error(`attach stream closed after ${got} bytes`));
      setTimeout(() => rej(new Error(`attach bulk timed out after ${got} bytes`)), 120000).unref();
    });
    const t0 = performance.now();
    c.onRaw = feed;
    if (r.rest.length) feed(r.rest);
    const piece = Buffer.alloc(64 * 1024, "dockgate-bench attach payload 0123456789abcdef\n");
    for (let off = 0; off < bytes; off += piece.length) {
      const p = bytes - off < piece.length ? piece.subarray(0, bytes - off) : piece;
      if (!c.sock.write(p)) await new Promise((res) => c.sock.once("drain", res));
    }
    await done;
    return { status: 101, ms: performance.now() - t0, got };
  } finally {
    c.close();
  }
}

async function phaseAttachBulk(T) {
  const targets = [T.direct, T.dockgate, T.pipe];
  const ids = {};
  for (const t of targets) {
    ids[t.name] = await createContainer({
      Cmd: ["cat"], OpenStdin: true, StdinOnce: false, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false,
    });
    await startContainer(ids[t.name]);
  }
  const bytes = P.attachBytes;
  log(`attach bulk: ${bytes / 1048576} MiB echoed, ${P.streamRounds} rounds per target`);
  const res = await interleave(P.streamRounds, targets, async (t) => {
    const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
    const r = await attachBulk(t, ids[t.name], bytes);
    return { ...r, cpu: cpuSecondsSince(t, ticks0) };
  }, P.budgetMs.attachBulk);
  streamRows(res, `hijacked attach, ${bytes / 1048576} MiB echoed`, bytes, 101, "per GB echoed");
}

async function phaseImages(T) {
  const targets = [T.direct, T.dockgate, T.pipe];
  const req = Buffer.from(reqHead("GET", `/v1.41/images/${encodeURIComponent(IMAGE)}/get`));
  const n = P.imageGets;
  log(`image downloads: ${n} x GET /images/${IMAGE}/get per round, ${P.streamRounds} rounds per target`);
  const res = await interleave(P.streamRounds, targets, async (t) => {
    const c = await HttpConn.connect(t.sock);
    try {
      const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
      const t0 = performance.now();
      let bytes = 0;
      let status = 200;
      for (let i = 0; i < n; i++) {
        const r = await c.request(req, { timeoutMs: 120000 });
        bytes += r.bytes;
        if (r.status !== 200) status = r.status;
      }
      return { status, ms: performance.now() - t0, got: bytes, cpu: cpuSecondsSince(t, ticks0) };
    } finally {
      c.close();
    }
  }, P.budgetMs.images);
  const per = res.get("direct")[0]?.got / n;
  streamRows(res, `${n} image downloads of ${(per / 1e6).toFixed(1)} MB`, NaN, 200, "per GB");
}

/**
 * Throughput (MB/s, 10^6 bytes) and proxy CPU per GB rows of a stream phase whose runs are
 * {status, ms, got, cpu}; `bytes` is the payload per run (NaN: use what each run got).
 */
function streamRows(res, label, bytes, okStatus, perWhat) {
  const mbs = {};
  const cpu = {};
  const spreads = [];
  for (const [name, runs] of res) {
    const bad = runs.find((x) => x.status !== okStatus);
    if (bad) problems.push(`${label} via ${name}: HTTP ${bad.status}`);
    const size = (x) => (Number.isFinite(bytes) ? bytes : x.got);
    const rates = runs.map((x) => size(x) / 1e6 / (x.ms / 1000));
    mbs[name] = bad ? NaN : median(rates);
    spreads.push(spreadOf(rates));
    const total = runs.reduce((a, x) => a + size(x), 0);
    cpu[name] = bad ? NaN : runs.reduce((a, x) => a + x.cpu, 0) / (total / 1e9);
  }
  addRow({
    section: "streams",
    metric: label,
    unit: "MB/s",
    v: { direct: mbs.direct, dockgate: mbs.dockgate, pipe: mbs.pipe },
    spread: worst(...spreads),
    target: { text: "dg >= 1.0x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (x) => x >= 1.0 },
  });
  addRow({
    section: CPU_SECTION,
    metric: `${label}, ${perWhat}`,
    unit: "s/GB",
    v: { direct: undefined, dockgate: cpu.dockgate, pipe: cpu.pipe },
    target: { text: "dg <= 1.25x pipe", value: (r) => ratio(r.v.dockgate, r.v.pipe), ok: (x) => x <= 1.25 },
  });
}

// BuildKit: the docker CLI 20.10's built-in BuildKit (/session + /build?version=2), whose context
// travels over the session's file sync, which dockgate terminates and relays call by call (and
// whose Dockerfile it reads). Each build gets a fresh copy of its context directory: BuildKit
// keeps a synced copy per directory (the session's shared key) and would send only the changes.
const DOCKER_20 = "/usr/bin/docker";
const BUILD_SMALL_BYTES = 8 * 1024 * 1024;
const BUILD_FILES = 50;

function buildContext(dir, bytes) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "Dockerfile"), `ARG BASE=${IMAGE}\nFROM $BASE\nCOPY . /ctx\n`);
  const per = Math.ceil(bytes / BUILD_FILES);
  for (let i = 0; i < BUILD_FILES; i++) fs.writeFileSync(path.join(dir, `f${i}.bin`), Buffer.alloc(per, i));
}

function dockerBuild(sock, dir, tag) {
  return new Promise((resolve) => {
    const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: "1" };
    delete env.DOCKER_CONTEXT;
    const p = spawn(DOCKER_20, ["build", "--no-cache", "-q", "-t", tag, dir], { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (c) => (err += c));
    p.on("close", (code) => resolve({ code, err }));
  });
}

async function phaseBuildkit(T) {
  if (!fs.existsSync(DOCKER_20)) {
    problems.push(`buildkit: ${DOCKER_20} (Debian's docker CLI 20.10, built-in BuildKit) is not installed; rows left out`);
    return;
  }
  const targets = [T.direct, T.dockgate, T.pipe];
  const sizes = [["small", BUILD_SMALL_BYTES], ["large", P.buildLargeBytes]];
  const tag = `dgbench-${RUN_ID}:bk`;
  log(`BuildKit builds (docker CLI 20.10, --no-cache, ${BUILD_FILES} files of ${BUILD_SMALL_BYTES / 1048576} and ${P.buildLargeBytes / 1048576} MiB): ${P.buildRounds} rounds per target`);
  let n = 0;
  const res = await interleave(P.buildRounds, targets, async (t) => {
    const out = {};
    for (const [size, bytes] of sizes) {
      const dir = path.join(TMP, `bk-${n++}`);
      buildContext(dir, bytes);
      const ticks0 = t.pid ? cpuTicks(t.pid) : 0;
      const t0 = performance.now();
      const r = await dockerBuild(t.sock, dir, tag);
      out[size] = { ms: performance.now() - t0, cpu: cpuSecondsSince(t, ticks0), ok: r.code === 0 };
      if (r.code !== 0) problems.push(`buildkit ${size} via ${t.name}: ${r.err.trim().split("\n").pop()}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return out;
  }, P.budgetMs.buildkit);
  await call(UPSTREAM, "DELETE", `/images/${encodeURIComponent(tag)}?force=1`);
  await call(UPSTREAM, "POST", "/build/prune?all=1");
  const v = (f) => Object.fromEntries([...res].map(([name, runs]) => [name, runs.some((x) => !x.small.ok || !x.large.ok) ? NaN : median(runs.map(f))]));
  const spread = (f) => worst(...[...res.values()].map((runs) => spreadOf(runs.map(f))));
  const small = (x) => x.small.ms;
  addRow({
    section: "BuildKit (docker CLI 20.10, /session + /build?version=2)",
    metric: `build, ${BUILD_FILES} files / ${BUILD_SMALL_BYTES / 1048576} MiB context, --no-cache`,
    unit: "ms",
    v: v(small),
    spread: spread(small),
    target: { text: "dg <= 1.10x direct", value: (r) => ratio(r.v.dockgate, r.v.direct), ok: (x) => x <= 1.1 },
  });
  // Streaming cost per MiB of context: the large build's time over the small one's, per extra MiB.
  const extraMiB = (P.buildLargeBytes - BUILD_SMALL_BYTES) / 1048576;
  const perMiB = (x) => (x.large.ms - x.small.ms) / extraMiB;
  addRow({
    section: "BuildKit (docker CLI 20.10, /session + /build?version=2)",
    metric: `context streamed over /session, per extra MiB (${P.buildLargeBytes / 1048576} vs ${BUILD_SMALL_BYTES / 1048576} MiB)`,
    unit: "ms/MiB",
    v: v(perMiB),
    spread: spread(perMiB),
  });
  const cpuPerMiB = (x) => ((x.large.cpu - x.small.cpu) * 1000) / extraMiB;
  addRow({
    section: CPU_SECTION,
    metric: "BuildKit context over /session, per extra MiB",
    unit: "ms/MiB",
    v: { direct: undefined, dockgate: v(cpuPerMiB).dockgate, pipe: v(cpuPerMiB).pipe },
  });
}

async function memoryRun(kind, mode, n) {
  const name = `mem-${kind}-${mode}`;
  const t = kind === "dockgate" ? await startDockgate(name, UPSTREAM) : await startPipe(name, UPSTREAM);
  const conns = [];
  try {
    const w = await HttpConn.connect(t.sock);
    for (let i = 0; i < 200; i++) await w.request(PING, { timeoutMs: REQ_TIMEOUT });
    w.close();
    await sleep(1000);
    const base = await rssSample(t.pid);
    let failed = 0;
    const statuses = {};
    for (let i = 0; i < n; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 50); j++) {
        batch.push(
          (async () => {
            const c = await HttpConn.connect(t.sock, 10000);
            conns.push(c);
            if (mode === "idle") {
              const r = await c.request(PING, { timeoutMs: REQ_TIMEOUT });
              if (r.status !== 200) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            } else {
              const status = await new Promise((res, rej) => {
                c.request(reqHead("GET", "/v1.41/events"), { onHead: (s) => res(s) }).then(
                  (r) => res(r.status),
                  (e) => rej(e),
                );
              });
              if (status !== 200) statuses[status] = (statuses[status] ?? 0) + 1;
            }
          })().catch((e) => {
            failed++;
            statuses[e.message] = (statuses[e.message] ?? 0) + 1;
          }),
        );
      }
      await Promise.all(batch);
    }
    await sleep(1000);
    const open = conns.filter((c) => !c.closed).length;
    const rss = await rssSample(t.pid);
    const fds = fdCount(t.pid);
    if (failed || Object.keys(statuses).length) {
      problems.push(`memory ${kind} ${mode}: ${failed} failed, statuses ${JSON.stringify(statuses)}`);
    }
    if (open < n) problems.push(`memory ${kind} ${mode}: only ${open}/${n} connections still open`);
    return { base, rss, perConn: (rss - base) / n, open, fds };
  } finally {
    for (const c of conns) c.close();
    await stopChild(t.child);
  }
}

async function phaseMemory() {
  const out = {};
  for (const [mode, n] of [
    ["idle", P.idleConns],
    ["events", P.eventStreams],
  ]) {
    for (const kind of ["dockgate", "pipe"]) {
      log(`memory: fresh ${kind}, ${n} ${mode === "idle" ? "idle keep-alive connections" : "open /events streams"}`);
      out[`${kind}-${mode}`] = await memoryRun(kind, mode, n);
    }
  }
  const section = "memory (VmRSS of a fresh proxy process; per connection = (RSS - baseline) / N)";
  for (const [mode, n, label] of [
    ["idle", P.idleConns, `${P.idleConns} idle keep-alive conns`],
    ["events", P.eventStreams, `${P.eventStreams} open /events streams`],
  ]) {
    const g = out[`dockgate-${mode}`];
    const p = out[`pipe-${mode}`];
    addRow({ section, metric: `baseline RSS before ${label}`, unit: "KiB", v: { dockgate: g.base, pipe: p.base } });
    addRow({ section, metric: `RSS with ${label}`, unit: "KiB", v: { dockgate: g.rss, pipe: p.rss } });
    addRow({
      section,
      metric: `per connection, ${label}`,
      unit: "KiB",
      v: { dockgate: g.perConn, pipe: p.perConn },
      target:
        mode === "idle"
          ? { text: "dg < 20 KiB/conn", value: (r) => r.v.dockgate, ok: (x) => x < 20 }
          : undefined,
    });
    addRow({ section, metric: `open fds with ${label}`, unit: "fds", v: { dockgate: g.fds, pipe: p.fds } });
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function machine(version) {
  let model = "unknown";
  try {
    model = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? model;
  } catch {}
  let childNode = "?";
  try {
    childNode = execFileSync(NODE, ["--version"]).toString().trim();
  } catch {}
  return [
    `cpu: ${model}, ${os.cpus().length} cores (${os.availableParallelism()} available), load avg ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
    `kernel: ${os.release()}, memory ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, CLK_TCK ${CLK_TCK}`,
    `node: ${childNode} for dockgate/pipe/stub (${NODE}), bench client ${process.version}`,
    `daemon: ${UPSTREAM}, ${version}`,
    `client: bench/client.mjs, a minimal keep-alive HTTP/1.1 client over node:net (one request in flight per connection)`,
  ];
}

async function main() {
  const hardStop = setTimeout(() => {
    console.error(`\nbench: hard stop after ${MAX_SECONDS} s; partial results:\n`);
    printTable();
    cleanup().finally(() => process.exit(1));
  }, MAX_SECONDS * 1000);
  hardStop.unref();

  // Preconditions: a daemon, the image, dockgate built, a config.
  let version;
  try {
    const v = await call(UPSTREAM, "GET", "/version", undefined, 5000);
    if (v.status !== 200) throw new Error(`GET /version -> ${v.status}`);
    version = `Docker ${v.json.Version}, API ${v.json.ApiVersion}`;
  } catch (e) {
    throw new Fatal(
      `no reachable Docker daemon at ${UPSTREAM} (${e.message}).\n` +
        `The bench needs a running daemon it may create containers on: pass --upstream SOCK or set\n` +
        `DOCKGATE_BENCH_DOCKER_SOCK (e.g. the dev daemon: --upstream /tmp/dgdev/docker.sock).`,
    );
  }
  const img = await call(UPSTREAM, "GET", `/images/${encodeURIComponent(IMAGE)}/json`);
  if (img.status !== 200) throw new Fatal(`image ${IMAGE} not found on the daemon (--image IMG)`);
  if (!fs.existsSync(DOCKGATE_MAIN)) throw new Fatal(`${DOCKGATE_MAIN} missing: run 'npm run build' (npm run bench does)`);
  if (BASELINE_MAIN && !fs.existsSync(BASELINE_MAIN)) throw new Fatal(`--baseline ${BASELINE_MAIN} missing`);
  if (!fs.existsSync(CONFIG)) throw new Fatal(`config ${CONFIG} not found (--config FILE)`);

  console.log(`dockgate bench (${QUICK ? "quick" : "full"}, ${ROUNDS} interleaved rounds), config ${path.relative(ROOT, CONFIG)}`);
  for (const l of machine(version)) console.log(`  ${l}`);
  console.log("");

  removeStaleRuns();
  await removeStaleContainers();

  const T = { direct: { name: "direct", sock: UPSTREAM, pid: null } };
  log("starting dockgate, pipe and stub processes");
  T.dockgate = await startDockgate("dockgate", UPSTREAM);
  T.pipe = await startPipe("pipe", UPSTREAM);
  if (BASELINE_MAIN) T.baseline = await startDockgate("dockgate-baseline", UPSTREAM, [], BASELINE_MAIN);

  const phases = [
    ["ping", phasePing],
    ["cpu", phaseCpu],
    ["stub", phaseStub],
    ["list", phaseList],
    ["create", phaseCreate],
    ["logs", phaseLogs],
    ["images", phaseImages],
    ["archive", phaseArchive],
    ["attach", phaseAttach],
    ["attachbulk", phaseAttachBulk],
    ["buildkit", phaseBuildkit],
  ];
  for (const [name, fn] of phases) {
    if (!PHASES.has(name)) continue;
    if (name === "stub") {
      T.stub = await startStub("stub");
      T.dockgateStub = await startDockgate("dockgate-stub", T.stub.sock);
      T.pipeStub = await startPipe("pipe-stub", T.stub.sock);
      if (BASELINE_MAIN) T.baselineStub = await startDockgate("dockgate-baseline-stub", T.stub.sock, [], BASELINE_MAIN);
      try {
        T.dockgateQuiet = await startDockgate("dockgate-stub-quiet", T.stub.sock, ["--log-level", "warn"]);
      } catch (e) {
        problems.push(`dockgate --log-level warn did not start (row left out): ${e.message.split("\n")[0]}`);
      }
    }
    try {
      await fn(T);
    } catch (e) {
      problems.push(`phase ${name} failed: ${e.message}`);
      log(`phase ${name} failed: ${e.message}`);
    }
    if (name === "stub") {
      for (const t of [T.dockgateStub, T.pipeStub, T.dockgateQuiet, T.baselineStub, T.stub]) if (t) await stopChild(t.child);
    }
    for (const t of withBaseline([T.dockgate, T.pipe], T.baseline)) {
      if (t.child.exitCode !== null || t.child.signalCode !== null) {
        throw new Fatal(`${t.name} died during phase ${name}:\n${tail(t.child.logFile)}`);
      }
    }
  }
  await stopChild(T.dockgate.child);
  await stopChild(T.pipe.child);
  if (T.baseline) await stopChild(T.baseline.child);
  if (PHASES.has("memory")) {
    try {
      await phaseMemory();
    } catch (e) {
      problems.push(`phase memory failed: ${e.message}`);
      log(`phase memory failed: ${e.message}`);
    }
  }

  console.log("");
  printTable();
  console.log("");
  console.log("ratios: dg/direct = dockgate / direct daemon, dg/pipe = dockgate / node:net pipe, pipe/direct = pipe / direct.");
  console.log("req/s and MB/s: median of the rounds; latencies: percentiles over all requests of all rounds;");
  console.log("spread: (max - min) / median of the per-round values, worst of the row's targets (machine noise).");
  console.log("/_ping against the daemon has no target of its own (near-zero daemon work: it measures proxy overhead,");
  console.log("which the CPU/request and stub rows judge). PASS/MISS are informational: they never change the exit code.");
  if (problems.length) {
    console.log("\nproblems and notes:");
    for (const p of problems) console.log(`  - ${p}`);
  }
  console.log(`\ntotal ${lap(T0)} s`);
}

class Fatal extends Error {}

main()
  .then(
    () => cleanup().then(() => process.exit(0)),
    (e) => {
      console.error(`\nbench: ${e instanceof Fatal ? e.message : e.stack}`);
      if (rows.length) printTable();
      return cleanup().then(() => process.exit(1));
    },
  );
