// Client identity on the network listeners, against the real daemon: a TCP listener serves only
// the addresses its allow list names; a TLS listener requires a client certificate from its CA,
// and the certificate's subject selects the profile.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { createGate } from "../../src/policy/engine.js";
import { startProxy, type TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-listen-"));
let proxy: TestProxy;
let tcpPort = 0;
let tlsPort = 0;

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

/** A CA, a server certificate for 127.0.0.1, and client certificates signed by the CA (and one not). */
function makeCertificates(): void {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=dockgate test CA");
  const sign = (name: string, subj: string, ca = "ca", ext?: string) => {
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj);
    const extArgs = ext ? ["-extfile", ext] : [];
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", ...extArgs);
  };
  fs.writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n");
  sign("server", "/CN=dockgate", "ca", "server.ext");
  sign("runner", "/CN=runner-1");
  sign("other", "/CN=somebody-else");
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem", "-days", "1", "-subj", "/CN=rogue CA");
  sign("rogue", "/CN=runner-1", "rogue-ca");
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One request over an established socket; resolves with the status, or 0 when the connection closes first. */
function request(socket: net.Socket, target: string): Promise<number> {
  return new Promise((resolve) => {
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m && text.includes("\r\n\r\n")) {
        resolve(Number(m[1]));
        socket.destroy();
      }
    });
    socket.on("close", () => resolve(0));
    socket.on("error", () => resolve(0));
    socket.write(`GET ${target} HTTP/1.1\r\nHost: d\r\n\r\n`);
  });
}

function tlsConnect(client?: string): Promise<tls.TLSSocket | Error> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port: tlsPort,
      ca: fs.readFileSync(path.join(dir, "ca.pem")),
      ...(client ? { cert: fs.readFileSync(path.join(dir, `${client}.pem`)), key: fs.readFileSync(path.join(dir, `${client}.key`)) } : {}),
    });
    s.once("secureConnect", () => resolve(s));
    s.once("error", (e) => resolve(e));
  });
}

beforeAll(async () => {
  makeCertificates();
  tcpPort = await freePort();
  tlsPort = await freePort();
  const yaml = [
    `upstream: ${daemon}`,
    "listeners:",
    "  - name: local",
    `    tcp: { host: 127.0.0.1, port: ${tcpPort}, allow: [127.0.0.1/32] }`,
    "    profile: ro",
    "  - name: elsewhere",
    `    tcp: { host: 127.0.0.1, port: ${await freePort()}, allow: [10.9.9.9/32] }`,
    "    profile: ro",
    "  - name: tls",
    `    tls: { host: 127.0.0.1, port: ${tlsPort}, cert: server.pem, key: server.key, ca: ca.pem }`,
    "    profile: ro",
    '    identities: { "CN=runner-1": ci }',
    "profiles:",
    "  ro: { allow: [ping, system:read] }",
    "  ci: { allow: [ping, system:read, containers:read] }",
  ].join("\n");
  const config = parseConfigText(yaml, path.join(dir, "config.yaml"));
  proxy = await startProxy(config, createGate(config));
});
afterAll(async () => {
  await proxy?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("TCP listeners", () => {
  it("serve an allowed address", async () => {
    expect(await request(net.createConnection(tcpPort, "127.0.0.1"), "/_ping")).toBe(200);
  });

  it("close the connection of an address not in the allow list, before any request is read", async () => {
    const other = proxy.gateway.listeners.find((l) => l.config.name === "elsewhere")!;
    const port = (other.server.address() as net.AddressInfo).port;
    expect(await request(net.createConnection(port, "127.0.0.1"), "/_ping")).toBe(0);
    expect(proxy.records.filter((r) => r.client.listener === "elsewhere")).toEqual([]);
  });
});

describe("TLS listeners", () => {
  it("refuse a client without a certificate, or with one from another CA", async () => {
    for (const client of [undefined, "rogue"]) {
      const s = await tlsConnect(client);
      // TLS 1.3 reports the refusal after the handshake: the first request then fails.
      const status = s instanceof Error ? 0 : await request(s, "/_ping");
      expect(status, String(client)).toBe(0);
    }
  });

  it("the certificate's subject selects the profile; others get the listener's", async () => {
    const runner = await tlsConnect("runner");
    expect(runner).not.toBeInstanceOf(Error);
    expect(await request(runner as tls.TLSSocket, "/v1.41/containers/json")).toBe(200);
    const other = await tlsConnect("other");
    expect(await request(other as tls.TLSSocket, "/v1.41/containers/json")).toBe(403);
    const records = proxy.records.filter((r) => r.operation === "ContainerList");
    expect(records.map((r) => [r.client.profile, r.status])).toEqual([["ci", 200], ["ro", 403]]);
  });
});
