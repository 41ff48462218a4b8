// A response dockgate cannot deliver is never a silent drop: a fake daemon (a unix socket that
// answers with bytes chosen per test) sends malformed framing, a response filter throws, and
// each time the test reads what the client got (a JSON 502 when nothing was sent yet), the
// error-level log line (with the rule, the reason and the request) and the metric.

import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ExchangeRecord, Session, type SessionHooks } from "../../src/forward/session.js";
import { logExchange } from "../../src/observe/log.js";
import { Metrics } from "../../src/observe/metrics.js";
import type { Client, Verdict } from "../../src/policy/verdict.js";

const CLIENT: Client = { listener: "test", profile: "p", peer: "unix", owner: "test" };
const DEADLINE_MS = 5000;

let dir: string;
let servers: net.Server[];
let sockets: net.Socket[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dockgate-session-"));
  servers = [];
  sockets = [];
});
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

function listen(path: string, onConnection: (socket: net.Socket) => void): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    onConnection(socket);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(path, resolve));
}

/**
 * A proxy in front of a fake daemon that answers the request with `reply` (in pieces, to split
 * it across reads); `verdict` is the gate's answer. Returns what the client read until the
 * connection closed, the log lines, the metrics text and the records.
 */
async function exchange(reply: Buffer[], verdict: Verdict, request = "GET /containers/x/json HTTP/1.1\r\nHost: d\r\n\r\n") {
  const upstreamPath = join(dir, "daemon.sock");
  const proxyPath = join(dir, "proxy.sock");
  // The first part answers the request; each later one is sent once the client has received
  // something more, so the proxy surely reads them apart.
  const parts = [...reply];
  let daemon: net.Socket | undefined;
  const sendNext = () => {
    const part = parts.shift();
    if (part !== undefined) daemon?.write(part);
  };
  await listen(upstreamPath, (socket) => {
    daemon = socket;
    socket.once("data", sendNext);
    socket.on("error", () => {});
  });
  const lines: string[] = [];
  const logger = pino({ level: "info", base: undefined }, { write: (s: string) => void lines.push(s) });
  const metrics = new Metrics();
  const records: ExchangeRecord[] = [];
  const hooks: SessionHooks = {
    gate: { decide: () => verdict },
    upstreamPath,
    limits: { maxHeaderBytes: 65536, headerTimeoutSeconds: 10 },
    onExchange: (r) => {
      records.push(r);
      metrics.observe(r);
      logExchange(logger, r);
    },
    onClosed: () => {},
  };
  await listen(proxyPath, (socket) => void new Session(socket, CLIENT, hooks));
  const answer = await new Promise<string>((resolve, reject) => {
    const c = net.connect(proxyPath);
    let got = "";
    const timer = setTimeout(() => reject(new Error(`no close within ${DEADLINE_MS} ms; got ${JSON.stringify(got)}`)), DEADLINE_MS);
    c.on("data", (b) => {
      got += b.toString("latin1");
      sendNext();
    });
    c.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    c.on("error", () => {});
    c.write(request);
  });
  return { answer, lines: lines.map((l) => JSON.parse(l) as Record<string, unknown>), metrics: metrics.render(), records };
}

const ALLOW: Verdict = { kind: "allow" };

function failedCount(metrics: string, rule: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`dockgate_responses_failed_total{rule="${rule}"}`));
  return Number(line?.split(" ")[1]);
}

function expectBadGateway(answer: string, text: RegExp): void {
  expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  expect(answer).toContain("Content-Type: application/json\r\n");
  const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { message: string };
  expect(body.message).toMatch(text);
}

