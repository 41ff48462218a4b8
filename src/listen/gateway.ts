// The running proxy: every listener of the config, one Session per accepted connection, and a
// graceful stop (stop accepting, let in-flight requests and streams finish up to a deadline).

import type { Config } from "../config/types.js";
import { Session } from "../forward/session.js";
import { type Logger, logExchange } from "../observe/log.js";
import type { Gate } from "../policy/verdict.js";
import { type OpenListener, openListener } from "./listeners.js";

export interface Gateway {
  listeners: OpenListener[];
  /** Resolves once every connection has finished, or the grace period cut the rest. */
  stop(graceSeconds: number): Promise<void>;
}

import type { ExchangeRecord } from "../forward/session.js";

/** `observe` sees every request record as well (tests use it; the log always gets it). */
export async function startGateway(
  config: Config,
  gate: Gate,
  logger: Logger,
  observe?: (record: ExchangeRecord) => void,
): Promise<Gateway> {
  const sessions = new Set<Session>();
  let allClosed: (() => void) | null = null;
  const hooks = {
    gate,
    upstreamPath: config.upstream,
    limits: { maxHeaderBytes: config.limits.maxHeaderBytes },
    onExchange: (record: ExchangeRecord) => {
      logExchange(logger, record);
      observe?.(record);
    },
    onClosed: (session: Session) => {
      sessions.delete(session);
      if (sessions.size === 0) allClosed?.();
    },
  };

  const listeners: OpenListener[] = [];
  try {
    for (const listener of config.listeners) {
      const open = await openListener(
        listener,
        ({ socket, client }) => sessions.add(new Session(socket, client, hooks)),
        (peer, reason) => logger.warn({ listener: listener.name, peer, reason }, "connection refused"),
      );
      listeners.push(open);
      logger.info({ listener: listener.name, address: open.address, profile: listener.profile }, "listening");
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }

  return {
    listeners,
    async stop(graceSeconds) {
      await Promise.all(listeners.map((l) => l.close()));
      for (const session of sessions) session.drain();
      if (sessions.size === 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ connections: sessions.size }, "grace period over: closing remaining connections");
          for (const session of sessions) session.destroy();
          resolve();
        }, graceSeconds * 1000);
        allClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
