// Attacks on ownership and read-back, against the real daemon: each case is what a tenant would
// try to reach another tenant's objects or to make dockgate misreport one, judged by the
// daemon's state (what it joined, what it stores), looked up on the daemon directly.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dgatk${process.pid}`;
const LABEL = `dg-test.owner-${process.pid}`;

let dir: string;
let gateway: Gateway;
let A: string;
let B: string;
let V: string; // a read-only viewer (no ownership), e.g. an auditing tool

interface Reply {
  status: number;
  body: string;
  json: any;
}

function api(socket: string, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(
      { socketPath: socket, method, path: urlPath, headers: { host: "docker", ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}) } },
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
const onDaemon = (method: string, urlPath: string, body?: unknown) => api(daemon, method, urlPath, body);
const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgk-"));
  const text = `
upstream: ${daemon}
listeners:
  - name: tenant-a
    unix: { path: ${dir}/a.sock, mode: "0600" }
    profile: tenant
  - name: tenant-b
    unix: { path: ${dir}/b.sock, mode: "0600" }
    profile: tenant
  - name: viewer
    unix: { path: ${dir}/v.sock, mode: "0600" }
    profile: viewer
profiles:
  viewer:
    allow: [ping, containers:read]
  tenant:
    allow: [ping, system:read, events, containers:read, containers:write, containers:attach, containers:files, exec,
            images:read, images:write, build, networks:read, networks:write, volumes:read, volumes:write]
    ownership: { label: ${LABEL} }
`;
  const config = parseConfigText(text, path.join(dir, "attacker.yaml"));
  gateway = await startGateway(config, createGate(config), pino({ level: "silent" }));
  A = path.join(dir, "a.sock");
  B = path.join(dir, "b.sock");
  V = path.join(dir, "v.sock");
});

afterAll(async () => {
  await gateway?.stop(5);
  await closeDaemonClients();
  const list = await onDaemon("GET", `/containers/json?all=1&${q({ filters: JSON.stringify({ label: [LABEL] }) })}`);
  for (const c of (list.json ?? []) as Array<{ Id: string }>) await onDaemon("DELETE", `/containers/${c.Id}?force=1&v=1`);
  const nets = await onDaemon("GET", `/networks?${q({ filters: JSON.stringify({ label: [LABEL] }) })}`);
  for (const n of (nets.json ?? []) as Array<{ Id: string }>) await onDaemon("DELETE", `/networks/${n.Id}`);
  for (const c of [`${tag}-victim`, `${tag}-src`]) await onDaemon("DELETE", `/containers/${c}?force=1`);
  await onDaemon("DELETE", `/images/${tag}-evil:1?force=1`);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("a network name the daemon re-resolves at start", () => {
  // The daemon keeps a created (or stopped and connected) container's networks by name and looks
  // the name up again at its first start: tenant A removes its own network, tenant B makes one of
  // that name, A starts its container.
  const ways: Array<[string, (net: string, name: string) => Promise<string>]> = [
    ["NetworkMode only", async (net, name) => (await createOk(name, { HostConfig: { NetworkMode: net } })).Id],
    ["NetworkMode and the endpoint (docker run --network)", async (net, name) => (await createOk(name, { HostConfig: { NetworkMode: net }, NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: ["x"] } } } })).Id],
    ["network connect while stopped", async (net, name) => {
      const id = (await createOk(name, {})).Id;
      const r = await api(A, "POST", `/v1.41/networks/${net}/connect`, { Container: name });
      expect(r.status, r.body).toBe(200);
      return id;
    }],
  ];
  for (const [i, [what, make]] of ways.entries()) {
    it(`${what}: the container never joins the other tenant's network of that name`, async () => {
      const net = `${tag}-later${i}`;
      const n = await api(A, "POST", "/v1.41/networks/create", { Name: net });
      expect(n.status, n.body).toBe(201);
      const id = await make(net, `${tag}-sleeper${i}`);
      // A's own network still works for a container started now (control).
      const stored = (await onDaemon("GET", `/containers/${id}/json`)).json;
      expect(Object.keys(stored.NetworkSettings.Networks)).toContain(net);
      expect((await api(A, "DELETE", `/v1.41/networks/${net}`)).status).toBe(204);
      const bn = await api(B, "POST", "/v1.41/networks/create", { Name: net });
      expect(bn.status, bn.body).toBe(201);
      await api(A, "POST", `/v1.41/containers/${id}/start`);
      expect((await onDaemon("GET", `/networks/${bn.json.Id}`)).json.Containers?.[id]).toBeUndefined();
      const after = (await onDaemon("GET", `/containers/${id}/json`)).json;
      expect(Object.values(after.NetworkSettings.Networks).map((e: any) => e.NetworkID)).not.toContain(bn.json.Id);
    });
  }

  it("a container on its own network still starts on it, by the id that was checked", async () => {
    const net = `${tag}-own`;
    const n = await api(A, "POST", "/v1.41/networks/create", { Name: net });
    expect(n.status, n.body).toBe(201);
    for (const [j, extra] of [{ HostConfig: { NetworkMode: net } }, { HostConfig: { NetworkMode: net }, NetworkingConfig: { EndpointsConfig: { [net]: {} } } }].entries()) {
      const c = await createOk(`${tag}-ownc${j}`, extra);
      expect((await api(A, "POST", `/v1.41/containers/${c.Id}/start`)).status).toBe(204);
      expect((await onDaemon("GET", `/networks/${n.json.Id}`)).json.Containers?.[c.Id]).toBeDefined();
      // What the client reads back: its own network by name, as written.
      const seen = (await api(A, "GET", `/v1.41/containers/${c.Id}/json`)).json;
      expect(seen.HostConfig.NetworkMode).toBe(net);
      expect(Object.keys(seen.NetworkSettings.Networks)).toEqual([net]);
    }
  });
});

