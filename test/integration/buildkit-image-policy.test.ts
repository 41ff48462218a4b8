// BuildKit builds under the image policy, against the real daemon with the Debian docker CLI 20.10
// (/usr/bin/docker, DOCKER_BUILDKIT=1: /session + /build?version=2), through the shipped
// config/ci.yaml with `images.allow` set to the test image and the tag the tests build under.
// The Dockerfile's FROM / COPY --from lines (ARGs expanded with the build's --build-arg) are
// checked before the daemon sees the Dockerfile: an allowed one builds and runs; a denied one is
// refused with the rule in the CLI's output, no image is created, and a loopback trap listener
// standing in for a registry sees no connection. Control: the same build sent to the daemon
// directly does connect to the trap.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker as dockerCli } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { startTrap, type Trap } from "../harness/trap.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const DOCKER_20 = "/usr/bin/docker";
/** The repository the tests tag their builds in (allowed, with the test image). */
const TAGS = "dgbk";
const TAG = `${TAGS}:${process.pid}`;

let proxy: TestProxy;
let work: string;
let trap: Trap;
let port: number;

/** The docker CLI 20.10 with its built-in BuildKit. */
function docker(args: string[], socket = proxy.socket) {
  return dockerCli(socket, args, { binary: DOCKER_20, env: { DOCKER_BUILDKIT: "1", BUILDKIT_PROGRESS: "plain" }, timeoutMs: 90_000 });
}

/** Whether the daemon has image `ref` (asked directly). */
async function onDaemon(ref: string): Promise<boolean> {
  return (await dockerCli(daemon, ["image", "inspect", ref])).code === 0;
}

let contexts = 0;
function context(dockerfile: string[]): string {
  const dir = path.join(work, `ctx-${contexts++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile.join("\n") + "\n");
  return dir;
}

beforeAll(async () => {
  expect(spawnSync(DOCKER_20, ["--version"], { encoding: "utf8" }).stdout).toMatch(/^Docker version 20\.10\./);
  trap = await startTrap();
  port = trap.port;
  work = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-bkip-"));
  // The shipped ci config, its commented-out allow list set to what these tests build from and tag.
  const text = fs.readFileSync(CI_CONFIG, "utf8");
  const line = /^(\s*)# allow: \[.*$/m;
  expect(text).toMatch(line);
  const repo = image.split(":")[0]!;
  const config = path.join(work, "ci.yaml");
  fs.writeFileSync(config, text.replace(line, `$1allow: [docker.io/library/${repo}, docker.io/library/${TAGS}]`));
  proxy = await startProxyWithConfig(config, daemon);
});

afterAll(async () => {
  await proxy?.stop();
  await trap?.close();
  spawnSync(DOCKER_20, ["rmi", "-f", `${TAG}-ok`], { env: { ...process.env, DOCKER_HOST: `unix://${daemon}` } });
  fs.rmSync(work, { recursive: true, force: true });
});

const ALLOWED = ["ARG BASE=" + "IMAGE", "FROM $BASE AS b", "RUN echo built > /ok", "FROM b", "COPY --from=b /ok /ok2", 'CMD ["cat", "/ok2"]'];

describe("BuildKit builds under images.allow (ci profile, docker CLI 20.10)", () => {
  it("FROM an allowed image (through a global ARG), COPY --from a stage: builds and runs", async () => {
    const ctx = context(ALLOWED.map((l) => l.replace("IMAGE", image)));
    const r = await docker(["build", "-t", `${TAG}-ok`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(await onDaemon(`${TAG}-ok`)).toBe(true);
    const run = await docker(["run", "--rm", `${TAG}-ok`]);
    expect(run.stdout).toBe("built\n");
  });

  it.each([
    ["--build-arg BASE= a loopback registry", ALLOWED, ["--build-arg", "BASE=127.0.0.1:PORT/dgbk-evil:1"], /Dockerfile:2 FROM="127\.0\.0\.1:\d+\/dgbk-evil:1": registry "127\.0\.0\.1:\d+" is on this host's loopback.*\(rule images\.local-registry\)/],
    ["COPY --from= a localhost registry", ["FROM IMAGE", "COPY --from=localhost:PORT/dgbk-evil /bin/sh /sh2"], [], /Dockerfile:2 COPY --from="localhost:\d+\/dgbk-evil".*\(rule images\.local-registry\)/],
    ["RUN --mount from= an image not allowed", ["FROM IMAGE", "RUN --mount=type=bind,from=dgbk-absent-PID,target=/m true"], [], /Dockerfile:2 RUN --mount from="dgbk-absent-\d+": image docker\.io\/library\/dgbk-absent-\d+ is not among the images this profile allows.*\(rule images\.reference\)/],
    ["FROM a variable the daemon sets", ["FROM IMAGE-${TARGETARCH}"], [], /Dockerfile:1: FROM "[^"]+-\$\{TARGETARCH\}" cannot be resolved: variable TARGETARCH is set by the daemon.*\(rule buildkit\.image-ref\)/],
  ])("%s: refused with the rule in the CLI's output; no image, no connection", async (_name, lines, args, message) => {
    const ctx = context(lines.map((l) => l.replace("IMAGE", image).replace("PORT", String(port)).replace("PID", String(process.pid))));
    const tag = `${TAG}-refused-${contexts}`;
    const r = await docker(["build", ...args.map((a) => a.replace("PORT", String(port))), "-t", tag, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(await onDaemon(tag)).toBe(false);
    expect(await onDaemon(`dgbk-absent-${process.pid}`)).toBe(false);
    expect(trap.connections()).toBe(0);
  });

  it("a Dockerfile named like an ignore file (-f x.dockerignore) is read too", async () => {
    const ctx = context([`FROM ${image}`]);
    fs.writeFileSync(path.join(ctx, "x.dockerignore"), `FROM 127.0.0.1:${trap.port}/dgbk-evil:1\n`);
    const r = await docker(["build", "-f", path.join(ctx, "x.dockerignore"), ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/x\.dockerignore:1 FROM="127\.0\.0\.1:\d+\/dgbk-evil:1".*\(rule images\.local-registry\)/);
    expect(trap.connections()).toBe(0);
  });

  it("a tag images.allow does not list is refused at /build (rule images.reference); no image", async () => {
    const ctx = context([`FROM ${image}`]);
    const r = await docker(["build", "-t", `dgbk-other-${process.pid}:1`, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dockgate: ImageBuild denied for profile ci: t="dgbk-other-\d+:1": image docker\.io\/library\/dgbk-other-\d+ is not among the images this profile allows \(images\.allow\) \(rule images\.reference\)/);
    expect(await onDaemon(`dgbk-other-${process.pid}:1`)).toBe(false);
  });

  it("control: the refused loopback FROM, sent to the daemon directly, connects to the trap", async () => {
    const ctx = context([`FROM 127.0.0.1:${port}/dgbk-evil:1`]);
    const before = trap.connections();
    const r = await docker(["build", ctx], daemon);
    expect(r.code).not.toBe(0);
    await trap.connectedSince(before);
  });
});
