// The core's support for policies that need the daemon or rewrite traffic: asynchronous
// decisions keep replies in order, rewritten targets are what the daemon acts on, rewritten
// bodies are what it receives, and filtered responses are all the client sees.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { docker } from "../harness/docker.js";
import { startProxyWithGate, type TestProxy } from "../harness/proxy.js";
import { rawExchange } from "../harness/raw.js";
import type { Gate, RequestView, Verdict } from "../../src/policy/verdict.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const label = `dg-rewrite-${process.pid}`;
let proxy: TestProxy;

const delay = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

const gate: Gate = {
  decide(req: RequestView): Verdict | Promise<Verdict> {
    switch (req.operation) {
      case "ContainerList":
        // Asynchronous, slower than the next pipelined request, with a query and response rewrite.
        return delay(150, {
          kind: "allow",
          rewrite: {
            query: [...req.query, ["all", "1"], ["filters", JSON.stringify({ label: [label] })]],
            response: {
              maxBytes: 1 << 20,
              transform: (body) => {
                const list = JSON.parse(body.toString()) as Array<{ Names: string[] }>;
                return Buffer.from(JSON.stringify(list.map((c) => ({ Names: c.Names }))));
              },
            },
          },
        } satisfies Verdict);
      case "ContainerCreate":
        return {
          kind: "inspect",
          check: {
            maxBytes: 1 << 20,
            inspect: async (body) => {
              await delay(50, null);
              const parsed = JSON.parse(body.toString());
              parsed.Labels = { ...(parsed.Labels ?? {}), [label]: "yes" };
              return { ok: true, body: Buffer.from(JSON.stringify(parsed)) };
            },
          },
        };
      case "ContainerDelete":
        return Promise.reject(new Error("lookup exploded"));
      default:
        return { kind: "allow" };
    }
  },
};

beforeAll(async () => {
  proxy = await startProxyWithGate(daemon, gate);
});
afterAll(async () => {
  await proxy?.stop();
  const ids = (await docker(daemon, ["ps", "-aq", "--filter", `label=${label}`])).stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await docker(daemon, ["rm", "-f", ...ids]);
});

describe("policy rewrites through the core", () => {
  it("forwards the rewritten body: the daemon's container carries the added label", async () => {
    const r = await docker(proxy.socket, ["create", "--name", `${label}-a`, image, "true"]);
    expect(r.code, r.stderr).toBe(0);
    const labels = await docker(daemon, ["inspect", "-f", `{{index .Config.Labels "${label}"}}`, `${label}-a`]);
    expect(labels.stdout.trim()).toBe("yes");
  });

  it("applies the query rewrite and the response filter, in order with a pipelined request", async () => {
    await docker(daemon, ["create", "--name", `${label}-unlabelled`, image, "true"]);
    const replies = await rawExchange(
      proxy.socket,
      "GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n",
      2,
    );
    expect(replies[0]!.status).toBe(200);
    const list = JSON.parse(replies[0]!.body) as Array<Record<string, unknown>>;
    // Only the labelled container (query rewrite), and only its names (response transform).
    expect(list).toEqual([{ Names: [`/${label}-a`] }]);
    expect(replies[0]!.headers["content-length"]).toBe(String(Buffer.byteLength(replies[0]!.body)));
    expect(replies[1]!.body).toBe("OK");
    await docker(daemon, ["rm", "-f", `${label}-unlabelled`]);
  });

  it("a failed asynchronous decision is a 502 for that request only, and nothing reaches the daemon", async () => {
    const replies = await rawExchange(
      proxy.socket,
      `DELETE /v1.41/containers/${label}-a?force=1 HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n`,
      2,
    );
    expect(replies[0]!.status).toBe(502);
    expect(JSON.parse(replies[0]!.body).message).toContain("lookup exploded");
    expect(replies[1]!.body).toBe("OK");
    const still = await docker(daemon, ["inspect", "-f", "{{.Name}}", `${label}-a`]);
    expect(still.stdout.trim()).toBe(`/${label}-a`);
  });
});
