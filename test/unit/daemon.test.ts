// The daemon client's lookups against a scripted daemon on a unix socket: answers framed by
// Content-Length, chunked or the close are read whole; a kept-alive connection is reused; one
// the daemon closed while idle is replaced for a GET and never for a POST; a daemon that does not
// answer in time, is not there, or answers malformed framing is a DaemonError, never a reply.

import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonClient, DaemonError } from "../../src/policy/daemon.js";

interface Daemon {
  sock: string;
  /** Connections accepted so far. */
  connections: number;
  /** Request heads received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A daemon that answers each request head with `answer(head, index)`: the bytes to write, or
 * `null` to say nothing, or "close" to end the connection without answering.
 */
async function fakeDaemon(answer: (head: string, n: number, socket: net.Socket) => string | null | "close"): Promise<Daemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-daemon-"));
  const sock = path.join(dir, "docker.sock");
  const sockets = new Set<net.Socket>();
  const d: Daemon = {
    sock,
    connections: 0,
    requests: [],
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server = net.createServer((s) => {
    d.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    let pending = "";
    s.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const head = pending.slice(0, end + 4);
        const len = /\r\ncontent-length: *(\d+)/i.exec(head);
        const bodyLen = len ? Number(len[1]) : 0;
        if (pending.length < end + 4 + bodyLen) return;
        pending = pending.slice(end + 4 + bodyLen);
        d.requests.push(head);
        const a = answer(head, d.requests.length - 1, s);
        if (a === "close") s.destroy();
        else if (a !== null) s.write(a);
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return d;
}

const json = (status: number, body: unknown, extra = "") => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

async function setup(answer: Parameters<typeof fakeDaemon>[0]): Promise<{ d: Daemon; c: DaemonClient }> {
  const d = await fakeDaemon(answer);
  const c = new DaemonClient(d.sock);
  cleanup.push(() => c.close(), () => d.close());
  return { d, c };
}

describe("DaemonClient lookups", () => {
  it("reads Content-Length answers and reuses one kept-alive connection", async () => {
    const { d, c } = await setup((head, n) => json(200, { Id: `sha256:${n}`, path: head.split(" ")[1] }));
    for (let i = 0; i < 3; i++) {
      const r = await c.getJson<{ Id: string; path: string }>(`/images/x${i}/json`);
      expect(r).toEqual({ status: 200, json: { Id: `sha256:${i}`, path: `/images/x${i}/json` }, message: undefined });
    }
    expect(d.connections).toBe(1);
    expect(d.requests[0]).toMatch(/^GET \/images\/x0\/json HTTP\/1\.1\r\nHost: docker\r\n\r\n$/);
  });

  it("reads chunked answers split anywhere, and 4xx messages in the daemon's words", async () => {
    const { c } = await setup((_h, n, s) => {
      if (n === 1) return json(404, { message: "No such image: nope:latest" });
      const body = JSON.stringify({ Config: { WorkingDir: "/w" }, pad: "y".repeat(5000) });
      const framed = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(3000).toString(16)}\r\n${body.slice(0, 3000)}\r\n${(body.length - 3000).toString(16)}\r\n${body.slice(3000)}\r\n0\r\n\r\n`;
      // One byte at a time for the head, the rest in two writes.
      for (const ch of framed.slice(0, 40)) s.write(ch);
      s.write(framed.slice(40, 3100));
      return framed.slice(3100);
    });
    const r = await c.getJson<{ Config: { WorkingDir: string } }>("/images/a/json");
    expect(r.json?.Config.WorkingDir).toBe("/w");
    expect(await c.getJson("/images/nope/json")).toEqual({ status: 404, json: undefined, message: "No such image: nope:latest" });
  });

  it("reads an unframed answer up to the close, and does not reuse that connection", async () => {
    const { d, c } = await setup((_h, _n, s) => {
      s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":1}`);
      return null;
    });
    expect((await c.getJson("/x")).json).toEqual({ a: 1 });
    expect((await c.getJson("/x")).json).toEqual({ a: 1 });
    expect(d.connections).toBe(2);
  });

  it("refuses a path that could end the request line or add a header, without sending anything", async () => {
    const { d, c } = await setup(() => json(200, {}));
    for (const p of ["/x HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /y", "/a b", "relative", "/\u00e9"]) {
      await expect(c.getJson(p)).rejects.toThrow(/not a request path for the daemon/);
    }
    expect(d.requests).toHaveLength(0);
  });

  it("sends POST bodies as JSON with their length", async () => {
    const { d, c } = await setup(() => json(201, { Name: "v" }));
    const r = await c.postJson<{ Name: string }>("/volumes/create", { Name: "vé" });
    expect(r.json).toEqual({ Name: "v" });
    expect(d.requests[0]).toMatch(/^POST \/volumes\/create HTTP\/1\.1\r\nHost: docker\r\nContent-Type: application\/json\r\nContent-Length: 14\r\n\r\n$/);
  });

  it("replaces a kept-alive connection the daemon closed for a GET, and fails a POST on it", async () => {
    let drop = false;
    const { d, c } = await setup(() => {
      if (!drop) return json(200, {});
      drop = false;
      return "close";
    });
    await c.getJson("/a");
    drop = true;
    expect((await c.getJson("/b")).status).toBe(200);
    expect(d.connections).toBe(2);
    drop = true;
    await expect(c.postJson("/volumes/create", {})).rejects.toThrow(DaemonError);
    expect(d.requests.filter((h) => h.startsWith("POST"))).toHaveLength(1);
  });

  it("a daemon that does not answer in time is a DaemonError, and the next lookup still works", async () => {
    const { c } = await setup((h) => (h.startsWith("GET /slow") ? null : json(200, { ok: true })));
    await expect(c.request("GET", "/slow", undefined, 200)).rejects.toThrow(/cannot reach the Docker daemon at .*: no answer within 0\.2 s$/);
    expect((await c.getJson("/fast")).json).toEqual({ ok: true });
  });

  it("no daemon at the socket, malformed framing, or an answer cut short is a DaemonError", async () => {
    const missing = new DaemonClient(path.join(os.tmpdir(), `dg-none-${process.pid}.sock`));
    cleanup.push(() => missing.close());
    await expect(missing.getJson("/x")).rejects.toThrow(/cannot reach the Docker daemon at .*: ENOENT$/);

    const { d, c } = await setup((h, _n, s) => {
      if (h.startsWith("GET /short")) {
        // The daemon goes away with 2 of 10 bytes sent: not asked again (it did answer).
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}");
        setTimeout(() => s.destroy(), 20);
        return null;
      }
      if (h.startsWith("GET /bad-chunk")) return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
      if (h.startsWith("GET /bad-status")) return "HTTP/9 200 OK\r\n\r\n";
      return null;
    });
    await expect(c.getJson("/bad-chunk")).rejects.toThrow(/malformed answer from the daemon: malformed chunk-size line/);
    await expect(c.getJson("/bad-status")).rejects.toThrow(/malformed answer from the daemon/);
    await expect(c.getJson("/short")).rejects.toThrow(/cannot reach the Docker daemon at .*: the daemon closed the connection mid-answer$/);
    expect(d.requests.filter((h) => h.startsWith("GET /short"))).toHaveLength(1);
  });
});
