// Ownership against the real daemon, at the API level: two clients (two listeners of one config,
// so two owners) behind one profile with `ownership`. Every check is made both ways: what the
// client gets, and what the daemon did (or did not do), looked up on the daemon directly.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { DaemonClient, closeDaemonClients, daemonClient } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { mergeLabelFilter } from "../../src/policy/ownership.js";
import { resolverFor } from "../../src/policy/refs.js";
import { docker } from "../harness/docker.js";
import type { Client, RequestView, Verdict } from "../../src/policy/verdict.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dgown${process.pid}`;
const LABEL = `dg-test.owner-${process.pid}`;

let dir: string;
let config: Config;
let gateway: Gateway;
let A: string; // tenant-a's socket
let B: string; // tenant-b's socket

interface Reply {
  status: number;
  body: string;
  json: any;
}

function api(socket: string, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(
      {
        socketPath: socket,
        method,
        path: urlPath,
        headers: { host: "docker", ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

async function create(socket: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api(socket, "POST", `/v1.41/containers/create?name=${name}`, { Image: image, Cmd: ["sleep", "300"], ...extra });
  expect(r.status, r.body).toBe(201);
  return r.json.Id as string;
}

async function onDaemon(method: string, urlPath: string, body?: unknown): Promise<Reply> {
  return api(daemon, method, urlPath, body);
}

function configText(): string {
  return `
upstream: ${daemon}
listeners:
  - name: tenant-a
    unix: { path: ${dir}/a.sock, mode: "0600" }
    profile: tenant
  - name: tenant-b
    unix: { path: ${dir}/b.sock, mode: "0600" }
    profile: tenant
  - name: tenant-c
    unix: { path: ${dir}/c.sock, mode: "0600" }
    profile: forced
profiles:
  tenant:
    allow: [ping, system:read, events, containers:read, containers:write, containers:attach, containers:files, exec,
            images:read, images:write, build, networks:read, networks:write, volumes:read, volumes:write]
    ownership: { label: ${LABEL} }
    rules:
      namespaceJoins: [network, pid, ipc]
      volumesFrom: true
  forced:
    allow: [ping, containers:read, containers:write, networks:read, networks:write]
    ownership: { label: ${LABEL} }
    mutate:
      network: ${tag}-shared
`;
}

let aId: string; // tenant-a's running container, named `${tag}-a`
let bId: string; // tenant-b's running container, named `${tag}-b`

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgo-"));
  config = parseConfigText(configText(), path.join(dir, "tenants.yaml"));
  gateway = await startGateway(config, createGate(config), pino({ level: "silent" }));
  A = path.join(dir, "a.sock");
  B = path.join(dir, "b.sock");
  aId = await create(A, `${tag}-a`);
  bId = await create(B, `${tag}-b`);
  expect((await api(A, "POST", `/v1.41/containers/${aId}/start`)).status).toBe(204);
  expect((await api(B, "POST", `/v1.41/containers/${bId}/start`)).status).toBe(204);
});

afterAll(async () => {
  await gateway?.stop(5);
  await closeDaemonClients();
  const list = await onDaemon("GET", `/containers/json?all=1&${q({ filters: JSON.stringify({ label: [LABEL] }) })}`);
  for (const c of (list.json ?? []) as Array<{ Id: string }>) await onDaemon("DELETE", `/containers/${c.Id}?force=1&v=1`);
  const nets = await onDaemon("GET", `/networks?${q({ filters: JSON.stringify({ label: [LABEL] }) })}`);
  for (const n of (nets.json ?? []) as Array<{ Id: string }>) await onDaemon("DELETE", `/networks/${n.Id}`);
  const vols = await onDaemon("GET", `/volumes?${q({ filters: JSON.stringify({ label: [LABEL] }) })}`);
  for (const v of (vols.json?.Volumes ?? []) as Array<{ Name: string }>) await onDaemon("DELETE", `/volumes/${v.Name}`);
  for (const v of [`${tag}-bvol`, `${tag}-taken`]) await onDaemon("DELETE", `/volumes/${v}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("create labels", () => {
  it("containers created through the profile carry the owner label of their listener", async () => {
    const a = await onDaemon("GET", `/containers/${aId}/json`);
    expect(a.json.Config.Labels[LABEL]).toBe("tenant-a");
    const b = await onDaemon("GET", `/containers/${bId}/json`);
    expect(b.json.Config.Labels[LABEL]).toBe("tenant-b");
  });

  it("int64 values a double cannot hold reach the daemon and read back as sent (the body gets the label; the answer loses it)", async () => {
    // 2^53 + 1 ns: JSON.parse/stringify on either leg would make it 9007199254740992.
    // A float literal for an int64 field is the daemon's error, through dockgate as directly (a
    // rewritten body must not turn 1.0E9 into 1000000000).
    const float = `{"Image":${JSON.stringify(image)},"Healthcheck":{"Test":["CMD","true"],"Timeout":1.0E9}}`;
    const direct = await onDaemon("POST", `/v1.41/containers/create?name=${tag}-float`, float);
    const proxied = await api(A, "POST", `/v1.41/containers/create?name=${tag}-float`, float);
    expect([proxied.status, proxied.json]).toEqual([direct.status, direct.json]);
    expect(direct.status).toBe(500);
    const body = `{"Image":${JSON.stringify(image)},"Healthcheck":{"Test":["CMD","true"],"Interval":9007199254740993,"Timeout":1000000000}}`;
    const r = await api(A, "POST", `/v1.41/containers/create?name=${tag}-int64`, body);
    expect(r.status, r.body).toBe(201);
    try {
      expect((await onDaemon("GET", `/containers/${r.json.Id}/json`)).body).toContain('"Interval":9007199254740993,"Timeout":1000000000');
      const seen = await api(A, "GET", `/v1.41/containers/${tag}-int64/json`);
      expect(seen.body).toContain('"Interval":9007199254740993,"Timeout":1000000000');
      expect(seen.json.Config.Labels[LABEL]).toBeUndefined();
      const listed = await api(A, "GET", `/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: [`${tag}-int64`] }))}`);
      expect(listed.json.map((c: { Id: string }) => c.Id)).toEqual([r.json.Id]);
    } finally {
      await onDaemon("DELETE", `/containers/${r.json.Id}?force=1`);
    }
  });

  it("a client's own label of that key is overwritten; one differing only in case is refused", async () => {
    const id = await create(A, `${tag}-spoof`, { Labels: { [LABEL]: "tenant-b", keep: "me" } });
    const c = await onDaemon("GET", `/containers/${id}/json`);
    expect(c.json.Config.Labels[LABEL]).toBe("tenant-a");
    expect(c.json.Config.Labels.keep).toBe("me");
    const r = await api(A, "POST", `/v1.41/containers/create?name=${tag}-case`, { Image: image, Labels: { [LABEL.toUpperCase()]: "tenant-b" } });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/rule ownership\.label/);
    expect((await onDaemon("GET", `/containers/${tag}-case/json`)).status).toBe(404);
  });

  it("the label key is found the way Go finds it (labels, LABELS)", async () => {
    const r = await api(A, "POST", `/v1.41/containers/create?name=${tag}-lower`, { Image: image, labels: { x: "y" } });
    expect(r.status, r.body).toBe(201);
    const c = await onDaemon("GET", `/containers/${r.json.Id}/json`);
    // dockgate.refs: the image was forwarded by id (readback.ts).
    expect(c.json.Config.Labels).toEqual({ x: "y", [LABEL]: "tenant-a", "dockgate.refs": expect.any(String) });
  });

  it("networks and volumes carry the label; an empty volume create too", async () => {
    const n = await api(A, "POST", "/v1.41/networks/create", { Name: `${tag}-anet` });
    expect(n.status, n.body).toBe(201);
    expect((await onDaemon("GET", `/networks/${n.json.Id}`)).json.Labels[LABEL]).toBe("tenant-a");
    const v = await api(A, "POST", "/v1.41/volumes/create", { Name: `${tag}-avol` });
    expect(v.status, v.body).toBe(201);
    expect((await onDaemon("GET", `/volumes/${v.json.Name}`)).json.Labels[LABEL]).toBe("tenant-a");
    expect(v.json.Labels[LABEL]).toBeUndefined(); // the client does not see it (hide-owner.ts)
    const anon = await api(A, "POST", "/v1.41/volumes/create", {});
    expect(anon.status, anon.body).toBe(201);
    expect((await onDaemon("GET", `/volumes/${anon.json.Name}`)).json.Labels[LABEL]).toBe("tenant-a");
    // No body at all: nothing to put the label in (the daemon would make an unlabelled volume).
    const none = await api(A, "POST", "/v1.41/volumes/create");
    expect(none.status).toBe(400);
    expect(none.json.message).toMatch(/rule ownership\.label/);
  });
});

describe("objects of another client do not exist", () => {
  const refs = () => ({ "full id": aId, "id prefix": aId.slice(0, 12), name: `${tag}-a` });

  it("inspect by full id, id prefix and name: the daemon's 404 for a missing container", async () => {
    for (const [what, ref] of Object.entries(refs())) {
      const r = await api(B, "GET", `/v1.41/containers/${encodeURIComponent(ref)}/json`);
      expect(r.status, what).toBe(404);
      expect(r.json, what).toEqual({ message: `No such container: ${ref}` });
    }
    // The same request for a container that really does not exist reads the same.
    const missing = await api(B, "GET", `/v1.41/containers/${tag}-nothing/json`);
    expect(missing.json).toEqual({ message: `No such container: ${tag}-nothing` });
  });

  it("stop, kill, pause, rename, update, remove, logs, top, archive, exec, attach, commit: 404, and the daemon's state is unchanged", async () => {
    const ref = aId.slice(0, 10);
    const cases: Array<[string, string, unknown?]> = [
      ["POST", `/containers/${ref}/stop?t=0`],
      ["POST", `/containers/${ref}/kill`],
      ["POST", `/containers/${ref}/pause`],
      ["POST", `/containers/${ref}/restart?t=0`],
      ["POST", `/containers/${ref}/rename?name=${tag}-stolen`],
      ["POST", `/containers/${ref}/update`, { Memory: 8 << 20 }],
      ["DELETE", `/containers/${ref}?force=1`],
      ["GET", `/containers/${ref}/logs?stdout=1`],
      ["GET", `/containers/${ref}/top`],
      ["GET", `/containers/${ref}/changes`],
      ["GET", `/containers/${ref}/export`],
      ["GET", `/containers/${ref}/stats?stream=0`],
      ["GET", `/containers/${ref}/archive?path=/etc`],
      ["PUT", `/containers/${ref}/archive?path=/tmp`],
      ["POST", `/containers/${ref}/exec`, { Cmd: ["true"] }],
      ["POST", `/containers/${ref}/wait`],
      ["POST", `/containers/${ref}/attach?stream=1&stdout=1`],
      ["POST", `/commit?container=${ref}&repo=${tag}-stolen`],
    ];
    for (const [method, p, body] of cases) {
      const r = await api(B, method, `/v1.41${p}`, body);
      expect(r.status, `${method} ${p}`).toBe(404);
      expect(r.json?.message, `${method} ${p}`).toBe(`No such container: ${ref}`);
    }
    const after = await onDaemon("GET", `/containers/${aId}/json`);
    expect(after.json.State.Running).toBe(true);
    expect(after.json.State.Paused).toBe(false);
    expect(after.json.Name).toBe(`/${tag}-a`);
    expect(after.json.HostConfig.Memory).toBe(0);
    expect(after.json.RestartCount).toBe(0);
    expect((await onDaemon("GET", `/images/${tag}-stolen/json`)).status).toBe(404);
  });

  it("the owner's own requests by full id, prefix and name work", async () => {
    for (const ref of Object.values(refs())) {
      const r = await api(A, "GET", `/v1.41/containers/${encodeURIComponent(ref)}/json`);
      expect(r.status, ref).toBe(200);
      expect(r.json.Id).toBe(aId);
    }
    const top = await api(A, "GET", `/v1.41/containers/${tag}-a/top`);
    expect(top.status).toBe(200);
  });

  it("execs: another client's exec instance does not exist; the owner's does", async () => {
    const e = await api(A, "POST", `/v1.41/containers/${tag}-a/exec`, { Cmd: ["true"] });
    expect(e.status, e.body).toBe(201);
    const execId = e.json.Id as string;
    for (const [method, p] of [["GET", `/exec/${execId}/json`], ["POST", `/exec/${execId}/start`], ["POST", `/exec/${execId}/resize?h=10&w=10`]] as const) {
      const r = await api(B, method, `/v1.41${p}`, method === "POST" && p.endsWith("start") ? { Detach: true } : undefined);
      expect(r.status, p).toBe(404);
      expect(r.json.message).toBe(`No such exec instance: ${execId}`);
    }
    expect((await onDaemon("GET", `/exec/${execId}/json`)).json.Running).toBe(false);
    expect((await onDaemon("GET", `/exec/${execId}/json`)).json.ExitCode).toBe(null);
    const mine = await api(A, "GET", `/v1.41/exec/${execId}/json`);
    expect(mine.status).toBe(200);
    expect(mine.json.ContainerID).toBe(aId);
  });

  it("networks and volumes of another client: the daemon's 404 wording; nothing removed", async () => {
    const n = await api(B, "GET", `/v1.41/networks/${tag}-anet`);
    expect(n.status).toBe(404);
    expect(n.json.message).toBe(`network ${tag}-anet not found`);
    expect((await api(B, "DELETE", `/v1.41/networks/${tag}-anet`)).json.message).toBe(`network ${tag}-anet not found`);
    const v = await api(B, "GET", `/v1.41/volumes/${tag}-avol`);
    expect(v.status).toBe(404);
    expect(v.json.message).toBe(`get ${tag}-avol: no such volume`);
    expect((await api(B, "DELETE", `/v1.41/volumes/${tag}-avol`)).status).toBe(404);
    expect((await onDaemon("GET", `/networks/${tag}-anet`)).status).toBe(200);
    expect((await onDaemon("GET", `/volumes/${tag}-avol`)).status).toBe(200);
    // Predefined networks belong to no one: inspectable without the attached containers, not removable.
    const bridge = await api(B, "GET", "/v1.41/networks/bridge");
    expect(bridge.status).toBe(200);
    expect(bridge.json.Name).toBe("bridge");
    expect(bridge.json.Containers).toEqual({});
    expect(bridge.json.IPAM.Config[0].Gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(Object.keys((await onDaemon("GET", "/networks/bridge")).json.Containers).length).toBeGreaterThan(0);
    const rmBridge = await api(B, "DELETE", `/v1.41/networks/${bridge.json.Id.slice(0, 12)}`);
    expect(rmBridge.status).toBe(404);
    expect(rmBridge.json.message).toBe(`network ${bridge.json.Id.slice(0, 12)} not found`);
    // Own containers may be connected to it (and disconnected).
    const own = await create(B, `${tag}-b-bridge`);
    const dis = await api(B, "POST", "/v1.41/networks/bridge/disconnect", { Container: `${tag}-b-bridge` });
    expect(dis.status, dis.body).toBe(200);
    expect((await onDaemon("GET", `/containers/${own}/json`)).json.NetworkSettings.Networks).toEqual({});
    const con = await api(B, "POST", "/v1.41/networks/bridge/connect", { Container: `${tag}-b-bridge` });
    expect(con.status, con.body).toBe(200);
    expect(Object.keys((await onDaemon("GET", `/containers/${own}/json`)).json.NetworkSettings.Networks)).toEqual(["bridge"]);
    // ... but not another tenant's container.
    const foreign = await api(B, "POST", "/v1.41/networks/bridge/disconnect", { Container: aId, Force: true });
    expect(foreign.status).toBe(404);
    expect(foreign.json.message).toBe(`No such container: ${aId}`);
    expect(Object.keys((await onDaemon("GET", `/containers/${aId}/json`)).json.NetworkSettings.Networks)).toEqual(["bridge"]);
    expect((await api(B, "DELETE", `/v1.41/containers/${own}?force=1`)).status).toBe(204);
  });
});

describe("lists", () => {
  it("ps -a, network ls, volume ls show the client's own objects only", async () => {
    const a = await api(A, "GET", "/v1.41/containers/json?all=1");
    const ids = (a.json as Array<{ Id: string }>).map((c) => c.Id);
    expect(ids).toContain(aId);
    expect(ids).not.toContain(bId);
    const b = await api(B, "GET", "/v1.41/containers/json?all=1");
    expect((b.json as Array<{ Id: string }>).map((c) => c.Id)).toEqual([bId]);
    const bn = await api(B, "GET", "/v1.41/networks");
    expect(bn.json).toEqual([]);
    const an = await api(A, "GET", "/v1.41/networks");
    expect((an.json as Array<{ Name: string }>).map((n) => n.Name)).toEqual([`${tag}-anet`]);
    const bv = await api(B, "GET", "/v1.41/volumes");
    expect(bv.json.Volumes ?? []).toEqual([]);
  });

  it("a client's own filters narrow further, in both filter forms; a filter for the other owner finds nothing", async () => {
    const list = (f: string) => api(A, "GET", `/v1.41/containers/json?${q({ all: "1", filters: f })}`).then((r) => r.json as Array<{ Id: string }>);
    expect((await list(JSON.stringify({ name: [`${tag}-a`] }))).map((c) => c.Id)).toEqual([aId]);
    expect((await list(JSON.stringify({ name: { [`${tag}-a`]: true } }))).map((c) => c.Id)).toEqual([aId]);
    expect(await list(JSON.stringify({ label: [`${LABEL}=tenant-b`] }))).toEqual([]);
    expect(await list(JSON.stringify({ id: [bId] }))).toEqual([]);
  });

  it("build cache prune prunes the client's own cache, which is none (records carry no owner): every other record stays", async () => {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), "dgown-cache-"));
    try {
      fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nRUN echo ${tag} > /cached\n`);
      const built = await docker(daemon, ["build", "-q", "-t", `${tag}-cache`, ctx], { binary: "/usr/bin/docker", env: { DOCKER_BUILDKIT: "1" } });
      expect(built.code, built.stderr).toBe(0);
      const records = async () => ((await onDaemon("GET", "/system/df")).json.BuildCache ?? []).map((r: { ID: string }) => r.ID).sort();
      const before = await records();
      expect(before.length).toBeGreaterThan(0);
      for (const query of ["all=1", `all=1&filters=${encodeURIComponent(JSON.stringify({ id: [before[0]] }))}`, "keep-storage=0&all=true"]) {
        const r = await api(A, "POST", `/v1.41/build/prune?${query}`);
        expect(r.status, r.body).toBe(200);
        expect(r.json).toEqual({ CachesDeleted: null, SpaceReclaimed: 0 });
      }
      expect(await records()).toEqual(before);
      const bad = await api(A, "POST", `/v1.41/build/prune?filters=${encodeURIComponent("{nope")}`);
      expect(bad.status).toBe(400);
      expect(bad.json.message).toContain("(rule ownership.filters)");
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
      await onDaemon("DELETE", `/images/${tag}-cache`);
    }
  });

  it("a malformed filters value is a 400, not an unfiltered list", async () => {
    for (const f of ["[", '["label"]', '{"label":"x"}', '{"label":["a"],"name":{"b":true}}', '{"label":{"a":1}}']) {
      const r = await api(A, "GET", `/v1.41/containers/json?${q({ filters: f })}`);
      expect(r.status, f).toBe(400);
      expect(r.json.message, f).toMatch(/rule ownership\.filters/);
    }
  });

  it("prune only touches the client's own objects", async () => {
    const stopped = await create(B, `${tag}-b-stopped`);
    const r = await api(A, "POST", "/v1.41/containers/prune");
    expect(r.status).toBe(200);
    expect(r.json.ContainersDeleted ?? []).not.toContain(stopped);
    expect((await onDaemon("GET", `/containers/${stopped}/json`)).status).toBe(200);
    const rb = await api(B, "POST", "/v1.41/containers/prune");
    expect(rb.json.ContainersDeleted).toEqual([stopped]);
    expect((await onDaemon("GET", `/containers/${aId}/json`)).status).toBe(200);
  });

  it("system df lists the client's own containers and volumes", async () => {
    const r = await api(B, "GET", "/v1.41/system/df");
    expect(r.status).toBe(200);
    expect((r.json.Containers as Array<{ Id: string }>).map((c) => c.Id)).toEqual([bId]);
    expect(r.json.Volumes).toEqual([]);
    expect(Array.isArray(r.json.Images)).toBe(true); // images are shared
  });

  it("mergeLabelFilter reads both forms and writes the daemon's canonical one", () => {
    expect(mergeLabelFilter(undefined, "o=a")).toBe('{"label":{"o=a":true}}');
    expect(mergeLabelFilter('{"label":["x=y"],"status":["exited"]}', "o=a")).toBe('{"label":{"x=y":true,"o=a":true},"status":{"exited":true}}');
    expect(mergeLabelFilter('{"label":{"x":false}}', "o=a")).toBe('{"label":{"x":false,"o=a":true}}');
    expect(mergeLabelFilter("null", "o=a")).toBe('{"label":{"o=a":true}}');
    expect(mergeLabelFilter('{"label":null}', "o=a")).toBe('{"label":{"o=a":true}}');
    expect(() => mergeLabelFilter('{"label":["a"],"LABEL":["b"]}', "o=a")).toThrow(/not valid JSON/);
  });
});

