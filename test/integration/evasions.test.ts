// Evasions: the same dangerous request (mostly a privileged ContainerCreate) spelled the ways the
// daemon would still understand it, or ways dockgate might read differently from the daemon: key
// case and Unicode case folding, duplicate keys, encoded and dot-segment paths, version prefixes,
// pipelining, chunked bodies, bodies after Content-Length: 0, form bodies, trailing data, invalid
// UTF-8, oversized bodies. Each case checks dockgate's status and that the daemon created nothing
// under the case's unique name (or, where the daemon ignores the field, that the container it
// created is not privileged).
//
// Requests are raw HTTP/1.1 bytes (rawExchange) through the shipped ci profile.

import http from "node:http";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import type { TestProxy } from "../harness/proxy.js";
import { rawExchange, type RawResponse } from "../harness/raw.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const RUN = `dgt-${process.pid}-e`;
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const MAX_BODY = 1048576; // config/ci.yaml limits.maxBodyBytes

let ci: TestProxy;
let counter = 0;
const unique = () => `${RUN}-${++counter}`;

beforeAll(async () => {
  ci = await startProxyWithConfig(CI_CONFIG, daemon);
  await onDaemon(`/containers/create?name=${RUN}-running`, "POST", JSON.stringify({ Image: image, Cmd: ["sleep", "300"], Labels: { "dgt.run": RUN } }));
  await onDaemon(`/containers/${RUN}-running/start`, "POST");
});

