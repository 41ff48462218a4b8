// Per-client limits: token bucket, connections, streams, containers, and what reloads keep.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClientLimits, Config, ProfileConfig } from "../../src/config/types.js";
import { Limiter, queryBool } from "../../src/policy/limits.js";
import type { Client, Gate, RequestView, Verdict } from "../../src/policy/verdict.js";

const ALLOW: Verdict = Object.freeze({ kind: "allow" });

function limits(l: Partial<ClientLimits>): ClientLimits {
  return { requestsPerSecond: undefined, burst: undefined, maxConnections: undefined, maxStreams: undefined, maxContainers: undefined, ...l };
}

function config(profiles: Record<string, { limits?: Partial<ClientLimits>; label?: string }>): Config {
  const map = new Map<string, ProfileConfig>();
  for (const [name, p] of Object.entries(profiles)) {
    map.set(name, {
      name,
      allow: new Set(),
      mode: "enforce",
      minApiVersion: "1.24",
      limits: p.limits ? limits(p.limits) : undefined,
      ownership: p.label ? { label: p.label } : undefined,
    } as unknown as ProfileConfig);
  }
  return {
    source: "<test>",
    upstream: "/nonexistent.sock",
    logLevel: "silent",
    limits: { maxHeaderBytes: 65536, maxBodyBytes: 1 << 20, headerTimeoutSeconds: 30 },
    shutdownGraceSeconds: 1,
    listeners: [],
    profiles: map,
    admin: undefined,
  };
}

function client(owner: string, profile = "p"): Client {
  return { listener: owner, profile, peer: "unix", owner };
}

function req(operation: string, query: Array<[string, string]> = []): RequestView {
  return { method: "GET", path: "/", apiVersion: undefined, operation, params: {}, query, headers: {} };
}

const allowAll: Gate = { decide: () => ALLOW };
const ping = req("SystemPing");

function denied(v: Verdict | Promise<Verdict>): string | undefined {
  if (v instanceof Promise) throw new Error("unexpected async verdict");
  return v.kind === "deny" ? v.denial.rule : undefined;
}

describe("queryBool reads query flags as the daemon does", () => {
  const cases: Array<[string, boolean]> = [
    ["1", true],
    ["true", true],
    ["yes", true],
    ["anything", true],
    ["", false],
    ["0", false],
    ["no", false],
    ["FALSE", false],
    [" none\t", false],
    ["\u0085false\u00a0", false], // Go's TrimSpace set, not JavaScript's
    ["\ufefffalse", true], // BOM is not space to Go: a non-false value
  ];
  for (const [value, want] of cases) {
    it(`follow=${JSON.stringify(value)} → ${want}`, () => expect(queryBool([["follow", value]], "follow", false)).toBe(want));
  }
  it("the first value counts; absent → default", () => {
    expect(queryBool([["follow", "0"], ["follow", "1"]], "follow", true)).toBe(false);
    expect(queryBool([["other", "1"]], "stream", true)).toBe(true);
    expect(queryBool([], "follow", false)).toBe(false);
  });
});