describe("events", () => {
  it("a client's event stream carries its own containers' events only (network and volume events carry no labels: none)", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const a = await create(A, `${tag}-ev-a`);
    const b = await create(B, `${tag}-ev-b`);
    await api(A, "DELETE", `/v1.41/containers/${a}`);
    await api(B, "DELETE", `/v1.41/containers/${b}`);
    const n = await api(A, "POST", "/v1.41/networks/create", { Name: `${tag}-ev-net` });
    await api(A, "DELETE", `/v1.41/networks/${n.json.Id}`);
    const until = Math.floor(Date.now() / 1000) + 1;
    const read = async (socket: string) => {
      const r = await api(socket, "GET", `/v1.41/events?since=${since}&until=${until}`);
      return r.body.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string } });
    };
    const ea = await read(A);
    expect(ea.filter((e) => e.Actor.ID === a).map((e) => e.Action)).toEqual(["create", "destroy"]);
    expect(ea.some((e) => e.Actor.ID === b)).toBe(false);
    expect(ea.filter((e) => e.Type !== "container")).toEqual([]);
    const eb = await read(B);
    expect(eb.filter((e) => e.Actor.ID === b).map((e) => e.Action)).toEqual(["create", "destroy"]);
    expect(eb.some((e) => e.Actor.ID === a)).toBe(false);
    // Unfiltered, the daemon did send network events in that window.
    const all = await api(daemon, "GET", `/events?since=${since}&until=${until}`);
    expect(all.body).toContain('"Type":"network"');
  });
});

