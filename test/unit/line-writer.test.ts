// The log destination: every line arrives, in order, whether flushed by size, by timer or at exit.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LineWriter } from "../../src/observe/line-writer.js";

function tempFd(): { fd: number; file: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dg-lw-")), "log");
  return { fd: fs.openSync(file, "w"), file };
}

describe("LineWriter", () => {
  it("keeps every line, in order, across size-triggered asynchronous writes and the final flush", async () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    const expected: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const line = `{"n":${i},"pad":"${"x".repeat(i % 50)}"}\n`;
      expected.push(line);
      w.write(line);
      if (i % 997 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    w.flushSync();
    await new Promise((r) => setTimeout(r, 50));
    w.flushSync();
    expect(fs.readFileSync(file, "utf8")).toBe(expected.join(""));
  });

  it("flushes a few lines on its timer without being asked", async () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    w.write("one\n");
    w.write("two\n");
    await new Promise((r) => setTimeout(r, 400));
    expect(fs.readFileSync(file, "utf8")).toBe("one\ntwo\n");
  });

  it("writes multi-byte text as UTF-8", () => {
    const { fd, file } = tempFd();
    const w = new LineWriter(fd);
    w.write('{"path":"/images/ünïcode"}\n');
    w.flushSync();
    expect(fs.readFileSync(file, "utf8")).toBe('{"path":"/images/ünïcode"}\n');
  });
});
