// Structured logs: one JSON line per request (also the audit record of its decision), plus
// lifecycle events. Lines are written asynchronously in batches so logging stays off the
// per-request critical path; they are flushed on exit.

import pino, { type Logger } from "pino";
import type { ExchangeRecord } from "../forward/session.js";

export type { Logger };

export function createLogger(level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  process.once("exit", () => destination.flushSync());
  return logger;
}

/** The per-request record: who asked for what, what was decided and why, what it cost. */
export function logExchange(logger: Logger, r: ExchangeRecord): void {
  const entry = {
    listener: r.client.listener,
    profile: r.client.profile,
    peer: r.client.peer,
    op: r.operation,
    method: r.method,
    path: r.path,
    decision: r.decision,
    rule: r.rule,
    field: r.field,
    status: r.status,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    ms: Math.round(r.durationMs * 1000) / 1000,
    hijacked: r.hijacked || undefined,
    audit: r.audit ? { rule: r.audit.rule, field: r.audit.field, message: r.audit.message } : undefined,
  };
  if (r.decision === "allow") logger.info(entry, r.audit ? "audit: would deny" : "request");
  else logger.warn({ ...entry, message: r.message }, r.decision === "deny" ? "denied" : "rejected");
}