afterAll(async () => {
  await ci?.stop();
  const filters = encodeURIComponent(JSON.stringify({ label: [`dgt.run=${RUN}`] }));
  const list = JSON.parse((await onDaemon(`/containers/json?all=1&filters=${filters}`)).text) as Array<{ Id: string }>;
  for (const c of list) await onDaemon(`/containers/${c.Id}?force=1&v=1`, "DELETE");
  const named = JSON.parse((await onDaemon(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: [RUN] }))}`)).text) as Array<{ Id: string }>;
  for (const c of named) await onDaemon(`/containers/${c.Id}?force=1&v=1`, "DELETE");
  const imgs = JSON.parse((await onDaemon(`/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: [`${RUN}*`] }))}`)).text) as Array<{ Id: string }>;
  for (const i of imgs) await onDaemon(`/images/${i.Id}?force=1`, "DELETE");
});

// ---------------------------------------------------------------------------------------------
// Helpers

function onDaemon(target: string, method = "GET", body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: "docker" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }
    const req = http.request({ socketPath: daemon, method, path: target, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function containerExists(name: string): Promise<boolean> {
  const r = await onDaemon(`/containers/${name}/json`);
  if (r.status !== 200 && r.status !== 404) throw new Error(`inspect ${name}: ${r.status} ${r.text}`);
  return r.status === 200;
}

async function inspect(name: string): Promise<any> {
  const r = await onDaemon(`/containers/${name}/json`);
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text);
}

/** A complete request with a Content-Length body. */
function request(method: string, target: string, body: Buffer | string, headers: string[] = []): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const head = [`${method} ${target} HTTP/1.1`, "Host: docker", "Content-Type: application/json", `Content-Length: ${b.length}`, ...headers, "", ""].join("\r\n");
  return Buffer.concat([Buffer.from(head, "latin1"), b]);
}

/** A chunked request: one chunk per element of `chunks`. */
function chunked(target: string, chunks: Array<string | Buffer>, headers: string[] = []): Buffer {
  const parts: Buffer[] = [Buffer.from([`POST ${target} HTTP/1.1`, "Host: docker", "Content-Type: application/json", "Transfer-Encoding: chunked", ...headers, "", ""].join("\r\n"), "latin1")];
  for (const c of chunks) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c, "utf8");
    parts.push(Buffer.from(`${b.length.toString(16)}\r\n`, "latin1"), b, Buffer.from("\r\n", "latin1"));
  }
  parts.push(Buffer.from("0\r\n\r\n", "latin1"));
  return Buffer.concat(parts);
}

const createTarget = (name: string, prefix = "/v1.41") => `${prefix}/containers/create?name=${name}`;

/** A create body with `hostConfigJson` as the HostConfig's JSON text (written as is). */
function body(hostConfigJson: string, extra = ""): string {
  return `{"Image":${JSON.stringify(image)},"Cmd":["true"],"Labels":{"dgt.run":${JSON.stringify(RUN)}}${extra},"HostConfig":${hostConfigJson}}`;
}

function message(r: RawResponse | undefined): string {
  expect(r, "no response").toBeDefined();
  expect(r!.headers["content-type"], r!.body).toBe("application/json");
  return (JSON.parse(r!.body) as { message: string }).message;
}

/** Exactly one response with `status` whose message names `rule`; nothing called `name` exists. */
async function expectRefused(name: string, raw: Buffer | string, status: number, rule?: string, field?: string): Promise<string> {
  const [r] = await rawExchange(ci.socket, raw, 1);
  expect(r?.status, r?.body).toBe(status);
  const m = message(r);
  expect(m).toMatch(/^dockgate: /);
  if (rule !== undefined) expect(m).toMatch(new RegExp(`\\(rule ${rule.replaceAll(".", "\\.")}\\)$`));
  if (field !== undefined) expect(m).toContain(field);
  expect(await containerExists(name)).toBe(false);
  return m;
}

/**
 * The daemon ignores what dockgate let through: either dockgate refused it (nothing created), or the
 * container exists and is not privileged.
 */
async function expectHarmless(name: string, raw: Buffer | string, check: (c: any) => void): Promise<RawResponse> {
  const [r] = await rawExchange(ci.socket, raw, 1);
  expect(r, "no response").toBeDefined();
  if (r!.status === 201) {
    check(await inspect(name));
  } else {
    expect(r!.status, r!.body).toBeGreaterThanOrEqual(400);
    expect(await containerExists(name)).toBe(false);
  }
  return r!;
}

/**
 * Writes `raw` on one connection, then a /_ping as a marker, and returns the status of every
 * response before the marker's (or before the proxy closed the connection): once the marker is
 * answered, everything `raw` made happen has been answered, so no fixed wait decides the count.
 */
function collect(raw: Buffer | string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(ci.socket);
    let text = "";
    const statuses = () => [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
    const done = (marked: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(marked ? statuses().slice(0, -1) : statuses());
    };
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`neither the marker's answer nor a close within 20 s: ${JSON.stringify(text.slice(0, 300))}`));
    }, 20_000);
    s.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (text.endsWith("\r\n\r\nOK")) done(true);
    });
    s.on("close", () => done(false));
    s.on("error", () => done(false));
    s.write(raw);
    s.write("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
  });
}

// ---------------------------------------------------------------------------------------------

