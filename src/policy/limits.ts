// Per-client limits (a client's budget is keyed by Client.owner): requests per second (token
// bucket), simultaneous connections, simultaneous long-lived streams, and containers owned.
//
// The Limiter outlives config reloads: its counters are facts about live connections and streams,
// only the limits themselves (per profile) are swapped by configure(). It decorates the policy
// gate: the rate check answers before the inner gate; the stream and container checks only run
// for requests the inner gate allowed.
//
//   rate         requestsPerSecond sustained, bucket of requestsPerSecond + burst (at least 1):
//                a client may send that many at once, then requestsPerSecond per second.
//   connections  checked by the gateway at accept (accept()); released when the session closes.
//   streams      attach/exec/BuildKit hijacks, logs/service/task logs with follow, events, stats
//                unless stream=false, wait: counted from the decision until that request's
//                exchange ends (settle(request)) or its connection closes (closed()). A hold
//                belongs to its request (the RequestView the gate decided), so exchanges that
//                end without a decision (refused before the gate) or out of order release
//                nothing of another's.
//   containers   ContainerCreate asks the daemon how many containers (any state) carry the
//                profile's ownership label with the client's owner, plus creates still in flight;
//                checks of one client are serialized so concurrent creates cannot overshoot.
//
// Limits apply in audit mode too: audit is about what a profile may do, limits about how much.
// Hot path: a profile without limits costs one Map lookup and one Set lookup per request, and
// allocates nothing but a stream's hold (streams of such profiles are still counted, for the
// metrics gauge); the end of every exchange costs one WeakMap lookup.

import type { Config, ProfileConfig } from "../config/types.js";
import type { DaemonClient } from "./daemon.js";
import { catalogued } from "./rules.js";
import type { Client, Denial, Gate, RequestView, Verdict } from "./verdict.js";

/** What a decided request holds until its exchange completes. */
const NONE = 0;
const STREAM = 1;
const CREATE = 2;

/** Operations whose requests may hold something. */
const TRACKED: ReadonlySet<string> = new Set([
  "ContainerAttach",
  "ContainerAttachWebsocket",
  "ExecStart",
  "Session",
  "Grpc",
  "SystemEvents",
  "ContainerWait",
  "ContainerLogs",
  "ServiceLogs",
  "TaskLogs",
  "ContainerStats",
  "ContainerCreate",
]);

interface ProfileLimits {
  /** Tokens per millisecond; undefined: no rate limit. */
  perMs: number | undefined;
  capacity: number;
  rps: number;
  maxConnections: number | undefined;
  maxStreams: number | undefined;
  maxContainers: number | undefined;
  /** Ownership label key, for maxContainers. */
  label: string | undefined;
}

class Owner {
  tokens = 0;
  last = 0;
  /** The ProfileLimits the bucket was last filled for (a reload re-caps it). */
  bucketFor: ProfileLimits | undefined = undefined;
  connections = 0;
  streams = 0;
  creates = 0;
  /** Container checks of this owner run one after the other. */
  createChain: Promise<unknown> = Promise.resolve();
  /** The 429 for this owner's rate limit, built once per limits generation (a flood allocates none). */
  rateVerdict: Verdict | undefined = undefined;
  rateVerdictFor: ProfileLimits | undefined = undefined;
  constructor(readonly name: string) {}
}

interface Conn {
  owner: Owner;
  /** What the connection's requests hold now. */
  holds: Set<Hold>;
  streams: number;
  creates: number;
  open: boolean;
}

/** What one allowed request holds (STREAM or CREATE), until its exchange ends or its connection closes. */
interface Hold {
  conn: Conn;
  kind: number;
}

