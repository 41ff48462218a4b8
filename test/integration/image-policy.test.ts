// The image policy against the real daemon, with a trap: a TCP listener on the host's loopback
// that counts connections. Through the shipped config/ci.yaml and config/ci-tenant.yaml (and a
// profile that grants push with the default rules), pull, login, search, /distribution, push and
// an X-Registry-Auth header naming a loopback or localhost registry are refused with a Docker
// JSON error naming the image and the rule, and the trap sees no connection. Control: the same
// pull sent to the daemon directly, and through a profile with localRegistries: true, does
// reach the trap (so the trap would have seen a leak).

import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const CONFIG_DIR = path.join(import.meta.dirname, "../../config");

let trap: net.Server;
let port: number;
let connections = 0;
let dir: string;

function api(socket: string, method: string, target: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string }> {
  const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        method,
        path: target,
        agent: false,
        headers: { host: "docker", ...(body ? { "content-type": "application/json", "content-length": String(body.length) } : {}), ...opts.headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  trap = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  port = (trap.address() as net.AddressInfo).port;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgi-"));
});

afterAll(async () => {
  await closeDaemonClients();
  await new Promise((r) => trap.close(r));
  await docker(daemon, ["rmi", "-f", `127.0.0.1:${port}/dgi-push:t`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A config with one profile that grants what the refused requests need, with the default rules (and `rules`). */
function pushConfig(rules: string): string {
  const file = path.join(dir, `push-${rules === "" ? "default" : "local"}.yaml`);
  fs.writeFileSync(
    file,
    [
      "listeners:",
      "  - { name: p, unix: { path: /run/dockgate/unused.sock }, profile: p }",
      "profiles:",
      "  p:",
      "    allow: [ping, system:read, auth, images:read, images:write, images:push, distribution]",
      ...(rules === "" ? [] : ["    rules:", `      ${rules}`]),
    ].join("\n"),
  );
  return file;
}

describe.each([
  ["config/ci.yaml", () => path.join(CONFIG_DIR, "ci.yaml")],
  ["config/ci-tenant.yaml", () => path.join(CONFIG_DIR, "ci-tenant.yaml")],
  ["a push profile with the default rules", () => pushConfig("")],
])("through %s: loopback registries are never contacted", (_name, config) => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxyWithConfig(config(), daemon);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("docker pull, login and search of 127.0.0.1 / localhost registries are refused naming the image and the rule", async () => {
    const cases: Array<[string[], string]> = [
      [["pull", `127.0.0.1:${port}/dgi-x`], `fromImage="127.0.0.1:${port}/dgi-x:latest"`],
      [["pull", `localhost:${port}/dgi-x:1`], `fromImage="localhost:${port}/dgi-x:1"`],
      [["pull", `127.1:${port}/dgi-x`], `fromImage="127.1:${port}/dgi-x:latest"`],
      [["login", "-u", "u", "-p", "p", `127.0.0.1:${port}`], `serveraddress="127.0.0.1:${port}"`],
      [["search", `127.0.0.1:${port}/dgi-x`], `term="127.0.0.1:${port}/dgi-x"`],
    ];
    for (const [args, named] of cases) {
      const r = await docker(proxy.socket, args);
      expect(r.code, `${args.join(" ")}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr, args.join(" ")).toContain(named);
      expect(r.stderr, args.join(" ")).toContain("(rule images.local-registry)");
    }
    expect(connections).toBe(0);
  });

  it("/distribution and an X-Registry-Auth naming a loopback registry are refused with a JSON 403", async () => {
    const dist = await api(proxy.socket, "GET", `/v1.41/distribution/${encodeURIComponent(`127.0.0.1:${port}/dgi-x`)}/json`);
    // ci-tenant does not grant distribution: then it is the grant that refuses it.
    expect(dist.status, dist.text).toBe(403);
    expect(JSON.parse(dist.text).message).toMatch(/\(rule (?:images\.local-registry|endpoint\.allow)\)$/);
    const auth = Buffer.from(JSON.stringify({ username: "u", password: "p", serveraddress: `http://localhost:${port}/` })).toString("base64url");
    const pull = await api(proxy.socket, "POST", `/v1.41/images/create?fromImage=dgi-nonexistent&tag=1`, { headers: { "X-Registry-Auth": auth } });
    expect(pull.status, pull.text).toBe(403);
    expect(JSON.parse(pull.text).message).toContain(`X-Registry-Auth.serveraddress="http://localhost:${port}/"`);
    expect(JSON.parse(pull.text).message).toContain("(rule images.local-registry)");
    expect(connections).toBe(0);
  });
});

describe("push to a loopback registry", () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxyWithConfig(pushConfig(""), daemon);
    const t = await docker(daemon, ["tag", image, `127.0.0.1:${port}/dgi-push:t`]);
    if (t.code !== 0) throw new Error(t.stderr);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("is refused naming the image and the rule; the trap sees no connection", async () => {
    const r = await docker(proxy.socket, ["push", `127.0.0.1:${port}/dgi-push:t`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`name="127.0.0.1:${port}/dgi-push:t"`);
    expect(r.stderr).toContain("(rule images.local-registry)");
    expect(connections).toBe(0);
  });
});

describe("control: the trap sees what is not refused", () => {
  it("a pull with localRegistries: true goes through dockgate to the daemon, which connects to the trap", async () => {
    const proxy = await startProxyWithConfig(pushConfig("images: { localRegistries: true }"), daemon);
    try {
      const before = connections;
      const r = await api(proxy.socket, "POST", `/v1.41/images/create?fromImage=${encodeURIComponent(`127.0.0.1:${port}/dgi-x`)}&tag=latest`);
      expect(r.text).not.toContain("dockgate:");
      await waitFor(() => connections > before, "the daemon's connection to the trap");
    } finally {
      await proxy.stop();
    }
  });

  it("the same pull sent to the daemon directly connects to the trap", async () => {
    const before = connections;
    await api(daemon, "POST", `/v1.41/images/create?fromImage=${encodeURIComponent(`127.0.0.1:${port}/dgi-x`)}&tag=latest`);
    await waitFor(() => connections > before, "the daemon's connection to the trap");
  });
});
