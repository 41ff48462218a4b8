// The per-request log line: valid JSON in pino's line format, with every field the audit trail
// and `dockgate learn` rely on; denials and audit findings carry rule, field and message.

import pino from "pino";
import { describe, expect, it } from "vitest";
import type { ExchangeRecord } from "../../src/forward/session.js";
import { logExchange } from "../../src/observe/log.js";

function capture(level = "info") {
  const lines: string[] = [];
  const logger = pino({ level, base: undefined }, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}

function record(over: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return {
    client: { listener: "ci", profile: "ci", peer: 'tls CN="x"', owner: "ci" },
    method: "GET",
    path: '/containers/a"b/json',
    operation: "ContainerInspect",
    decision: "allow",
    rule: undefined,
    field: undefined,
    status: 200,
    bytesIn: 0,
    bytesOut: 1234,
    durationMs: 1.23456,
    hijacked: false,
    message: undefined,
    audit: undefined,
    ...over,
  };
}

describe("request log lines", () => {
  it("an allowed request is one JSON line with pino's level/time/msg and every field", () => {
    const { logger, lines } = capture();
    logExchange(logger, record({ hijacked: true }));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      level: 30,
      listener: "ci",
      profile: "ci",
      peer: 'tls CN="x"',
      op: "ContainerInspect",
      method: "GET",
      path: '/containers/a"b/json',
      decision: "allow",
      status: 200,
      bytesIn: 0,
      bytesOut: 1234,
      ms: 1.235,
      hijacked: true,
      msg: "request",
    });
    expect(typeof line.time).toBe("number");
  });

  it("is not written below info", () => {
    const { logger, lines } = capture("warn");
    logExchange(logger, record());
    expect(lines).toHaveLength(0);
  });

  it("a denial is a warn line with rule, field and the client's message, even at warn level", () => {
    const { logger, lines } = capture("warn");
    logExchange(logger, record({ decision: "deny", status: 403, rule: "containers.privileged", field: "HostConfig.Privileged", message: "dockgate: no" }));
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 40, decision: "deny", rule: "containers.privileged", field: "HostConfig.Privileged", message: "dockgate: no", msg: "denied" });
  });

  it("an audit finding is logged with what would have been denied", () => {
    const { logger, lines } = capture();
    logExchange(logger, record({ audit: { status: 403, rule: "containers.bind-mounts", field: "HostConfig.Binds[0]", message: "dockgate: bind" } }));
    const line = JSON.parse(lines[0]!);
    expect(line.msg).toBe("audit: would deny");
    expect(line.audit).toEqual({ rule: "containers.bind-mounts", field: "HostConfig.Binds[0]", message: "dockgate: bind" });
  });
});
