// Bind mounts of dockgate's own sockets against the real daemon, through the shipped
// config/ci-tenant.yaml with two tenants (two listeners of its `ci` profile): `bindMounts:
// [{ ownSocket: true }]` lets each tenant mount the socket it connected through (Testcontainers'
// Ryuk), never the other tenant's, which would make its containers that tenant's clients. What
// counts is the daemon's state: which containers exist, and what they mount.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { docker } from "../harness/docker.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dgsock${process.pid}`;
const CONFIG = path.join(import.meta.dirname, "../../config/ci-tenant.yaml");

let dir: string;
let gateway: Gateway;
let A: string;
let B: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgs-"));
  A = path.join(dir, "a.sock");
  B = path.join(dir, "b.sock");
  const loaded = loadConfig(CONFIG);
  const ci = loaded.listeners[0]!;
  const config: Config = {
    ...loaded,
    upstream: daemon,
    listeners: [
      { ...ci, name: `${tag}-a`, listen: { kind: "unix", path: A, mode: 0o600 } },
      { ...ci, name: `${tag}-b`, listen: { kind: "unix", path: B, mode: 0o600 } },
    ],
  };
  gateway = await startGateway(config, createGate(config), pino({ level: "silent" }));
});

afterAll(async () => {
  await gateway?.stop(5);
  await closeDaemonClients();
  const ids = (await docker(daemon, ["ps", "-aq", "--filter", `name=${tag}`])).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await docker(daemon, ["rm", "-f", ...ids]);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function exists(name: string): Promise<boolean> {
  return (await docker(daemon, ["inspect", "--type", "container", name])).code === 0;
}

describe("bindMounts { ownSocket: true } with two tenants on one profile", () => {
  it("tenant B cannot mount tenant A's socket (Binds, Mounts, a read-only mount, a path spelled differently); no container is created", async () => {
    const attempts: Array<[string, string[]]> = [
      ["binds", ["-v", `${A}:/var/run/docker.sock`]],
      ["ro", ["-v", `${A}:/var/run/docker.sock:ro`]],
      ["mount", ["--mount", `type=bind,source=${A},target=/var/run/docker.sock`]],
      ["dotdot", ["-v", `${dir}/x/../a.sock:/var/run/docker.sock`]],
      ["dir", ["-v", `${dir}:/sockets:ro`]],
    ];
    for (const [suffix, args] of attempts) {
      const name = `${tag}-b-steal-${suffix}`;
      const r = await docker(B, ["create", "--name", name, ...args, image, "true"]);
      expect(r.code, `${suffix}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr, suffix).toContain("(rule containers.bind-mounts)");
      expect(await exists(name), suffix).toBe(false);
    }
    // Nor through a local-driver bind volume (o=bind,device=<A's socket>).
    const v = await docker(B, ["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", `device=${A}`, `${tag}-vol`]);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toContain("(rule containers.bind-mounts)");
    expect((await docker(daemon, ["volume", "inspect", `${tag}-vol`])).code).not.toBe(0);
  });

  it("each tenant mounts its own socket (the Ryuk case): the container exists, mounts that socket and sees a socket there", async () => {
    for (const [who, sock] of [["a", A], ["b", B]] as const) {
      const name = `${tag}-${who}-ryuk`;
      const r = await docker(sock, ["run", "--name", name, "-v", `${sock}:/var/run/docker.sock`, image, "sh", "-c", "test -S /var/run/docker.sock && echo socket"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe("socket");
      const binds = await docker(daemon, ["inspect", "-f", '{{json .HostConfig.Binds}} {{index .Config.Labels "dockgate.owner"}}', name]);
      expect(binds.stdout.trim()).toBe(`${JSON.stringify([`${sock}:/var/run/docker.sock`])} ${tag}-${who}`);
    }
  });
});
