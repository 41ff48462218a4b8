// The running proxy: every listener of the config, one Session per accepted connection, per-client
// limits, metrics, the admin endpoint, atomic reloads, and a graceful stop (stop accepting, let
// in-flight requests and streams finish up to a deadline).
//
// Reload: all sessions share one hooks object, so swapping its gate (and upstream and header
// limit) is seen by the next request of every existing connection at once. Listeners are matched
// by address: a kept one is updated in place (its existing connections are re-resolved to the
// new profile/owner; those from addresses its new allow list excludes drain), an added one is
// opened, a removed one stops accepting and its connections drain (in-flight requests and
// streams finish, then they close). Everything that can fail
// (opening sockets, reading TLS files) happens before anything is switched; a failure leaves the
// old config serving untouched.

import type { Config, ListenerConfig } from "../config/types.js";
import { errorResponse } from "../http/errors.js";
import { type ExchangeRecord, Session, type SessionHooks } from "../forward/session.js";
import { type Logger, logExchange } from "../observe/log.js";
import { Metrics } from "../observe/metrics.js";
import { Limiter } from "../policy/limits.js";
import { grpcTakeover, sessionTakeover } from "../policy/buildkit/session-relay.js";
import type { Client, Denial, Gate } from "../policy/verdict.js";
import { type AdminServer, adminKey, openAdmin } from "./admin.js";
import { type Accepted, type OpenListener, clientOf, listenerKey, openListener } from "./listeners.js";
import { Tenants } from "./tenants.js";
import type net from "node:net";

export interface Gateway {
  /** The listeners open now. */
  readonly listeners: OpenListener[];
  readonly admin: AdminServer | undefined;
  /** Per-job tenants (config `tenants`), once configured. */
  readonly tenants: Tenants | undefined;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly limiter: Limiter;
  /**
   * Switches to `config` and `gate` for every new request, on new and existing connections.
   * Rejects (the old config keeps serving, nothing changed) when a listener cannot be opened.
   * Counted in dockgate_reloads_total either way.
   */
  reload(config: Config, gate: Gate): Promise<ReloadSummary>;
  /** Resolves once every connection has finished, or the grace period cut the rest. */
  stop(graceSeconds: number): Promise<void>;
}

export interface ReloadSummary {
  added: string[];
  removed: string[];
  updated: string[];
}

/** A listener with the connections it accepted. */
interface Live {
  open: OpenListener;
  sessions: Set<Session>;
  /** Opened by a reload not yet committed: connections wait here (the new gate is not in force yet). */
  held: Accepted[] | null;
}

interface Connection {
  client: Client;
  identities: readonly string[];
  live: Live;
}

/** How long a connection refused over its client's limit may take to send a request and go. */
const REFUSED_LINGER_MS = 5000;
/** Retry interval for reading tenants back from the daemon at start when it cannot be reached. */
const RESTORE_RETRY_MS = 5000;