/** Go's strings.TrimSpace set (unicode.IsSpace), so a query value means what the daemon reads. */
function isGoSpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** The daemon's httputils.BoolValueOrDefault: first value of `key`, false for "", 0, no, false, none. */
export function queryBool(query: ReadonlyArray<readonly [string, string]>, key: string, fallback: boolean): boolean {
  for (const [k, v] of query) {
    if (k !== key) continue;
    let s = 0;
    let e = v.length;
    while (s < e && isGoSpace(v.charCodeAt(s))) s++;
    while (e > s && isGoSpace(v.charCodeAt(e - 1))) e--;
    const t = v.slice(s, e).toLowerCase();
    return !(t === "" || t === "0" || t === "no" || t === "false" || t === "none");
  }
  return fallback;
}

/** What this request would hold while in flight. */
function holdOf(req: RequestView): number {
  switch (req.operation) {
    case "ContainerLogs":
    case "ServiceLogs":
    case "TaskLogs":
      return queryBool(req.query, "follow", false) ? STREAM : NONE;
    case "ContainerStats":
      return queryBool(req.query, "stream", true) ? STREAM : NONE;
    case "ContainerCreate":
      return CREATE;
    default:
      return STREAM; // attach, exec, BuildKit session/grpc, events, wait
  }
}

function compile(p: ProfileConfig): ProfileLimits | undefined {
  const l = p.limits;
  if (l === undefined) return undefined;
  const { requestsPerSecond: rps, burst, maxConnections, maxStreams, maxContainers } = l;
  if (rps === undefined && maxConnections === undefined && maxStreams === undefined && maxContainers === undefined) return undefined;
  return {
    perMs: rps === undefined ? undefined : rps / 1000,
    capacity: rps === undefined ? 0 : Math.max(1, rps + (burst ?? 0)),
    rps: rps ?? 0,
    maxConnections,
    maxStreams,
    maxContainers,
    label: p.ownership?.label,
  };
}

function denial(message: string, rule: string): Denial {
  return Object.freeze({ status: 429, message, rule: catalogued(rule) });
}

/** Counts containers labelled `label=owner` on the daemon, at most `limit` of them. */
export type ContainerCounter = (label: string, owner: string, limit: number) => Promise<number>;

export class Limiter {
  private profiles = new Map<string, ProfileLimits>();
  private readonly owners = new Map<string, Owner>();
  private readonly conns = new Map<Client, Conn>();
  /** The hold of each decided request still in flight. */
  private readonly holds = new WeakMap<RequestView, Hold>();
  /** Open long-lived streams over all clients (the metrics gauge). */
  activeStreams = 0;

  constructor(
    config?: Config,
    /** Counts a client's containers for limits.maxContainers (the gateway's: daemonContainerCounter). */
    private readonly countContainers: ContainerCounter = () => Promise.reject(new Error("limits.maxContainers needs the daemon: no container counter given")),
  ) {
    if (config) this.configure(config);
  }

  /** Takes the limits of a (new) config; counters and buckets carry over. */
  configure(config: Config): void {
    const profiles = new Map<string, ProfileLimits>();
    for (const [name, p] of config.profiles) {
      const compiled = compile(p);
      if (compiled) profiles.set(name, compiled);
    }
    this.profiles = profiles;
  }

  /** The gate with limits in front: the rate check first, then `inner`, then streams and containers. */
  wrap(inner: Gate): Gate {
    return { decide: (req, client) => this.decide(inner, req, client) };
  }

  private owner(name: string): Owner {
    let o = this.owners.get(name);
    if (o === undefined) {
      o = new Owner(name);
      this.owners.set(name, o);
    }
    return o;
  }

  // ---- connections -----------------------------------------------------------------------

  /** A new connection: undefined when accepted (call closed() when it ends), else the 429. */
  accept(client: Client): Denial | undefined {
    const owner = this.owner(client.owner);
    const max = this.profiles.get(client.profile)?.maxConnections;
    if (max !== undefined && owner.connections >= max) {
      return denial(
        `dockgate: connection limit of ${max} connections exceeded for client ${client.owner} (rule limits.connections)`,
        "limits.connections",
      );
    }
    owner.connections++;
    this.conns.set(client, { owner, holds: new Set(), streams: 0, creates: 0, open: true });
    return undefined;
  }

