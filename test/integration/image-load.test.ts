// `docker load` under an image policy, against the real daemon with the docker CLI: an archive
// from `docker save` whose tag is allowed loads (plain, gzip, zstd) and runs; one whose tag is not
// is refused with dockgate's JSON 403 naming the tag and the rule, and the daemon has no such
// image afterwards. Crafted archives: a second `./manifest.json` later in the tar (the daemon's
// extraction keeps the later one: shown by loading it into the daemon directly), a manifest.json
// that is a symlink, tags after the end-of-archive blocks, bzip2/xz bodies, a legacy
// `repositories` file: each is refused and the daemon is unchanged.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";
import { TAR_END as END, tarEntry as entry, tarWithout } from "../harness/tar.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const OK = "dgl-ok";
const BAD = "dgl-bad";

let dir: string;
let proxy: TestProxy;
/** `docker save` of the test image tagged OK:1 / BAD:1. */
let okTar: Buffer;
let badTar: Buffer;

const manifestOf = (tar: Buffer) => JSON.parse(execFileSync("tar", ["-xOf", "-", "manifest.json"], { input: tar }).toString()) as Array<{ RepoTags: string[] }>;

function badManifest(tar: Buffer, tag: string): string {
  const m = manifestOf(tar);
  m[0]!.RepoTags = [tag];
  return JSON.stringify(m);
}

async function exists(ref: string): Promise<boolean> {
  return (await docker(daemon, ["image", "inspect", ref])).code === 0;
}

async function load(socket: string, body: Buffer, name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return docker(socket, ["load", "-i", file]);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgl-"));
  for (const [repo, out] of [[OK, "ok.tar"], [BAD, "bad.tar"]] as const) {
    expect((await docker(daemon, ["tag", image, `${repo}:1`])).code).toBe(0);
    expect((await docker(daemon, ["save", "-o", path.join(dir, out), `${repo}:1`])).code).toBe(0);
  }
  await docker(daemon, ["rmi", `${OK}:1`, `${BAD}:1`]);
  okTar = fs.readFileSync(path.join(dir, "ok.tar"));
  badTar = fs.readFileSync(path.join(dir, "bad.tar"));
  const config = path.join(dir, "load.yaml");
  fs.writeFileSync(
    config,
    [
      "listeners:",
      "  - { name: l, unix: { path: /run/dockgate/unused.sock }, profile: p }",
      "profiles:",
      "  p:",
      "    allow: [ping, system:read, images:read, images:write, images:transfer, containers:read, containers:write, containers:attach]",
      "    rules:",
      `      images: { allow: [docker.io/library/${OK}] }`,
    ].join("\n"),
  );
  proxy = await startProxyWithConfig(config, daemon);
});