describe("key case and Unicode case folding (Go matches struct fields case-insensitively)", () => {
  const privileged: Array<[string, string, string]> = [
    ["privileged (lower case)", '{"privileged":true}', "HostConfig.privileged"],
    ["PRIVILEGED (upper case)", '{"PRIVILEGED":true}', "HostConfig.PRIVILEGED"],
    ["pRiViLeGeD (mixed)", '{"pRiViLeGeD":true}', "HostConfig.pRiViLeGeD"],
    ["an escaped letter in the key (Privil\\u0065ged)", '{"Privil\\u0065ged":true}', "HostConfig.Privileged"],
  ];
  for (const [label, hc, field] of privileged) {
    it(`${label} is denied`, async () => {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name), body(hc)), 403, "containers.privileged", field);
    });
  }

  it("hostconfig / HOSTCONFIG as the outer key are denied", async () => {
    for (const key of ["hostconfig", "HOSTCONFIG", "hostConfig"]) {
      const name = unique();
      const b = `{"Image":${JSON.stringify(image)},"Labels":{"dgt.run":"${RUN}"},"${key}":{"CAPADD":["SYS_ADMIN"]}}`;
      await expectRefused(name, request("POST", createTarget(name), b), 403, "containers.capabilities", `${key}.CAPADD[0]`);
    }
  });

  it('"HoſtConfig" (U+017F long s folds to s) is denied, raw UTF-8 and \\u escape', async () => {
    for (const key of ["Ho\u017ftConfig", "Ho\\u017ftConfig"]) {
      const name = unique();
      const b = `{"Image":${JSON.stringify(image)},"Labels":{"dgt.run":"${RUN}"},"${key}":{"Privileged":true}}`;
      await expectRefused(name, request("POST", createTarget(name), b), 403, "containers.privileged");
    }
  });

  it('"Mas\\u212AedPaths" (U+212A Kelvin sign folds to k) is denied, raw UTF-8 and \\u escape', async () => {
    for (const key of ["Mas\u212AedPaths", "Mas\\u212AedPaths"]) {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name), body(`{"${key}":[]}`)), 403, "containers.system-paths");
    }
  });

  it('"Oom\\u212AillDisable" and "Bind\\u017F" are denied', async () => {
    const a = unique();
    await expectRefused(a, request("POST", createTarget(a), body('{"Oom\u212AillDisable":true}')), 403, "containers.oom");
    const b = unique();
    await expectRefused(b, request("POST", createTarget(b), body('{"Bind\u017f":["/:/host"]}')), 403, "containers.bind-protected");
  });

  it('"Privıleged" (U+0131 dotless i, which Go folds with nothing) never yields a privileged container', async () => {
    const name = unique();
    await expectHarmless(name, request("POST", createTarget(name), body('{"Priv\u0131leged":true}')), (c) => {
      expect(c.HostConfig.Privileged).toBe(false);
    });
  });

  it('"Prİvileged" (U+0130 dotted capital I) never yields a privileged container', async () => {
    const name = unique();
    await expectHarmless(name, request("POST", createTarget(name), body('{"Pr\u0130vileged":true}')), (c) => {
      expect(c.HostConfig.Privileged).toBe(false);
    });
  });

  it("lower-case namespace, capability and security keys are denied", async () => {
    const cases: Array<[string, string]> = [
      ['{"networkmode":"host"}', "containers.host-namespaces"],
      ['{"pidmode":"host"}', "containers.host-namespaces"],
      ['{"capadd":["sys_admin"]}', "containers.capabilities"],
      ['{"securityopt":["seccomp=unconfined"]}', "containers.security-opt"],
      ['{"binds":["/var/run/docker.sock:/s"]}', "containers.bind-protected"],
      ['{"devices":[{"pathonhost":"/dev/sda","pathincontainer":"/dev/sda","cgrouppermissions":"rwm"}]}', "containers.devices"],
    ];
    for (const [hc, rule] of cases) {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name), body(hc)), 403, rule);
    }
  });

  it("lower-case exec privileged is denied and no exec is created", async () => {
    const before = (await inspect(`${RUN}-running`)).ExecIDs;
    const [r] = await rawExchange(ci.socket, request("POST", `/v1.41/containers/${RUN}-running/exec`, '{"Cmd":["true"],"privileged":true}'), 1);
    expect(r?.status).toBe(403);
    expect(message(r)).toMatch(/privileged.*\(rule exec\.privileged\)$/);
    expect((await inspect(`${RUN}-running`)).ExecIDs).toEqual(before);
  });
});

