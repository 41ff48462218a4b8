// The daemon client's event subscription (src/policy/daemon.ts) never fails silently: against a
// fake daemon whose /events stream carries a line that is not JSON and then ends, the line is
// logged (error) and skipped, the next event still arrives, and the lost stream is logged (warn)
// before the client reconnects.

import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonClient, type DaemonEvent } from "../../src/policy/daemon.js";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("the daemon event subscription", () => {
  it("logs a line that is not JSON and a lost stream, and keeps delivering", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dockgate-events-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, "daemon.sock");
    let subscriptions = 0;
    const server = http.createServer((req, res) => {
      if (!req.url?.startsWith("/events")) return res.writeHead(404).end();
      subscriptions++;
      res.writeHead(200, { "content-type": "application/json" });
      // The first stream: garbage, one event, then the daemon ends it; later ones stay open.
      if (subscriptions === 1) res.end('not json {"Type":\n{"Type":"container","Action":"die","Actor":{"ID":"abc"}}\n');
      else res.write("");
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });

    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info", base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const client = new DaemonClient(socketPath, logger);
    cleanups.push(() => client.close());
    const events: DaemonEvent[] = [];
    client.subscribe({ type: ["container"] }, (e) => events.push(e));

    await until("the event after the bad line", () => events.length === 1);
    expect(events[0]).toMatchObject({ Action: "die", Actor: { ID: "abc" } });
    await until("the reconnect", () => subscriptions >= 2);
    const bad = lines.find((l) => l["msg"] === "daemon event is not JSON: skipped");
    expect(bad).toMatchObject({ level: 50, upstream: socketPath });
    expect(bad).not.toHaveProperty("line"); // the text itself is not logged
    const lost = lines.find((l) => String(l["msg"]).startsWith("daemon event subscription lost"));
    expect(lost).toMatchObject({ level: 40, upstream: socketPath, err: "events: the daemon ended the stream" });
  });
});
