// dockgate under slow, stubborn or unlucky clients, against the real daemon: request heads that
// drip in (408 after limits.headerTimeoutSeconds; idle keep-alive is not timed), refusals of
// requests still being sent (the client gets the reply, not a reset), HEAD replies without a body.

import net from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { allowAll, startProxyWithGate, type TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");

/** A raw client connection that keeps everything it receives. */
class RawClient {
  readonly socket: net.Socket;
  received = "";
  ended = false;
  closed = false;
  error: string | undefined;

  constructor(path: string) {
    this.socket = net.createConnection({ path, allowHalfOpen: true });
    this.socket.on("data", (c: Buffer) => (this.received += c.toString("latin1")));
    this.socket.on("end", () => (this.ended = true));
    this.socket.on("close", () => (this.closed = true));
    this.socket.on("error", (err: NodeJS.ErrnoException) => (this.error ??= err.code ?? err.message));
  }

  /** Waits until `cond` holds, or fails after `ms` saying what was received. */
  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`${what} not seen within ${ms} ms; received ${JSON.stringify(this.received.slice(0, 300))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const PING = "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n";

describe("request head timeout", () => {
  let proxy: TestProxy;
  const TIMEOUT = 2;
  beforeAll(async () => {
    proxy = await startProxyWithGate(daemon, allowAll, 65536, TIMEOUT);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("ten clients dripping a head one byte per second each get a 408 JSON reply and are closed before their head is complete", async () => {
    const clients = Array.from({ length: 10 }, () => new RawClient(proxy.socket));
    const sent = clients.map(() => 0);
    const drip = setInterval(() => {
      clients.forEach((c, i) => {
        if (c.closed || c.ended || sent[i]! >= PING.length) return;
        c.socket.write(PING[sent[i]!]!);
        sent[i]!++;
      });
    }, 1000);
    try {
      // Every client is answered well before it could have finished: 32 bytes at 1 byte/s.
      for (const c of clients) await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    } finally {
      clearInterval(drip);
    }
    for (const [i, c] of clients.entries()) {
      expect(c.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(c.received).toContain("Content-Type: application/json\r\n");
      expect(JSON.parse(c.received.slice(c.received.indexOf("\r\n\r\n") + 4)).message).toContain(`request head not received within ${TIMEOUT} s`);
      expect(sent[i]).toBeLessThan(PING.length);
      c.socket.destroy();
    }
    expect(proxy.records.filter((r) => r.rule === "http.timeout" && r.status === 408)).toHaveLength(10);
  });

  it("a client that connects and sends nothing gets the 408 too (the first head is timed from the accept)", async () => {
    const c = new RawClient(proxy.socket);
    await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    expect(c.received).toMatch(/^HTTP\/1\.1 408 /);
    c.socket.destroy();
  });

  it("a later request on a keep-alive connection that drips its head gets the 408 after its first answer", async () => {
    const c = new RawClient(proxy.socket);
    c.socket.write(PING);
    await c.until(() => c.received.endsWith("OK"), 10_000, "the first ping's answer");
    let sent = 0;
    const drip = setInterval(() => {
      if (!c.ended && sent < PING.length) c.socket.write(PING[sent++]!);
    }, 1000);
    try {
      await c.until(() => c.ended || c.closed, 20_000, "408 and close");
    } finally {
      clearInterval(drip);
    }
    expect(c.received.slice(c.received.indexOf("\r\n\r\nOK") + 6)).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(PING.length);
    c.socket.destroy();
  });

  it("an idle keep-alive connection between requests is not timed: it is still served after a header timeout elapsed elsewhere", async () => {
    const idle = new RawClient(proxy.socket);
    idle.socket.write(PING);
    await idle.until(() => idle.received.endsWith("OK"), 10_000, "the first ping's answer");
    // A connection opened now that sends nothing gets its 408 only once the timeout has passed:
    // by then the idle one has been idle for longer than the timeout.
    const witness = new RawClient(proxy.socket);
    await witness.until(() => witness.ended, 20_000, "the witness's 408");
    witness.socket.destroy();
    expect(idle.ended).toBe(false);
    idle.socket.write(PING);
    await idle.until(() => idle.received.split("HTTP/1.1 200 OK").length === 3, 10_000, "the second ping's answer");
    idle.socket.destroy();
  });
});
