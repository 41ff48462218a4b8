// `docker inspect NAME` through every shipped profile (config/*.yaml) with the docker CLI 28 (and
// Debian's 20.10, which probes the same way): the
// CLI tries container, image, network, volume, (swarm objects on a manager), plugin in turn and
// goes on only after a not-found answer. A missing name must print what it prints against the
// daemon directly (`Error: No such object: NAME`, exit 1), whatever the profile grants, and an
// existing container must still be inspectable where the profile grants ContainerInspect.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const DOCKER = "/usr/local/bin/docker";
const DOCKER_20 = "/usr/bin/docker";
const CONFIG_DIR = path.resolve(import.meta.dirname, "../../config");
const CONFIGS = fs.readdirSync(CONFIG_DIR).filter((f) => f.endsWith(".yaml")).sort();
const RUN = `dgt-${process.pid}-inspect`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(socket: string, args: string[], docker = DOCKER): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}` };
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_API_VERSION;
    const p = spawn(docker, args, { env, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

const proxies = new Map<string, TestProxy>();

beforeAll(async () => {
  expect((await cli(daemon, ["version", "--format", "{{.Client.Version}}"])).stdout).toMatch(/^28\./);
  expect((await cli(daemon, ["version", "--format", "{{.Client.Version}}"], DOCKER_20)).stdout).toMatch(/^20\.10\./);
  for (const file of CONFIGS) proxies.set(file, await startProxyWithConfig(path.join(CONFIG_DIR, file), daemon));
});

afterAll(async () => {
  for (const p of proxies.values()) await p.stop();
  await cli(daemon, ["rm", "-f", `${RUN}-direct`, ...CONFIGS.map((f) => `${RUN}-${f}`)]);
});

describe("docker inspect of a missing name", () => {
  const missing = `${RUN}-no-such-thing`;
  it.each(CONFIGS)("through config/%s prints what the daemon prints", async (file) => {
    const direct = await cli(daemon, ["inspect", missing]);
    expect(direct).toEqual({ code: 1, stdout: "[]\n", stderr: `Error: No such object: ${missing}\n` });
    expect(await cli(proxies.get(file)!.socket, ["inspect", missing])).toEqual(direct);
    // --format too (scripts: `docker inspect -f '{{.State.Running}}' x || ...`).
    const format = ["inspect", "--format", "{{.Id}}", missing];
    expect(await cli(proxies.get(file)!.socket, format)).toEqual(await cli(daemon, format));
  });
  it.each(CONFIGS)("through config/%s prints what the daemon prints, with the docker CLI 20.10", async (file) => {
    const direct = await cli(daemon, ["inspect", missing], DOCKER_20);
    expect(direct.code).toBe(1);
    expect(direct.stderr).toBe(`Error: No such object: ${missing}\n`);
    expect(await cli(proxies.get(file)!.socket, ["inspect", missing], DOCKER_20)).toEqual(direct);
  });
});

describe("docker inspect of an existing container", () => {
  const grants = (file: string) => {
    const profile = [...loadConfig(path.join(CONFIG_DIR, file)).profiles.values()][0]!;
    return { inspect: profile.allow.has("ContainerInspect"), create: profile.allow.has("ContainerCreate"), owned: profile.ownership !== undefined };
  };
  it.each(CONFIGS.filter((f) => grants(f).inspect))("works through config/%s, which grants ContainerInspect", async (file) => {
    const name = `${RUN}-${file}`;
    const { create, owned } = grants(file);
    // Ownership profiles see their own containers only: create it through the profile then.
    const creator = owned && create ? proxies.get(file)!.socket : daemon;
    const made = await cli(creator, ["create", "--name", name, image, "true"]);
    expect(made.code, made.stderr).toBe(0);
    const id = made.stdout.trim();
    const through = await cli(proxies.get(file)!.socket, ["inspect", "--format", "{{.Id}} {{.Name}}", name]);
    expect(through).toEqual({ code: 0, stdout: `${id} /${name}\n`, stderr: "" });
  });
});