  /** The connection ended: whatever its requests held is released. */
  closed(client: Client): void {
    const conn = this.conns.get(client);
    if (conn === undefined) return;
    this.conns.delete(client);
    conn.open = false;
    const o = conn.owner;
    o.connections--;
    o.streams -= conn.streams;
    o.creates -= conn.creates;
    this.activeStreams -= conn.streams;
    conn.streams = 0;
    conn.creates = 0;
    conn.holds.clear();
  }

  /**
   * A reload gave the connection a new identity (`next`, maybe of another owner): the
   * connection's count and holdings move with it; what its requests hold is released as before.
   */
  replace(client: Client, next: Client): void {
    const conn = this.conns.get(client);
    if (conn === undefined) return;
    this.conns.delete(client);
    this.conns.set(next, conn);
    if (conn.owner.name === next.owner) return;
    const from = conn.owner;
    const to = this.owner(next.owner);
    from.connections--;
    from.streams -= conn.streams;
    from.creates -= conn.creates;
    to.connections++;
    to.streams += conn.streams;
    to.creates += conn.creates;
    conn.owner = to;
  }

  /** A request's exchange ended (answered, cut, or refused): releases what that request held. */
  settle(request: RequestView): void {
    const hold = this.holds.get(request);
    if (hold === undefined) return;
    this.holds.delete(request);
    const conn = hold.conn;
    if (!conn.holds.delete(hold)) return; // its connection closed first: released then
    if (hold.kind === STREAM) {
      conn.streams--;
      conn.owner.streams--;
      this.activeStreams--;
    } else {
      conn.creates--;
      conn.owner.creates--;
    }
  }

  /** Streams the client holds now (tests, metrics). */
  streamsOf(owner: string): number {
    return this.owners.get(owner)?.streams ?? 0;
  }

  connectionsOf(owner: string): number {
    return this.owners.get(owner)?.connections ?? 0;
  }

  // ---- decisions -------------------------------------------------------------------------

  private decide(inner: Gate, req: RequestView, client: Client): Verdict | Promise<Verdict> {
    const limits = this.profiles.get(client.profile);
    const tracked = TRACKED.has(req.operation);
    if (limits === undefined) {
      if (!tracked) return inner.decide(req, client);
      return this.hold(this.conns.get(client), client, undefined, req, inner.decide(req, client));
    }
    const conn = this.conns.get(client);
    const owner = conn?.owner ?? this.owner(client.owner);
    if (limits.perMs !== undefined && !this.take(owner, limits)) return this.rateDenial(owner, limits);
    const verdict = inner.decide(req, client);
    return tracked ? this.hold(conn, client, limits, req, verdict) : verdict;
  }

  /** Token bucket: true when a token was available (and is now spent). */
  private take(owner: Owner, limits: ProfileLimits): boolean {
    const now = performance.now();
    if (owner.bucketFor !== limits) {
      // First request, or the limits changed on reload: a fresh bucket never exceeds the new cap.
      owner.tokens = owner.bucketFor === undefined ? limits.capacity : Math.min(owner.tokens, limits.capacity);
      owner.bucketFor = limits;
    } else {
      owner.tokens = Math.min(limits.capacity, owner.tokens + (now - owner.last) * limits.perMs!);
    }
    owner.last = now;
    if (owner.tokens < 1) return false;
    owner.tokens -= 1;
    return true;
  }

  private rateDenial(owner: Owner, limits: ProfileLimits): Verdict {
    if (owner.rateVerdictFor !== limits || owner.rateVerdict === undefined) {
      const d = denial(`dockgate: rate limit of ${limits.rps} requests/s exceeded for client ${owner.name} (rule limits.rate)`, "limits.rate");
      owner.rateVerdict = Object.freeze({ kind: "deny", denial: d });
      owner.rateVerdictFor = limits;
    }
    return owner.rateVerdict;
  }

