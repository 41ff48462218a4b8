// CVE-2024-21626 through an image: a WORKDIR under /proc baked into an image applies to every
// container created from it without a WorkingDir of its own. dockgate asks the daemon for the
// image's and refuses it like a WorkingDir in the body; an explicit WorkingDir overrides it.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dg-procwd-${process.pid}`;
let proxy: TestProxy;

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
  await docker(daemon, ["rm", "-f", `${tag}-a`, `${tag}-b`, `${tag}-c`]);
  await docker(daemon, ["rmi", "-f", `${tag}:img`]);
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
