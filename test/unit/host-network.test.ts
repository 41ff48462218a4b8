// The host network's ids are context the gate is given (src/policy/host-network.ts): a gate built
// before the daemon has said what they are (a request in the first instant) still refuses the
// host network by id, failing closed on every reference that could be an id prefix; once learned,
// only the host network's own id is refused.

import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import type { DaemonClient } from "../../src/policy/daemon.js";
import { createGate } from "../../src/policy/engine.js";
import { HostNetwork, hostNetworkAsked, hostNetworkOf } from "../../src/policy/host-network.js";
import type { Client, Gate, RequestView, Verdict } from "../../src/policy/verdict.js";

const HOST_ID = "7f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
const config = parseConfigText(
  ["listeners:", "  - { name: a, unix: { path: /run/a.sock }, profile: ci }", "profiles:", "  ci:", "    allow: [ping, ContainerCreate]", ""].join("\n"),
  "host-network.yaml",
  { checkFiles: false },
);
const client: Client = { listener: "a", profile: "ci", peer: "unix", owner: "a" };
const view: RequestView = { method: "POST", path: "/containers/create", apiVersion: "1.41", operation: "ContainerCreate", params: {}, query: [], headers: { "content-type": "application/json" } };

/** The decision on a create whose NetworkMode is `mode`. */
async function decide(gate: Gate, mode: string): Promise<string> {
  const v: Verdict = await gate.decide(view, client);
  if (v.kind !== "inspect") return v.kind;
  const r = await v.check.inspect(Buffer.from(JSON.stringify({ Image: "busybox", HostConfig: { NetworkMode: mode } })));
  return r.ok ? "allow" : r.denial.rule;
}

/** A daemon client that answers GET /networks/host with `reply` (or fails); `warnings` collects what it logs. */
function daemonAnswering(reply: { status: number; json?: unknown } | Error, warnings: string[] = []): DaemonClient {
  return {
    socketPath: "/fake.sock",
    isClosed: true, // no retries in these tests
    log: { warn: (_fields: unknown, msg: string) => warnings.push(msg), info: () => {} },
    getJson: async () => {
      if (reply instanceof Error) throw reply;
      return { status: reply.status, json: reply.json, message: undefined };
    },
  } as unknown as DaemonClient;
}

describe("the host network as the gate's context", () => {
  it("before the ids are known, a reference that could be an id prefix is refused (fail closed); names are not", async () => {
    const gate = createGate(config, { checkImages: false, hostNetwork: new HostNetwork() });
    expect(await decide(gate, HOST_ID.slice(0, 12))).toBe("containers.host-namespaces");
    expect(await decide(gate, "3f1c2b8a9d0e")).toBe("containers.host-namespaces");
    expect(await decide(gate, "host")).toBe("containers.host-namespaces");
    expect(await decide(gate, "ci-net")).toBe("allow");
  });

  it("once learned from the daemon, the same gate refuses only the host network's id", async () => {
    const hostNetwork = new HostNetwork();
    const gate = createGate(config, { checkImages: false, hostNetwork });
    await hostNetwork.learn(daemonAnswering({ status: 200, json: { Id: HOST_ID } }));
    expect(hostNetwork.known).toBe(true);
    expect(await decide(gate, HOST_ID.slice(0, 12).toUpperCase())).toBe("containers.host-namespaces");
    expect(await decide(gate, "3f1c2b8a9d0e")).toBe("allow");
  });

  it("a daemon that cannot answer leaves the ids unknown (still closed); one without a host network (404) leaves only the name", async () => {
    const down = new HostNetwork();
    await expect(down.learn(daemonAnswering(new Error("cannot reach the Docker daemon")))).rejects.toThrow(/cannot reach/);
    await expect(down.learn(daemonAnswering({ status: 500 }))).rejects.toThrow(/answered 500/);
    expect(down.known).toBe(false);
    expect(down.isHostRef("3f1c")).toBe(true);
    const rootless = new HostNetwork();
    await rootless.learn(daemonAnswering({ status: 404 }));
    expect(rootless.isHostRef("3f1c")).toBe(false);
    expect(rootless.isHostRef("HOST")).toBe(true);
  });

  it("a gate built on a daemon client learns that daemon's ids; one that cannot answer says so and stays closed", async () => {
    const daemon = daemonAnswering({ status: 200, json: { Id: HOST_ID } });
    const gate = createGate(config, { daemon });
    await hostNetworkAsked(daemon);
    expect(hostNetworkOf(daemon).known).toBe(true);
    expect(hostNetworkOf(daemon).isHostRef("3f1c2b8a9d0e")).toBe(false);
    expect(await decide(gate, HOST_ID.slice(0, 6))).toBe("containers.host-namespaces");

    const warnings: string[] = [];
    const down = daemonAnswering(new Error("cannot reach the Docker daemon"), warnings);
    const closed = createGate(config, { daemon: down });
    await hostNetworkAsked(down);
    expect(hostNetworkOf(down).known).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^cannot read the host network's id yet/)]);
    expect(await decide(closed, "3f1c2b8a9d0e")).toBe("containers.host-namespaces");
  });
});