describe("a response dockgate cannot deliver", () => {
  it("a malformed status line: JSON 502, an error line with rule and request, the metric", async () => {
    const { answer, lines, metrics } = await exchange([Buffer.from("HTTP/9 200 OK\r\nContent-Length: 2\r\n\r\n{}")], ALLOW);
    expectBadGateway(answer, /Docker daemon's response could not be read/);
    const line = lines.find((l) => l["msg"]?.toString().startsWith("response failed"));
    expect(line).toMatchObject({ level: 50, rule: "upstream.malformed", method: "GET", path: "/containers/x/json", status: 502, decision: "error" });
    expect(line?.["reason"]).toMatch(/malformed status line/);
    expect(failedCount(metrics, "upstream.malformed")).toBe(1);
  });

  it("conflicting Content-Length fields, in a head split across reads", async () => {
    const { answer, lines, metrics } = await exchange(
      [Buffer.from("HTTP/1.1 200 OK\r\nContent-Len"), Buffer.from("gth: 2\r\nContent-Length: 3\r\n\r\n{}")],
      ALLOW,
    );
    // The first part of the head was passed on as it came: the connection closes instead.
    expect(answer).not.toContain("502");
    const line = lines.find((l) => l["rule"] === "upstream.malformed");
    expect(line).toMatchObject({ level: 50, path: "/containers/x/json" });
    expect(line?.["reason"]).toMatch(/conflicting Content-Length/);
    expect(failedCount(metrics, "upstream.malformed")).toBe(1);
  });

  it("malformed chunked framing after the head was sent: the connection closes, logged and counted", async () => {
    const { answer, lines, metrics } = await exchange(
      [Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), Buffer.from("zz\r\nnope\r\n")],
      ALLOW,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const line = lines.find((l) => l["rule"] === "upstream.malformed");
    expect(line).toMatchObject({ level: 50, decision: "error", path: "/containers/x/json" });
    expect(line?.["reason"]).toMatch(/chunk-size/);
    expect(failedCount(metrics, "upstream.malformed")).toBe(1);
  });

  it("a response filter that throws: JSON 502, never the unfiltered body; the reason names no body content", async () => {
    const secret = '{"Env":["PASSWORD=hunter2"]';
    const verdict: Verdict = {
      kind: "allow",
      rewrite: { response: { maxBytes: 1 << 20, transform: (b) => Buffer.from(JSON.stringify(JSON.parse(b.toString()))) } },
    };
    const { answer, lines, metrics } = await exchange([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${secret.length}\r\n\r\n${secret}`)], verdict);
    expectBadGateway(answer, /could not be filtered/);
    expect(answer).not.toContain("hunter2");
    const line = lines.find((l) => l["rule"] === "response.filter");
    expect(line).toMatchObject({ level: 50, decision: "error", status: 502, path: "/containers/x/json" });
    expect(line?.["reason"]).toMatch(/^the response filter threw SyntaxError/);
    expect(JSON.stringify(lines)).not.toContain("hunter2");
    expect(failedCount(metrics, "response.filter")).toBe(1);
  });

  it("a body over the filter's limit: JSON 502", async () => {
    const verdict: Verdict = { kind: "allow", rewrite: { response: { maxBytes: 4, transform: (b) => b } } };
    const { answer, lines } = await exchange([Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")], verdict);
    expectBadGateway(answer, /could not be filtered/);
    expect(lines.find((l) => l["rule"] === "response.filter")?.["reason"]).toMatch(/larger than 4 bytes/);
  });

  it("bytes no request asked for: logged without a request, the connection closed", async () => {
    const { answer, lines, metrics } = await exchange(
      [Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")],
      ALLOW,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Length: 2\r\n\r\n\{\}$/);
    const line = lines.find((l) => l["rule"] === "upstream.malformed");
    expect(line).toMatchObject({ level: 50, method: "-", path: "-" });
    expect(line?.["reason"]).toMatch(/no request asked for/);
    expect(failedCount(metrics, "upstream.malformed")).toBe(1);
  });

  it("a body check that throws: the client gets a 500 in order, not a connection left waiting", async () => {
    const verdict: Verdict = {
      kind: "inspect",
      check: {
        maxBytes: 1024,
        inspect: () => {
          throw new TypeError("boom");
        },
      },
    };
    const body = '{"Image":"a"}';
    const { answer, records } = await exchange([], verdict, `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(answer).toContain("(rule inspect.error)");
    expect(records[0]).toMatchObject({ rule: "inspect.error", decision: "error", status: 500 });
  });
});