async function createOk(name: string, extra: Record<string, unknown>): Promise<{ Id: string }> {
  const r = await api(A, "POST", `/v1.41/containers/create?name=${name}`, { Image: image, Cmd: ["sleep", "300"], ...extra });
  expect(r.status, r.body).toBe(201);
  return r.json;
}

describe("a dockgate.refs label dockgate did not write", () => {
  // An image can carry any label (pulled from a registry, built, committed); containers inherit
  // their image's labels. dockgate reads `dockgate.refs` back into inspect and list answers.
  let evil: string; // the image id
  const forged = (name: string) => JSON.stringify({ Image: [name, "alpine:3.19"], "HostConfig.NetworkMode": ["host", "bridge"], "HostConfig.PidMode": ["host", ""] });

  beforeAll(async () => {
    const src = await onDaemon("POST", `/containers/create?name=${tag}-src`, { Image: image });
    expect(src.status, src.body).toBe(201);
    const c = await onDaemon("POST", `/commit?${q({ container: src.json.Id, repo: `${tag}-evil`, tag: "1" })}`, { Labels: { "dockgate.refs": forged(`${tag}-evil:1`) } });
    expect(c.status, c.body).toBe(201);
    evil = c.json.Id;
  });

  it("does not make dockgate misreport a container's image or host namespaces", async () => {
    // Started directly on the daemon (a runner's own job, a deploy), read through dockgate.
    const v = await onDaemon("POST", `/containers/create?name=${tag}-victim`, { Image: `${tag}-evil:1`, HostConfig: { NetworkMode: "host", PidMode: "host" } });
    expect(v.status, v.body).toBe(201);
    expect((await onDaemon("GET", `/containers/${v.json.Id}/json`)).json.Config.Labels["dockgate.refs"]).toBe(forged(`${tag}-evil:1`));
    const seen = (await api(V, "GET", `/v1.41/containers/${v.json.Id}/json`)).json;
    expect([seen.Config.Image, seen.HostConfig.NetworkMode, seen.HostConfig.PidMode]).toEqual([`${tag}-evil:1`, "host", "host"]);
    const listed = (await api(V, "GET", `/v1.41/containers/json?all=1&${q({ filters: JSON.stringify({ id: [v.json.Id] }) })}`)).json;
    expect(listed.map((c: any) => [c.Image, c.HostConfig.NetworkMode])).toEqual([[`${tag}-evil:1`, "host"]]);
  });

  it("a container created through dockgate never keeps the image's label", async () => {
    for (const ref of [evil, `${tag}-evil:1`]) {
      const r = await api(A, "POST", "/v1.41/containers/create", { Image: ref });
      expect(r.status, r.body).toBe(201);
      const stored = (await onDaemon("GET", `/containers/${r.json.Id}/json`)).json.Config.Labels["dockgate.refs"];
      expect(stored).not.toBe(forged(`${tag}-evil:1`));
      expect((await api(A, "GET", `/v1.41/containers/${r.json.Id}/json`)).json.Config.Image).toBe(ref);
    }
  });
});
