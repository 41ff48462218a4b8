// Compressed archive uploads (GHSA-x86f-5xw2-fm2r) against the real daemon, through the shipped
// config/ci.yaml and config/ci-tenant.yaml (ownership: the decision waits for a daemon lookup):
// a PUT /containers/{id}/archive body that starts with a gzip, bzip2, xz or zstd header is
// refused with a Docker JSON error naming the rule, and the daemon extracted nothing (the file is
// looked up in the container directly on the daemon); a plain tar, and `docker cp`, still work.
// The compressed bodies are real compressed tars, which this daemon (20.10) would extract.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const tag = `dgarc${process.pid}`;
const CONFIG_DIR = path.join(import.meta.dirname, "../../config");

let dir: string;

/** A tar holding one file `name`, compressed with `compress` (a command reading stdin), or plain. */
function tarOf(name: string, compress?: string[]): Buffer {
  const src = fs.mkdtempSync(path.join(dir, "src-"));
  fs.writeFileSync(path.join(src, name), `contents of ${name}\n`);
  const tar = execFileSync("tar", ["-C", src, "-cf", "-", name]);
  return compress ? execFileSync(compress[0]!, compress.slice(1), { input: tar }) : tar;
}

function put(socket: string, id: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        method: "PUT",
        path: `/v1.41/containers/${id}/archive?path=/tmp`,
        headers: { host: "docker", "content-type": "application/x-tar", "content-length": String(body.length) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Whether /tmp/<name> exists in the container, asked of the daemon directly. */
async function inContainer(id: string, name: string): Promise<boolean> {
  const r = await new Promise<number>((resolve, reject) => {
    http
      .request({ socketPath: daemon, method: "HEAD", path: `/v1.41/containers/${id}/archive?path=/tmp/${name}`, headers: { host: "docker" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", reject)
      .end();
  });
  if (r !== 200 && r !== 404) throw new Error(`archive stat: HTTP ${r}`);
  return r === 200;
}

const COMPRESSORS: Array<[string, string[]]> = [
  ["gzip", ["gzip", "-c"]],
  ["bzip2", ["bzip2", "-c"]],
  ["xz", ["xz", "-c"]],
  ["zstd", ["zstd", "-c", "-q"]],
];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dga-"));
});
afterAll(async () => {
  await closeDaemonClients();
  const ids = (await docker(daemon, ["ps", "-aq", "--filter", `name=${tag}`])).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await docker(daemon, ["rm", "-f", ...ids]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(["ci.yaml", "ci-tenant.yaml"])("archive uploads through config/%s", (file) => {
  let proxy: TestProxy;
  let id: string;
  const name = `${tag}-${file.replace(".yaml", "")}`;

  beforeAll(async () => {
    proxy = await startProxyWithConfig(path.join(CONFIG_DIR, file), daemon);
    const c = await docker(proxy.socket, ["create", "--name", name, image, "sleep", "300"]);
    if (c.code !== 0) throw new Error(c.stderr);
    id = c.stdout.trim();
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it.each(COMPRESSORS)("a %s-compressed tar is refused (403 JSON naming the rule) and nothing is extracted", async (kind, cmd) => {
    const file = `${kind}.txt`;
    const r = await put(proxy.socket, id, tarOf(file, cmd));
    expect(r.status, r.body).toBe(403);
    const message = (JSON.parse(r.body) as { message: string }).message;
    expect(message).toContain(`the archive is ${kind}-compressed`);
    expect(message).toContain("(rule archives.compressed)");
    expect(await inContainer(id, file)).toBe(false);
  });

  it("a header split over one-byte chunks is still seen, nothing is extracted, and the connection goes on in order", async () => {
    const body = tarOf("chunked.txt", ["gzip", "-c"]);
    let chunks = "";
    for (let i = 0; i < 8; i++) chunks += `1\r\n${body.toString("latin1", i, i + 1)}\r\n`;
    chunks += `${(body.length - 8).toString(16)}\r\n${body.toString("latin1", 8)}\r\n0\r\n\r\n`;
    const head = `PUT /v1.41/containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n`;
    // Pipelined on the same connection: a plain tar after the refused body, then a ping.
    const plain = tarOf("after-chunked.txt");
    const second = `PUT /v1.41/containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\nContent-Length: ${plain.length}\r\n\r\n${plain.toString("latin1")}`;
    const ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    const res = await rawExchange(proxy.socket, Buffer.from(head + chunks + second + ping, "latin1"), 3);
    expect(res.map((r) => r.status)).toEqual([403, 200, 200]);
    expect(res[0]!.body).toContain("(rule archives.compressed)");
    expect(res[2]!.body).toBe("OK");
    expect(await inContainer(id, "chunked.txt")).toBe(false);
    expect(await inContainer(id, "after-chunked.txt")).toBe(true);
  });

  it("a plain tar is extracted, whole, also chunked in small pieces; docker cp works both ways", async () => {
    const plain = tarOf("plain.txt");
    expect((await put(proxy.socket, id, plain)).status).toBe(200);
    expect(await inContainer(id, "plain.txt")).toBe(true);

    const body = tarOf("plain-chunked.txt");
    let chunks = "";
    for (let i = 0; i < body.length; i += 3) {
      const piece = body.subarray(i, i + 3);
      chunks += `${piece.length.toString(16)}\r\n${piece.toString("latin1")}\r\n`;
    }
    const head = `PUT /v1.41/containers/${id}/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const [res] = await rawExchange(proxy.socket, Buffer.from(head + chunks + "0\r\n\r\n", "latin1"), 1);
    expect(res?.status, res?.body).toBe(200);
    expect(await inContainer(id, "plain-chunked.txt")).toBe(true);

    const src = path.join(dir, "cp-in.txt");
    fs.writeFileSync(src, "via docker cp\n");
    const cp = await docker(proxy.socket, ["cp", src, `${name}:/tmp/cp-in.txt`]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(await inContainer(id, "cp-in.txt")).toBe(true);
    const back = path.join(dir, "cp-out.txt");
    const out = await docker(proxy.socket, ["cp", `${name}:/tmp/cp-in.txt`, back]);
    expect(out.code, out.stderr).toBe(0);
    expect(fs.readFileSync(back, "utf8")).toBe("via docker cp\n");
  });
});
