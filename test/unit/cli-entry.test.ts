// The CLI's entry (src/cli/main.ts): on a Node.js older than 24 every command, and the `dockgate`
// bin as npm installs it, stops with one line saying what to do, before any dependency loads
// (undici crashes while loading on Node 20); `dockgate --version` prints the package's version.
// Runs the built dist/ (npm test builds first) with the system Node.js, which is older here.

import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(ROOT, "dist/cli/main.js");
const OLD_NODE = "/usr/bin/node";
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(file, args, { cwd: ROOT, env, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("on an older Node.js", () => {
  const oldVersion = execFileSync(OLD_NODE, ["--version"], { encoding: "utf8" }).trim().slice(1);
  const line = (exec: string) =>
    `dockgate needs Node.js 24 or later; this is ${oldVersion} (${exec}): run it with a Node.js 24 (in a clone, the npm scripts and \`npm exec -- node dist/cli/main.js\` use the one the \`node\` dev dependency installs), or use the container image (docker build -t dockgate .)\n`;

  it("the system node is one (the test needs it)", () => {
    expect(Number(oldVersion.split(".")[0])).toBeLessThan(24);
  });

  it.each([
    ["serve", ["serve", "--config", "config/read-only.yaml"]],
    ["explain", ["explain", "--config", "config/ci.yaml", "GET", "/_ping"]],
    ["check", ["check", "config/ci.yaml"]],
    ["rules", ["rules", "--json"]],
    ["--version", ["--version"]],
    ["no command", []],
  ])("%s exits 1 with one line", (_, args) => {
    expect(run(OLD_NODE, [MAIN, ...args])).toEqual({ code: 1, stdout: "", stderr: line(OLD_NODE) });
  });

  it("so does the dockgate bin (#!/usr/bin/env node) with that node first on PATH", () => {
    expect(readFileSync(MAIN, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
    chmodSync(MAIN, 0o755); // what npm does to a package's bin on install
    const r = run(MAIN, ["serve"], { PATH: "/usr/bin:/bin" });
    expect(r).toEqual({ code: 1, stdout: "", stderr: line(OLD_NODE) });
  });

  it("because the entry imports nothing before the check", () => {
    const src = readFileSync(join(ROOT, "src/cli/main.ts"), "utf8");
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).not.toMatch(/\brequire\(/);
    expect(src.indexOf("process.versions.node")).toBeLessThan(src.indexOf("import("));
  });
});

describe("on Node.js 24", () => {
  it("dockgate --version prints the package version", () => {
    expect(run(process.execPath, [MAIN, "--version"])).toEqual({ code: 0, stdout: `dockgate ${VERSION}\n`, stderr: "" });
  });
  it("dockgate with no command prints the usage and exits 2", () => {
    const r = run(process.execPath, [MAIN]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: dockgate <command>/);
  });
});
