// The Host header as Go's net/http reads it, against what dockgate does with the same bytes. The
// daemon's server refuses (400, plain text) a request whose Host value has a byte outside
// httpguts.ValidHostHeader's set, an HTTP/1.1 request without Host, and a request with more than
// one Host field; it accepts an empty Host. dockgate must refuse exactly those (in its own JSON
// 400, before anything reaches the daemon) and accept the rest. Each request is sent twice: to
// the daemon directly and through dockgate.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { allowAll, startProxyWithGate, type TestProxy } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";

const daemon = inject("dockerSocket");
let proxy: TestProxy;

beforeAll(async () => {
  proxy = await startProxyWithGate(daemon, allowAll);
});
afterAll(async () => {
  await proxy?.stop();
});

/** A GET /_ping with these header lines after the request line. */
const ping = (lines: string[], version = "1.1", target = "/_ping") => Buffer.from(`GET ${target} HTTP/${version}\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`, "latin1");

async function both(request: Buffer): Promise<{ direct: number; proxied: number; proxiedBody: string }> {
  const [d] = await rawExchange(daemon, request, 1);
  const [p] = await rawExchange(proxy.socket, request, 1);
  return { direct: d?.status ?? 0, proxied: p?.status ?? 0, proxiedBody: p?.body ?? "" };
}

// Every printable ASCII byte, and a few others, as the whole Host value and inside one.
const BYTES: number[] = [0x09, 0x20, 0x80, 0xe9, 0xff];
for (let c = 0x21; c <= 0x7e; c++) BYTES.push(c);

const CASES: Array<[string, string[], string?]> = [
  ["empty Host", ["Host:"]],
  ["IPv6 literal with port", ["Host: [::1]:2375"]],
  ["percent, sub-delims", ["Host: a%41!$&'()*+,;=b"]],
  ["leading and trailing whitespace", ["Host: \t docker \t"]],
  ["no Host (HTTP/1.1)", []],
  ["no Host (HTTP/1.0)", [], "1.0"],
  ["two Host fields", ["Host: a", "Host: a"]],
  ["two Host fields, second empty", ["Host: a", "Host:"]],
  ["Host and host", ["Host: a", "host: b"]],
  ["Host in a list", ["Host: a, b"]],
  ["userinfo", ["Host: user@docker"]],
  ["path in Host", ["Host: docker/x"]],
  ["UTF-8 name", ["Host: d\xc3\xb6cker"]],
];

describe("Host header: dockgate refuses what the daemon refuses, accepts what it accepts", () => {
  it.each(BYTES.map((b) => [b.toString(16).padStart(2, "0"), b] as const))("byte 0x%s inside a Host value", async (_hex, b) => {
    const ch = String.fromCharCode(b);
    const r = await both(ping([`Host: a${ch}b`]));
    expect(r.direct === 400, `direct ${r.direct}`).toBe(r.proxied === 400);
    expect([200, 400]).toContain(r.direct);
    if (r.proxied === 400) expect(JSON.parse(r.proxiedBody)).toEqual({ message: expect.stringContaining("Host") });
  });

  // The absolute form's authority is the request's host too (Go's url.ParseRequestURI reads it).
  it.each([
    "http://docker/_ping", "http://docker:2375/_ping", "http://[::1]:2375/_ping", "http://user@docker/_ping",
    "http:///_ping", "http://a%41/_ping", "http://a%zz/_ping", "http://a^b/_ping", "http://a|b/_ping",
    "http://a{b}/_ping", "http://a:b/_ping", "http://a:2375:1/_ping", "http://[::1/_ping", "http://a\"b/_ping",
    "http://a%25b/_ping", "http://a%e9/_ping", "http://a<b>/_ping", "http://u%zz@docker/_ping", "http://u{@docker/_ping",
    "http://u:p@docker/_ping", "http://:2375/_ping", "http://docker:/_ping", "http://[::1]x/_ping", "http://a@b@docker/_ping",
  ])("absolute-form target %s", async (target) => {
    const r = await both(ping(["Host: docker"], "1.1", target));
    expect(r.direct === 400, `direct ${r.direct}`).toBe(r.proxied === 400);
  });

  it.each(CASES)("%s", async (_name, lines, version) => {
    const r = await both(ping(lines, version));
    expect(r.direct === 400, `direct ${r.direct}`).toBe(r.proxied === 400);
    expect([200, 400]).toContain(r.direct);
    if (r.proxied === 400) expect(JSON.parse(r.proxiedBody)).toHaveProperty("message");
  });
});
