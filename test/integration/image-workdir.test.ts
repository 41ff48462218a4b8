// CVE-2024-21626 through an image: a WORKDIR under /proc baked into an image applies to every
// container created from it without a WorkingDir of its own. dockgate asks the daemon for the
// image's and refuses it like a WorkingDir in the body; an explicit WorkingDir overrides it. The
// image is forwarded as the id that was checked, so re-tagging the name in between cannot swap it,
// and inspect reads the name back as the client wrote it.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";
import { DaemonClient } from "../../src/policy/daemon.js";
import { RefResolver } from "../../src/policy/refs.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dg-procwd-${process.pid}`;
let proxy: TestProxy;

function post(target: string) {
  return rawExchange(proxy.socket, `POST ${target} HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`, 1).then((r) => r[0]!);
}

function create(name: string, body: object) {
  const json = JSON.stringify(body);
  return rawExchange(
    proxy.socket,
    `POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
    1,
  ).then((r) => r[0]!);
}

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-procwd-"));
  fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${image}\nWORKDIR /proc/self/fd/8\n`);
  const built = await docker(daemon, ["build", "-q", "-t", `${tag}:img`, dir]);
  if (built.code !== 0) throw new Error(`test image build failed: ${built.stderr}`);
  proxy = await startProxyWithConfig(path.join(import.meta.dirname, "../../config/ci.yaml"), daemon);
});
afterAll(async () => {
  await proxy?.stop();
  const race = (await docker(daemon, ["ps", "-aq", "--filter", `name=${tag}-race-`])).stdout.split("\n").filter(Boolean);
  await docker(daemon, ["rm", "-f", `${tag}-a`, `${tag}-b`, `${tag}-c`, `${tag}-good`, ...race]);
  await docker(daemon, ["rmi", "-f", `${tag}:img`, `${tag}:race`]);
});

describe("an image's WORKDIR under /proc", () => {
  it("is refused at create, and nothing is created", async () => {
    const r = await create(`${tag}-a`, { Image: `${tag}:img`, Cmd: ["true"] });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).message).toMatch(/WORKDIR "\/proc\/self\/fd\/8" under \/proc.*\(rule containers\.workdir\)/);
    expect((await docker(daemon, ["inspect", `${tag}-a`])).code).not.toBe(0);
  });

  it("an explicit WorkingDir overrides it and the create works", async () => {
    const r = await create(`${tag}-b`, { Image: `${tag}:img`, Cmd: ["true"], WorkingDir: "/tmp" });
    expect(r.status, r.body).toBe(201);
  });

  it("an ordinary image is not affected", async () => {
    const r = await create(`${tag}-c`, { Image: image, Cmd: ["true"] });
    expect(r.status, r.body).toBe(201);
  });
});

describe("re-tagging the name between the check and the create", () => {
  it("never creates a container from the /proc image; the good image still works and reads back as written", async () => {
    const idOf = async (ref: string) => (await docker(daemon, ["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim();
    const good = await idOf(image);
    const bad = await idOf(`${tag}:img`);
    const name = `${tag}:race`;
    expect((await post(`/v1.41/images/${good}/tag?repo=${tag}&tag=race`)).status).toBe(201);
    // Through the same dockgate socket: one client flips the tag as fast as it can, another creates.
    let creating = true;
    const flips = (async () => {
      for (let i = 0; creating; i++) await post(`/v1.41/images/${i % 2 ? good : bad}/tag?repo=${tag}&tag=race`);
    })();
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await create(`${tag}-race-${i}`, { Image: name, Cmd: ["true"] })).status);
    creating = false;
    await flips;
    expect(statuses.every((s) => s === 201 || s === 403), statuses.join(",")).toBe(true);

    // The daemon's state: every container it created is from the good image, none has a /proc workdir.
    const ids = (await docker(daemon, ["ps", "-aq", "--no-trunc", "--filter", `name=${tag}-race-`])).stdout.split("\n").filter(Boolean);
    expect(ids.length).toBe(statuses.filter((s) => s === 201).length);
    const containers = ids.length === 0 ? [] : JSON.parse((await docker(daemon, ["inspect", ...ids])).stdout);
    expect(containers.length).toBe(ids.length);
    for (const c of containers) {
      expect(c.Config.WorkingDir).not.toMatch(/^\/proc/);
      expect(c.Image).toBe(good);
    }

    expect((await post(`/v1.41/images/${good}/tag?repo=${tag}&tag=race`)).status).toBe(201);
    const r = await create(`${tag}-good`, { Image: name, Cmd: ["true"] });
    expect(r.status, r.body).toBe(201);
    const direct = JSON.parse((await docker(daemon, ["inspect", `${tag}-good`])).stdout)[0];
    expect(direct.Config.Image).toBe(good); // what the daemon was given
    const seen = JSON.parse((await docker(proxy.socket, ["inspect", `${tag}-good`])).stdout)[0];
    expect(seen.Config.Image).toBe(name); // what the client wrote
    expect(seen.Config.Labels?.["dockgate.refs"]).toBeUndefined();
    const ps = (await docker(proxy.socket, ["ps", "-a", "--filter", `name=${tag}-good`, "--format", "{{.Image}}|{{.Labels}}"])).stdout.trim();
    expect(ps).toBe(`${name}|`);
    const df = JSON.parse((await rawExchange(proxy.socket, "GET /v1.41/system/df HTTP/1.1\r\nHost: d\r\n\r\n", 1))[0]!.body);
    expect(df.Containers.find((c: { Names: string[] }) => c.Names.includes(`/${tag}-good`))).toMatchObject({ Image: name, Labels: {} });
  }, 120_000);
});

describe("image facts", () => {
  it("are cached by image id for good; a name is resolved by the daemon every time", async () => {
    const client = new DaemonClient(daemon);
    const r = new RefResolver(client);
    try {
      const name = `${tag}:facts`;
      expect((await docker(daemon, ["tag", `${tag}:img`, name])).code).toBe(0);
      const first = await r.image(name);
      expect(first.found && first.facts.workdir).toBe("/proc/self/fd/8");
      const id = first.found ? first.facts.id : "";
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(r.stats).toEqual({ hits: 0, lookups: 1 });
      // The facts an id names are the cached ones (the refs listed beside them are the image's tags, for the image policy).
      for (const ref of [id, id.slice("sha256:".length)]) expect(await r.image(ref)).toMatchObject({ found: true, facts: first.found ? first.facts : {} });
      expect(r.stats).toEqual({ hits: 2, lookups: 1 });
      // The name moves: asked again, it says where it points now.
      expect((await docker(daemon, ["tag", image, name])).code).toBe(0);
      const moved = await r.image(name);
      expect(moved.found && moved.facts.id).not.toBe(id);
      expect(moved.found && moved.facts.workdir).not.toBe("/proc/self/fd/8");
      expect(r.stats).toEqual({ hits: 2, lookups: 2 });
      // In the words of a create of it, checked on the daemon.
      const direct = await client.postJson("/containers/create", { Image: `${tag}:missing` });
      expect(await r.image(`${tag}:missing`)).toEqual({ found: false, status: 404, message: direct.message });
    } finally {
      await docker(daemon, ["rmi", `${tag}:facts`]);
      await client.close();
    }
  });
});
