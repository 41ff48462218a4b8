// Unix peer credentials against the real daemon: one socket that several local users may open
// (mode 0666), whose `identities` choose each client's profile and owner by the uid/gid the
// kernel reports for the connecting process (SO_PEERCRED). The clients are curl run under other
// uids (setpriv); what each did is checked on the daemon (owner labels), not only by status.

import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { createGate } from "../../src/policy/engine.js";
import { peerCredentials } from "../../src/listen/peercred.js";
import { startProxy, type TestProxy } from "../harness/proxy.js";

const run = promisify(execFile);
const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const LABEL = `dg-test.peer-${process.pid}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-peer-"));
const socket = path.join(dir, "shared.sock");
let proxy: TestProxy;

function yaml(identities: string): string {
  return [
    `upstream: ${daemon}`,
    "listeners:",
    "  - name: peers",
    `    unix: { path: ${socket}, mode: "0666" }`,
    "    profile: ro",
    `    identities: ${identities}`,
    "profiles:",
    "  ro: { allow: [ping, system:read] }",
    `  builder: { allow: [ping, containers:read, ContainerCreate], ownership: { label: ${LABEL} } }`,
  ].join("\n");
}

/** curl through the proxy as another user (no supplementary groups); status and body. */
async function as(uid: number, gid: number, method: string, target: string, body?: unknown): Promise<{ status: number; json: any }> {
  const data = body === undefined ? [] : ["-H", "content-type: application/json", "--data-binary", JSON.stringify(body)];
  const { stdout } = await run("setpriv", [
    `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups",
    "curl", "-sS", "-X", method, ...data, "-w", "\n%{http_code}", "--unix-socket", socket, `http://docker${target}`,
  ]);
  const cut = stdout.lastIndexOf("\n");
  const text = stdout.slice(0, cut);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: Number(stdout.slice(cut + 1)), json };
}

async function onDaemon(target: string): Promise<any> {
  const { stdout } = await run("curl", ["-sS", "--unix-socket", daemon, `http://docker${target}`]);
  return JSON.parse(stdout);
}

const ownedBy = async (owner: string): Promise<string[]> =>
  ((await onDaemon(`/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`${LABEL}=${owner}`] }))}`)) as { Names: string[] }[])
    .map((c) => c.Names[0]!);

beforeAll(async () => {
  fs.chmodSync(dir, 0o755); // the other uids must reach the socket; its own mode says who may connect
  const config = parseConfigText(yaml('{ "uid:1001": builder, "gid:1003": builder, "user:nobody": builder }'), path.join(dir, "config.yaml"));
  proxy = await startProxy(config, createGate(config));
});

afterAll(async () => {
  await proxy?.stop();
  const left = (await onDaemon(`/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [LABEL] }))}`)) as { Id: string }[];
  for (const c of left) await run("curl", ["-sS", "-X", "DELETE", "--unix-socket", daemon, `http://docker/v1.41/containers/${c.Id}?force=1`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("unix identities", () => {
  it("the peer's uid selects the profile, and the identity names the owner on the daemon", async () => {
    const name = `dgpeer-uid-${process.pid}`;
    const created = await as(1001, 1001, "POST", `/v1.41/containers/create?name=${name}`, { Image: image, Cmd: ["true"] });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(await ownedBy("peers/uid:1001")).toEqual([`/${name}`]);
    expect(proxy.records.at(-1)!.client).toMatchObject({ profile: "builder", owner: "peers/uid:1001" });
    expect(proxy.records.at(-1)!.client.peer).toMatch(/^unix pid=\d+ uid=1001 gid=1001$/);
  });

  it("a uid no identity names gets the listener's profile", async () => {
    const listed = await as(1002, 1002, "GET", "/v1.41/containers/json");
    expect(listed.status).toBe(403);
    expect(listed.json.message).toMatch(/ContainerList/);
    const created = await as(1002, 1002, "POST", `/v1.41/containers/create?name=dgpeer-ro-${process.pid}`, { Image: image });
    expect(created.status).toBe(403);
    expect(await ownedBy("peers")).toEqual([]);
    expect((await onDaemon(`/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: [`dgpeer-ro-${process.pid}`] }))}`))).toEqual([]);
  });

  it("a gid and a user name select too; each owner sees only its own containers", async () => {
    const name = `dgpeer-gid-${process.pid}`;
    expect((await as(1004, 1003, "POST", `/v1.41/containers/create?name=${name}`, { Image: image, Cmd: ["true"] })).status).toBe(201);
    expect(await ownedBy("peers/gid:1003")).toEqual([`/${name}`]);
    const seen = await as(1004, 1003, "GET", "/v1.41/containers/json?all=1");
    expect(seen.status).toBe(200);
    expect((seen.json as { Names: string[] }[]).map((c) => c.Names[0])).toEqual([`/${name}`]);
    const nobody = await as(65534, 65534, "GET", "/v1.41/containers/json?all=1");
    expect(nobody.status).toBe(200);
    expect(nobody.json).toEqual([]);
    expect(proxy.records.at(-1)!.client).toMatchObject({ profile: "builder", owner: "peers/user:nobody" });
    // Another tenant's container by name: missing, as if it did not exist.
    expect((await as(65534, 65534, "GET", `/v1.41/containers/dgpeer-uid-${process.pid}/json`)).status).toBe(404);
  });

  it("a reload maps uids anew for the next connection", async () => {
    const next = parseConfigText(yaml('{ "uid:1002": builder }'), path.join(dir, "config.yaml"));
    await proxy.gateway.reload(next, createGate(next));
    expect((await as(1002, 1002, "GET", "/v1.41/containers/json")).status).toBe(200);
    expect((await as(1001, 1001, "GET", "/v1.41/containers/json")).status).toBe(403);
  });
});

describe("peer credentials", () => {
  it("are the connecting process's; a socket without them (TCP) reads as unreadable, which refuses the client", async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const client = net.createConnection((server.address() as net.AddressInfo).port, "127.0.0.1");
    const tcp = await accepted;
    expect(peerCredentials(tcp)).toBeUndefined();
    client.destroy();
    tcp.destroy();
    server.close();

    const unixPath = path.join(dir, "self.sock");
    const unixServer = net.createServer();
    const unixAccepted = new Promise<net.Socket>((resolve) => unixServer.once("connection", resolve));
    await new Promise<void>((r) => unixServer.listen(unixPath, r));
    const self = net.createConnection(unixPath);
    const peer = await unixAccepted;
    expect(peerCredentials(peer)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    self.destroy();
    peer.destroy();
    unixServer.close();
  });
});