  /** A TRACKED request: what it holds is taken once the inner verdict is known to allow it. */
  private hold(
    conn: Conn | undefined,
    client: Client,
    limits: ProfileLimits | undefined,
    req: RequestView,
    verdict: Verdict | Promise<Verdict>,
  ): Verdict | Promise<Verdict> {
    if (conn === undefined || !conn.open) {
      // Not a connection the gateway accepted (explain, tests): no streams to count, but a
      // container limit is still checked against the daemon.
      if (limits?.maxContainers !== undefined && req.operation === "ContainerCreate") {
        const owner = this.owner(client.owner);
        return Promise.resolve(verdict).then((v) => (v.kind === "deny" ? v : this.checkContainers(undefined, undefined, limits, owner, v)));
      }
      return verdict;
    }
    const held = holdOf(req);
    if (verdict instanceof Promise) {
      return verdict.then((v) => this.admit(conn, req, held, limits, v));
    }
    return this.admit(conn, req, held, limits, verdict);
  }

  private admit(conn: Conn, req: RequestView, held: number, limits: ProfileLimits | undefined, verdict: Verdict): Verdict | Promise<Verdict> {
    if (verdict.kind === "deny" || !conn.open || held === NONE) return verdict;
    const owner = conn.owner;
    if (held === STREAM) {
      const max = limits?.maxStreams;
      if (max !== undefined && owner.streams >= max) {
        return {
          kind: "deny",
          denial: denial(
            `dockgate: stream limit of ${max} concurrent streams reached for client ${owner.name} (rule limits.streams)`,
            "limits.streams",
          ),
        };
      }
      this.mark(conn, req, STREAM);
      return verdict;
    }
    // CREATE
    if (limits?.maxContainers === undefined) return verdict;
    return this.checkContainers(conn, req, limits, owner, verdict);
  }

  private mark(conn: Conn, req: RequestView, held: number): void {
    if (!conn.open) return;
    const hold: Hold = { conn, kind: held };
    conn.holds.add(hold);
    this.holds.set(req, hold);
    if (held === STREAM) {
      conn.streams++;
      conn.owner.streams++;
      this.activeStreams++;
    } else if (held === CREATE) {
      conn.creates++;
      conn.owner.creates++;
    }
  }

  /** One container check per owner at a time: the daemon's count plus creates still in flight. */
  private checkContainers(conn: Conn | undefined, req: RequestView | undefined, limits: ProfileLimits, owner: Owner, verdict: Verdict): Promise<Verdict> {
    const max = limits.maxContainers!;
    const run = owner.createChain.then(async (): Promise<Verdict> => {
      if (limits.label === undefined) {
        return {
          kind: "deny",
          denial: Object.freeze({
            status: 403,
            message: `dockgate: ContainerCreate denied for client ${owner.name}: limits.maxContainers needs the profile's ownership to count containers (rule limits.containers)`,
            rule: "limits.containers",
          }),
        };
      }
      const existing = await this.countContainers(limits.label, owner.name, max);
      if (existing + owner.creates >= max) {
        return {
          kind: "deny",
          denial: denial(`dockgate: container limit of ${max} containers reached for client ${owner.name} (rule limits.containers)`, "limits.containers"),
        };
      }
      if (conn !== undefined && req !== undefined) this.mark(conn, req, CREATE);
      return verdict;
    });
    owner.createChain = run.catch(() => {});
    return run;
  }
}

/**
 * Counts an owner's containers through the daemon client dockgate serves now (its deadline turns
 * a hung daemon into a 502, never an allow).
 */
export function daemonContainerCounter(daemon: () => DaemonClient): ContainerCounter {
  return async (label, owner, limit) => {
    const filters = encodeURIComponent(JSON.stringify({ label: [`${label}=${owner}`] }));
    const r = await daemon().getJson<unknown>(`/containers/json?all=1&limit=${limit}&filters=${filters}`);
    if (!Array.isArray(r.json)) throw new Error(`counting containers: the daemon answered ${r.status}${r.message ? `: ${r.message}` : ""}`);
    return r.json.length;
  };
}
