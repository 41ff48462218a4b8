// dockgate in the test process, in front of the test daemon: either with a gate of the test's
// choosing (proxy-core tests) or with a real config file (policy tests), on a fresh socket.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import type { Config, ProfileConfig } from "../../src/config/types.js";
import { type Gateway, startGateway } from "../../src/listen/gateway.js";
import type { ExchangeRecord } from "../../src/forward/session.js";
import type { Gate } from "../../src/policy/verdict.js";

export interface TestProxy {
  socket: string;
  /** Every request record the proxy logged, in completion order. */
  records: ExchangeRecord[];
  gateway: Gateway;
  stop(): Promise<void>;
}

export const allowAll: Gate = { decide: () => ({ kind: "allow" }) };

export function tempSocket(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dg-"));
  return path.join(dir, "dg.sock");
}

export async function startProxy(config: Config, gate: Gate): Promise<TestProxy> {
  const records: ExchangeRecord[] = [];
  const logger = pino({ level: "silent" });
  // Records are captured by wrapping the logger's consumer: the gateway logs through logExchange.
  const gateway = await startGateway(config, gate, logger, (r) => records.push(r));
  const listen = config.listeners[0]!.listen;
  const socket = listen.kind === "unix" ? listen.path : "";
  return {
    socket,
    records,
    gateway,
    stop: () => gateway.stop(5),
  };
}

/** The proxy core with a hand-made gate, one unix listener. */
export function startProxyWithGate(upstream: string, gate: Gate, maxHeaderBytes = 65536, headerTimeoutSeconds = 30): Promise<TestProxy> {
  const profile = { name: "test", allow: new Set<string>(), mode: "enforce", minApiVersion: "1.24" } as unknown as ProfileConfig;
  const config: Config = {
    source: "<test>",
    upstream,
    logLevel: "silent",
    limits: { maxHeaderBytes, maxBodyBytes: 1 << 20, headerTimeoutSeconds },
    shutdownGraceSeconds: 5,
    listeners: [{ name: "test", listen: { kind: "unix", path: tempSocket(), mode: 0o600 }, profile: "test" }],
    profiles: new Map([["test", profile]]),
    admin: undefined,
  };
  return startProxy(config, gate);
}
