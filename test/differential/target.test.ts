// What dockgate reads from a request target against what the daemon does with the same bytes.
// For every target dockgate accepts, the daemon must answer the original target exactly as it
// answers dockgate's canonical re-encoding (so dockgate decided on what the daemon acted on).
// For every target dockgate refuses, the daemon must not act on it as a plain route either
// (it redirects, refuses, or routes somewhere unknown) — refusing costs legitimate clients nothing.

import { describe, expect, inject, it } from "vitest";
import { matchRoute } from "../../src/api/routes.js";
import { parseTarget } from "../../src/http/target.js";
import { rawExchange } from "../harness/raw.js";

const daemon = inject("dockerSocket");

async function direct(target: string): Promise<{ status: number; body: string }> {
  const [reply] = await rawExchange(daemon, `GET ${target} HTTP/1.1\r\nHost: docker\r\n\r\n`, 1);
  if (!reply) throw new Error(`no reply for ${target}`);
  return { status: reply.status, body: reply.body };
}

/** Fields that change between two calls (timestamps, counters) are not part of the comparison. */
function shape(body: string): string {
  try {
    const v = JSON.parse(body);
    return JSON.stringify(Object.keys(Array.isArray(v) ? (v[0] ?? {}) : v).sort());
  } catch {
    return body;
  }
}

const ACCEPTED = [
  "/_ping",
  "/v1.41/_ping",
  "/v1.41/%5fping",
  "/%5F%70ing",
  "/v1.41/containers%2Fjson",
  "/v1.41/containers/json?all=1&size=0",
  "/v1.41/containers/json?all=%31",
  "/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22running%22%5D%7D",
  "/v1.41/images/json?filters=%7B%22dangling%22:%5B%22true%22%5D%7D",
  "/v1.41/version?x=a+b",
  "http://docker/v1.41/version",
  "/v1.41/info?",
];

const REFUSED = [
  "/v1.41/containers/../_ping",
  "/v1.41/./_ping",
  "//_ping",
  "/v1.41//_ping",
  "/v1.41/_ping/.",
  "/v1.41/%2e%2e/_ping",
  "/v1.41/containers/json;all=1",
  "/v1.41/containers/json?all=1;x=2",
  "/v1.41/_ping#x",
  "/v1.41/_pin%67%",
];

describe("request targets dockgate accepts mean the same to the daemon", () => {
  for (const target of ACCEPTED) {
    it(target, async () => {
      const parsed = parseTarget(target);
      const route = matchRoute("GET", parsed.path);
      expect(route.ok, JSON.stringify(route)).toBe(true);
      const [a, b] = [await direct(target), await direct(parsed.forward)];
      expect(a.status).toBe(b.status);
      expect(a.status).toBeLessThan(300);
      expect(shape(a.body)).toBe(shape(b.body));
    });
  }
});

describe("request targets dockgate refuses are not plain routes to the daemon", () => {
  for (const target of REFUSED) {
    it(target, async () => {
      expect(() => {
        const parsed = parseTarget(target);
        const route = matchRoute("GET", parsed.path);
        if (!route.ok) throw new Error(route.reason);
      }).toThrow();
      const reply = await direct(target);
      // 2xx would mean the daemon served something dockgate could not name with certainty.
      expect(reply.status === 200 && reply.body === "OK").toBe(false);
    });
  }
});