afterAll(async () => {
  await proxy?.stop();
  await docker(daemon, ["rmi", `${OK}:1`, `${OK}:gz`, `${OK}:zst`, `${BAD}:1`, `${BAD}:2`]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("docker load through an image policy", () => {
  it("an allowed tag loads, plain, gzip- and zstd-compressed, and runs", async () => {
    const plain = await load(proxy.socket, okTar, "ok.tar");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`Loaded image: ${OK}:1`);
    const run = await docker(proxy.socket, ["run", "--rm", `${OK}:1`, "echo", "loaded-and-running"]);
    expect(run.stdout, run.stderr).toContain("loaded-and-running");
    for (const [tag, compress] of [["gz", gzipSync], ["zst", zstdCompressSync]] as const) {
      const body = rewriteManifest(okTar, badManifest(okTar, `${OK}:${tag}`));
      const r = await load(proxy.socket, compress(body), `ok.${tag}`);
      expect(r.code, r.stderr).toBe(0);
      expect(await exists(`${OK}:${tag}`)).toBe(true);
    }
  });

  it("an archive that decompresses ~1000x (a 96 MiB file of zeros, gzip and zstd) loads whole: the daemon takes it in bounded steps", async () => {
    const zeros = entry("padding/zeros", Buffer.alloc(96 << 20));
    const body = Buffer.concat([zeros, tarWithout(rewriteManifest(okTar, badManifest(okTar, `${OK}:big`)))]);
    const plain = Buffer.concat([body, END]);
    for (const [suffix, compress] of [["gz", gzipSync], ["zst", zstdCompressSync]] as const) {
      const r = await load(proxy.socket, compress(plain), `big.${suffix}`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Loaded image: ${OK}:big`);
      expect((await docker(daemon, ["rmi", `${OK}:big`])).code).toBe(0);
    }
  });

  it("a tag the policy does not allow is refused naming it and the rule; the daemon has no such image", async () => {
    for (const [body, name] of [[badTar, "bad.tar"], [gzipSync(badTar), "bad.tar.gz"], [zstdCompressSync(badTar), "bad.tar.zst"]] as const) {
      const r = await load(proxy.socket, body, name);
      expect(r.code, name).not.toBe(0);
      expect(r.stderr, name).toContain(`RepoTags="${BAD}:1"`);
      expect(r.stderr, name).toContain("(rule images.reference)");
      expect(await exists(`${BAD}:1`), name).toBe(false);
    }
  });

  it("a Content-Length body (not chunked): the allowed one loads, the denied one gets dockgate's JSON 403", async () => {
    const post = (body: Buffer) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          { socketPath: proxy.socket, method: "POST", path: "/v1.41/images/load?quiet=1", agent: false, headers: { host: "docker", "content-type": "application/x-tar", "content-length": String(body.length) } },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    const denied = await post(badTar);
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).message).toMatch(new RegExp(`^dockgate: ImageLoad denied for profile p: manifest\\.json\\[0\\]\\.RepoTags="${BAD}:1": .*\\(rule images\\.reference\\)$`));
    expect(await exists(`${BAD}:1`)).toBe(false);
    const allowed = await post(okTar);
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.text).toContain(`Loaded image: ${OK}:1`);
  });

  it("a second ./manifest.json later in the archive: the daemon would read it; dockgate refuses it", async () => {
    const tricky = Buffer.concat([tarWithout(okTar), entry("./manifest.json", badManifest(okTar, `${BAD}:2`)), END]);
    const r = await load(proxy.socket, tricky, "second.tar");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`RepoTags="${BAD}:2"`);
    expect(await exists(`${BAD}:2`)).toBe(false);
    // Control: the daemon itself takes the later manifest.json (so the check above matters).
    const direct = await load(daemon, tricky, "second-direct.tar");
    expect(direct.code, direct.stderr).toBe(0);
    expect(await exists(`${BAD}:2`)).toBe(true);
    await docker(daemon, ["rmi", `${BAD}:2`]);
  });

  it("odd archives are refused (rule images.load-archive) and load nothing", async () => {
    const cases: Array<[string, Buffer, string]> = [
      ["symlink manifest", Buffer.concat([entry("evil.json", badManifest(okTar, `${BAD}:2`)), tarWithout(okTar, ["manifest.json"]), entry("manifest.json", "", "2", "evil.json"), END]), "is not a regular file"],
      ["tags after the end", Buffer.concat([tarWithout(okTar), END, entry("manifest.json", badManifest(okTar, `${BAD}:2`)), END]), "data after the end-of-archive"],
      ["below a symlinked directory", Buffer.concat([tarWithout(okTar), entry("d", "", "2", "."), entry("d/manifest.json", badManifest(okTar, `${BAD}:2`)), END]), "a symbolic link in the archive"],
      ["legacy repositories", Buffer.concat([tarWithout(okTar, ["manifest.json", "repositories"]), entry("repositories", JSON.stringify({ [BAD]: { "2": "x" } })), END]), `repositories="${BAD}:2"`],
      ["xz", execFileSync("xz", ["-c"], { input: okTar }), "xz-compressed"],
      ["bzip2", execFileSync("bzip2", ["-c"], { input: okTar }), "bzip2-compressed"],
    ];
    for (const [what, body, detail] of cases) {
      const r = await load(proxy.socket, body, `${what.replace(/\W/g, "-")}.tar`);
      expect(r.code, what).not.toBe(0);
      expect(r.stderr, what).toContain(detail);
      expect(r.stderr, what).toMatch(/\(rule images\.(load-archive|reference)\)/);
      expect(await exists(`${BAD}:2`), what).toBe(false);
    }
  });
});

/** The archive with its manifest.json replaced by `manifest`. */
function rewriteManifest(tar: Buffer, manifest: string): Buffer {
  return Buffer.concat([tarWithout(tar, ["manifest.json"]), entry("manifest.json", manifest), END]);
}
