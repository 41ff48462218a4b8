#!/usr/bin/env node
// Log destinations compared (npm run build first; then `npm exec -- node bench/line-writer.mjs`):
// dockgate's LineWriter against pino's own destination (sonic-boom, asynchronous, minLength
// buffering, maxLength bound), both behind pino as dockgate uses them.
//
//   cpu     CPU per line, writing request-sized lines to a file, rounds interleaved
//   stalled a pipe nobody reads: how many event-loop turns still happen in a second of logging
//           (a blocked loop shows ~0), and what each does with the lines it cannot write
//
// The numbers are for the machine it runs on; the README quotes one run.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const LINES = 200_000;
const ROUNDS = 5;
const LINE = `{"level":30,"time":1733310000000,"listener":"ci","profile":"ci","peer":"unix","op":"SystemPing","method":"GET","path":"/_ping","decision":"allow","status":200,"bytesIn":0,"bytesOut":276,"ms":0.412,"msg":"request"}\n`;

if (process.argv[2] === "child") {
  await child(process.argv[3], process.argv[4]);
} else {
  const results = { linewriter: [], "sonic-boom": [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 ? ["sonic-boom", "linewriter"] : ["linewriter", "sonic-boom"]) {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dg-lwb-")), "log");
      const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "child", kind, "cpu"], {
        stdio: ["ignore", fs.openSync(file, "w"), "pipe"],
        encoding: "utf8",
      });
      if (out.status !== 0) throw new Error(`${kind}: ${out.stderr}`);
      results[kind].push(Number(out.stderr.trim()));
      fs.rmSync(path.dirname(file), { recursive: true });
    }
  }
  for (const [kind, us] of Object.entries(results)) {
    us.sort((a, b) => a - b);
    console.log(`cpu      ${kind.padEnd(11)} median ${us[Math.floor(us.length / 2)].toFixed(3)} µs/line (${us.map((u) => u.toFixed(2)).join(" ")})`);
  }
  for (const kind of ["linewriter", "sonic-boom"]) {
    // stdout is a pipe this process never reads.
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "child", kind, "stalled"], { stdio: ["ignore", "pipe", "pipe"] });
    p.stdout.pause();
    let err = "";
    p.stderr.on("data", (c) => (err += c));
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    const [code, signal] = await new Promise((r) => p.on("exit", (c, s) => r([c, s])));
    clearTimeout(timer);
    p.stdout.destroy();
    console.log(`stalled  ${kind.padEnd(11)} ${err.trim()}${signal ? "did not exit within 20 s (killed)" : ` (exit ${code})`}`);
  }
}

async function destination(kind) {
  if (kind === "linewriter") {
    const { LineWriter, droppedLines } = await import(path.join(ROOT, "dist/observe/line-writer.js"));
    return { dest: new LineWriter(1), dropped: () => droppedLines(), flush: (d) => d.flushSync() };
  }
  const pino = (await import("pino")).default;
  let dropped = 0;
  const dest = pino.destination({ fd: 1, sync: false, minLength: 4096, maxLength: 4 * 1024 * 1024 });
  dest.on("drop", () => dropped++);
  return { dest, dropped: () => dropped, flush: (d) => d.flushSync() };
}

async function child(kind, mode) {
  const pino = (await import("pino")).default;
  const { dest, dropped, flush } = await destination(kind);
  const logger = pino({ base: undefined }, dest);
  const write = (s) => logger[pino.symbols.streamSym].write(s);
  if (mode === "cpu") {
    const start = process.cpuUsage();
    for (let i = 0; i < LINES; i++) {
      write(LINE);
      if (i % 64 === 63) await new Promise((r) => setImmediate(r)); // requests arrive in turns
    }
    await new Promise((r) => setTimeout(r, 300)); // let asynchronous writes finish
    flush(dest);
    const used = process.cpuUsage(start);
    process.stderr.write(`${((used.user + used.system) / LINES).toFixed(3)}\n`);
    return;
  }
  // stalled: the pipe made non-blocking as dockgate's createLogger does (Node's process.stdout
  // does it), then 2,000 lines per turn for a second, counting the turns.
  void process.stdout;
  let turns = 0;
  const end = Date.now() + 1000;
  while (Date.now() < end) {
    for (let i = 0; i < 2000; i++) write(LINE);
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  process.stderr.write(`${turns} loop turns in 1 s, ${dropped()} lines dropped; exit: `);
  process.on("exit", () => process.stderr.write("clean\n"));
  flush(dest);
  process.exit(0);
}
