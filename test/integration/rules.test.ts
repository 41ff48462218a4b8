// Every rule of the policy, both sides, against the real daemon: the dangerous request is refused
// with 403 and a message naming the rule and the field, and the daemon shows that nothing was
// created or changed; its legitimate neighbour goes through and does what it says.
//
// Requests are raw JSON over HTTP (node:http on the proxy's socket) so every field is ours: no
// client library fills in, drops or normalizes anything. Most cases go through the shipped ci
// profile (config/ci.yaml); test/fixtures/rules-fixture.yaml adds what ci cannot show (an
// allowlisted bind path, plugin and service grants, execRoot: false).
//
// The TABLE is keyed by rule id and checked against RULES: a rule without a denied case and a
// legitimate neighbour fails the suite.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { INSPECTION_RULES as RULES } from "../../src/policy/rules.js";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import type { TestProxy } from "../harness/proxy.js";
import { TAR_END, tarEntry, tarFile, tarWithout } from "../harness/tar.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");

const RUN = `dgt-${process.pid}-r`;
const LABELS = { "dgt.run": RUN };
const DENY_LABELS = { "dgt.run": RUN, "dgt.deny": "1" };
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const FIXTURE_CONFIG = path.resolve(import.meta.dirname, "../fixtures/rules-fixture.yaml");
/** The fixture profile's bind paths (read-only, and writable). */
const RO_DIR = "/tmp/dockgate-fixture/ro";
const RW_DIR = "/tmp/dockgate-fixture/rw";

/** Shared objects on the daemon, created in beforeAll. */
const RUNNING = `${RUN}-running`; // sleeps: exec target, namespace "victim"
const UPDATE_TARGET = `${RUN}-update`; // created: ContainerUpdate target
const COMMIT_TARGET = `${RUN}-commit`; // created: ImageCommit source
const NETWORK = `${RUN}-net`; // a user-defined bridge network
const VOLUME = `${RUN}-vol`; // a named volume

let ci: TestProxy;
let fixture: TestProxy;
let buildContext: Buffer;
let importTar: Buffer;
/** The tag the images.load-archive cases load (a docker.io/library/ name: the fixture allows it). */
const LOADED_TAG = `dgt-load-archive-${process.pid}:1`;
let counter = 0;
const unique = (what: string) => `${RUN}-${what}-${++counter}`;

// ---------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  text: string;
  json: any;
}

interface Send {
  method?: string;
  body?: string | Buffer | object;
  headers?: Record<string, string>;
}

