// Structured logs (pino): one JSON line per request (also the audit record of its decision),
// plus lifecycle events. Lines are written asynchronously in batches (LineWriter), bounded (a
// destination that cannot keep up loses lines, counted and announced, never blocks dockgate) and
// flushed on exit.
//
// The line for an allowed request is the one written for every request, so it is formatted here
// directly, in pino's own line format (level, epoch-ms time, fields, msg) and into pino's own
// destination: going through pino's generic serializer cost about as much CPU as proxying the
// request itself. Denials, audit findings and lifecycle events go through pino as usual.

import { fstatSync } from "node:fs";
import pino, { type Logger } from "pino";
import type { ExchangeRecord } from "../forward/session.js";
import { LineWriter } from "./line-writer.js";
import type { Client } from "../policy/verdict.js";

export type { Logger };

let stdoutWriter: LineWriter | undefined;

/** Before a planned exit: lets stdout take what the log holds, for at most `ms`. */
export function drainLogs(ms: number): Promise<void> {
  return stdoutWriter?.drain(ms) ?? Promise.resolve();
}

export function createLogger(level: string): Logger {
  // A pipe or socket as stdout is made non-blocking (as Node's own process.stdout does), so a
  // full one answers EAGAIN and never holds a thread, or the exit, waiting for its reader.
  const stdout = fstatSync(1);
  if (stdout.isFIFO() || stdout.isSocket()) void process.stdout;
  let logger: Logger;
  const destination = new LineWriter(1, {
    onDropping: (dropping, dropped) => {
      if (dropping) logger.warn("log destination cannot keep up: dropping log lines until it does (dockgate_log_lines_dropped_total)");
      else logger.warn({ dropped }, "log destination caught up: log lines were dropped meanwhile");
    },
  });
  stdoutWriter = destination;
  logger = pino({ level, base: undefined }, destination);
  process.once("exit", () => destination.flushSync());
  return logger;
}

const q = JSON.stringify;
/** `"listener":..,"profile":..,"peer":..` per client (one per connection), built once. */
const clientFields = new WeakMap<Client, string>();

function clientPart(c: Client): string {
  let part = clientFields.get(c);
  if (part === undefined) {
    part = `"listener":${q(c.listener)},"profile":${q(c.profile)},"peer":${q(c.peer)}`;
    clientFields.set(c, part);
  }
  return part;
}

function requestLine(r: ExchangeRecord): string {
  let line = `{"level":30,"time":${Date.now()},${clientPart(r.client)}`;
  if (r.operation !== undefined) line += `,"op":${q(r.operation)}`;
  line += `,"method":${q(r.method)},"path":${q(r.path)},"decision":"allow","status":${r.status}`;
  line += `,"bytesIn":${r.bytesIn},"bytesOut":${r.bytesOut},"ms":${Math.round(r.durationMs * 1000) / 1000}`;
  if (r.hijacked) line += `,"hijacked":true`;
  return `${line},"msg":"request"}\n`;
}

/** The per-request record: who asked for what, what was decided and why, what it cost. */
export function logExchange(logger: Logger, r: ExchangeRecord): void {
  if (r.decision === "allow" && r.audit === undefined) {
    if (logger.isLevelEnabled("info")) (logger as unknown as Record<symbol, { write(s: string): void }>)[pino.symbols.streamSym]!.write(requestLine(r));
    return;
  }
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
  if (r.decision === "allow") logger.info(entry, "audit: would deny");
  // A response dockgate could not deliver is its own fault or the daemon's, never the client's.
  else if (r.failure !== undefined) logger.error({ ...entry, message: r.message, reason: r.failure }, `response failed: ${r.failure}`);
  else logger.warn({ ...entry, message: r.message }, r.decision === "deny" ? "denied" : "rejected");
}