describe("duplicate keys (Go: the last one wins, or objects merge)", () => {
  const cases: Array<[string, string]> = [
    ["HostConfig twice, the privileged one first", `{"Image":"${image}","HostConfig":{"Privileged":true},"HostConfig":{}}`],
    ["HostConfig then hostconfig", `{"Image":"${image}","HostConfig":{"Privileged":true},"hostconfig":{}}`],
    ["HostConfig then HoſtConfig", `{"Image":"${image}","HostConfig":{"Privileged":true},"Ho\u017ftConfig":{}}`],
    ["Privileged false then true", `{"Image":"${image}","HostConfig":{"Privileged":false,"Privileged":true}}`],
    ["Privileged true then privileged false", `{"Image":"${image}","HostConfig":{"Privileged":true,"privileged":false}}`],
    ["MaskedPaths null then Mas\u212AedPaths []", `{"Image":"${image}","HostConfig":{"MaskedPaths":null,"Mas\u212AedPaths":[]}}`],
    ["Binds twice", `{"Image":"${image}","HostConfig":{"Binds":["/:/host"],"Binds":[]}}`],
  ];
  for (const [label, b] of cases) {
    it(`${label}: 400`, async () => {
      const name = unique();
      const m = await expectRefused(name, request("POST", createTarget(name), b), 400, "body.json");
      expect(m).toMatch(/duplicate key/);
    });
  }

  it("label keys that differ only in case are not duplicates to the daemon (map keys are exact)", async () => {
    const name = unique();
    const [r] = await rawExchange(ci.socket, request("POST", createTarget(name), `{"Image":"${image}","Labels":{"dgt.run":"${RUN}","a":"1","A":"2"}}`), 1);
    // Either accepted as the daemon would (both labels kept), or refused outright: never one of them dropped.
    if (r!.status === 201) {
      expect((await inspect(name)).Config.Labels).toMatchObject({ a: "1", A: "2" });
    } else {
      expect(r!.status, r!.body).toBe(400);
      expect(await containerExists(name)).toBe(false);
    }
  });
});

describe("request targets", () => {
  const priv = body('{"Privileged":true}');

  it("/v1.41/%63ontainers/create (percent-encoded) is inspected like /containers/create", async () => {
    const name = unique();
    await expectRefused(name, request("POST", `/v1.41/%63ontainers/create?name=${name}`, priv), 403, "containers.privileged");
  });

  it("/v1.41/containers%2Fcreate (encoded slash) does not get past the inspection", async () => {
    const name = unique();
    // mux matches the decoded path, so the daemon would route it to ContainerCreate.
    await expectRefused(name, request("POST", `/v1.41/containers%2Fcreate?name=${name}`, priv), 403, "containers.privileged");
  });

  const unclean = ["/v1.41/x/../containers/create", "/v1.41/./containers/create", "//v1.41/containers/create", "/v1.41//containers/create", "/v1.41/containers/./create"];
  for (const target of unclean) {
    it(`${target} (not canonical: the daemon would redirect) is refused with 400`, async () => {
      const name = unique();
      await expectRefused(name, request("POST", `${target}?name=${name}`, priv), 400);
    });
  }

  it("/v1.41/containers/create/ (trailing slash: no route in the daemon either) is refused", async () => {
    const name = unique();
    await expectRefused(name, request("POST", `/v1.41/containers/create/?name=${name}`, priv), 403, "endpoint.unknown");
  });

  it("the name in an encoded query (?n%61me=) is read as the daemon reads it", async () => {
    const name = unique();
    await expectRefused(name, request("POST", `/v1.41/containers/create?n%61me=${name}`, priv), 403, "containers.privileged");
  });

  it("/v1.23/ is below the ci profile's minimum API version", async () => {
    const name = unique();
    await expectRefused(name, request("POST", createTarget(name, "/v1.23"), priv), 403, "api.min-version");
  });

  it("/v1..2/ and /v1.41.0/ (not MAJOR.MINOR) are refused with 400", async () => {
    for (const prefix of ["/v1..2", "/v1.41.0"]) {
      const name = unique();
      const m = await expectRefused(name, request("POST", createTarget(name, prefix), priv), 400);
      expect(m).toContain("is not of the form MAJOR.MINOR");
    }
  });

  it("/v01.41/ and /v1.410/ are inspected", async () => {
    for (const prefix of ["/v01.41", "/v1.410"]) {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name, prefix), priv), 403, "containers.privileged");
    }
  });

  it("no version prefix is inspected", async () => {
    const name = unique();
    await expectRefused(name, request("POST", createTarget(name, ""), priv), 403, "containers.privileged");
  });

  it("an absolute-form target is inspected", async () => {
    const name = unique();
    await expectRefused(name, request("POST", `http://docker${createTarget(name)}`, priv), 403, "containers.privileged");
  });

  it("other spellings of the method or path (no route in the daemon either) are refused", async () => {
    for (const [method, target] of [["post", createTarget("X")], ["POST", "/v1.41/CONTAINERS/create?name=X"], ["POST", "/V1.41/containers/create?name=X"]] as const) {
      const name = unique();
      await expectRefused(name, request(method, target.replace("X", name), priv), 403, "endpoint.unknown");
    }
  });
});