/** One request on a fresh connection; a JSON body is sent exactly as given when it is a string. */
function api(socket: string, target: string, opts: Send = {}): Promise<Reply> {
  const method = opts.method ?? (opts.body === undefined ? "GET" : "POST");
  const body =
    opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body), "utf8");
  const headers: Record<string, string> = { Host: "docker", ...(body && !Buffer.isBuffer(opts.body) ? { "Content-Type": "application/json" } : {}), ...opts.headers };
  if (body) headers["Content-Length"] = String(body.length);
  return new Promise((resolve, reject) => {
    let settled = false;
    const req = http.request({ socketPath: socket, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        settled = true;
        const raw = Buffer.concat(chunks);
        const text = raw.toString("utf8");
        let json: unknown;
        try {
          json = text === "" ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, text, json });
      });
      res.on("error", (err) => settled || reject(err));
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${target}: timed out`)));
    // A refusal may arrive before the body is written: only fail if no response came.
    req.on("error", (err) => setTimeout(() => settled || reject(err), 200));
    req.end(body);
  });
}

const onDaemon = (target: string, opts: Send = {}) => api(daemon, target, opts);

async function exists(kind: "containers" | "volumes" | "networks" | "images", name: string): Promise<boolean> {
  const r = await onDaemon(kind === "containers" || kind === "images" ? `/${kind}/${encodeURIComponent(name)}/json` : `/${kind}/${encodeURIComponent(name)}`);
  if (r.status !== 200 && r.status !== 404) throw new Error(`inspect ${kind} ${name}: ${r.status} ${r.text}`);
  return r.status === 200;
}

async function inspectContainer(name: string): Promise<any> {
  const r = await onDaemon(`/containers/${encodeURIComponent(name)}/json`);
  expect(r.status, r.text).toBe(200);
  return r.json;
}

async function removeContainer(name: string): Promise<void> {
  await onDaemon(`/containers/${encodeURIComponent(name)}?force=1&v=1`, { method: "DELETE" });
}

/** Stdout+stderr of a container's logs (multiplexed frames stripped). */
async function logs(name: string): Promise<string> {
  const r = await new Promise<Buffer>((resolve, reject) => {
    http
      .get({ socketPath: daemon, path: `/containers/${name}/logs?stdout=1&stderr=1`, headers: { Host: "docker" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
      })
      .on("error", reject);
  });
  let out = "";
  for (let i = 0; i + 8 <= r.length; ) {
    const n = r.readUInt32BE(i + 4);
    out += r.toString("utf8", i + 8, i + 8 + n);
    i += 8 + n;
  }
  return out;
}

function proxyOf(via: Via): TestProxy {
  return via === "fixture" ? fixture : ci;
}

// ---------------------------------------------------------------------------------------------
// The table

type Via = "ci" | "fixture";

interface DenyCase {
  label: string;
  via?: Via;
  /** Expected status (default 403). */
  status?: number;
  /** The Denial's field, exactly (also expected in the message, map key suffix aside). */
  field: string;
  /**
   * Refused by the proxy core before any inspection (form Content-Types are rejected while the
   * request head is parsed): any 4xx from dockgate, no rule to check.
   */
  core?: boolean;
  setup?(): Promise<void>;
  send(proxy: TestProxy): Promise<Reply>;
  /** Daemon state that must be identical before and after the request. */
  state(): Promise<unknown>;
}

interface AllowCase {
  label: string;
  via?: Via;
  run(proxy: TestProxy): Promise<void>;
}

interface RuleCases {
  deny: DenyCase[];
  allow: AllowCase[];
}

function json(x: unknown): string {
  return JSON.stringify(x);
}

// --- ContainerCreate

type Form = "nested" | "top" | "null";

function createBody(hc: Record<string, unknown>, form: Form, config: Record<string, unknown> = {}, labels: Record<string, string> = DENY_LABELS): Record<string, unknown> {
  const base = { Image: image, Cmd: ["true"], Labels: labels, ...config };
  if (form === "nested") return { ...base, HostConfig: hc };
  if (form === "top") return { ...base, ...hc };
  return { ...base, HostConfig: null, ...hc };
}

/**
 * A dangerous HostConfig, sent three ways: under HostConfig, at the top level with no HostConfig
 * key, and at the top level with `"HostConfig": null` (older daemons read the top level then).
 * `field` is relative to HostConfig.
 */
function denyCreate(label: string, hc: Record<string, unknown>, field: string, opts: { via?: Via; forms?: Form[] } = {}): DenyCase[] {
  return (opts.forms ?? ["nested", "top", "null"]).map((form) => {
    const name = unique("deny");
    return {
      label: `${label} (${form === "nested" ? "HostConfig" : form === "top" ? "top level" : "top level, HostConfig null"})`,
      via: opts.via,
      field: form === "nested" ? `HostConfig.${field}` : field,
      send: (p) => api(p.socket, `/v1.41/containers/create?name=${name}`, { body: createBody(hc, form) }),
      state: () => exists("containers", name),
    };
  });
}

/** A create body (Config-level fields) refused; `field` is the full path. */
function denyCreateRaw(label: string, body: Record<string, unknown> | string, field: string, opts: { via?: Via; status?: number; extraState?: () => Promise<unknown> } = {}): DenyCase {
  const name = unique("deny");
  return {
    label,
    via: opts.via,
    status: opts.status,
    field,
    send: (p) => api(p.socket, `/v1.41/containers/create?name=${name}`, { body: typeof body === "string" ? body : { Labels: DENY_LABELS, ...body } }),
    state: async () => [await exists("containers", name), await opts.extraState?.()],
  };
}

/** A legitimate create: 201, then `check` on the daemon's inspect, then the container is removed. */
function allowCreate(
  label: string,
  hc: Record<string, unknown> | undefined,
  opts: { via?: Via; config?: Record<string, unknown>; check?: (c: any) => void | Promise<void>; run?: string } = {},
): AllowCase {
  return {
    label,
    via: opts.via,
    async run(p) {
      const name = unique("ok");
      const body = hc === undefined ? { Image: image, Cmd: ["true"], Labels: LABELS, ...opts.config } : createBody(hc, "nested", opts.config, LABELS);
      try {
        const r = await api(p.socket, `/v1.41/containers/create?name=${name}`, { body });
        expect(r.status, r.text).toBe(201);
        expect(r.json.Id).toMatch(/^[0-9a-f]{64}$/);
        const c = await inspectContainer(name);
        expect(c.Config.Labels["dgt.run"]).toBe(RUN);
        await opts.check?.(c);
        if (opts.run !== undefined) {
          // Started through the proxy too: the container really runs as configured.
          const s = await api(p.socket, `/v1.41/containers/${name}/start`, { method: "POST" });
          expect(s.status, s.text).toBe(204);
          const w = await api(p.socket, `/v1.41/containers/${name}/wait`, { method: "POST" });
          expect(w.status, w.text).toBe(200);
          expect(w.json.StatusCode).toBe(0);
          expect(await logs(name)).toBe(opts.run);
        }
      } finally {
        await removeContainer(name);
      }
    },
  };
}

// --- other operations

function denyVolume(label: string, body: Record<string, unknown>, field: string, via?: Via): DenyCase {
  const name = unique("vol");
  return {
    label,
    via,
    field,
    send: (p) => api(p.socket, "/v1.41/volumes/create", { body: { Name: name, Labels: DENY_LABELS, ...body } }),
    state: () => exists("volumes", name),
  };
}

function allowVolume(label: string, body: Record<string, unknown>, check?: (v: any) => void): AllowCase {
  return {
    label,
    async run(p) {
      const name = unique("vol");
      try {
        const r = await api(p.socket, "/v1.41/volumes/create", { body: { Name: name, Labels: LABELS, ...body } });
        expect(r.status, r.text).toBe(201);
        const v = await onDaemon(`/volumes/${name}`);
        expect(v.status).toBe(200);
        check?.(v.json);
      } finally {
        await onDaemon(`/volumes/${name}?force=1`, { method: "DELETE" });
      }
    },
  };
}

function denyNetwork(label: string, body: Record<string, unknown>, field: string): DenyCase {
  const name = unique("net");
  return {
    label,
    field,
    send: (p) => api(p.socket, "/v1.41/networks/create", { body: { Name: name, Labels: DENY_LABELS, ...body } }),
    state: () => exists("networks", name),
  };
}

function allowNetwork(label: string, body: Record<string, unknown>, check?: (n: any) => void): AllowCase {
  return {
    label,
    async run(p) {
      const name = unique("net");
      try {
        const r = await api(p.socket, "/v1.41/networks/create", { body: { Name: name, Labels: LABELS, ...body } });
        expect(r.status, r.text).toBe(201);
        const n = await onDaemon(`/networks/${name}`);
        expect(n.status).toBe(200);
        check?.(n.json);
      } finally {
        await onDaemon(`/networks/${name}`, { method: "DELETE" });
      }
    },
  };
}

async function execIds(): Promise<unknown> {
  return (await inspectContainer(RUNNING)).ExecIDs ?? [];
}

function denyExec(label: string, body: Record<string, unknown> | string, field: string, via?: Via): DenyCase {
  return {
    label,
    via,
    field,
    send: (p) => api(p.socket, `/v1.41/containers/${RUNNING}/exec`, { body: typeof body === "string" ? body : { Cmd: ["true"], ...body } }),
    state: execIds,
  };
}

function allowExec(label: string, body: Record<string, unknown>, expectOut: string, via?: Via): AllowCase {
  return {
    label,
    via,
    async run(p) {
      const r = await api(p.socket, `/v1.41/containers/${RUNNING}/exec`, { body: { AttachStdout: true, AttachStderr: true, Tty: true, ...body } });
      expect(r.status, r.text).toBe(201);
      const s = await api(p.socket, `/v1.41/exec/${r.json.Id}/start`, { body: { Detach: false, Tty: true } });
      expect(s.status, s.text).toBe(200);
      expect(s.text).toBe(expectOut);
      const i = await api(p.socket, `/v1.41/exec/${r.json.Id}/json`);
      expect(i.json.ExitCode).toBe(0);
    },
  };
}

async function containerState(name: string): Promise<unknown> {
  const c = await inspectContainer(name);
  return { HostConfig: c.HostConfig, Status: c.State.Status, Config: c.Config };
}

function denyUpdate(label: string, body: Record<string, unknown>, field: string): DenyCase {
  return {
    label,
    field,
    send: (p) => api(p.socket, `/v1.41/containers/${UPDATE_TARGET}/update`, { body }),
    state: () => containerState(UPDATE_TARGET),
  };
}

/** ContainerStart of a fresh created container, with a query. */
function denyStart(label: string, query: string, field: string, opts: { body?: string; headers?: Record<string, string>; status?: number; core?: boolean } = {}): DenyCase {
  const name = unique("start");
  return {
    label,
    field,
    core: opts.core,
    status: opts.status,
    async setup() {
      const r = await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["sleep", "60"], Labels: LABELS } });
      expect(r.status, r.text).toBe(201);
    },
    send: (p) => api(p.socket, `/v1.41/containers/${name}/start${query}`, { method: "POST", body: opts.body, headers: opts.headers }),
    state: () => containerState(name),
  };
}

function denyBuild(label: string, query: string, field: string, opts: { headers?: Record<string, string>; body?: string | Buffer; core?: boolean } = {}): DenyCase {
  const tag = unique("build");
  return {
    label,
    field,
    core: opts.core,
    send: (p) =>
      api(p.socket, `/v1.41/build?t=${tag}&${query}`, {
        body: opts.body ?? buildContext,
        headers: { "Content-Type": "application/x-tar", ...opts.headers },
      }),
    state: () => exists("images", tag),
  };
}

function denyImageCreate(label: string, query: string, field: string, opts: { headers?: Record<string, string>; body?: string | Buffer; core?: boolean } = {}): DenyCase {
  const repo = unique("img");
  return {
    label,
    field,
    core: opts.core,
    send: (p) => api(p.socket, `/v1.41/images/create?repo=${repo}&tag=t&${query}`, { method: "POST", body: opts.body, headers: opts.headers }),
    state: () => exists("images", `${repo}:t`),
  };
}

function denyCommit(label: string, query: string, body: Record<string, unknown> | undefined, field: string, headers?: Record<string, string>): DenyCase {
  const repo = unique("commit");
  return {
    label,
    field,
    send: (p) =>
      api(p.socket, `/v1.41/commit?container=${COMMIT_TARGET}&repo=${repo}&tag=t${query}`, {
        method: "POST",
        body: body === undefined ? undefined : headers ? new URLSearchParams(body as Record<string, string>).toString() : body,
        headers,
      }),
    state: async () => [await exists("images", `${repo}:t`), await containerState(COMMIT_TARGET)],
  };
}

async function pluginState(): Promise<unknown> {
  const r = await onDaemon("/plugins");
  return [r.status, r.json];
}

function denyPlugin(label: string, method: string, target: string, body?: string | Buffer, via: Via = "fixture"): DenyCase {
  return {
    label,
    via,
    field: label.split(" ")[0]!,
    send: (p) => api(p.socket, target, { method, body, headers: Buffer.isBuffer(body) ? { "Content-Type": "application/x-tar" } : {} }),
    state: pluginState,
  };
}

async function serviceState(): Promise<unknown> {
  const r = await onDaemon("/services");
  return [r.status, r.json];
}

function denyService(label: string, taskTemplate: Record<string, unknown>, field: string, extra: Record<string, unknown> = {}): DenyCase {
  return {
    label,
    via: "fixture",
    field,
    send: (p) => api(p.socket, "/v1.41/services/create", { body: { Name: unique("svc"), TaskTemplate: taskTemplate, ...extra } }),
    state: serviceState,
  };
}

async function networkMembers(): Promise<unknown> {
  const r = await onDaemon(`/networks/${NETWORK}`);
  return Object.keys(r.json.Containers ?? {}).sort();
}

/** A container whose Mounts entry creates a local volume with these driver options: neither may appear. */
function denyVolumeMount(label: string, options: Record<string, string>, field: string): DenyCase[] {
  const vol = unique("vol");
  return denyCreate(label, {
    Mounts: [{ Type: "volume", Source: vol, Target: "/host", VolumeOptions: { DriverConfig: { Options: options } } }],
  }, field).map((c) => ({ ...c, state: async () => [await c.state(), await exists("volumes", vol)] }));
}

// --- shared legitimate cases

/** A local bind volume of the fixture's read-only path, mounted and read. */
const allowBindVolume: AllowCase = {
  label: "a read-only bind volume of an allowlisted path (VolumeCreate type=none,o=bind,ro), mounted and read",
  via: "fixture",
  async run(p) {
    const vol = unique("vol");
    try {
      const r = await api(p.socket, "/v1.41/volumes/create", { body: { Name: vol, Labels: LABELS, DriverOpts: { type: "none", o: "bind,ro", device: RO_DIR } } });
      expect(r.status, r.text).toBe(201);
      await allowCreate("", { Binds: [`${vol}:/data:ro`] }, { config: { Cmd: ["cat", "/data/hello.txt"] }, run: "hello from the host\n" }).run(p);
    } finally {
      await onDaemon(`/volumes/${vol}?force=1`, { method: "DELETE" });
    }
  },
};

const allowRoBind = allowCreate("an allowlisted read-only bind (Binds :ro) reads the host file", { Binds: [`${RO_DIR}:/data:ro`] }, {
  via: "fixture",
  config: { Cmd: ["cat", "/data/hello.txt"] },
  run: "hello from the host\n",
  check: (c) => expect(c.Mounts).toEqual([expect.objectContaining({ Type: "bind", Source: RO_DIR, Destination: "/data", RW: false })]),
});
const allowRoMount = allowCreate("an allowlisted read-only bind (Mounts ReadOnly) reads the host file", {
  Mounts: [{ Type: "bind", Source: RO_DIR, Target: "/data", ReadOnly: true }],
}, { via: "fixture", config: { Cmd: ["cat", "/data/hello.txt"] }, run: "hello from the host\n" });
const allowRwBind = allowCreate("the exact writable bind path (Binds rw) is writable", { Binds: [`${RW_DIR}:/data`] }, {
  via: "fixture",
  config: { Cmd: ["sh", "-c", `echo written > /data/${RUN}.txt && cat /data/${RUN}.txt`] },
  run: "written\n",
});
const allowNamedVolume = allowCreate("a named volume mount (Binds name:/data)", { Binds: [`${VOLUME}:/data`] }, {
  config: { Cmd: ["sh", "-c", "echo ok > /data/f && cat /data/f"] },
  run: "ok\n",
  check: (c) => expect(c.Mounts).toEqual([expect.objectContaining({ Type: "volume", Name: VOLUME, Destination: "/data" })]),
});
const allowVolumeMount = allowCreate("a volume mount (Mounts Type volume, no driver options)", {
  Mounts: [{ Type: "volume", Source: VOLUME, Target: "/data" }],
}, { check: (c) => expect(c.Mounts[0].Name).toBe(VOLUME) });
const allowTmpfs = allowCreate("tmpfs without options (HostConfig.Tmpfs and Mounts Type tmpfs)", {
  Tmpfs: { "/run/t1": "" },
  Mounts: [{ Type: "tmpfs", Target: "/run/t2" }],
}, { config: { Cmd: ["sh", "-c", "grep -c ' /run/t[12] tmpfs' /proc/mounts"] }, run: "2\n" });

// --- the table

const TABLE: Record<string, RuleCases> = {
  "body.type": {
    deny: [
      denyCreateRaw("Privileged as a string", { Image: image, HostConfig: { Privileged: "true" } }, "HostConfig.Privileged"),
      denyCreateRaw("Privileged as a number", { Image: image, HostConfig: { Privileged: 1 } }, "HostConfig.Privileged"),
      denyCreateRaw("Binds as a string", { Image: image, HostConfig: { Binds: "/:/host" } }, "HostConfig.Binds"),
      denyCreateRaw("CapAdd with a number", { Image: image, HostConfig: { CapAdd: [1] } }, "HostConfig.CapAdd[0]"),
      denyCreateRaw("HostConfig as a list", { Image: image, HostConfig: [] }, "HostConfig"),
      denyCreateRaw("a body that is a list", "[]", "body"),
      denyExec("exec Privileged as a string", { Privileged: "yes" }, "Privileged"),
      denyVolume("VolumeCreate DriverOpts as a list", { DriverOpts: ["type=none"] }, "DriverOpts"),
    ],
    allow: [
      allowCreate("Privileged false (a boolean)", { Privileged: false }),
      allowCreate("CapAdd as a lone string (Go's StrSlice)", { CapAdd: "CHOWN" }, { check: (c) => expect(c.HostConfig.CapAdd).toEqual(["CHOWN"]) }),
      allowCreate("null fields (Go: not set)", { Privileged: null, Binds: null, CapAdd: null, SecurityOpt: null }),
    ],
  },

  "request.form-body": {
    deny: [
      denyStart("ContainerStart with checkpoint in a form body", "", "Content-Type", {
        core: true,
        body: "checkpoint=cp1",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }),
      denyBuild("ImageBuild with networkmode=host in a form body", "", "Content-Type", {
        core: true,
        body: "networkmode=host",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }),
      denyImageCreate("ImageCreate with fromSrc in a form body", "fromImage=x", "Content-Type", {
        core: true,
        body: "fromSrc=http://169.254.169.254/latest",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }),
      denyImageCreate("ImageCreate with a multipart body", "fromSrc=-", "Content-Type", {
        core: true,
        body: '--b\r\nContent-Disposition: form-data; name="fromSrc"\r\n\r\nhttp://169.254.169.254/\r\n--b--\r\n',
        headers: { "Content-Type": "multipart/form-data; boundary=b" },
      }),
      { ...denyCommit("ImageCommit with changes in a form body", "", { changes: "WORKDIR /proc/self/fd/8" }, "Content-Type", {
        "Content-Type": "application/x-www-form-urlencoded",
      }), core: true },
    ],
    allow: [
      {
        label: "ContainerStart with a JSON Content-Type and an empty body",
        async run(p) {
          const name = unique("ok");
          try {
            expect((await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["true"], Labels: LABELS } })).status).toBe(201);
            const r = await api(p.socket, `/v1.41/containers/${name}/start`, { method: "POST", body: "", headers: { "Content-Type": "application/json" } });
            expect(r.status, r.text).toBe(204);
          } finally {
            await removeContainer(name);
          }
        },
      },
      buildAllow("with Content-Type application/x-tar and a query", "labels=" + encodeURIComponent(json({ a: "b" }))),
    ],
  },

  "containers.privileged": {
    deny: [...denyCreate("Privileged=true", { Privileged: true }, "Privileged"), denyUpdate("ContainerUpdate Privileged=true", { Privileged: true }, "Privileged")],
    allow: [allowCreate("Privileged=false", { Privileged: false }, { check: (c) => expect(c.HostConfig.Privileged).toBe(false) })],
  },

  "containers.bind-mounts": {
    deny: [
      ...denyCreate("a host path not in the allowlist", { Binds: ["/etc:/host-etc"] }, "Binds[0]"),
      ...denyCreate("a host path not in the allowlist, read-only", { Binds: ["/etc:/host-etc:ro"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("Mounts type bind of a host path", { Mounts: [{ Type: "bind", Source: "/etc", Target: "/x", ReadOnly: true }] }, "Mounts[0].Source"),
      ...denyCreate("/tmp (a parent of the allowlisted paths)", { Binds: ["/tmp:/t:ro"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("dot segments climbing out of an allowed path", { Binds: [`${RO_DIR}/../../../etc:/x:ro`] }, "Binds[0]", { via: "fixture", forms: ["nested"] }),
      ...denyCreate("the read-only path mounted read-write", { Binds: [`${RO_DIR}:/data`] }, "Binds[0]", { via: "fixture" }),
      ...denyCreate("the read-only path mounted with Mounts ReadOnly false", { Mounts: [{ Type: "bind", Source: RO_DIR, Target: "/x" }] }, "Mounts[0].Source", { via: "fixture", forms: ["nested"] }),
      ...denyCreate("the read-only path mounted non-recursively read-only", {
        Mounts: [{ Type: "bind", Source: RO_DIR, Target: "/x", ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true } }],
      }, "Mounts[0].Source", { via: "fixture", forms: ["nested"] }),
      ...denyCreate("a path below the writable path", { Binds: [`${RW_DIR}/sub:/x:ro`] }, "Binds[0]", { via: "fixture", forms: ["nested"] }),
      denyVolume("a bind volume of /etc (VolumeCreate type=none,o=bind,device=/etc)", { DriverOpts: { type: "none", o: "bind", device: "/etc" } }, 'DriverOpts["device"]'),
      denyVolume("a bind volume of the read-only path without ro", { DriverOpts: { type: "none", o: "bind", device: RO_DIR } }, 'DriverOpts["device"]', "fixture"),
      denyVolume("a bind volume with a relative device", { DriverOpts: { o: "bind", device: "etc" } }, 'DriverOpts["device"]'),
      ...denyVolumeMount("a bind of /etc through a volume (Mounts VolumeOptions)", { type: "none", o: "rbind", device: "/etc" }, 'Mounts[0].VolumeOptions.DriverConfig.Options["device"]'),
    ],
    allow: [allowRoBind, allowRoMount, allowRwBind, allowNamedVolume, allowBindVolume],
  },

  "containers.bind-protected": {
    deny: [
      ...denyCreate("the Docker socket", { Binds: ["/var/run/docker.sock:/var/run/docker.sock"] }, "Binds[0]"),
      ...denyCreate("the host's root", { Binds: ["/:/host"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("/run (above the socket), read-only", { Binds: ["/run:/r:ro"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("/var/lib/docker", { Binds: ["/var/lib/docker/volumes:/v:ro"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("/proc", { Binds: ["/proc:/hostproc:ro"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("/sys/fs/cgroup", { Mounts: [{ Type: "bind", Source: "/sys/fs/cgroup", Target: "/c", ReadOnly: true }] }, "Mounts[0].Source", { forms: ["nested"] }),
      ...denyCreate("the socket through the fixture profile's allowlist", { Binds: ["/var/run/docker.sock:/s"] }, "Binds[0]", { via: "fixture", forms: ["nested"] }),
      ...denyCreate("the socket spelled with dot segments", { Binds: ["/tmp/../var/./run//docker.sock:/s"] }, "Binds[0]", { forms: ["nested"] }),
      denyVolume("a bind volume of the host's root (VolumeCreate o=bind,device=/)", { DriverOpts: { type: "none", o: "bind", device: "/" } }, 'DriverOpts["device"]'),
      ...denyVolumeMount("bind through a volume (Mounts VolumeOptions type=none,o=bind,device=/)", { type: "none", o: "bind", device: "/" }, 'Mounts[0].VolumeOptions.DriverConfig.Options["device"]'),
    ],
    allow: [allowRoBind, allowNamedVolume],
  },

  "containers.bind-propagation": {
    deny: [
      ...denyCreate("Binds with rshared", { Binds: [`${RO_DIR}:/d:ro,rshared`] }, "Binds[0]", { via: "fixture" }),
      ...denyCreate("Binds with shared", { Binds: [`${RW_DIR}:/d:shared`] }, "Binds[0]", { via: "fixture", forms: ["nested"] }),
      ...denyCreate("Mounts BindOptions.Propagation rshared", {
        Mounts: [{ Type: "bind", Source: RW_DIR, Target: "/d", BindOptions: { Propagation: "rshared" } }],
      }, "Mounts[0].BindOptions.Propagation", { via: "fixture", forms: ["nested"] }),
    ],
    allow: [
      allowCreate("Binds with rprivate", { Binds: [`${RO_DIR}:/d:ro,rprivate`] }, { via: "fixture", check: (c) => expect(c.Mounts[0].Propagation).toBe("rprivate") }),
      allowCreate("Mounts BindOptions.Propagation rslave", { Mounts: [{ Type: "bind", Source: RW_DIR, Target: "/d", BindOptions: { Propagation: "rslave" } }] }, { via: "fixture" }),
    ],
  },

  "containers.mount-type": {
    deny: [
      ...denyCreate("Mounts type npipe", { Mounts: [{ Type: "npipe", Source: "\\\\.\\pipe\\docker_engine", Target: "/p" }] }, "Mounts[0].Type"),
      ...denyCreate("Mounts type cluster", { Mounts: [{ Type: "cluster", Source: "x", Target: "/p" }] }, "Mounts[0].Type", { forms: ["nested"] }),
      ...denyCreate("Mounts with no type", { Mounts: [{ Source: "/etc", Target: "/p" }] }, "Mounts[0].Type", { forms: ["nested"] }),
    ],
    allow: [allowTmpfs, allowVolumeMount],
  },

  "containers.tmpfs": {
    deny: [
      ...denyCreate("Tmpfs with bind", { Tmpfs: { "/x": "bind" } }, 'Tmpfs["/x"]'),
      ...denyCreate("Tmpfs with rbind after size", { Tmpfs: { "/x": "size=1m,rbind" } }, 'Tmpfs["/x"]', { forms: ["nested"] }),
      ...denyCreate("Tmpfs with remount", { Tmpfs: { "/etc": "remount,rw" } }, 'Tmpfs["/etc"]', { forms: ["nested"] }),
      ...denyCreate("Tmpfs with BIND (upper case)", { Tmpfs: { "/x": "BIND" } }, 'Tmpfs["/x"]', { forms: ["nested"] }),
    ],
    allow: [
      allowTmpfs,
      allowCreate("Tmpfs with plain options", { Tmpfs: { "/t": "size=1m,mode=1777,noexec,nosuid" } }, {
        config: { Cmd: ["sh", "-c", "grep ' /t tmpfs' /proc/mounts | grep -c noexec"] },
        run: "1\n",
      }),
    ],
  },

  "containers.volume-name": {
    deny: [
      ...denyCreate("Binds with a relative path as source", { Binds: ["./etc:/x"] }, "Binds[0]"),
      ...denyCreate("Binds with a slash in the volume name", { Binds: ["a/b:/x"] }, "Binds[0]", { forms: ["nested"] }),
      ...denyCreate("Mounts volume source with dot segments", { Mounts: [{ Type: "volume", Source: "../../etc", Target: "/x" }] }, "Mounts[0].Source", { forms: ["nested"] }),
    ],
    allow: [allowNamedVolume, allowVolumeMount, allowCreate("an anonymous volume (Binds with only a target)", { Binds: ["/anon"] })],
  },

  "volumes.driver": {
    deny: [
      denyVolume("VolumeCreate with a plugin driver", { Driver: "evil-driver" }, "Driver"),
      ...denyCreate("HostConfig.VolumeDriver", { VolumeDriver: "evil-driver", Binds: [`${VOLUME}:/x`] }, "VolumeDriver", { forms: ["nested", "top"] }),
      ...denyCreate("Mounts VolumeOptions.DriverConfig.Name", {
        Mounts: [{ Type: "volume", Source: unique("vol"), Target: "/x", VolumeOptions: { DriverConfig: { Name: "evil-driver" } } }],
      }, "Mounts[0].VolumeOptions.DriverConfig.Name", { forms: ["nested"] }),
    ],
    allow: [
      allowVolume("VolumeCreate with the local driver", { Driver: "local" }, (v) => expect(v.Driver).toBe("local")),
      allowCreate("Mounts DriverConfig.Name local", { Mounts: [{ Type: "volume", Source: VOLUME, Target: "/x", VolumeOptions: { DriverConfig: { Name: "local" } } }] }),
    ],
  },

  "volumes.driver-options": {
    deny: [
      denyVolume("VolumeCreate type=ext4,device=/dev/sda1 (a host disk)", { DriverOpts: { type: "ext4", device: "/dev/sda1" } }, 'DriverOpts["type"]'),
      denyVolume("VolumeCreate overlay with lowerdir=/etc", {
        DriverOpts: { type: "overlay", device: "overlay", o: "lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w" },
      }, 'DriverOpts["type"]'),
      denyVolume("VolumeCreate nfs", { DriverOpts: { type: "nfs", o: "addr=10.0.0.1", device: ":/export" } }, 'DriverOpts["type"]'),
      denyVolume("VolumeCreate tmpfs with a bind option", { DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m,bind" } }, 'DriverOpts["o"]'),
      denyVolume("VolumeCreate tmpfs with a host path as device", { DriverOpts: { type: "tmpfs", device: "/etc" } }, 'DriverOpts["device"]'),
      denyVolume("VolumeCreate with only a device", { DriverOpts: { device: "/etc" } }, "DriverOpts"),
      denyVolume("VolumeCreate with an unknown option key", { DriverOpts: { type: "tmpfs", mountpoint: "/etc" } }, 'DriverOpts["mountpoint"]'),
      denyVolume("VolumeCreate bind volume with shared propagation", { DriverOpts: { type: "none", o: "bind,ro,rshared", device: RO_DIR } }, 'DriverOpts["o"]'),
      denyVolume("VolumeCreate local options with another driver", { Driver: "local", DriverOpts: { type: "ext4", device: "/dev/sda1", o: "" } }, 'DriverOpts["type"]'),
      ...denyCreate("a host disk through Mounts VolumeOptions", {
        Mounts: [{ Type: "volume", Source: unique("vol"), Target: "/d", VolumeOptions: { DriverConfig: { Options: { type: "ext4", device: "/dev/sda1" } } } }],
      }, 'Mounts[0].VolumeOptions.DriverConfig.Options["type"]'),
    ],
    allow: [
      allowVolume("VolumeCreate tmpfs with tmpfs options", { DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000" } }, (v) =>
        expect(v.Options).toEqual({ type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000" }),
      ),
      (() => {
        const vol = unique("vol");
        const c = allowCreate("a tmpfs volume through Mounts VolumeOptions", {
          Mounts: [{ Type: "volume", Source: vol, Target: "/t", VolumeOptions: { DriverConfig: { Options: { type: "tmpfs", device: "tmpfs", o: "size=2m" } } } }],
        }, { config: { Cmd: ["sh", "-c", "grep -c ' /t tmpfs' /proc/mounts"] }, run: "1\n" });
        return { ...c, run: async (p: TestProxy) => { try { await c.run(p); } finally { await onDaemon(`/volumes/${vol}?force=1`, { method: "DELETE" }); } } };
      })(),
      allowBindVolume,
    ],
  },

  "volumes.cluster": {
    deny: [denyVolume("VolumeCreate with a ClusterVolumeSpec", { ClusterVolumeSpec: { AccessMode: { Scope: "single" } } }, "ClusterVolumeSpec")],
    allow: [allowVolume("VolumeCreate without one", {}), allowVolume("VolumeCreate with ClusterVolumeSpec null", { ClusterVolumeSpec: null })],
  },

  "containers.capabilities": {
    deny: [
      ...denyCreate("CapAdd sys_admin", { CapAdd: ["sys_admin"] }, "CapAdd[0]"),
      ...denyCreate("CapAdd CAP_SYS_ADMIN", { CapAdd: ["CAP_SYS_ADMIN"] }, "CapAdd[0]", { forms: ["nested"] }),
      ...denyCreate("CapAdd ALL", { CapAdd: ["ALL"] }, "CapAdd[0]", { forms: ["nested"] }),
      ...denyCreate("CapAdd all (lower case)", { CapAdd: ["all"] }, "CapAdd[0]", { forms: ["nested"] }),
      ...denyCreate("CapAdd as a lone string", { CapAdd: "SYS_ADMIN" }, "CapAdd[0]", { forms: ["nested"] }),
      ...denyCreate("the second of two", { CapAdd: ["CHOWN", "SYS_PTRACE"] }, "CapAdd[1]", { forms: ["nested"] }),
      ...denyCreate("Capabilities CAP_SYS_ADMIN", { Capabilities: ["CAP_SYS_ADMIN"] }, "Capabilities[0]", { forms: ["nested"] }),
      ...denyCreate("CapAdd NET_ADMIN", { CapAdd: ["NET_ADMIN"] }, "CapAdd[0]", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("CapDrop ALL", { CapDrop: ["ALL"] }, { check: (c) => expect(c.HostConfig.CapDrop).toEqual(["ALL"]) }),
      allowCreate("CapAdd of default capabilities in any spelling", { CapAdd: ["chown", "CAP_NET_BIND_SERVICE", "Kill"] }),
    ],
  },

  "containers.devices": {
    deny: [
      ...denyCreate("Devices /dev/sda", { Devices: [{ PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rwm" }] }, "Devices"),
      ...denyCreate("DeviceCgroupRules", { DeviceCgroupRules: ["a *:* rwm"] }, "DeviceCgroupRules", { forms: ["nested"] }),
      denyUpdate("ContainerUpdate Devices", { Devices: [{ PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rwm" }] }, "Devices"),
      denyUpdate("ContainerUpdate DeviceCgroupRules", { DeviceCgroupRules: ["a *:* rwm"] }, "DeviceCgroupRules"),
    ],
    allow: [allowCreate("empty Devices and DeviceCgroupRules", { Devices: [], DeviceCgroupRules: [] })],
  },

  "containers.device-requests": {
    deny: [
      ...denyCreate("DeviceRequests for all GPUs", { DeviceRequests: [{ Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] }] }, "DeviceRequests"),
      ...denyCreate("DeviceRequests for a CDI device", { DeviceRequests: [{ Driver: "cdi", DeviceIDs: ["vendor.com/class=x"] }] }, "DeviceRequests", { forms: ["nested"] }),
      denyUpdate("ContainerUpdate DeviceRequests", { DeviceRequests: [{ Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] }] }, "DeviceRequests"),
    ],
    allow: [allowCreate("empty DeviceRequests", { DeviceRequests: [] })],
  },

  "containers.host-namespaces": {
    deny: [
      ...denyCreate("NetworkMode host", { NetworkMode: "host" }, "NetworkMode"),
      ...denyCreate("PidMode host", { PidMode: "host" }, "PidMode"),
      ...denyCreate("IpcMode host", { IpcMode: "host" }, "IpcMode", { forms: ["nested"] }),
      ...denyCreate("UTSMode host", { UTSMode: "host" }, "UTSMode", { forms: ["nested"] }),
      ...denyCreate("UsernsMode host", { UsernsMode: "host" }, "UsernsMode", { forms: ["nested"] }),
      ...denyCreate("CgroupnsMode host", { CgroupnsMode: "host" }, "CgroupnsMode", { forms: ["nested"] }),
      ...denyCreate("PidMode HOST (upper case)", { PidMode: "HOST" }, "PidMode", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("NetworkMode bridge", { NetworkMode: "bridge" }),
      allowCreate("NetworkMode none", { NetworkMode: "none" }, { check: (c) => expect(c.HostConfig.NetworkMode).toBe("none") }),
      allowCreate("NetworkMode default", { NetworkMode: "default" }),
      allowCreate("NetworkMode a named network", { NetworkMode: NETWORK }, { check: (c) => expect(Object.keys(c.NetworkSettings.Networks)).toEqual([NETWORK]) }),
      allowCreate("IpcMode private / shareable, CgroupnsMode private", { IpcMode: "shareable", CgroupnsMode: "private" }),
    ],
  },

  "containers.namespace-joins": {
    deny: [
      ...denyCreate("NetworkMode container:X", { NetworkMode: `container:${RUNNING}` }, "NetworkMode"),
      ...denyCreate("PidMode container:X", { PidMode: `container:${RUNNING}` }, "PidMode", { forms: ["nested"] }),
      ...denyCreate("IpcMode container:X", { IpcMode: `container:${RUNNING}` }, "IpcMode", { forms: ["nested"] }),
      ...denyCreate("UTSMode container:X", { UTSMode: `container:${RUNNING}` }, "UTSMode", { forms: ["nested"] }),
      ...denyCreate("UsernsMode container:X", { UsernsMode: `container:${RUNNING}` }, "UsernsMode", { forms: ["nested"] }),
      ...denyCreate("Cgroup container:X", { Cgroup: `container:${RUNNING}` }, "Cgroup", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("NetworkMode a named network", { NetworkMode: NETWORK }),
      allowCreate("IpcMode private", { IpcMode: "private" }, { check: (c) => expect(c.HostConfig.IpcMode).toBe("private") }),
    ],
  },

  "containers.namespace-mode": {
    deny: [
      ...denyCreate("PidMode private", { PidMode: "private" }, "PidMode"),
      ...denyCreate("CgroupnsMode weird", { CgroupnsMode: "weird" }, "CgroupnsMode", { forms: ["nested"] }),
      ...denyCreate("UTSMode private", { UTSMode: "private" }, "UTSMode", { forms: ["nested"] }),
    ],
    allow: [allowCreate("PidMode empty, IpcMode none, UTSMode empty", { PidMode: "", IpcMode: "none", UTSMode: "" })],
  },

  "containers.security-opt": {
    deny: [
      ...denyCreate("seccomp=unconfined", { SecurityOpt: ["seccomp=unconfined"] }, "SecurityOpt[0]"),
      ...denyCreate("seccomp:unconfined", { SecurityOpt: ["seccomp:unconfined"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("an inline seccomp profile", { SecurityOpt: [`seccomp=${json({ defaultAction: "SCMP_ACT_ALLOW" })}`] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("apparmor=unconfined", { SecurityOpt: ["apparmor=unconfined"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("label=disable", { SecurityOpt: ["label=disable"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("label:disable", { SecurityOpt: ["label:disable"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("disable", { SecurityOpt: ["disable"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("systempaths=unconfined", { SecurityOpt: ["systempaths=unconfined"] }, "SecurityOpt[0]", { forms: ["nested"] }),
      ...denyCreate("after an allowed one", { SecurityOpt: ["no-new-privileges", "seccomp=unconfined"] }, "SecurityOpt[1]", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("no-new-privileges in each spelling", { SecurityOpt: ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"] }),
      allowCreate("apparmor=docker-default", { SecurityOpt: ["apparmor=docker-default"] }),
    ],
  },

  "containers.system-paths": {
    deny: [
      ...denyCreate("MaskedPaths []", { MaskedPaths: [] }, "MaskedPaths"),
      ...denyCreate("ReadonlyPaths []", { ReadonlyPaths: [] }, "ReadonlyPaths", { forms: ["nested"] }),
      ...denyCreate("MaskedPaths with fewer entries", { MaskedPaths: ["/proc/kcore"] }, "MaskedPaths", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("MaskedPaths null", { MaskedPaths: null, ReadonlyPaths: null }, {
        check: (c) => expect(c.HostConfig.MaskedPaths).toContain("/proc/kcore"),
      }),
    ],
  },

  "containers.sysctls": {
    deny: [
      ...denyCreate("Sysctls kernel.shm_rmid_forced", { Sysctls: { "kernel.shm_rmid_forced": "1" } }, 'Sysctls["kernel.shm_rmid_forced"]'),
      ...denyCreate("Sysctls net.ipv4.ip_forward (slash spelling)", { Sysctls: { "net/ipv4/ip_forward": "1" } }, 'Sysctls["net/ipv4/ip_forward"]', { forms: ["nested"] }),
      ...denyCreate("a sysctl near the fixture's allowed one", { Sysctls: { "net.ipv4.ip_forward": "1" } }, 'Sysctls["net.ipv4.ip_forward"]', { via: "fixture", forms: ["nested"] }),
      denyCreateRaw("endpoint sysctls in NetworkingConfig", {
        Image: image,
        HostConfig: { NetworkMode: NETWORK },
        NetworkingConfig: { EndpointsConfig: { [NETWORK]: { DriverOpts: { "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1" } } } },
      }, `NetworkingConfig.EndpointsConfig["${NETWORK}"].DriverOpts["com.docker.network.endpoint.sysctls"]`),
      {
        label: "endpoint sysctls in NetworkConnect",
        field: 'EndpointConfig.DriverOpts["com.docker.network.endpoint.sysctls"]',
        send: (p) =>
          api(p.socket, `/v1.41/networks/${NETWORK}/connect`, {
            body: { Container: RUNNING, EndpointConfig: { DriverOpts: { "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1" } } },
          }),
        state: networkMembers,
      },
    ],
    allow: [
      allowCreate("empty Sysctls", { Sysctls: {} }),
      allowCreate("the fixture's allowed sysctl", { Sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" } }, {
        via: "fixture",
        config: { Cmd: ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"] },
        run: "0\n",
      }),
      {
        label: "NetworkConnect with a plain endpoint",
        async run(p) {
          const r = await api(p.socket, `/v1.41/networks/${NETWORK}/connect`, { body: { Container: RUNNING, EndpointConfig: { Aliases: ["x"] } } });
          expect(r.status, r.text).toBe(200);
          expect(await networkMembers()).toHaveLength(1);
          const d = await api(p.socket, `/v1.41/networks/${NETWORK}/disconnect`, { body: { Container: RUNNING } });
          expect(d.status, d.text).toBe(200);
        },
      },
    ],
  },

  "containers.cgroup-parent": {
    deny: [
      ...denyCreate("CgroupParent /", { CgroupParent: "/" }, "CgroupParent"),
      ...denyCreate("CgroupParent system.slice", { CgroupParent: "system.slice" }, "CgroupParent", { forms: ["nested"] }),
      denyUpdate("ContainerUpdate CgroupParent", { CgroupParent: "/" }, "CgroupParent"),
    ],
    allow: [allowCreate("CgroupParent empty", { CgroupParent: "" })],
  },

  "containers.runtime": {
    deny: [
      ...denyCreate("Runtime runsc", { Runtime: "runsc" }, "Runtime"),
      ...denyCreate("Runtime a shim name", { Runtime: "io.containerd.kata.v2" }, "Runtime", { forms: ["nested"] }),
    ],
    allow: [allowCreate("Runtime runc", { Runtime: "runc" }, { check: (c) => expect(c.HostConfig.Runtime).toBe("runc") })],
  },

  "containers.volumes-from": {
    deny: [
      ...denyCreate("VolumesFrom another container", { VolumesFrom: [RUNNING] }, "VolumesFrom"),
      ...denyCreate("VolumesFrom another container, read-only", { VolumesFrom: [`${RUNNING}:ro`] }, "VolumesFrom", { forms: ["nested"] }),
    ],
    allow: [allowCreate("VolumesFrom empty", { VolumesFrom: [] })],
  },

  "containers.oom": {
    deny: [
      ...denyCreate("OomKillDisable true", { OomKillDisable: true }, "OomKillDisable"),
      ...denyCreate("OomScoreAdj -1000", { OomScoreAdj: -1000 }, "OomScoreAdj", { forms: ["nested"] }),
      denyUpdate("ContainerUpdate OomKillDisable true", { OomKillDisable: true }, "OomKillDisable"),
    ],
    allow: [
      allowCreate("OomKillDisable false, OomScoreAdj 500", { OomKillDisable: false, OomScoreAdj: 500 }, { check: (c) => expect(c.HostConfig.OomScoreAdj).toBe(500) }),
      {
        label: "ContainerUpdate Memory with the zero values a client sends",
        async run(p) {
          const r = await api(p.socket, `/v1.41/containers/${UPDATE_TARGET}/update`, {
            body: { Memory: 64 * 1024 * 1024, MemorySwap: -1, OomKillDisable: false, CgroupParent: "", Devices: null, DeviceCgroupRules: null, DeviceRequests: null },
          });
          expect(r.status, r.text).toBe(200);
          expect((await inspectContainer(UPDATE_TARGET)).HostConfig.Memory).toBe(64 * 1024 * 1024);
        },
      },
    ],
  },

  "containers.workdir": {
    deny: [
      denyCreateRaw("WorkingDir /proc/self/fd/8", { Image: image, WorkingDir: "/proc/self/fd/8" }, "WorkingDir"),
      denyCreateRaw("WorkingDir with dot segments into /proc", { Image: image, WorkingDir: "/tmp/../proc/1/cwd" }, "WorkingDir"),
      denyCreateRaw("WorkingDir //proc/self/cwd", { Image: image, WorkingDir: "//proc/self/cwd" }, "WorkingDir"),
      denyCreateRaw("OnBuild WORKDIR /proc/self/fd/8", { Image: image, OnBuild: ["WORKDIR /proc/self/fd/8"] }, "OnBuild"),
      denyExec("exec WorkingDir /proc/self/fd/8", { WorkingDir: "/proc/self/fd/8" }, "WorkingDir"),
      denyCommit("ImageCommit changes WORKDIR /proc/self/fd/8", `&changes=${encodeURIComponent("WORKDIR /proc/self/fd/8")}`, undefined, "changes"),
      denyCommit("ImageCommit body WorkingDir /proc/self/fd/8", "", { WorkingDir: "/proc/self/fd/8" }, "WorkingDir"),
      denyCommit("ImageCommit body OnBuild WORKDIR /proc/1/cwd", "", { OnBuild: ["WORKDIR /proc/1/cwd"] }, "OnBuild"),
      denyImageCreate("ImageCreate changes WORKDIR /proc/self/fd/8", `fromSrc=-&changes=${encodeURIComponent("WORKDIR /proc/self/fd/8")}`, "changes"),
    ],
    allow: [
      allowCreate("WorkingDir /tmp", undefined, { config: { WorkingDir: "/tmp", Cmd: ["pwd"] }, run: "/tmp\n" }),
      allowCreate("WorkingDir /process (not under /proc)", undefined, { config: { WorkingDir: "/process" }, check: (c) => expect(c.Config.WorkingDir).toBe("/process") }),
      allowExec("exec WorkingDir /tmp", { Cmd: ["pwd"], WorkingDir: "/tmp" }, "/tmp\r\n"),
      {
        label: "ImageCommit with changes ENV and CMD",
        async run(p) {
          const repo = unique("commit");
          try {
            const r = await api(p.socket, `/v1.41/commit?container=${COMMIT_TARGET}&repo=${repo}&tag=t&changes=${encodeURIComponent("ENV A=b")}&changes=${encodeURIComponent('WORKDIR /srv')}`, {
              body: { Labels: LABELS },
            });
            expect(r.status, r.text).toBe(201);
            const i = await onDaemon(`/images/${repo}:t/json`);
            expect(i.status).toBe(200);
            expect(i.json.Config.Env).toContain("A=b");
            expect(i.json.Config.WorkingDir).toBe("/srv");
          } finally {
            await onDaemon(`/images/${repo}:t?force=1`, { method: "DELETE" });
          }
        },
      },
    ],
  },

  "containers.log-driver": {
    deny: [
      ...denyCreate("LogConfig syslog", { LogConfig: { Type: "syslog", Config: { "syslog-address": "udp://10.0.0.1:514" } } }, "LogConfig.Type"),
      ...denyCreate("LogConfig gelf", { LogConfig: { Type: "gelf", Config: {} } }, "LogConfig.Type", { forms: ["nested"] }),
    ],
    allow: [
      allowCreate("LogConfig json-file", { LogConfig: { Type: "json-file", Config: { "max-size": "1m" } } }, { check: (c) => expect(c.HostConfig.LogConfig.Type).toBe("json-file") }),
      allowCreate("LogConfig none", { LogConfig: { Type: "none", Config: {} } }),
      allowCreate("LogConfig with the daemon default", { LogConfig: { Type: "", Config: {} } }),
    ],
  },

  "containers.annotations": {
    deny: [...denyCreate("Annotations", { Annotations: { "io.containerd.runc.v2.group": "x" } }, "Annotations")],
    allow: [allowCreate("empty Annotations", { Annotations: {} })],
  },

  "containers.blkio-path": {
    deny: [
      ...denyCreate("BlkioWeightDevice naming a host file", { BlkioWeightDevice: [{ Path: "/etc/shadow", Weight: 100 }] }, "BlkioWeightDevice[0].Path"),
      ...denyCreate("BlkioDeviceReadBps climbing out of /dev", { BlkioDeviceReadBps: [{ Path: "/dev/../etc/passwd", Rate: 1024 }] }, "BlkioDeviceReadBps[0].Path", { forms: ["nested"] }),
      ...denyCreate("BlkioDeviceWriteIOps with a relative path", { BlkioDeviceWriteIOps: [{ Path: "dev/sda", Rate: 10 }] }, "BlkioDeviceWriteIOps[0].Path", { forms: ["nested"] }),
      denyUpdate("ContainerUpdate BlkioDeviceWriteBps naming a host file", { BlkioDeviceWriteBps: [{ Path: "/root/.ssh/id_rsa", Rate: 1024 }] }, "BlkioDeviceWriteBps[0].Path"),
    ],
    allow: [allowCreate("empty Blkio device lists", { BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: null, BlkioDeviceWriteIOps: null })],
  },

  "containers.isolation": {
    deny: [
      ...denyCreate("Isolation hyperv", { Isolation: "hyperv" }, "Isolation"),
      ...denyCreate("Isolation process", { Isolation: "process" }, "Isolation", { forms: ["nested"] }),
      denyBuild("ImageBuild isolation=hyperv", "isolation=hyperv", "isolation"),
    ],
    allow: [allowCreate("Isolation default", { Isolation: "default" }), allowCreate("Isolation empty", { Isolation: "" })],
  },

  "containers.checkpoint": {
    deny: [
      denyStart("ContainerStart checkpoint=cp1", "?checkpoint=cp1", "checkpoint"),
      denyStart("ContainerStart checkpoint-dir=/tmp", "?checkpoint-dir=/tmp&checkpoint=cp1", "checkpoint"),
      denyStart("ContainerStart checkpoint-dir alone", "?checkpoint-dir=/var/lib", "checkpoint-dir"),
    ],
    allow: [
      {
        label: "ContainerStart without a checkpoint",
        async run(p) {
          const name = unique("ok");
          try {
            expect((await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["sleep", "60"], Labels: LABELS } })).status).toBe(201);
            const r = await api(p.socket, `/v1.41/containers/${name}/start?checkpoint=`, { method: "POST" });
            expect(r.status, r.text).toBe(204);
            expect((await inspectContainer(name)).State.Status).toBe("running");
          } finally {
            await removeContainer(name);
          }
        },
      },
    ],
  },

  "exec.privileged": {
    deny: [denyExec("exec Privileged=true", { Privileged: true }, "Privileged"), denyExec("exec Privileged=true as root", { Privileged: true, User: "root" }, "Privileged")],
    allow: [
      allowExec("a plain exec", { Cmd: ["echo", "hi"] }, "hi\r\n"),
      allowExec("exec Privileged=false", { Cmd: ["echo", "hi"], Privileged: false }, "hi\r\n"),
      allowExec("exec as root (ci allows it)", { Cmd: ["id", "-u"], User: "root" }, "0\r\n"),
    ],
  },

  "exec.root": {
    deny: [
      denyExec("exec without a User", {}, "User", "fixture"),
      denyExec("exec User root", { User: "root" }, "User", "fixture"),
      denyExec("exec User 0", { User: "0" }, "User", "fixture"),
      denyExec("exec User 0:0", { User: "0:0" }, "User", "fixture"),
      denyExec("exec User 000", { User: "000" }, "User", "fixture"),
      denyExec("exec User root:nogroup", { User: "root:nogroup" }, "User", "fixture"),
      denyExec("exec User :0", { User: ":0" }, "User", "fixture"),
    ],
    allow: [
      allowExec("exec as nobody", { Cmd: ["id", "-u"], User: "nobody" }, "65534\r\n", "fixture"),
      allowExec("exec as 65534:65534", { Cmd: ["id", "-u"], User: "65534:65534" }, "65534\r\n", "fixture"),
    ],
  },

  "build.network": {
    deny: [
      denyBuild("networkmode=host", "networkmode=host", "networkmode"),
      denyBuild("networkmode=HOST", "networkmode=HOST", "networkmode"),
      denyBuild("networkmode=container:X", `networkmode=container:${RUNNING}`, "networkmode"),
    ],
    allow: [buildAllow("networkmode=none", "networkmode=none"), buildAllow("networkmode=bridge", "networkmode=bridge")],
  },

  "build.buildkit": {
    deny: [{ ...denyBuild("version=2 (BuildKit) with buildkit: false", "version=2&session=x&remote=client-session", "version"), via: "fixture" }],
    allow: [{ ...buildAllow("version=1 (the classic builder)", "version=1"), via: "fixture" }],
  },

  // BuildKit builds through /build?version=2 need a session: the legitimate sides are real builds
  // with the docker CLI 20.10's built-in BuildKit.
  "buildkit.parameter": {
    deny: [denyBuild("an unknown parameter (frontend=gateway.v0)", "version=2&session=x&remote=client-session&frontend=gateway.v0", "frontend")],
    allow: [buildkitAllow("with target, labels, cache-from, no-cache", ["--target", "only", "--label", "a=b", "--cache-from", "x:1", "--no-cache"])],
  },
  "buildkit.build-arg": {
    deny: [denyBuild("BUILDKIT_UNKNOWN build argument", "version=2&session=x&remote=client-session&buildargs=" + encodeURIComponent(json({ BUILDKIT_UNKNOWN: "1" })), 'buildargs["BUILDKIT_UNKNOWN"]')],
    allow: [buildkitAllow("with BUILDKIT_INLINE_CACHE=1 and a plain build argument", ["--build-arg", "BUILDKIT_INLINE_CACHE=1", "--build-arg", "A=b"])],
  },
  "buildkit.frontend": {
    deny: [denyBuild("BUILDKIT_SYNTAX naming a frontend image", "version=2&session=x&remote=client-session&buildargs=" + encodeURIComponent(json({ BUILDKIT_SYNTAX: "docker/dockerfile:1" })), 'buildargs["BUILDKIT_SYNTAX"]')],
    allow: [buildkitAllow("with the built-in frontend", [])],
  },
  "buildkit.platform": {
    deny: [denyBuild("a platform that is not os/arch", "version=2&session=x&remote=client-session&platform=" + encodeURIComponent("linux/amd64;evil"), "platform")],
    allow: [buildkitAllow("--platform linux/amd64", ["--platform", "linux/amd64"])],
  },
  "buildkit.session": {
    deny: [denyBuild("a session nobody opened", `version=2&remote=client-session&session=${RUN}-none`, "session")],
    allow: [buildkitAllow("with its own session", [])],
  },

  "build.cgroup-parent": {
    deny: [denyBuild("cgroupparent=/", "cgroupparent=/", "cgroupparent")],
    allow: [buildAllow("cgroupparent empty", "cgroupparent=")],
  },

  "build.remote": {
    deny: [
      denyBuild("remote=http://169.254.169.254/", "remote=" + encodeURIComponent("http://169.254.169.254/latest/meta-data"), "remote"),
      denyBuild("remote=a git repository", "remote=" + encodeURIComponent("git@github.com:example/x.git"), "remote"),
      denyBuild("remote=a bare host", "remote=" + encodeURIComponent("10.0.0.1/ctx.tar"), "remote"),
      // BuildKit without remote=client-session builds from the body's context and Dockerfile
      // (measured: the daemon does), which the session's Dockerfile check never reads.
      denyBuild("a BuildKit build with remote empty (the body is its context)", "version=2&session=dgt-no-session&remote=", "remote"),
      denyBuild("a BuildKit build with no remote (the body is its context)", "version=2&session=dgt-no-session", "remote"),
    ],
    allow: [buildAllow("a build from the uploaded context (remote empty)", "remote=")],
  },

  "build.context": {
    deny: [
      {
        ...denyBuild("a classic build whose Dockerfile is a symbolic link (which file the daemon reads is not the one dockgate would check)", "", "body", {
          body: Buffer.concat([tarEntry("real", `FROM ${image}\n`), tarEntry("Dockerfile", "", "2", "real"), TAR_END]),
        }),
        via: "fixture",
      },
    ],
    allow: [{ ...buildAllow("a classic build whose context tar holds the Dockerfile as a file, FROM an allowed image", "nocache=1"), via: "fixture" }],
  },

  "build.security-opt": {
    deny: [denyBuild("securityopt", "securityopt=" + encodeURIComponent(json(["seccomp=unconfined"])), "securityopt")],
    allow: [buildAllow("no securityopt", "nocache=1")],
  },

  "build.outputs": {
    deny: [
      denyBuild("outputs type oci", "outputs=" + encodeURIComponent(json([{ Type: "oci", Attrs: { dest: "/tmp/x" } }])), "outputs"),
      denyBuild("outputs type registry", "outputs=" + encodeURIComponent(json([{ Type: "registry", Attrs: { name: "example.com/x" } }])), "outputs"),
      denyBuild("outputs not JSON", "outputs=local", "outputs"),
    ],
    allow: [buildAllow("outputs empty", "outputs=")],
  },

  "images.fetch-url": {
    deny: [
      denyImageCreate("fromSrc=http://169.254.169.254/", "fromSrc=" + encodeURIComponent("http://169.254.169.254/latest/meta-data"), "fromSrc"),
      denyImageCreate("fromSrc=a bare host", "fromSrc=" + encodeURIComponent("10.0.0.1:8080/rootfs.tar"), "fromSrc"),
      denyImageCreate("fromSrc=file:///etc/shadow", "fromSrc=" + encodeURIComponent("file:///etc/shadow"), "fromSrc"),
    ],
    allow: [
      {
        label: "fromSrc=- (upload) imports the tar",
        async run(p) {
          const repo = unique("img");
          try {
            const r = await api(p.socket, `/v1.41/images/create?fromSrc=-&repo=${repo}&tag=t&changes=${encodeURIComponent('CMD ["cat", "/hello.txt"]')}`, {
              body: importTar,
              headers: { "Content-Type": "application/x-tar" },
            });
            expect(r.status, r.text).toBe(200);
            expect(r.text).not.toContain('"error"');
            const i = await onDaemon(`/images/${repo}:t/json`);
            expect(i.status).toBe(200);
            expect(i.json.Config.Cmd).toEqual(["cat", "/hello.txt"]);
          } finally {
            await onDaemon(`/images/${repo}:t?force=1`, { method: "DELETE" });
          }
        },
      },
    ],
  },

  "images.local-registry": {
    deny: [
      denyImageCreate("pull from 127.0.0.1:1", `fromImage=${encodeURIComponent("127.0.0.1:1/dgt-x")}`, "fromImage"),
      denyImageCreate("pull from localhost", `fromImage=${encodeURIComponent("localhost:1/dgt-x")}&tag=latest`, "fromImage"),
      denyImageCreate("pull from the metadata address, with the tag separate", `fromImage=${encodeURIComponent("169.254.169.254/x")}&tag=1`, "fromImage"),
      {
        label: "login to localhost:1",
        field: "serveraddress",
        send: (p) => api(p.socket, "/v1.41/auth", { body: { username: "u", password: "p", serveraddress: "localhost:1" } }),
        state: async () => null,
      },
    ],
    allow: [
      {
        label: "a pull from a loopback registry with localRegistries: true reaches the daemon, which tries it",
        via: "fixture",
        async run(p) {
          const r = await api(p.socket, `/v1.41/images/create?fromImage=${encodeURIComponent("127.0.0.1:1/dgt-x")}&tag=latest`, { method: "POST" });
          expect(r.text).not.toContain("dockgate:");
          expect(r.text).toContain("127.0.0.1:1");
        },
      },
    ],
  },

  "images.reference": {
    deny: [
      { ...denyImageCreate("pull of an image images.allow does not list", `fromImage=${encodeURIComponent("quay.io/acme/x")}&tag=1`, "fromImage"), via: "fixture" },
      { ...denyImageCreate("pull of a Docker Hub image outside library/", `fromImage=${encodeURIComponent("acme/x")}`, "fromImage"), via: "fixture" },
      {
        ...denyBuild("a classic build FROM an image images.allow does not list", "", "Dockerfile:1 FROM", { body: Buffer.concat([tarEntry("Dockerfile", "FROM quay.io/acme/x:1\n"), TAR_END]) }),
        via: "fixture",
      },
    ],
    allow: [
      {
        label: "a pull from a listed registry reaches the daemon, which tries it",
        via: "fixture",
        async run(p) {
          const r = await api(p.socket, `/v1.41/images/create?fromImage=${encodeURIComponent("127.0.0.1:1/acme/x")}&tag=2`, { method: "POST" });
          expect(r.text).not.toContain("dockgate:");
          expect(r.text).toContain("127.0.0.1:1");
        },
      },
    ],
  },

  "images.load-archive": {
    deny: [
      {
        label: "a docker load whose manifest.json is a symbolic link (which file the daemon reads is not the one dockgate would check)",
        via: "fixture",
        field: "body",
        send: async (p) => {
          const save = (await onDaemon(`/images/${encodeURIComponent(image)}/get`)).raw;
          const manifest = Buffer.from(JSON.stringify([{ ...JSON.parse(tarFile(save, "manifest.json"))[0], RepoTags: [LOADED_TAG] }]));
          const body = Buffer.concat([tarEntry("m.json", manifest), tarWithout(save, ["manifest.json"]), tarEntry("manifest.json", "", "2", "m.json"), TAR_END]);
          return api(p.socket, "/v1.41/images/load", { method: "POST", body, headers: { "Content-Type": "application/x-tar" } });
        },
        state: () => onDaemon(`/images/${LOADED_TAG}/json`).then((r) => r.status),
      },
    ],
    allow: [
      {
        label: "a docker load of an archive read as the daemon reads it, with an allowed tag, creates the tag",
        via: "fixture",
        async run(p) {
          const save = (await onDaemon(`/images/${encodeURIComponent(image)}/get`)).raw;
          const manifest = Buffer.from(JSON.stringify([{ ...JSON.parse(tarFile(save, "manifest.json"))[0], RepoTags: [LOADED_TAG] }]));
          const body = Buffer.concat([tarWithout(save, ["manifest.json"]), tarEntry("manifest.json", manifest), TAR_END]);
          const r = await api(p.socket, "/v1.41/images/load?quiet=1", { method: "POST", body, headers: { "Content-Type": "application/x-tar" } });
          expect(r.status, r.text).toBe(200);
          expect(r.text).toContain(LOADED_TAG);
          expect((await onDaemon(`/images/${LOADED_TAG}/json`)).status).toBe(200);
          expect((await onDaemon(`/images/${LOADED_TAG}`, { method: "DELETE" })).status).toBe(200);
        },
      },
    ],
  },

  "archives.compressed": {
    deny: [
      {
        label: "a gzip-compressed tar into a container",
        field: "body",
        send: (p) => api(p.socket, `/v1.41/containers/${COMMIT_TARGET}/archive?path=/tmp`, { method: "PUT", body: gzipSync(importTar), headers: { "Content-Type": "application/x-tar" } }),
        state: () => onDaemon(`/containers/${COMMIT_TARGET}/archive?path=/tmp/hello.txt`, { method: "HEAD" }).then((r) => r.status),
      },
    ],
    allow: [
      {
        label: "a plain tar into a container is extracted",
        async run(p) {
          const r = await api(p.socket, `/v1.41/containers/${COMMIT_TARGET}/archive?path=/`, { method: "PUT", body: importTar, headers: { "Content-Type": "application/x-tar" } });
          expect(r.status, r.text).toBe(200);
          expect((await onDaemon(`/containers/${COMMIT_TARGET}/archive?path=/hello.txt`, { method: "HEAD" })).status).toBe(200);
        },
      },
    ],
  },

  "networks.driver": {
    deny: [
      denyNetwork("Driver macvlan", { Driver: "macvlan", Options: { parent: "eth0" } }, "Driver"),
      denyNetwork("Driver ipvlan", { Driver: "ipvlan" }, "Driver"),
      denyNetwork("Driver host", { Driver: "host" }, "Driver"),
      denyNetwork("IPAM driver", { IPAM: { Driver: "evil-ipam" } }, "IPAM.Driver"),
    ],
    allow: [
      allowNetwork("Driver bridge", { Driver: "bridge" }, (n) => expect(n.Driver).toBe("bridge")),
      allowNetwork("the default driver, default IPAM", { IPAM: { Driver: "default" } }),
    ],
  },

  "networks.options": {
    deny: [
      denyNetwork("bridge.name of a host bridge", { Driver: "bridge", Options: { "com.docker.network.bridge.name": "docker0" } }, 'Options["com.docker.network.bridge.name"]'),
      denyNetwork("bridge.host_binding_ipv4 next to an unknown option", { Options: { "com.docker.network.driver.mtu": "1400", "com.docker.network.bridge.default_bridge": "true" } }, 'Options["com.docker.network.bridge.default_bridge"]'),
    ],
    allow: [allowNetwork("an allowed option (mtu)", { Options: { "com.docker.network.driver.mtu": "1400" } }, (n) => expect(n.Options["com.docker.network.driver.mtu"]).toBe("1400"))],
  },

  "plugins.manage": {
    deny: [
      denyPlugin("PluginPull", "POST", `/v1.41/plugins/pull?remote=vieux/sshfs:latest&name=${RUN}-plugin`, "[]"),
      denyPlugin("PluginCreate", "POST", `/v1.41/plugins/create?name=${RUN}-plugin`, Buffer.alloc(1024)),
      denyPlugin("PluginSet", "POST", `/v1.41/plugins/${RUN}-plugin/set`, json(["DEBUG=1"])),
      denyPlugin("PluginEnable", "POST", `/v1.41/plugins/${RUN}-plugin/enable?timeout=0`),
      denyPlugin("PluginUpgrade", "POST", `/v1.41/plugins/${RUN}-plugin/upgrade?remote=vieux/sshfs:next`, "[]"),
    ],
    allow: [
      {
        label: "PluginList (plugins:read)",
        via: "fixture",
        async run(p) {
          const r = await api(p.socket, "/v1.41/plugins");
          expect(r.status, r.text).toBe(200);
          expect(r.json).toEqual([]);
        },
      },
    ],
  },

  "services.plugin": {
    deny: [
      denyService("a plugin task (Runtime plugin, PluginSpec)", { Runtime: "plugin", PluginSpec: { Name: "x", Remote: "vieux/sshfs:latest" } }, "TaskTemplate.PluginSpec"),
      denyService("Runtime plugin alone", { Runtime: "plugin" }, "TaskTemplate.Runtime"),
      denyService("a NetworkAttachmentSpec task", { NetworkAttachmentSpec: { ContainerID: "x" } }, "TaskTemplate.NetworkAttachmentSpec"),
    ],
    allow: [
      {
        label: "a container service passes dockgate (the daemon answers: not a swarm manager)",
        via: "fixture",
        async run(p) {
          const r = await api(p.socket, "/v1.41/services/create", { body: { Name: unique("svc"), TaskTemplate: { ContainerSpec: { Image: image, Command: ["true"] }, Runtime: "container" } } });
          expect(r.status, r.text).toBe(503);
          expect(r.json.message).not.toMatch(/dockgate/);
          expect(r.json.message).toMatch(/swarm/);
        },
      },
    ],
  },
};

/** A BuildKit build by the docker CLI 20.10 (DOCKER_BUILDKIT=1) through the proxy: the image exists after. */
function buildkitAllow(label: string, args: string[]): AllowCase {
  return {
    label: `ImageBuild (BuildKit) ${label}`,
    async run(p) {
      const tag = unique("bk");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-bk-"));
      fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${image} AS only\nRUN echo built > /built\n`);
      try {
        const env = { ...process.env, DOCKER_HOST: `unix://${p.socket}`, DOCKER_BUILDKIT: "1", PATH: `/usr/bin:${process.env.PATH ?? ""}` };
        delete env.DOCKER_CONTEXT;
        // Asynchronously: the proxy runs in this process.
        const out = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
          const c = spawn("/usr/bin/docker", ["build", ...args, "-t", tag, dir], { env, stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
          let stderr = "";
          c.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
          c.on("error", reject);
          c.on("close", (code) => resolve({ code, stderr }));
        });
        expect(out.code, out.stderr).toBe(0);
        expect(await exists("images", tag)).toBe(true);
      } finally {
        await onDaemon(`/images/${tag}?force=1`, { method: "DELETE" });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function buildAllow(label: string, query: string): AllowCase {
  return {
    label: `ImageBuild ${label}`,
    async run(p) {
      const tag = unique("build");
      try {
        const r = await api(p.socket, `/v1.41/build?t=${tag}&${query}`, { body: buildContext, headers: { "Content-Type": "application/x-tar" } });
        expect(r.status, r.text).toBe(200);
        expect(r.text).toContain("Successfully tagged");
        expect(r.text).not.toContain('"error"');
        expect(await exists("images", tag)).toBe(true);
      } finally {
        await onDaemon(`/images/${tag}?force=1`, { method: "DELETE" });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Setup

beforeAll(async () => {
  fs.mkdirSync(RO_DIR, { recursive: true });
  fs.mkdirSync(RW_DIR, { recursive: true });
  fs.chmodSync(RW_DIR, 0o777);
  fs.writeFileSync(path.join(RO_DIR, "hello.txt"), "hello from the host\n");

  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-ctx-"));
  fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nLABEL dgt.run=${RUN}\nRUN echo built > /built.txt\n`);
  buildContext = execFileSync("tar", ["-C", ctx, "-cf", "-", "."]);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-rootfs-"));
  fs.writeFileSync(path.join(root, "hello.txt"), "imported\n");
  importTar = execFileSync("tar", ["--owner=0", "--group=0", "-C", root, "-cf", "-", "."]);
  fs.rmSync(ctx, { recursive: true });
  fs.rmSync(root, { recursive: true });

  ci = await startProxyWithConfig(CI_CONFIG, daemon);
  fixture = await startProxyWithConfig(FIXTURE_CONFIG, daemon);

  expect((await onDaemon("/networks/create", { body: { Name: NETWORK, Labels: LABELS } })).status).toBe(201);
  expect((await onDaemon("/volumes/create", { body: { Name: VOLUME, Labels: LABELS } })).status).toBe(201);
  for (const [name, cmd] of [[RUNNING, ["sleep", "600"]], [UPDATE_TARGET, ["sleep", "600"]], [COMMIT_TARGET, ["true"]]] as const) {
    const r = await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: cmd, Labels: LABELS } });
    expect(r.status, r.text).toBe(201);
  }
  expect((await onDaemon(`/containers/${RUNNING}/start`, { method: "POST" })).status).toBe(204);
});

afterAll(async () => {
  await ci?.stop();
  await fixture?.stop();
  const filters = encodeURIComponent(json({ label: [`dgt.run=${RUN}`] }));
  const cs = await onDaemon(`/containers/json?all=1&filters=${filters}`);
  for (const c of (cs.json ?? []) as Array<{ Id: string }>) await onDaemon(`/containers/${c.Id}?force=1&v=1`, { method: "DELETE" });
  const imgs = await onDaemon(`/images/json?filters=${encodeURIComponent(json({ reference: [`${RUN}-*`] }))}`);
  for (const i of (imgs.json ?? []) as Array<{ Id: string }>) await onDaemon(`/images/${i.Id}?force=1`, { method: "DELETE" });
  const vols = await onDaemon("/volumes");
  for (const v of (vols.json?.Volumes ?? []) as Array<{ Name: string }>) {
    if (v.Name.startsWith(RUN)) await onDaemon(`/volumes/${v.Name}?force=1`, { method: "DELETE" });
  }
  const nets = await onDaemon("/networks");
  for (const n of (nets.json ?? []) as Array<{ Name: string }>) {
    if (n.Name.startsWith(RUN)) await onDaemon(`/networks/${n.Name}`, { method: "DELETE" });
  }
  fs.rmSync(path.join(RW_DIR, `${RUN}.txt`), { force: true });
});

// ---------------------------------------------------------------------------------------------
// Tests

async function expectDenied(c: DenyCase, rule: string): Promise<void> {
  await c.setup?.();
  const proxy = proxyOf(c.via ?? "ci");
  const before = await c.state();
  const seen = proxy.records.length;
  const r = await c.send(proxy);
  expect(r.headers["content-type"]).toBe("application/json");
  const message: string = r.json?.message;
  if (c.core) {
    expect([400, 403], r.text).toContain(r.status);
    expect(message).toMatch(/^dockgate: .*form/);
    expect(await c.state()).toEqual(before);
    return;
  }
  expect(r.status, r.text).toBe(c.status ?? 403);
  expect(message, r.text).toMatch(new RegExp(`^dockgate: \\w+ denied for profile ${c.via ?? "ci"}: .*\\(rule ${rule.replaceAll(".", "\\.")}\\)$`, "s"));
  expect(message).toContain(c.field.replace(/\["[^"]*"\]$/, ""));
  await waitFor(() => proxy.records.length > seen);
  const record = proxy.records.slice(seen).find((x) => x.decision === "deny");
  expect(record?.rule).toBe(rule);
  expect(record?.field).toBe(c.field);
  expect(await c.state()).toEqual(before);
}

describe("every rule id has a denied case and a legitimate neighbour", () => {
  it("the table covers RULES exactly", () => {
    for (const r of RULES) {
      expect(TABLE[r.id], `rule ${r.id} has no test cases`).toBeDefined();
      expect(TABLE[r.id]!.deny.length, `rule ${r.id} has no denied case`).toBeGreaterThan(0);
      expect(TABLE[r.id]!.allow.length, `rule ${r.id} has no legitimate neighbour`).toBeGreaterThan(0);
    }
    expect(Object.keys(TABLE).sort()).toEqual(RULES.map((r) => r.id).sort());
  });
});

for (const [rule, cases] of Object.entries(TABLE)) {
  describe(rule, () => {
    for (const c of cases.deny) {
      it(`denies ${c.label}${c.via === "fixture" ? " [fixture]" : ""}`, () => expectDenied(c, rule));
    }
    for (const c of cases.allow) {
      it(`allows ${c.label}${c.via === "fixture" ? " [fixture]" : ""}`, () => c.run(proxyOf(c.via ?? "ci")));
    }
  });
}

describe("request.form-body refusals", () => {
  // RULES documents request.form-body, and every other refusal ends in "(rule <id>)"; the proxy
  // core refuses form Content-Types while parsing the head, before the inspections run.
  it("name their rule like every other refusal", async () => {
    const r = await api(ci.socket, "/v1.41/build?t=x", { body: "networkmode=host", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(r.status).toBe(403);
    expect(r.json.message).toMatch(/^dockgate: ImageBuild denied for profile ci: .*\(rule request\.form-body\)$/);
  });
});

describe("the host network named by ID", () => {
  /** The network namespace a container started from `body` runs in (readlink /proc/self/ns/net). */
  async function netns(socket: string, hc: Record<string, unknown>): Promise<{ status: number; text: string; ns?: string }> {
    const name = unique("netns");
    try {
      const r = await api(socket, `/v1.41/containers/create?name=${name}`, { body: createBody(hc, "nested", { Cmd: ["readlink", "/proc/self/ns/net"] }, LABELS) });
      if (r.status !== 201) return { status: r.status, text: r.text };
      expect((await onDaemon(`/containers/${name}/start`, { method: "POST" })).status).toBe(204);
      expect((await onDaemon(`/containers/${name}/wait`, { method: "POST" })).json.StatusCode).toBe(0);
      return { status: r.status, text: r.text, ns: (await logs(name)).trim() };
    } finally {
      await removeContainer(name);
    }
  }

  it("NetworkMode = the host network's ID (or an ID prefix) is refused or does not share the host's namespace", async () => {
    const hostNs = (await netns(daemon, { NetworkMode: "host" })).ns;
    expect(hostNs).toMatch(/^net:\[\d+\]$/);
    const id: string = (await onDaemon("/networks/host")).json.Id;
    for (const ref of [id, id.slice(0, 12)]) {
      const r = await netns(ci.socket, { NetworkMode: ref });
      if (r.status === 403) {
        expect(JSON.parse(r.text).message).toMatch(/\(rule containers\.host-namespaces\)$/);
      } else {
        // Not refused: dockerd 20.10 gives such a container a private namespace. Still safe.
        expect(r.status, r.text).toBe(201);
        expect(r.ns).toMatch(/^net:\[\d+\]$/);
        expect(r.ns).not.toBe(hostNs);
      }
    }
  });
});

describe("gate rules", () => {
  it("legacy ContainerStart with a HostConfig body at /v1.23/ is denied by the minimum API version", async () => {
    const name = unique("legacy");
    expect((await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["sleep", "60"], Labels: LABELS } })).status).toBe(201);
    const before = await containerState(name);
    const r = await api(ci.socket, `/v1.23/containers/${name}/start`, {
      body: { Privileged: true, Binds: ["/:/host"], CapAdd: ["ALL"], PidMode: "host" },
    });
    expect(r.status, r.text).toBe(403);
    expect(r.json.message).toBe(`dockgate: ContainerStart denied for profile ci: API version 1.23 is below the profile's minimum 1.24 (rule api.min-version)`);
    expect(await containerState(name)).toEqual(before);
    const c = await inspectContainer(name);
    expect(c.HostConfig.Privileged).toBe(false);
    expect(c.State.Status).toBe("created");
  });

  it("ContainerStart with a HostConfig body at /v1.24/ and without a version is refused by the daemon (dockgate relies on it)", async () => {
    const name = unique("legacy");
    expect((await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["sleep", "60"], Labels: LABELS } })).status).toBe(201);
    for (const prefix of ["/v1.24", ""]) {
      const r = await api(ci.socket, `${prefix}/containers/${name}/start`, { body: { Privileged: true, Binds: ["/:/host"] } });
      expect(r.status, r.text).toBe(400);
      expect(r.json.message).not.toMatch(/^dockgate/);
    }
    const c = await inspectContainer(name);
    expect(c.HostConfig.Privileged).toBe(false);
    expect(c.HostConfig.Binds).toBeNull();
    expect(c.State.Status).toBe("created");
  });

  it("/v1.24/ is the oldest version accepted (a plain start works)", async () => {
    const name = unique("legacy");
    expect((await onDaemon(`/containers/create?name=${name}`, { body: { Image: image, Cmd: ["sleep", "60"], Labels: LABELS } })).status).toBe(201);
    const r = await api(ci.socket, `/v1.24/containers/${name}/start`, { method: "POST" });
    expect(r.status, r.text).toBe(204);
  });

  const notGranted: Array<[string, string, string, Send]> = [
    ["PluginPull", "POST", "/v1.41/plugins/pull?remote=vieux/sshfs:latest", { body: "[]" }],
    ["PluginCreate", "POST", `/v1.41/plugins/create?name=${RUN}-p`, { body: Buffer.alloc(512) }],
    ["PluginSet", "POST", `/v1.41/plugins/${RUN}-p/set`, { body: "[]" }],
    ["PluginEnable", "POST", `/v1.41/plugins/${RUN}-p/enable`, {}],
    ["SwarmInit", "POST", "/v1.41/swarm/init", { body: { ListenAddr: "127.0.0.1:2377" } }],
    ["ServiceCreate", "POST", "/v1.41/services/create", { body: { Name: "x", TaskTemplate: { ContainerSpec: { Image: image } } } }],
    ["SecretCreate", "POST", "/v1.41/secrets/create", { body: { Name: "x", Data: "eA==" } }],
    ["ImagePush", "POST", "/v1.41/images/x/push", {}],
  ];
  for (const [op, method, target, send] of notGranted) {
    it(`the ci profile does not grant ${op} (rule endpoint.allow)`, async () => {
      const plugins = await pluginState();
      const swarm = await onDaemon("/swarm");
      const r = await api(ci.socket, target, { method, ...send });
      expect(r.status, r.text).toBe(403);
      expect(r.json.message).toBe(`dockgate: ${op} denied for profile ci: operation is not allowed (rule endpoint.allow)`);
      expect(await pluginState()).toEqual(plugins);
      expect((await onDaemon("/swarm")).status).toBe(swarm.status);
    });
  }

  it("no denied container create left anything behind", async () => {
    const filters = encodeURIComponent(json({ label: ["dgt.deny=1", `dgt.run=${RUN}`] }));
    const r = await onDaemon(`/containers/json?all=1&filters=${filters}`);
    expect(r.json).toEqual([]);
    const v = await onDaemon(`/volumes?filters=${filters}`);
    expect(v.json.Volumes ?? []).toEqual([]);
    const n = await onDaemon(`/networks?filters=${filters}`);
    expect(n.json).toEqual([]);
  });
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