/** `observe` sees every request record as well (tests use it; the log always gets it). */
export async function startGateway(
  config: Config,
  gate: Gate,
  logger: Logger,
  observe?: (record: ExchangeRecord) => void,
): Promise<Gateway> {
  const connections = new Map<Session, Connection>();
  const limiter = new Limiter(config);
  const metrics = new Metrics({ activeConnections: () => connections.size, activeStreams: () => limiter.activeStreams });
  let current = config;
  let stopping = false;
  let allClosed: (() => void) | null = null;

  const hooks: SessionHooks = {
    // BuildKit sessions are relayed call by call under the client's profile as it is now.
    upgrades: new Map([
      ["Session", sessionTakeover((client) => current.profiles.get(client.profile)?.rules)],
      ["Grpc", grpcTakeover((client) => current.profiles.get(client.profile))],
    ]),
    gate: attributed(limiter.wrap(gate)),
    upstreamPath: config.upstream,
    limits: sessionLimits(config),
    onExchange: (record: ExchangeRecord) => {
      if (record.request !== undefined) limiter.settle(record.request);
      metrics.observe(record);
      logExchange(logger, record);
      observe?.(record);
    },
    onClosed: (session: Session) => {
      const c = connections.get(session);
      if (c !== undefined) {
        connections.delete(session);
        c.live.sessions.delete(session);
        limiter.closed(c.client);
      }
      if (connections.size === 0) allClosed?.();
    },
  };

  const accept = (live: Live, accepted: Accepted): void => {
    const { socket, client, identities } = accepted;
    if (stopping) {
      socket.destroy();
      return;
    }
    if (live.held !== null) {
      socket.on("error", () => socket.destroy()); // an error while held must not go unhandled
      live.held.push(accepted);
      return;
    }
    const refusal = limiter.accept(client);
    if (refusal !== undefined) {
      metrics.refused(client.profile, refusal.rule);
      logger.warn({ listener: client.listener, profile: client.profile, peer: client.peer, rule: refusal.rule }, "connection refused: over limit");
      refuseConnection(socket, refusal);
      return;
    }
    const session = new Session(socket, client, hooks);
    connections.set(session, { client, identities, live });
    live.sessions.add(session);
  };

  const open = async (listener: ListenerConfig, announce = true): Promise<Live> => {
    const live: Live = { open: undefined as unknown as OpenListener, sessions: new Set(), held: announce ? null : [] };
    live.open = await openListener(
      listener,
      (accepted) => accept(live, accepted),
      (peer, reason) => logger.warn({ listener: live.open?.config.name ?? listener.name, peer, reason }, "connection refused"),
    );
    if (announce) listening(live);
    return live;
  };

  const listening = (live: Live): void =>
    logger.info({ listener: live.open.config.name, address: live.open.address, profile: live.open.config.profile }, "listening");

  let lives: Live[] = [];
  /** Tenant sockets: opened and closed by the tenants API, not by the config (a reload keeps them). */
  const extras = new Set<Live>();
  let admin: AdminServer | undefined;
  let tenants: Tenants | undefined;
  /** Per-job tenants record the image tags their requests create (tenants.ts). */
  function attributed(g: Gate): Gate {
    return { decide: (req, client) => (tenants === undefined ? g.decide(req, client) : tenants.attribute(req, client, g.decide(req, client))) };
  }
  const tenantHost = {
    config: () => current,
    open: async (listener: ListenerConfig) => {
      if (stopping) throw new Error("dockgate is stopping");
      const live = await open(listener);
      extras.add(live);
      return {
        close: async () => {
          extras.delete(live);
          await live.open.close();
          for (const session of live.sessions) session.destroy();
        },
      };
    },
  };
  const startTenants = (next: Config): void => {
    if (tenants !== undefined || next.tenants === undefined) return;
    const t = new Tenants(next.tenants, tenantHost, logger);
    tenants = t;
    const restore = (): void => {
      t.restore().catch((err: Error) => {
        logger.error({ err: err.message }, "cannot read tenants back from the daemon yet: retrying");
        if (!stopping) setTimeout(restore, RESTORE_RETRY_MS).unref();
      });
    };
    restore();
  };
  const adminContext = { metrics, upstream: () => hooks.upstreamPath, tenants: () => tenants };
  try {
    for (const listener of config.listeners) lives.push(await open(listener));
    if (config.admin !== undefined) {
      admin = await openAdmin(config.admin, adminContext);
      logger.info({ address: admin.address }, "admin endpoint listening");
    }
  } catch (err) {
    await Promise.all(lives.map((l) => l.open.close()));
    throw err;
  }
  startTenants(config);

  let reloading: Promise<unknown> = Promise.resolve();

  /** A refused reload: what it opened is closed, connections that came in meanwhile too. */
  const abandon = async (added: Live[], nextAdmin: AdminServer | undefined): Promise<void> => {
    for (const live of added) for (const a of live.held ?? []) a.socket.destroy();
    await Promise.all(added.map((l) => l.open.close()));
    await nextAdmin?.close();
  };

  const reload = async (next: Config, nextGate: Gate): Promise<ReloadSummary> => {
    if (stopping) throw new Error("dockgate is stopping");
    const byKey = new Map(lives.map((l) => [l.open.key, l]));
    const kept: Array<{ live: Live; commit: () => void }> = [];
    const added: Live[] = [];
    const keptKeys = new Set<string>();
    let nextAdmin: AdminServer | undefined;
    try {
      for (const listener of next.listeners) {
        const key = listenerKey(listener.listen);
        const live = byKey.get(key);
        if (live !== undefined && !keptKeys.has(key)) {
          keptKeys.add(key);
          kept.push({ live, commit: await live.open.prepare(listener) });
        } else {
          added.push(await open(listener, false).catch((err: Error) => {
            throw new Error(`listener ${listener.name}: ${err.message}${holdsPort(lives, listener, keptKeys)}`);
          }));
        }
      }
      if (next.admin !== undefined && (admin === undefined || adminKey(admin.listen) !== adminKey(next.admin))) {
        nextAdmin = await openAdmin(next.admin, adminContext).catch((err: Error) => {
          throw new Error(`admin endpoint: ${err.message}`);
        });
      }
    } catch (err) {
      await abandon(added, nextAdmin);
      throw err;
    }
    if (stopping) {
      await abandon(added, nextAdmin);
      throw new Error("dockgate is stopping");
    }

    // ---- commit: synchronous from here, so no request sees half of it ----
    limiter.configure(next);
    hooks.gate = attributed(limiter.wrap(nextGate));
    hooks.upstreamPath = next.upstream;
    hooks.limits = sessionLimits(next);
    const summary: ReloadSummary = { added: added.map((l) => l.open.config.name), removed: [], updated: [] };
    for (const { live, commit } of kept) {
      const before = live.open.config;
      commit();
      const after = live.open.config;
      if (JSON.stringify(before) !== JSON.stringify(after)) summary.updated.push(after.name);
      let revoked = 0;
      for (const session of live.sessions) {
        const c = connections.get(session);
        if (c === undefined) continue;
        if (!live.open.admits(session.client)) {
          // The new allow list excludes this peer: like a removed listener, it finishes and closes.
          session.drain();
          revoked++;
        }
        const now = clientOf(after, c.client.peer, c.identities);
        // A new identity, never the old one changed: whatever keyed or cached the old one (the
        // log's per-client fields, in-flight records) keeps meaning what it meant.
        limiter.replace(c.client, now);
        c.client = now;
        session.reidentify(now);
      }
      if (revoked > 0) logger.info({ listener: after.name, draining: revoked }, "connections from addresses no longer allowed: draining");
    }
    const keep = new Set(kept.map((k) => k.live));
    for (const live of lives) {
      if (keep.has(live)) continue;
      summary.removed.push(live.open.config.name);
      void live.open.close();
      for (const session of live.sessions) session.drain();
      logger.info({ listener: live.open.config.name, address: live.open.address, draining: live.sessions.size }, "listener removed");
    }
    lives = [...kept.map((k) => k.live), ...added];
    for (const live of added) {
      listening(live);
      const held = live.held!;
      live.held = null;
      for (const accepted of held) if (!accepted.socket.destroyed) accept(live, accepted);
    }
    if (nextAdmin === undefined && next.admin !== undefined) admin?.update(next.admin);
    if (nextAdmin !== undefined || next.admin === undefined) {
      const old = admin;
      admin = nextAdmin ?? undefined;
      if (old !== undefined) void old.close();
      if (admin !== undefined) logger.info({ address: admin.address }, "admin endpoint listening");
    }
    current = next;
    tenants?.configure(next.tenants);
    startTenants(next);
    return summary;
  };

  return {
    get listeners() {
      return lives.map((l) => l.open);
    },
    get admin() {
      return admin;
    },
    get tenants() {
      return tenants;
    },
    get config() {
      return current;
    },
    metrics,
    limiter,
    reload(next, nextGate) {
      const run = reloading.then(() => reload(next, nextGate));
      reloading = run.then(
        () => metrics.reload("ok"),
        () => metrics.reload("refused"),
      );
      return run;
    },
    async stop(graceSeconds) {
      stopping = true;
      tenants?.close();
      await Promise.all([...lives.map((l) => l.open.close()), ...[...extras].map((l) => l.open.close()), admin?.close()]);
      for (const session of connections.keys()) session.drain();
      if (connections.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            logger.warn({ connections: connections.size }, "grace period over: closing remaining connections");
            for (const session of connections.keys()) session.destroy();
            resolve();
          }, graceSeconds * 1000);
          allClosed = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

function sessionLimits(config: Config): SessionHooks["limits"] {
  return { maxHeaderBytes: config.limits.maxHeaderBytes, headerTimeoutSeconds: config.limits.headerTimeoutSeconds };
}

/** A hint when a new listener's port is still held by a listener this reload removes. */
function holdsPort(lives: Live[], listener: ListenerConfig, keptKeys: Set<string>): string {
  if (listener.listen.kind === "unix") return "";
  const port = listener.listen.port;
  const holder = lives.find(
    (l) => !keptKeys.has(l.open.key) && l.open.config.listen.kind !== "unix" && (l.open.config.listen as { port: number }).port === port,
  );
  return holder ? ` (port ${port} is still held by listener ${holder.open.config.name}, which this reload removes: restart dockgate to move it)` : "";
}

/**
 * A connection over its client's limit: it gets the 429 as the answer to its first request (a
 * reply before any request would be an unsolicited response to HTTP clients), then is closed.
 */
function refuseConnection(socket: net.Socket, denial: Denial): void {
  const reply = errorResponse(denial.status, denial.message, true);
  let answered = false;
  socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  // Everything the client sends is read (and dropped), so closing never resets the connection.
  socket.on("data", () => {
    if (answered) return;
    answered = true;
    socket.end(reply);
  });
  // Once both sides have ended, the socket destroys itself (autoDestroy).
  socket.on("end", () => {
    if (answered) return;
    answered = true;
    socket.end();
  });
}