describe("rate limit (token bucket)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("allows requestsPerSecond + burst at once, then refills at requestsPerSecond", () => {
    const limiter = new Limiter(config({ p: { limits: { requestsPerSecond: 10, burst: 5 } } }));
    const gate = limiter.wrap(allowAll);
    const a = client("a");
    for (let i = 0; i < 15; i++) expect(denied(gate.decide(ping, a))).toBeUndefined();
    const v = gate.decide(ping, a) as Verdict;
    expect(v).toEqual({
      kind: "deny",
      denial: { status: 429, rule: "limits.rate", message: "dockgate: rate limit of 10 requests/s exceeded for client a (rule limits.rate)" },
    });
    vi.advanceTimersByTime(99);
    expect(denied(gate.decide(ping, a))).toBe("limits.rate");
    vi.advanceTimersByTime(2); // 101 ms since the last refill check: one more token
    expect(denied(gate.decide(ping, a))).toBeUndefined();
    expect(denied(gate.decide(ping, a))).toBe("limits.rate");
    vi.advanceTimersByTime(10_000); // never more than the bucket holds
    for (let i = 0; i < 15; i++) expect(denied(gate.decide(ping, a))).toBeUndefined();
    expect(denied(gate.decide(ping, a))).toBe("limits.rate");
  });

  it("without burst the bucket holds one second's worth (at least one request)", () => {
    const limiter = new Limiter(config({ p: { limits: { requestsPerSecond: 3 } }, q: { limits: { requestsPerSecond: 0.5 } } }));
    const gate = limiter.wrap(allowAll);
    for (let i = 0; i < 3; i++) expect(denied(gate.decide(ping, client("a")))).toBeUndefined();
    expect(denied(gate.decide(ping, client("a")))).toBe("limits.rate");
    expect(denied(gate.decide(ping, client("b", "q")))).toBeUndefined();
    expect(denied(gate.decide(ping, client("b", "q")))).toBe("limits.rate");
    vi.advanceTimersByTime(2000);
    expect(denied(gate.decide(ping, client("b", "q")))).toBeUndefined();
  });

  it("answers before the inner gate and never asks it for a denied request", () => {
    const inner = { decide: vi.fn(() => ALLOW) };
    const gate = new Limiter(config({ p: { limits: { requestsPerSecond: 1 } } })).wrap(inner);
    gate.decide(ping, client("a"));
    gate.decide(ping, client("a"));
    expect(inner.decide).toHaveBeenCalledTimes(1);
  });

  it("each owner has its own bucket", () => {
    const gate = new Limiter(config({ p: { limits: { requestsPerSecond: 2 } } })).wrap(allowAll);
    gate.decide(ping, client("a"));
    gate.decide(ping, client("a"));
    expect(denied(gate.decide(ping, client("a")))).toBe("limits.rate");
    expect(denied(gate.decide(ping, client("b")))).toBeUndefined();
    expect(denied(gate.decide(ping, client("a/CN=x")))).toBeUndefined();
  });

  it("a profile without limits gets the inner verdict itself (nothing allocated, nothing counted)", () => {
    const gate = new Limiter(config({ p: {}, q: { limits: { requestsPerSecond: 1 } } })).wrap(allowAll);
    for (let i = 0; i < 1000; i++) expect(gate.decide(ping, client("a"))).toBe(ALLOW);
  });

  it("the same verdict object serves a flood (no allocation per refused request)", () => {
    const gate = new Limiter(config({ p: { limits: { requestsPerSecond: 1 } } })).wrap(allowAll);
    gate.decide(ping, client("a"));
    const first = gate.decide(ping, client("a"));
    expect(gate.decide(ping, client("a"))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it("a reload re-caps the bucket to the new limits and keeps what was spent", () => {
    const limiter = new Limiter(config({ p: { limits: { requestsPerSecond: 100 } } }));
    const gate = limiter.wrap(allowAll);
    for (let i = 0; i < 98; i++) gate.decide(ping, client("a"));
    limiter.configure(config({ p: { limits: { requestsPerSecond: 5 } } }));
    // 2 tokens were left (under the new cap of 5): 2 more, then refused with the new number.
    expect(denied(gate.decide(ping, client("a")))).toBeUndefined();
    expect(denied(gate.decide(ping, client("a")))).toBeUndefined();
    const v = gate.decide(ping, client("a")) as Extract<Verdict, { kind: "deny" }>;
    expect(v.denial.message).toContain("rate limit of 5 requests/s");
    limiter.configure(config({ p: {} }));
    expect(denied(gate.decide(ping, client("a")))).toBeUndefined();
  });
});

describe("connections", () => {
  it("refuses the client's connection over maxConnections and counts per owner", () => {
    const limiter = new Limiter(config({ p: { limits: { maxConnections: 2 } } }));
    const [c1, c2, c3] = [client("a"), client("a"), client("a")];
    expect(limiter.accept(c1)).toBeUndefined();
    expect(limiter.accept(c2)).toBeUndefined();
    expect(limiter.accept(c3)).toEqual({
      status: 429,
      rule: "limits.connections",
      message: "dockgate: connection limit of 2 connections exceeded for client a (rule limits.connections)",
    });
    expect(limiter.accept(client("b"))).toBeUndefined();
    limiter.closed(c1);
    limiter.closed(c1); // twice is harmless
    expect(limiter.connectionsOf("a")).toBe(1);
    expect(limiter.accept(c3)).toBeUndefined();
  });
});

describe("streams", () => {
  // One RequestView per request, as the proxy core makes them: a hold belongs to its request.
  const events = () => req("SystemEvents");
  const follow = () => req("ContainerLogs", [["follow", "1"]]);
  const logs = () => req("ContainerLogs", [["follow", "0"]]);
  const stats = () => req("ContainerStats");
  const oneStat = () => req("ContainerStats", [["stream", "false"]]);

  it("counts long-lived streams per owner from decision to the end of their exchange; over maxStreams is a 429", () => {
    const limiter = new Limiter(config({ p: { limits: { maxStreams: 2 } } }));
    const gate = limiter.wrap(allowAll);
    const c1 = client("a");
    const c2 = client("a");
    limiter.accept(c1);
    limiter.accept(c2);
    expect(denied(gate.decide(events(), c1))).toBeUndefined();
    const f = follow();
    expect(denied(gate.decide(f, c2))).toBeUndefined();
    expect(limiter.streamsOf("a")).toBe(2);
    const refused = stats();
    const v = gate.decide(refused, c2) as Extract<Verdict, { kind: "deny" }>;
    expect(v.denial).toEqual({
      status: 429,
      rule: "limits.streams",
      message: "dockgate: stream limit of 2 concurrent streams reached for client a (rule limits.streams)",
    });
    // Not streams: logs without follow, stats with stream=false, everything else.
    const others = [logs(), oneStat(), req("SystemPing")];
    for (const o of others) expect(denied(gate.decide(o, c2))).toBeUndefined();
    expect(limiter.streamsOf("a")).toBe(2);
    // Their exchanges ending, in any order, release nothing of the follow's.
    for (const o of [refused, ...others]) limiter.settle(o);
    expect(limiter.streamsOf("a")).toBe(2);
    limiter.settle(f);
    limiter.settle(f); // twice is harmless
    expect(limiter.streamsOf("a")).toBe(1);
    expect(limiter.activeStreams).toBe(1);
    limiter.closed(c1); // the events stream's connection went away without its exchange ending
    expect(limiter.streamsOf("a")).toBe(0);
    expect(limiter.activeStreams).toBe(0);
  });

  it("requests the inner gate or the rate limit refused hold nothing, and their ends release nothing", () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const inner: Gate = { decide: (r) => (r.operation === "ContainerWait" ? { kind: "deny", denial: { status: 403, message: "no", rule: "endpoint.allow" } } : ALLOW) };
      const limiter = new Limiter(config({ p: { limits: { maxStreams: 5, requestsPerSecond: 2 } } }));
      const gate = limiter.wrap(inner);
      const c = client("a");
      limiter.accept(c);
      const [open, wait, limited] = [events(), req("ContainerWait"), events()];
      expect(denied(gate.decide(open, c))).toBeUndefined();
      expect(denied(gate.decide(wait, c))).toBe("endpoint.allow");
      expect(denied(gate.decide(limited, c))).toBe("limits.rate");
      limiter.settle(wait);
      limiter.settle(limited);
      expect(limiter.streamsOf("a")).toBe(1);
      limiter.settle(open);
      expect(limiter.streamsOf("a")).toBe(0);
      expect(limiter.activeStreams).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("the pipelined case: events, an attach refused before the gate, a wait: the wait still counts, a third stream is refused", () => {
    const limiter = new Limiter(config({ p: { limits: { maxStreams: 2 } } }));
    const gate = limiter.wrap(allowAll);
    const c = client("a");
    limiter.accept(c);
    const ev = req("SystemEvents");
    const attach = req("ContainerAttach"); // refused by the core (a form body): never decided
    const wait = req("ContainerWait");
    expect(denied(gate.decide(ev, c))).toBeUndefined();
    expect(denied(gate.decide(wait, c))).toBeUndefined();
    limiter.settle(ev);
    limiter.settle(attach);
    expect(limiter.streamsOf("a")).toBe(1);
    expect(denied(gate.decide(events(), c))).toBeUndefined();
    expect(denied(gate.decide(events(), c))).toBe("limits.streams");
  });

  it("hijacking operations, events and wait always count; profiles without limits are counted too", async () => {
    const limiter = new Limiter(config({ p: {} }));
    const gate = limiter.wrap(allowAll);
    const c = client("a");
    limiter.accept(c);
    for (const op of ["ContainerAttach", "ExecStart", "Session", "Grpc", "ContainerAttachWebsocket", "SystemEvents", "ContainerWait"]) {
      expect(gate.decide(req(op), c)).toBe(ALLOW);
    }
    expect(limiter.activeStreams).toBe(7);
    limiter.closed(c);
    expect(limiter.activeStreams).toBe(0);
  });

  it("an asynchronous inner verdict is counted once it allows", async () => {
    const limiter = new Limiter(config({ p: { limits: { maxStreams: 1 } } }));
    const gate = limiter.wrap({ decide: async () => ALLOW });
    const c = client("a");
    limiter.accept(c);
    const first = events();
    expect(await gate.decide(first, c)).toBe(ALLOW);
    expect(limiter.streamsOf("a")).toBe(1);
    const second = events();
    expect((await gate.decide(second, c)).kind).toBe("deny");
    limiter.settle(second);
    expect(limiter.streamsOf("a")).toBe(1);
    limiter.settle(first);
    expect(limiter.streamsOf("a")).toBe(0);
  });

  it("a reload that gives the connection a new identity of another owner moves what it holds", () => {
    const limiter = new Limiter(config({ p: { limits: { maxStreams: 1, maxConnections: 1 } } }));
    const gate = limiter.wrap(allowAll);
    const c = client("a");
    limiter.accept(c);
    const ev = events();
    gate.decide(ev, c);
    const next = client("b");
    limiter.replace(c, next);
    expect(limiter.streamsOf("a")).toBe(0);
    expect(limiter.connectionsOf("a")).toBe(0);
    expect(limiter.streamsOf("b")).toBe(1);
    expect(denied(gate.decide(events(), next))).toBe("limits.streams");
    expect(limiter.accept(client("b"))?.rule).toBe("limits.connections");
    limiter.settle(ev); // decided under the old identity, released from the new owner
    expect(limiter.streamsOf("b")).toBe(0);
    gate.decide(events(), next);
    limiter.closed(next);
    expect(limiter.streamsOf("b")).toBe(0);
    expect(limiter.connectionsOf("b")).toBe(0);
  });
});

describe("containers", () => {
  const create = () => req("ContainerCreate");

  it("counts the owner's labelled containers plus creates in flight, one check at a time", async () => {
    let existing = 1;
    const asked: string[] = [];
    const limiter = new Limiter(config({ p: { limits: { maxContainers: 2 }, label: "dockgate.owner" } }), async (label, owner, limit) => {
      asked.push(`${label}=${owner} limit ${limit}`);
      await new Promise((r) => setTimeout(r, 5));
      return existing;
    });
    const gate = limiter.wrap(allowAll);
    const c = client("a");
    limiter.accept(c);
    const [r1, r2] = [create(), create()];
    const [first, second] = await Promise.all([gate.decide(r1, c), gate.decide(r2, c)]);
    expect(first).toBe(ALLOW);
    expect(second).toEqual({
      kind: "deny",
      denial: { status: 429, rule: "limits.containers", message: "dockgate: container limit of 2 containers reached for client a (rule limits.containers)" },
    });
    expect(asked).toEqual(["dockgate.owner=a limit 2", "dockgate.owner=a limit 2"]);
    limiter.settle(r2); // the refused create held nothing
    expect((await gate.decide(create(), c)).kind).toBe("deny");
    limiter.settle(r1); // the first create completed: the daemon counts it now
    existing = 1;
    const r3 = create();
    expect(await gate.decide(r3, c)).toBe(ALLOW);
    limiter.settle(r3);
    existing = 2;
    expect((await gate.decide(create(), c)).kind).toBe("deny");
  });

  it("does not ask the daemon when the inner gate denies; without ownership it fails closed", async () => {
    const counter = vi.fn(async () => 0);
    const deny: Gate = { decide: () => ({ kind: "deny", denial: { status: 403, message: "no", rule: "endpoint.allow" } }) };
    const limiter = new Limiter(config({ p: { limits: { maxContainers: 2 } } }), counter);
    const c = client("a");
    limiter.accept(c);
    expect(denied(limiter.wrap(deny).decide(create(), c))).toBe("endpoint.allow");
    const v = await limiter.wrap(allowAll).decide(create(), c);
    expect(v.kind === "deny" && v.denial.rule).toBe("limits.containers");
    expect(counter).not.toHaveBeenCalled();
  });

  it("a failing daemon lookup rejects (the core answers 502 policy.lookup), and the next check still runs", async () => {
    let fail = true;
    const limiter = new Limiter(config({ p: { limits: { maxContainers: 2 }, label: "o" } }), async () => {
      if (fail) throw new Error("ECONNREFUSED");
      return 0;
    });
    const gate = limiter.wrap(allowAll);
    const c = client("a");
    limiter.accept(c);
    await expect(gate.decide(create(), c)).rejects.toThrow("ECONNREFUSED");
    fail = false;
    expect(await gate.decide(create(), c)).toBe(ALLOW);
  });
});