describe("one connection, several requests", () => {
  it("a denied request pipelined after an allowed one: 201 then 403, only the first is created", async () => {
    const ok = unique();
    const bad = unique();
    const raw = Buffer.concat([request("POST", createTarget(ok), body("{}")), request("POST", createTarget(bad), body('{"Privileged":true}'))]);
    const replies = await rawExchange(ci.socket, raw, 2);
    expect(replies.map((r) => r.status)).toEqual([201, 403]);
    expect(message(replies[1])).toMatch(/\(rule containers\.privileged\)$/);
    expect(await containerExists(ok)).toBe(true);
    expect(await containerExists(bad)).toBe(false);
  });

  it("allowed, denied, allowed: 201, 403, 201", async () => {
    const [a, b, c] = [unique(), unique(), unique()];
    const raw = Buffer.concat([
      request("POST", createTarget(a), body("{}")),
      request("POST", createTarget(b), body('{"Binds":["/:/host"]}')),
      request("POST", createTarget(c), body('{"CapDrop":["ALL"]}')),
    ]);
    const replies = await rawExchange(ci.socket, raw, 3);
    expect(replies.map((r) => r.status)).toEqual([201, 403, 201]);
    expect([await containerExists(a), await containerExists(b), await containerExists(c)]).toEqual([true, false, true]);
  });

  it("a denied request first: 403, then the allowed one on the same connection: 201", async () => {
    const bad = unique();
    const ok = unique();
    const raw = Buffer.concat([request("POST", createTarget(bad), body('{"Privileged":true}')), request("POST", createTarget(ok), body("{}"))]);
    const replies = await rawExchange(ci.socket, raw, 2);
    expect(replies.map((r) => r.status)).toEqual([403, 201]);
    expect(await containerExists(bad)).toBe(false);
    expect(await containerExists(ok)).toBe(true);
  });

  // A request refused on its target or query is decided before its body is read: the body (here a
  // complete HTTP request) must be discarded with it, never executed as the next request.
  const smugglers: Array<[string, string]> = [
    ["a query denial (ImageBuild networkmode=host)", "/v1.41/build?networkmode=host"],
    ["an operation the profile does not grant (PluginPull)", "/v1.41/plugins/pull?remote=x"],
    ["an unknown route", "/v1.41/nothing/here"],
    ["the minimum API version", "/v1.23/containers/create"],
  ];
  for (const [label, target] of smugglers) {
    it(`the body of a request refused by ${label} is not read as the next request`, async () => {
      const smuggledName = unique();
      const smuggled = request("POST", createTarget(smuggledName), body("{}"));
      const raw = Buffer.concat([Buffer.from(`POST ${target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: ${smuggled.length}\r\n\r\n`, "latin1"), smuggled]);
      const statuses = await collect(raw);
      expect(statuses[0]).toBe(403);
      expect(statuses).toHaveLength(1);
      expect(await containerExists(smuggledName)).toBe(false);
    });
  }
});