describe("references in bodies", () => {
  it("joining another client's container (network/pid/ipc container:<x>, VolumesFrom, Links) answers as if it did not exist", async () => {
    const bodies: Array<Record<string, unknown>> = [
      { HostConfig: { NetworkMode: `container:${tag}-a` } },
      { HostConfig: { PidMode: `container:${aId}` } },
      { HostConfig: { IpcMode: `container:${aId.slice(0, 12)}` } },
      { HostConfig: { VolumesFrom: [`${tag}-a:ro`] } },
      { HostConfig: { Links: [`${tag}-a:db`] } },
      { NetworkMode: `container:${tag}-a` }, // the old daemons' top-level HostConfig fields
      { NetworkingConfig: { EndpointsConfig: { bridge: { Links: [`${tag}-a:db`] } } } },
    ];
    for (const extra of bodies) {
      const r = await api(B, "POST", `/v1.41/containers/create?name=${tag}-join`, { Image: image, ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect(r.json.message).toMatch(/^No such container: /);
    }
    expect((await onDaemon("GET", `/containers/${tag}-join/json`)).status).toBe(404);
    // A spelling of the prefix the daemon would not read as a join is not guessed at.
    const odd = await api(A, "POST", `/v1.41/containers/create?name=${tag}-join`, { Image: image, HostConfig: { PidMode: `Container:${tag}-a` } });
    expect(odd.status).toBe(403);
    expect(odd.json.message).toMatch(/rule ownership\.join/);
  });

  it("joining an own container works: forwarded by the full id that was checked, read back as written", async () => {
    const cases: Array<[Record<string, unknown>, (hc: any) => void]> = [
      [{ NetworkMode: `container:${tag}-a` }, (hc) => expect(hc.NetworkMode).toBe(`container:${aId}`)],
      [{ PidMode: `container:${aId.slice(0, 12)}`, IpcMode: `container:${tag}-a` }, (hc) => expect([hc.PidMode, hc.IpcMode]).toEqual([`container:${aId}`, `container:${aId}`])],
      [{ VolumesFrom: [`${tag}-a:ro`] }, (hc) => expect(hc.VolumesFrom).toEqual([`${aId}:ro`])],
      [{ Links: [`${tag}-a:db`] }, (hc) => expect(hc.Links).toEqual([`/${tag}-a:/${tag}-join/db`])],
    ];
    for (const [hostConfig, onTheDaemon] of cases) {
      const r = await api(A, "POST", `/v1.41/containers/create?name=${tag}-join`, { Image: image, HostConfig: hostConfig });
      expect(r.status, r.body).toBe(201);
      onTheDaemon((await onDaemon("GET", `/containers/${r.json.Id}/json`)).json.HostConfig);
      const seen = await api(A, "GET", `/v1.41/containers/${tag}-join/json`);
      for (const [k, v] of Object.entries(hostConfig)) if (k !== "Links") expect(seen.json.HostConfig[k]).toEqual(v);
      expect(seen.json.Config.Image).toBe(image);
      expect(seen.json.Config.Labels["dockgate.refs"]).toBeUndefined();
      expect((await onDaemon("DELETE", `/containers/${r.json.Id}?force=1`)).status).toBe(204);
    }
  });

  it("links: to the client's own containers (legacy links by the full id checked), never to another's", async () => {
    const c = await api(B, "POST", `/v1.41/networks/create`, { Name: `${tag}-bnet2` });
    expect(c.status, c.body).toBe(201);
    for (const extra of [
      { HostConfig: { Links: [`${tag}-a:db`] } },
      { HostConfig: { Links: [`/${tag}-a:/x/db`] } },
      { NetworkingConfig: { EndpointsConfig: { [`${tag}-bnet2`]: { Links: [`${tag}-a:db`] } } } },
    ]) {
      const r = await api(B, "POST", `/v1.41/containers/create?name=${tag}-blink`, { Image: image, ...extra });
      expect([r.status, r.json.message], JSON.stringify(extra)).toEqual([400, `No such container: ${tag}-a`]);
    }
    const connect = await api(B, "POST", `/v1.41/networks/${tag}-bnet2/connect`, { Container: bId, EndpointConfig: { Links: [`${tag}-a:db`] } });
    expect([connect.status, connect.json.message]).toEqual([400, `No such container: ${tag}-a`]);
    expect((await onDaemon("GET", `/containers/${tag}-blink/json`)).status).toBe(404);

    const own = await api(A, "POST", `/v1.41/containers/create?name=${tag}-alink`, { Image: image, HostConfig: { Links: [`${tag}-a:db`] } });
    expect(own.status, own.body).toBe(201);
    // The daemon linked exactly the container that was checked, and shows the link by names.
    expect((await onDaemon("GET", `/containers/${own.json.Id}/json`)).json.HostConfig.Links).toEqual([`/${tag}-a:/${tag}-alink/db`]);
    expect((await api(A, "GET", `/v1.41/containers/${own.json.Id}/json`)).json.HostConfig.Links).toEqual([`/${tag}-a:/${tag}-alink/db`]);
    expect((await api(B, "DELETE", `/v1.41/networks/${tag}-bnet2`)).status).toBe(204);
  });

  it("another client's network: 404 for create and connect; the owner's is joined by its full id", async () => {
    // 400, not 404: clients read a 404 from create as a missing image.
    const r = await api(B, "POST", `/v1.41/containers/create?name=${tag}-bnet`, { Image: image, HostConfig: { NetworkMode: `${tag}-anet` } });
    expect(r.status).toBe(400);
    expect(r.json.message).toBe(`network ${tag}-anet not found`);
    const r2 = await api(B, "POST", `/v1.41/containers/create?name=${tag}-bnet`, { Image: image, NetworkingConfig: { EndpointsConfig: { [`${tag}-anet`]: {} } } });
    expect(r2.status).toBe(400);
    expect((await onDaemon("GET", `/containers/${tag}-bnet/json`)).status).toBe(404);
    const c = await api(B, "POST", `/v1.41/networks/${tag}-anet/connect`, { Container: bId });
    expect(c.status).toBe(404);
    // A connecting B's container to A's own network: the container does not exist for A.
    const c2 = await api(A, "POST", `/v1.41/networks/${tag}-anet/connect`, { Container: `${tag}-b` });
    expect(c2.status).toBe(404);
    expect(c2.json.message).toBe(`No such container: ${tag}-b`);
    expect(Object.keys((await onDaemon("GET", `/containers/${bId}/json`)).json.NetworkSettings.Networks)).toEqual(["bridge"]);

    const own = await api(A, "POST", `/v1.41/containers/create?name=${tag}-anet-c`, {
      Image: image,
      Cmd: ["sleep", "60"],
      HostConfig: { NetworkMode: `${tag}-anet` },
      NetworkingConfig: { EndpointsConfig: { [`${tag}-anet`]: { Aliases: ["web"] } } },
    });
    expect(own.status, own.body).toBe(201);
    expect((await api(A, "POST", `/v1.41/containers/${own.json.Id}/start`)).status).toBe(204);
    const netId = (await onDaemon("GET", `/networks/${tag}-anet`)).json.Id;
    const inspected = (await onDaemon("GET", `/containers/${own.json.Id}/json`)).json;
    expect(inspected.HostConfig.NetworkMode).toBe(netId);
    expect(Object.keys(inspected.NetworkSettings.Networks)).toEqual([`${tag}-anet`]);
    expect(inspected.NetworkSettings.Networks[`${tag}-anet`].Aliases).toContain("web");
    // What the client reads: its own spelling of NetworkMode (readback.ts), no owner label (hide-owner.ts).
    const seen = (await api(A, "GET", `/v1.41/containers/${own.json.Id}/json`)).json;
    expect(seen.HostConfig.NetworkMode).toBe(`${tag}-anet`);
    const bookkeeping = (labels: Record<string, string> | null | undefined) => Object.keys(labels ?? {}).filter((k) => k.startsWith(LABEL) || k.startsWith("dockgate.")).sort();
    expect(bookkeeping(seen.Config.Labels)).toEqual([]);
    expect(bookkeeping(inspected.Config.Labels)).toEqual(["dockgate.refs", LABEL].sort());
    const listed = (await api(A, "GET", `/v1.41/containers/json?${q({ filters: JSON.stringify({ id: [own.json.Id] }) })}`)).json;
    expect(listed.map((c: any) => [c.HostConfig.NetworkMode, bookkeeping(c.Labels)])).toEqual([[`${tag}-anet`, []]]);
    const dis = await api(A, "POST", `/v1.41/networks/${tag}-anet/disconnect`, { Container: `${tag}-anet-c`, Force: true });
    expect(dis.status, dis.body).toBe(200);
  });

  it("another client's network named by NetworkID (the daemon joins that, not the key) is refused on create and connect", async () => {
    const aNet = (await onDaemon("GET", `/networks/${tag}-anet`)).json.Id as string;
    const bNet = await api(B, "POST", "/v1.41/networks/create", { Name: `${tag}-bnet-own` });
    expect(bNet.status, bNet.body).toBe(201);
    const r = await api(B, "POST", `/v1.41/containers/create?name=${tag}-spy`, {
      Image: image,
      Cmd: ["sleep", "60"],
      HostConfig: { NetworkMode: `${tag}-bnet-own` },
      NetworkingConfig: { EndpointsConfig: { [`${tag}-bnet-own`]: { NetworkID: aNet } } },
    });
    expect(r.status).toBe(403);
    expect(r.json.message).toMatch(/NetworkID.*\(rule ownership\.join\)/);
    expect((await onDaemon("GET", `/containers/${tag}-spy/json`)).status).toBe(404);
    const c = await api(B, "POST", `/v1.41/networks/${tag}-bnet-own/connect`, { Container: bId, EndpointConfig: { NetworkID: aNet } });
    expect(c.status).toBe(403);
    expect(Object.keys((await onDaemon("GET", `/containers/${bId}/json`)).json.NetworkSettings.Networks)).not.toContain(`${tag}-anet`);
    expect((await onDaemon("GET", `/networks/${aNet}`)).json.Containers[bId]).toBeUndefined();
  });

  it("another client's named volume cannot be mounted or re-created; a new one is created with the owner label", async () => {
    for (const hc of [{ Binds: [`${tag}-avol:/data`] }, { Mounts: [{ Type: "volume", Source: `${tag}-avol`, Target: "/data" }] }]) {
      const r = await api(B, "POST", `/v1.41/containers/create?name=${tag}-bvolc`, { Image: image, HostConfig: hc });
      expect(r.status, JSON.stringify(hc)).toBe(409);
      expect(r.json.message).toMatch(/volume name "[^"]+" is already in use \(rule ownership\.volume\)/);
    }
    const again = await api(B, "POST", "/v1.41/volumes/create", { Name: `${tag}-avol` });
    expect(again.status).toBe(409);
    expect(again.body).not.toContain("tenant-a");
    expect(again.body).not.toContain("Mountpoint");

    const ok = await api(B, "POST", `/v1.41/containers/create?name=${tag}-bvolc`, { Image: image, HostConfig: { Binds: [`${tag}-bvol:/data`] } });
    expect(ok.status, ok.body).toBe(201);
    const vol = await onDaemon("GET", `/volumes/${tag}-bvol`);
    expect(vol.json.Labels[LABEL]).toBe("tenant-b");
    const ls = await api(B, "GET", "/v1.41/volumes");
    expect((ls.json.Volumes as Array<{ Name: string }>).map((v) => v.Name)).toContain(`${tag}-bvol`);
    // A volume of that name that exists but belongs to no one (made on the daemon directly) is not taken over.
    await onDaemon("POST", "/volumes/create", { Name: `${tag}-taken` });
    const t = await api(B, "POST", `/v1.41/containers/create?name=${tag}-taken-c`, { Image: image, HostConfig: { Binds: [`${tag}-taken:/x`] } });
    expect(t.status).toBe(409);
  });

  it("names of 64 hex digits are refused (they would be ambiguous with full ids)", async () => {
    const hex = "a".repeat(64);
    const r = await api(A, "POST", `/v1.41/containers/create?name=${hex}`, { Image: image });
    expect(r.status).toBe(403);
    expect(r.json.message).toMatch(/rule ownership\.name/);
    const rn = await api(A, "POST", `/v1.41/containers/${aId}/rename?name=${hex}`);
    expect(rn.status).toBe(403);
    const n = await api(A, "POST", "/v1.41/networks/create", { Name: hex });
    expect(n.status).toBe(403);
  });

  it("build: networkmode=container:<another client's> answers as if it did not exist", async () => {
    const r = await api(A, "POST", `/v1.41/build?networkmode=${encodeURIComponent(`container:${bId}`)}`, "");
    expect(r.status).toBe(404);
    expect(r.json.message).toBe(`No such container: ${bId}`);
  });
});

describe("the profile's shared network (mutate.network)", () => {
  const C = () => path.join(dir, "c.sock");
  afterAll(async () => {
    await onDaemon("DELETE", `/networks/${tag}-shared`);
  });

  it("is joined by the id that was checked, and read back by name", async () => {
    const n = await onDaemon("POST", "/networks/create", { Name: `${tag}-shared` });
    expect(n.status, n.body).toBe(201);
    const r = await api(C(), "POST", `/v1.41/containers/create?name=${tag}-c1`, { Image: image });
    expect(r.status, r.body).toBe(201);
    expect((await onDaemon("GET", `/containers/${r.json.Id}/json`)).json.HostConfig.NetworkMode).toBe(n.json.Id);
    expect((await api(C(), "GET", `/v1.41/containers/${r.json.Id}/json`)).json.HostConfig.NetworkMode).toBe(`${tag}-shared`);
    // No tenant of the profile may make a network of that name.
    expect((await api(C(), "POST", "/v1.41/networks/create", { Name: `${tag}-shared` })).status).toBe(403);
  });

  it("a network of that name made by a tenant is that tenant's, not the shared one", async () => {
    expect((await onDaemon("DELETE", `/networks/${tag}-shared`)).status).toBe(204);
    const mine = await api(A, "POST", "/v1.41/networks/create", { Name: `${tag}-shared` });
    expect(mine.status, mine.body).toBe(201);
    const r = await api(C(), "POST", `/v1.41/containers/create?name=${tag}-c2`, { Image: image });
    expect(r.status).toBe(400);
    expect(r.json.message).toBe(`network ${tag}-shared not found`);
    expect((await onDaemon("GET", `/containers/${tag}-c2/json`)).status).toBe(404);
  });
});

describe("builds name networks too", () => {
  // The RUN containers of a classic build join what networkmode names; RUN prints the routes it
  // sees, so a joined network's subnet shows in the build output.
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), "dgo-build-"));
  fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nRUN cat /proc/net/fib_trie\n`);
  const built = `${tag}-built`;
  const build = (socket: string, network: string, t: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const p = spawn("docker", ["build", "--no-cache", "--network", network, "-t", t, ctx], { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: "0" } });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  const subnet = async (net: string) => (await onDaemon("GET", `/networks/${net}`)).json.IPAM.Config[0].Subnet.split("/")[0].replace(/\.0$/, ".");
  afterAll(async () => {
    for (const t of ["by-name", "by-prefix", "own"]) await onDaemon("DELETE", `/images/${built}:${t}?force=1`);
  });

  it("another client's network, by name or id prefix: refused, nothing built, nothing joined", async () => {
    const n = await api(B, "POST", "/v1.41/networks/create", { Name: `${tag}-bbuild` });
    expect(n.status, n.body).toBe(201);
    for (const [ref, t] of [[`${tag}-bbuild`, "by-name"], [n.json.Id.slice(0, 12), "by-prefix"]] as const) {
      const r = await build(A, ref, `${built}:${t}`);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stderr).toContain(`network ${ref} not found`);
      expect((await onDaemon("GET", `/images/${built}:${t}/json`)).status).toBe(404);
    }
    expect(Object.keys((await onDaemon("GET", `/networks/${n.json.Id}`)).json.Containers)).toEqual([]);
  });

  it("the client's own network is joined, by the id that was checked", async () => {
    const n = await api(A, "POST", "/v1.41/networks/create", { Name: `${tag}-abuild` });
    expect(n.status, n.body).toBe(201);
    const r = await build(A, `${tag}-abuild`, `${built}:own`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(await subnet(n.json.Id));
    expect((await onDaemon("GET", `/images/${built}:own/json`)).status).toBe(200);
  });
});

describe("the gate", () => {
  const client = (owner: string): Client => ({ listener: owner, profile: "tenant", peer: "test", owner });
  const view = (operation: string, p: string, params: Record<string, string>, query: Array<[string, string]> = []): RequestView => ({
    method: "GET",
    path: p,
    apiVersion: "1.41",
    operation,
    params,
    query,
    headers: {},
  });

  it("forwards the full id it checked, whatever the client named (no rename / re-create race)", async () => {
    const gate = createGate(config);
    for (const ref of [`${tag}-a`, aId.slice(0, 8), aId]) {
      const v = (await gate.decide(view("ContainerStop", `/containers/${ref}/stop`, { id: ref }), client("tenant-a"))) as Verdict;
      expect(v.kind).toBe("allow");
      expect(v.kind === "allow" && v.rewrite?.path).toBe(`/containers/${aId}/stop`);
    }
    // ImageCommit's container= (Go reads the first one): the checked full id, once.
    const c = (await gate.decide({ ...view("ImageCommit", "/commit", {}, [["container", `${tag}-a`], ["container", bId], ["repo", "x"]]), method: "POST" }, client("tenant-a"))) as Verdict;
    expect(c.kind).not.toBe("deny");
    expect(c.kind !== "deny" && c.rewrite?.query).toEqual([["container", aId], ["repo", "x"]]);
  });

  it("profiles without ownership decide synchronously", () => {
    const plain = parseConfigText(configText().replace(/ *ownership: .*\n/, ""), path.join(dir, "plain.yaml"));
    const v = createGate(plain).decide(view("ContainerStop", "/containers/x/stop", { id: "x" }), client("tenant-a"));
    expect(v instanceof Promise).toBe(false);
  });

  it("mutate and redact are applied by the gate, synchronously, for a profile without ownership", () => {
    const text = configText().replace(/ *ownership: .*\n/, "    mutate: { memory: { default: 64m }, noNewPrivileges: true }\n    redact: { info: [Name] }\n");
    // (Without the image WORKDIR lookup, the one daemon question every create asks.)
    const gate = createGate(parseConfigText(text, path.join(dir, "hardened.yaml")), { checkImages: false });
    const v = gate.decide({ ...view("ContainerCreate", "/containers/create", {}), method: "POST" }, client("tenant-a"));
    expect(v instanceof Promise).toBe(false);
    expect((v as Verdict).kind).toBe("inspect");
    const r = (v as Extract<Verdict, { kind: "inspect" }>).check.inspect(Buffer.from(JSON.stringify({ Image: image, Memory: 0 })));
    expect(r instanceof Promise).toBe(false);
    const out = r as { ok: boolean; body?: Buffer };
    expect(out.ok).toBe(true);
    expect(JSON.parse(out.body!.toString())).toEqual({ Image: image, HostConfig: { Memory: 64 << 20, SecurityOpt: ["no-new-privileges"] } });
    const info = gate.decide(view("SystemInfo", "/info", {}), client("tenant-a")) as Verdict;
    expect(info.kind).toBe("allow");
    const t = info.kind === "allow" ? info.rewrite?.response : undefined;
    expect(JSON.parse(t!.transform(Buffer.from('{"Name":"host-1","NCPU":2}'), 200).toString())).toEqual({ Name: null, NCPU: 2 });
  });

  it("a daemon that cannot be asked is a 502 denial, never an allow", async () => {
    const down = new DaemonClient(path.join(dir, "nothing.sock"));
    const gate = createGate(config, { daemon: down });
    const v = (await gate.decide(view("ContainerInspect", `/containers/${aId}/json`, { id: aId }), client("tenant-a"))) as Verdict;
    expect(v.kind).toBe("deny");
    expect(v.kind === "deny" && v.denial).toMatchObject({ status: 502, rule: "ownership.lookup" });
    const l = (await gate.decide(view("ContainerInspect", `/containers/${tag}-a/json`, { id: `${tag}-a` }), client("tenant-a"))) as Verdict;
    expect(l.kind).toBe("deny");
    await down.close();
  });

  it("full ids are answered from the cache while the event subscription is live; names always ask the daemon; a destroy drops the entry", async () => {
    const resolver = resolverFor(daemonClient(daemon));
    for (let i = 0; i < 50 && !daemonClient(daemon).eventsLive; i++) await new Promise((r) => setTimeout(r, 100));
    expect(daemonClient(daemon).eventsLive).toBe(true);
    const id = await create(A, `${tag}-cache`);
    const before = { ...resolver.stats };
    const r1 = await resolver.resolve("container", id, LABEL); // looked up once (the create did not cache it)
    expect(r1).toEqual({ found: true, id, owner: "tenant-a" });
    await resolver.resolve("container", id, LABEL);
    await resolver.resolve("container", id, LABEL);
    expect(resolver.stats.hits - before.hits).toBe(2);
    expect(resolver.stats.lookups - before.lookups).toBe(1);
    await resolver.resolve("container", `${tag}-cache`, LABEL);
    await resolver.resolve("container", `${tag}-cache`, LABEL);
    expect(resolver.stats.lookups - before.lookups).toBe(3);

    await onDaemon("DELETE", `/containers/${id}?force=1`);
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      const r = await resolver.resolve("container", id, LABEL);
      gone = !r.found;
      if (!gone) await new Promise((res) => setTimeout(res, 50));
    }
    expect(gone).toBe(true);
    // Through the proxy: the owner gets the daemon's own 404 for its removed container.
    const r = await api(A, "GET", `/v1.41/containers/${id}/json`);
    expect(r.status).toBe(404);
    expect(r.json.message).toBe(`No such container: ${id}`);
  });
});
