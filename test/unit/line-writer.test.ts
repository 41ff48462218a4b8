// The log destination: every line arrives, in order, whether written by size, by timer or at
// exit; a destination that cannot keep up never blocks the caller: lines beyond the bound are
// dropped, counted, and announced once when dropping starts and once when it has caught up.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { droppedLines, LineWriter } from "../../src/observe/line-writer.js";

function tempFd(): { fd: number; file: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dg-lw-")), "log");
  return { fd: fs.openSync(file, "w"), file };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("LineWriter", () => {
  it("keeps every line, in order, across size-triggered asynchronous writes", async () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    const expected: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const line = `{"n":${i},"pad":"${"x".repeat(i % 50)}"}\n`;
      expected.push(line);
      w.write(line);
      if (i % 997 === 0) await new Promise((r) => setImmediate(r));
    }
    const all = expected.join("");
    await until(() => fs.statSync(file).size === Buffer.byteLength(all), 5000, "every line written");
    expect(fs.readFileSync(file, "utf8")).toBe(all);
    expect(w.backlog).toBe(0);
  });

  it("flushes a few lines on its timer without being asked", async () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    w.write("one\n");
    w.write("two\n");
    await until(() => fs.readFileSync(file, "utf8") === "one\ntwo\n", 5000, "the timer's write");
  });

  it("writes what waits at exit (flushSync), as UTF-8", () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    w.write('{"path":"/images/ünïcode"}\n');
    w.flushSync();
    expect(fs.readFileSync(file, "utf8")).toBe('{"path":"/images/ünïcode"}\n');
  });

  it("a pipe nobody reads: writing never blocks, lines over the bound are dropped and counted, the notices come once each, and the lines kept arrive in order", async () => {
    const fifo = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dg-lw-")), "fifo");
    execFileSync("mkfifo", [fifo]);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    const notices: Array<[boolean, number]> = [];
    const w = new LineWriter(fd, {
      maxBuffered: 256 * 1024,
      onDropping: (dropping, dropped) => {
        notices.push([dropping, dropped]);
        w.write(`NOTICE ${dropping ? "dropping" : `caught up, ${dropped} dropped`}\n`);
      },
    });
    const before = droppedLines();
    const line = (i: number) => `line ${String(i).padStart(7, "0")} ${"x".repeat(90)}\n`;
    // 100,000 lines of 105 bytes (10 MB) into a 64 KiB pipe: the loop goes on, turn after turn.
    for (let i = 0; i < 100_000; i++) {
      w.write(line(i));
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    expect(w.backlog).toBeLessThanOrEqual(256 * 1024 + 200);
    const dropped = droppedLines() - before;
    expect(dropped).toBeGreaterThan(90_000);
    expect(notices).toEqual([[true, 0]]);

    // The reader wakes up: what was kept arrives, then the caught-up notice with the count.
    let text = "";
    const chunk = Buffer.alloc(65536);
    await until(() => {
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(reader, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EAGAIN") break;
          throw err;
        }
        if (n === 0) break;
        text += chunk.toString("latin1", 0, n);
      }
      return text.includes("NOTICE caught up");
    }, 10_000, "the caught-up notice");
    expect(notices).toEqual([[true, 0], [false, dropped]]);
    const lines = text.split("\n").filter((l) => l.startsWith("line "));
    expect(lines.length).toBe(100_000 - dropped);
    const numbers = lines.map((l) => Number(l.slice(5, 12)));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b)); // in order
    expect(new Set(numbers).size).toBe(numbers.length); // none twice
    expect(text).toContain("NOTICE dropping\n");
    fs.closeSync(fd);
    fs.closeSync(reader);
  });
});
