// Classic-builder RUN steps run in containers whose limits come from the build's query, not from
// a create body: a profile's mutate.memory and mutate.cpus bounds apply to them too, checked inside the build.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
let proxy: TestProxy;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-bh-"));
const tag = `dg-bh-${process.pid}`;

beforeAll(async () => {
  const config = path.join(dir, "config.yaml");
  fs.writeFileSync(
    config,
    [
      "listeners:",
      "  - name: b",
      `    unix: { path: ${path.join(dir, "unused.sock")} }`,
      "    profile: builder",
      "profiles:",
      "  builder:",
      "    allow: [ping, system:read, build, images:read, images:write, containers:read, containers:write]",
      "    mutate:",
      "      memory: { default: 256m, max: 512m }",
      "      cpus: { default: 0.5, max: 1 }",
    ].join("\n"),
  );
  proxy = await startProxyWithConfig(config, daemon);
  fs.writeFileSync(
    path.join(dir, "Dockerfile"),
    `FROM ${image}\nRUN echo "limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)" && ` +
      `echo "cpu=$(cut -d' ' -f1 /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"\n`,
  );
});
afterAll(async () => {
  await proxy?.stop();
  await docker(daemon, ["rmi", "-f", `${tag}:a`, `${tag}:b`, `${tag}:c`, `${tag}:d`]);
});

function build(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("docker", ["build", "--no-cache", ...args, dir], {
      env: { ...process.env, DOCKER_HOST: `unix://${proxy.socket}`, DOCKER_BUILDKIT: "0" },
    });
    let out = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (out += c.toString()));
    p.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

describe("build containers under mutate.memory", () => {
  it("get the default limit when the build sets none", async () => {
    const r = await build(["-t", `${tag}:a`]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`limit=${256 * 1048576}`);
    expect(r.out).toContain("cpu=50000"); // half a CPU of the default 100 ms period
  });

  it("a build asking for more CPU than the maximum, or unlimited CPU, is refused, and builds nothing", async () => {
    for (const args of [["--cpu-quota", "200000"], ["--cpu-quota", "-1"], ["--cpu-quota", "20000", "--cpu-period", "10000"]]) {
      const r = await build(["-t", `${tag}:d`, ...args]);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.out).toMatch(/dockgate: ImageBuild denied for profile builder: cpuquota=.* \(rule hardening\.cpus\)/);
      expect((await docker(daemon, ["image", "inspect", `${tag}:d`])).code).not.toBe(0);
    }
    const ok = await build(["-t", `${tag}:d`, "--cpu-quota", "100000"]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain("cpu=100000");
  });

  it("a build asking for more than the maximum is refused, and builds nothing", async () => {
    const r = await build(["-t", `${tag}:b`, "--memory", "1g"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/dockgate: ImageBuild denied for profile builder: memory=1073741824 .* \(rule hardening\.memory\)/);
    expect((await docker(daemon, ["image", "inspect", `${tag}:b`])).code).not.toBe(0);
  });

  it("a build asking for more swap than twice the maximum (or unlimited) is refused, and builds nothing; within it builds", async () => {
    for (const swap of ["1p", "-1"]) {
      const r = await build(["-t", `${tag}:c`, "--memory", "256m", "--memory-swap", swap]);
      expect(r.code, swap).not.toBe(0);
      expect(r.out).toMatch(/dockgate: ImageBuild denied for profile builder: memswap=.* \(rule hardening\.memory\)/);
      expect((await docker(daemon, ["image", "inspect", `${tag}:c`])).code).not.toBe(0);
    }
    const ok = await build(["-t", `${tag}:c`, "--memory", "256m", "--memory-swap", "1g"]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain(`limit=${256 * 1048576}`);
  });
});
