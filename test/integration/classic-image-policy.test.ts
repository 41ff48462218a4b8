// Classic-builder builds under the image policy, against the real daemon with the docker CLI 28
// (/usr/local/bin/docker, DOCKER_BUILDKIT=0: /build with the context tar as the body), through
// the shipped config/ci.yaml with `images.allow` set to the test image and the tag the tests
// build under. The Dockerfile in the context tar is read as it streams (build-context.ts): an
// allowed FROM builds and runs, also from a gzip context (--compress); a denied one is refused
// with the rule in the CLI's output, no image is created and a loopback trap listener standing in
// for a registry sees no connection; a crafted tar (a second Dockerfile entry, a symlinked
// Dockerfile) is refused. Control: the refused FROM sent to the daemon directly connects to the trap.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker as dockerCli } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { TAR_END, tarEntry } from "../harness/tar.js";
import { startTrap, type Trap } from "../harness/trap.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const DOCKER_28 = "/usr/local/bin/docker";
const TAGS = "dgcl";
const TAG = `${TAGS}:${process.pid}`;

let proxy: TestProxy;
let work: string;
let trap: Trap;

function docker(args: string[], opts: { socket?: string; input?: string } = {}) {
  return dockerCli(opts.socket ?? proxy.socket, args, { binary: DOCKER_28, env: { DOCKER_BUILDKIT: "0" }, timeoutMs: 90_000, input: opts.input });
}

async function onDaemon(ref: string): Promise<boolean> {
  return (await dockerCli(daemon, ["image", "inspect", ref])).code === 0;
}

let contexts = 0;
function context(dockerfile: string): string {
  const dir = path.join(work, `ctx-${contexts++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "Dockerfile"), dockerfile);
  return dir;
}

beforeAll(async () => {
  trap = await startTrap();
  work = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-clip-"));
  const text = fs.readFileSync(CI_CONFIG, "utf8");
  const line = /^(\s*)# allow: \[.*$/m;
  expect(text).toMatch(line);
  const config = path.join(work, "ci.yaml");
  fs.writeFileSync(config, text.replace(line, `$1allow: [docker.io/library/${image.split(":")[0]!}, docker.io/library/${TAGS}]`));
  proxy = await startProxyWithConfig(config, daemon);
});

afterAll(async () => {
  await proxy?.stop();
  await trap?.close();
  for (const t of [`${TAG}-ok`, `${TAG}-gz`]) await dockerCli(daemon, ["rmi", "-f", t]);
  fs.rmSync(work, { recursive: true, force: true });
});

describe("classic builds under images.allow (ci profile, docker CLI 28, DOCKER_BUILDKIT=0)", () => {
  it("FROM an allowed image (through a global ARG and --build-arg): builds and runs; also a gzip context (--compress)", async () => {
    const ctx = context(`ARG BASE=absent\nFROM $BASE\nRUN echo built > /ok\nCMD ["cat", "/ok"]\n`);
    for (const [tag, extra] of [[`${TAG}-ok`, []], [`${TAG}-gz`, ["--compress"]]] as const) {
      const r = await docker(["build", ...extra, "--build-arg", `BASE=${image}`, "-t", tag, ctx]);
      expect(r.code, r.stderr).toBe(0);
      expect(await onDaemon(tag)).toBe(true);
    }
    expect((await docker(["run", "--rm", `${TAG}-ok`])).stdout).toBe("built\n");
  });

  it.each([
    ["FROM a loopback registry", () => `FROM 127.0.0.1:${trap.port}/dgcl-evil:1\n`, /Dockerfile:1 FROM="127\.0\.0\.1:\d+\/dgcl-evil:1": registry .*\(rule images\.local-registry\)/],
    ["COPY --from= an image not allowed", () => `FROM ${image}\nCOPY --from=dgcl-absent-${process.pid} /x /x\n`, /Dockerfile:2 COPY --from="dgcl-absent-\d+": image docker\.io\/library\/dgcl-absent-\d+ is not among the images this profile allows.*\(rule images\.reference\)/],
  ])("%s: refused with the rule in the CLI's output; no image, no connection", async (_name, dockerfile, message) => {
    const tag = `${TAG}-refused-${contexts}`;
    const r = await docker(["build", "-t", tag, context(dockerfile())]);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(await onDaemon(tag)).toBe(false);
    expect(trap.connections()).toBe(0);
  });

  it.each([
    ["a second Dockerfile entry (./Dockerfile after Dockerfile)", () => Buffer.concat([tarEntry("Dockerfile", `FROM ${image}\n`), tarEntry("./Dockerfile", `FROM 127.0.0.1:${trap.port}/dgcl-evil:1\n`), TAR_END]), /rule images\.local-registry/],
    ["a symlinked Dockerfile", () => Buffer.concat([tarEntry("real", `FROM 127.0.0.1:${trap.port}/dgcl-evil:1\n`), tarEntry("Dockerfile", "", "2", "real"), TAR_END]), /"Dockerfile" is not a regular file.*\(rule build\.context\)/],
  ])("a crafted context tar, %s: refused; no image, no connection", async (_name, tar, message) => {
    const tag = `${TAG}-tar-${contexts++}`;
    const r = await docker(["build", "-t", tag, "-"], { input: tar().toString("latin1") });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(await onDaemon(tag)).toBe(false);
    expect(trap.connections()).toBe(0);
  });

  it("control: the refused loopback FROM, sent to the daemon directly, connects to the trap", async () => {
    const before = trap.connections();
    const r = await docker(["build", context(`FROM 127.0.0.1:${trap.port}/dgcl-evil:1\n`)], { socket: daemon });
    expect(r.code).not.toBe(0);
    await trap.connectedSince(before);
  });
});