describe("bodies", () => {
  const privJson = () => body('{"Privileged":true}');

  it("a privileged body sent chunked (one chunk) is denied", async () => {
    const name = unique();
    await expectRefused(name, chunked(createTarget(name), [privJson()]), 403, "containers.privileged");
  });

  it("a privileged body split across chunks in the middle of the key is denied", async () => {
    const name = unique();
    const b = privJson();
    const cut = b.indexOf("Privileged") + 5;
    await expectRefused(name, chunked(createTarget(name), [b.slice(0, cut), b.slice(cut, cut + 3), b.slice(cut + 3)]), 403, "containers.privileged");
  });

  it("a privileged body split inside a multi-byte character (HoſtConfig) is denied", async () => {
    const name = unique();
    const b = Buffer.from(`{"Image":"${image}","Ho\u017ftConfig":{"Privileged":true}}`, "utf8");
    const cut = b.indexOf(Buffer.from([0xc5])) + 1; // between the two bytes of ſ
    await expectRefused(name, chunked(createTarget(name), [b.subarray(0, cut), b.subarray(cut)]), 403, "containers.privileged");
  });

  it("chunk extensions and trailers do not hide the body", async () => {
    const name = unique();
    const b = Buffer.from(privJson(), "utf8");
    const head = Buffer.from(`POST ${createTarget(name)} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, "latin1");
    const raw = Buffer.concat([head, Buffer.from(`${b.length.toString(16)};ext=1\r\n`), b, Buffer.from("\r\n0\r\nX-Trailer: 1\r\n\r\n")]);
    const [r] = await rawExchange(ci.socket, raw, 1);
    expect([400, 403]).toContain(r!.status);
    expect(await containerExists(name)).toBe(false);
  });

  it("Content-Length: 0 with a privileged body following: nothing privileged is created", async () => {
    const name = unique();
    const raw = Buffer.concat([
      Buffer.from(`POST ${createTarget(name)} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n`, "latin1"),
      Buffer.from(privJson(), "utf8"),
    ]);
    const statuses = await collect(raw);
    expect(statuses.length).toBeGreaterThan(0);
    // The empty create fails at the daemon (no config); the "body" is a malformed next request.
    for (const st of statuses) expect(st).toBeGreaterThanOrEqual(400);
    expect(await containerExists(name)).toBe(false);
  });

  it("Expect: 100-continue with a privileged body is denied", async () => {
    const name = unique();
    await expectRefused(name, request("POST", createTarget(name), privJson(), ["Expect: 100-continue"]), 403, "containers.privileged");
  });

  it("a privileged body is inspected whatever its Content-Type says (or without one)", async () => {
    for (const ct of ["Content-Type: text/plain", "Content-Type: application/json; charset=latin1", "Content-Type: application/JSON", null]) {
      const name = unique();
      const b = privJson();
      const head = [`POST ${createTarget(name)} HTTP/1.1`, "Host: docker", ...(ct ? [ct] : []), `Content-Length: ${Buffer.byteLength(b)}`, "", ""].join("\r\n");
      await expectRefused(name, head + b, 403, "containers.privileged");
    }
  });

  it("HTTP/1.0 with a privileged body is denied", async () => {
    const name = unique();
    const b = privJson();
    const raw = `POST ${createTarget(name)} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
    await expectRefused(name, raw, 403, "containers.privileged");
  });

  it("form-urlencoded bodies trying to override query parameters are refused", async () => {
    const cases: Array<[string, string, () => Promise<boolean>]> = [];
    const a = unique();
    cases.push([createTarget(a), `name=${unique()}&HostConfig.Privileged=true`, () => containerExists(a)]);
    const b = unique();
    await onDaemon(`/containers/create?name=${b}`, "POST", JSON.stringify({ Image: image, Cmd: ["sleep", "60"], Labels: { "dgt.run": RUN } }));
    cases.push([`/v1.41/containers/${b}/start`, "checkpoint=cp1&checkpoint-dir=/tmp", async () => (await inspect(b)).State.Status !== "created"]);
    const tag = `${unique()}:t`;
    cases.push([`/v1.41/build?t=${tag}`, "networkmode=host&cgroupparent=/", async () => (await onDaemon(`/images/${tag}/json`)).status === 200]);
    const repo = unique();
    cases.push([`/v1.41/images/create?fromImage=${repo}&tag=t`, "fromSrc=http://169.254.169.254/latest&repo=x", async () => (await onDaemon(`/images/${repo}:t/json`)).status === 200]);
    for (const [target, form, changed] of cases) {
      const raw = request("POST", target, form, []).toString("latin1").replace("Content-Type: application/json", "Content-Type: application/x-www-form-urlencoded");
      const [r] = await rawExchange(ci.socket, raw, 1);
      expect([400, 403], `${target}: ${r?.body}`).toContain(r!.status);
      expect(message(r)).toMatch(/^dockgate: /);
      expect(await changed(), target).toBe(false);
    }
  });

  const refused: Array<[string, Buffer | string]> = [
    ["trailing garbage", `{"Image":"${image}"} xyz`],
    ["a second JSON document", `{"Image":"${image}"}{"HostConfig":{"Privileged":true}}`],
    ["a second document after a newline", `{"Image":"${image}","HostConfig":{"Privileged":false}}\n{"HostConfig":{"Privileged":true}}`],
    ["invalid UTF-8 in a key", Buffer.concat([Buffer.from(`{"Image":"${image}","HostConfig":{"Privileged`), Buffer.from([0xff]), Buffer.from('":true}}')])],
    ["invalid UTF-8 in a value", Buffer.concat([Buffer.from(`{"Image":"${image}","HostConfig":{"Binds":["/`), Buffer.from([0xc0, 0xaf]), Buffer.from(':/host"]}}')])],
    ["an unpaired surrogate escape in a key", `{"Image":"${image}","HostConfig":{"Privileged\\ud800":true}}`],
    ["a byte order mark", `\ufeff{"Image":"${image}","HostConfig":{"Privileged":true}}`],
    ["a raw control character in a string", `{"Image":"${image}","HostConfig":{"Binds":["/:/host\u0001"]}}`],
    ["a comment", `{"Image":"${image}", /* x */ "HostConfig":{"Privileged":true}}`],
    ["a trailing comma", `{"Image":"${image}","HostConfig":{"Privileged":true},}`],
    ["single quotes", `{'Image':'${image}','HostConfig':{'Privileged':true}}`],
  ];
  for (const [label, b] of refused) {
    it(`${label}: 400 (rule body.json), nothing created`, async () => {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name), b), 400, "body.json");
    });
  }

  it("trailing whitespace after the document is fine (the daemon's decoder ignores it)", async () => {
    const name = unique();
    const [r] = await rawExchange(ci.socket, request("POST", createTarget(name), `${body("{}")}\r\n \t\n`), 1);
    expect(r!.status, r!.body).toBe(201);
    expect(await containerExists(name)).toBe(true);
  });

  it("Privileged as the string \"true\" or the number 1: 403 (rule body.type)", async () => {
    for (const v of ['"true"', "1", "[true]", '{"x":true}']) {
      const name = unique();
      await expectRefused(name, request("POST", createTarget(name), body(`{"Privileged":${v}}`)), 403, "body.type");
    }
  });

  it("an escaped slash in a bind source is read as a slash", async () => {
    const name = unique();
    await expectRefused(name, request("POST", createTarget(name), body('{"Binds":["\\u002f:/host"]}')), 403, "containers.bind-protected");
  });

  it(`a body over the ${MAX_BODY}-byte limit: 413 (Content-Length), nothing created`, async () => {
    const name = unique();
    const big = body('{"Privileged":true}', `,"Env":["PAD=${"x".repeat(MAX_BODY)}"]`);
    const [r] = await rawExchange(ci.socket, request("POST", createTarget(name), big), 1, 20_000);
    expect(r!.status, r!.body).toBe(413);
    expect(message(r)).toMatch(/^dockgate: /);
    expect(await containerExists(name)).toBe(false);
  });

  it("a body over the limit sent chunked: 413, nothing created", async () => {
    const name = unique();
    const big = body("{}", `,"Env":["PAD=${"x".repeat(MAX_BODY)}"]`);
    const chunks = [];
    for (let i = 0; i < big.length; i += 64 * 1024) chunks.push(big.slice(i, i + 64 * 1024));
    const [r] = await rawExchange(ci.socket, chunked(createTarget(name), chunks), 1, 20_000);
    expect(r!.status, r!.body).toBe(413);
    expect(await containerExists(name)).toBe(false);
  });

  it("a body of exactly the limit is inspected and forwarded", async () => {
    const name = unique();
    let b = body("{}", `,"Env":["PAD=x"]`);
    b = b.replace("PAD=x", `PAD=${"x".repeat(MAX_BODY - Buffer.byteLength(b) + 1)}`);
    expect(Buffer.byteLength(b)).toBe(MAX_BODY);
    const [r] = await rawExchange(ci.socket, request("POST", createTarget(name), b), 1, 20_000);
    expect(r!.status, r!.body).toBe(201);
    expect(await containerExists(name)).toBe(true);
  });
});

