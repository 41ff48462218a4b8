// Testcontainers for Node through the shipped config/ci-tenant.yaml (ownership, hardening, /info
// redaction, limits): start a GenericContainer of the test image, exec in it, stop it. Ryuk is off
// (its image cannot be pulled here: no registry); the test image is local, so nothing is pulled.
//
// This machine runs in a container (/.dockerenv), which makes Testcontainers look up the `bridge`
// network's gateway: under ownership that predefined network is inspectable (without its list of
// attached containers).

import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const CONFIG = path.join(import.meta.dirname, "../../config/ci-tenant.yaml");

let proxy: TestProxy;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  proxy = await startProxyWithConfig(CONFIG, daemon);
  for (const k of ["DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED", "TESTCONTAINERS_HOST_OVERRIDE", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]) saved[k] = process.env[k];
  process.env.DOCKER_HOST = `unix://${proxy.socket}`;
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  delete process.env.TESTCONTAINERS_HOST_OVERRIDE;
  delete process.env.DOCKER_TLS_VERIFY;
  delete process.env.DOCKER_CERT_PATH;
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await proxy?.stop();
  await closeDaemonClients();
  const left = (await docker(daemon, ["ps", "-aq", "--filter", "label=dockgate.owner=ci", "--filter", "label=org.testcontainers=true"])).stdout.split("\n").filter(Boolean);
  if (left.length > 0) await docker(daemon, ["rm", "-f", ...left]);
});

describe("Testcontainers (node) through the ci-tenant profile", () => {
  it("starts a GenericContainer, execs in it and stops it; the container is the tenant's and hardened", async () => {
    const { GenericContainer, PullPolicy } = await import("testcontainers");
    const container = await new GenericContainer(image)
      .withCommand(["sleep", "300"])
      .withPullPolicy(PullPolicy.defaultPolicy()) // pulls only a missing image; the test image is local
      .start();
    const id = container.getId();
    try {
      const r = await container.exec(["sh", "-c", "echo hello from $(hostname)"]);
      expect(r.exitCode).toBe(0);
      expect(r.output.trim()).toBe(`hello from ${id.slice(0, 12)}`);

      const inspected = await docker(daemon, ["inspect", "-f", '{{index .Config.Labels "dockgate.owner"}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.SecurityOpt}}', id]);
      expect(inspected.stdout.trim()).toBe(`ci ${1 << 30} 1000000000 1024 [no-new-privileges]`);

      // Through the same listener, the container is listed; no other container on the host is.
      const ps = await docker(proxy.socket, ["ps", "-aq", "--no-trunc"]);
      expect(ps.stdout.split("\n").filter(Boolean)).toContain(id);
      const all = await docker(daemon, ["ps", "-aq", "--no-trunc"]);
      for (const other of all.stdout.split("\n").filter(Boolean)) {
        const owner = (await docker(daemon, ["inspect", "-f", '{{index .Config.Labels "dockgate.owner"}}', other])).stdout.trim();
        if (owner !== "ci") expect(ps.stdout).not.toContain(other);
      }
    } finally {
      await container.stop({ timeout: 0 });
    }
    // stop() removes the container (Testcontainers' default).
    expect((await docker(daemon, ["inspect", id])).code).not.toBe(0);
  });

  it("docker info through the profile: the host's name and global counts are redacted", async () => {
    const r = await docker(proxy.socket, ["info", "--format", "{{json .Name}} {{.Containers}} {{.ServerVersion}}"]);
    expect(r.code, r.stderr).toBe(0);
    const direct = await docker(daemon, ["info", "--format", "{{.ServerVersion}}"]);
    expect(r.stdout.trim()).toBe(`"" 0 ${direct.stdout.trim()}`);
  });
});
