// The image policy on what the daemon already has: the image a container create runs, against
// the real daemon. A profile with images.allow [docker.io/library/dgi9-allowed] creates from a
// name it allows, and from the id of an image that carries such a name; a name it does not allow,
// the id (or an id prefix) of an image with no allowed name, are refused naming the image and the
// rule, and the daemon has no container for them afterwards.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDaemonClients } from "../../src/policy/daemon.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import { docker } from "../harness/docker.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");

let dir: string;
let proxy: TestProxy;
/** An image with no allowed name (a commit of the test image with a label). */
let otherId: string;

async function ok(socket: string, args: string[]): Promise<string> {
  const r = await docker(socket, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The daemon's containers whose name starts with dgi9-. */
async function containers(): Promise<string[]> {
  const out = await ok(daemon, ["ps", "-a", "--filter", "name=dgi9-", "--format", "{{.Names}}"]);
  return out === "" ? [] : out.split("\n").sort();
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgi9-"));
  const file = path.join(dir, "p.yaml");
  fs.writeFileSync(
    file,
    [
      "listeners:",
      "  - { name: p, unix: { path: /run/dockgate/unused.sock }, profile: p }",
      "profiles:",
      "  p:",
      "    allow: [ping, system:read, containers:read, containers:write, images:read, images:write, images:transfer]",
      "    rules:",
      "      images:",
      "        allow: [docker.io/library/dgi9-allowed]",
    ].join("\n"),
  );
  await ok(daemon, ["tag", image, "dgi9-allowed:1"]);
  await ok(daemon, ["tag", image, "dgi9-refused:1"]);
  await ok(daemon, ["create", "--name", "dgi9-base", image]);
  await ok(daemon, ["commit", "--change", "LABEL dgi9=other", "dgi9-base", "dgi9-other:1"]);
  await ok(daemon, ["rm", "dgi9-base"]);
  otherId = await ok(daemon, ["image", "inspect", "--format", "{{.Id}}", "dgi9-other:1"]);
  proxy = await startProxyWithConfig(file, daemon);
});

afterAll(async () => {
  await proxy?.stop();
  await closeDaemonClients();
  const names = await containers();
  if (names.length > 0) await docker(daemon, ["rm", "-f", ...names]);
  await docker(daemon, ["rmi", "dgi9-allowed:1", "dgi9-refused:1", "dgi9-other:1"]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("container create under images.allow", () => {
  it("creates from an allowed name, and from the id of an image that has one", async () => {
    await ok(proxy.socket, ["create", "--name", "dgi9-ok", "dgi9-allowed:1", "true"]);
    const id = await ok(daemon, ["image", "inspect", "--format", "{{.Id}}", "dgi9-allowed:1"]);
    await ok(proxy.socket, ["create", "--name", "dgi9-by-id", id, "true"]);
    await ok(proxy.socket, ["create", "--name", "dgi9-by-prefix", id.slice(7, 19), "true"]);
    expect(await ok(daemon, ["inspect", "--format", "{{.Image}}", "dgi9-ok"])).toBe(id);
    expect(await containers()).toEqual(["dgi9-by-id", "dgi9-by-prefix", "dgi9-ok"]);
  });

  it("refuses a name it does not allow, even on an image that also has an allowed name; nothing is created", async () => {
    const r = await docker(proxy.socket, ["create", "--name", "dgi9-no", "dgi9-refused:1", "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Image="dgi9-refused:1": image docker.io/library/dgi9-refused is not among the images this profile allows');
    expect(r.stderr).toContain("(rule images.reference)");
    const bare = await docker(proxy.socket, ["create", "--name", "dgi9-no2", image, "true"]);
    expect(bare.stderr).toContain("(rule images.reference)");
    expect((await containers()).filter((n) => n.startsWith("dgi9-no"))).toEqual([]);
  });

  it("refuses the id, or an id prefix, of an image with no allowed name; nothing is created", async () => {
    for (const [name, ref] of [["dgi9-no-id", otherId], ["dgi9-no-prefix", otherId.slice(7, 19)]] as const) {
      const r = await docker(proxy.socket, ["create", "--name", name, ref, "true"]);
      expect(r.code, ref).not.toBe(0);
      expect(r.stderr, ref).toContain(`Image="${ref}": it names image docker.io/library/dgi9-other by id`);
      expect(r.stderr, ref).toContain("(rule images.reference)");
    }
    expect((await containers()).filter((n) => n.startsWith("dgi9-no"))).toEqual([]);
  });
});