describe("query strings", () => {
  const tar = Buffer.alloc(1024); // an empty tar archive: refused queries never get to read it

  const build: Array<[string, string]> = [
    ["networkmode=HOST", "build.network"],
    ["networkmode=%68ost", "build.network"],
    ["NetworkMode=host", "build.network"],
    ["networkmode=bridge&networkmode=host", "build.network"],
    ["networkmode=host&networkmode=bridge", "build.network"],
    ["cgroupparent=%2F", "build.cgroup-parent"],
    ["remote=http%3A%2F%2F169.254.169.254%2F", "build.remote"],
  ];
  for (const [query, rule] of build) {
    it(`ImageBuild ?${query}: 403 (rule ${rule})`, async () => {
      const tag = unique();
      const raw = request("POST", `/v1.41/build?t=${tag}&${query}`, tar).toString("latin1").replace("application/json", "application/x-tar");
      const [r] = await rawExchange(ci.socket, Buffer.from(raw, "latin1"), 1);
      expect(r!.status, r!.body).toBe(403);
      expect(message(r)).toMatch(new RegExp(`\\(rule ${rule.replaceAll(".", "\\.")}\\)$`));
      expect((await onDaemon(`/images/${tag}/json`)).status).toBe(404);
    });
  }

  it("a semicolon in the query (Go drops the pair) is refused", async () => {
    const tag = unique();
    const [r] = await rawExchange(ci.socket, request("POST", `/v1.41/build?t=${tag}&networkmode=host;x=1`, tar), 1);
    expect(r!.status).toBeGreaterThanOrEqual(400);
    expect((await onDaemon(`/images/${tag}/json`)).status).toBe(404);
  });

  it("ContainerStart ?CHECKPOINT= (any case) is refused", async () => {
    const name = unique();
    expect((await onDaemon(`/containers/create?name=${name}`, "POST", JSON.stringify({ Image: image, Cmd: ["sleep", "60"], Labels: { "dgt.run": RUN } }))).status).toBe(201);
    const [r] = await rawExchange(ci.socket, `POST /v1.41/containers/${name}/start?Checkpoint=cp1 HTTP/1.1\r\nHost: docker\r\n\r\n`, 1);
    expect(r!.status).toBe(403);
    expect((await inspect(name)).State.Status).toBe("created");
  });
});

describe("sanity", () => {
  it("nothing privileged, host-namespaced or bind-mounting the host exists from this file", async () => {
    const filters = encodeURIComponent(JSON.stringify({ label: [`dgt.run=${RUN}`] }));
    const list = JSON.parse((await onDaemon(`/containers/json?all=1&filters=${filters}`)).text) as Array<{ Id: string }>;
    for (const c of list) {
      const i = await inspect(c.Id);
      expect(i.HostConfig.Privileged, i.Name).toBe(false);
      expect(i.HostConfig.Binds ?? [], i.Name).toEqual([]);
      expect(i.HostConfig.CapAdd ?? [], i.Name).toEqual([]);
      expect(i.HostConfig.PidMode, i.Name).toBe("");
      expect(["default", "bridge"], i.Name).toContain(i.HostConfig.NetworkMode);
    }
  });

  it("the proxy socket is still healthy", async () => {
    const r = await new Promise<string>((resolve, reject) => {
      const s = net.createConnection(ci.socket);
      let t = "";
      s.on("data", (c) => (t += c.toString()));
      s.on("end", () => resolve(t));
      s.on("error", reject);
      s.write("GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    });
    expect(r).toMatch(/^HTTP\/1\.1 200 /);
  });
});
