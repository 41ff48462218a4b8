// BuildKit sessions open through dockgate, and which client opened each.
//
// A BuildKit session (POST /session, X-Docker-Expose-Session-Uuid) is the client's file system,
// credentials, secrets and SSH agent as the daemon sees them during a build: every build that
// names it (`session=` on /build) reads the context, Dockerfile and secrets of whoever opened it.
// So a build may only name a session that is open right now, on a /session connection of the
// same client (same listener and owner: the socket, TCP/TLS identity that selected the profile),
// and a session id can be open only once. The docker CLI opens /session and sends /build on two
// connections at the same moment, so a build whose session is not open yet waits for it (up to
// SESSION_WAIT_MS), as the daemon itself does.
//
// The registry also keeps, per session, the build arguments of each build allowed to use it: the
// Dockerfile the daemon then reads over that session has its FROM lines expanded with them
// (./session-calls.ts), every recorded set in turn, since dockgate cannot tell which build a
// file-sync call serves.

import type { Client, Denial, RequestView, Verdict } from "../verdict.js";
import { buildSessionId, isBuildKitQuery, queryBuildArgs } from "./build-query.js";

/** How long a build waits for the /session it names to be opened (the daemon waits 5 s too). */
export const SESSION_WAIT_MS = 5000;
/** Distinct build-argument sets recorded per session; a build beyond them is refused. */
export const MAX_SESSION_BUILDS = 64;
/** What BuildKit clients use as session ids (identity.NewID: base32; buildx: the same). */
const SESSION_ID = /^[A-Za-z0-9_.-]{1,128}$/;

function ownerKey(client: Client): string {
  return `${client.listener}\u0000${client.owner}\u0000${client.profile}`;
}

interface Live {
  owner: string;
  /** Closes the session's connection. */
  end: () => void;
}

export class SessionRegistry {
  private readonly live = new Map<string, Live>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Build arguments of the builds allowed to use each open session (keyed by their JSON). */
  private readonly builds = new Map<string, Map<string, ReadonlyMap<string, string>>>();
  /** Sessions whose build dockgate refused before they were open: closed as soon as they open. */
  private readonly refused = new Map<string, { owner: string; timer: NodeJS.Timeout }>();

  /**
   * Records session `id` as open for `client`: "open"; "duplicate" when it is open already
   * (anyone's); "refused" when this client's build naming it was refused (the caller closes it).
   */
  open(id: string, client: Client, end: () => void): "open" | "duplicate" | "refused" {
    if (this.live.has(id)) return "duplicate";
    const key = ownerKey(client);
    const r = this.refused.get(id);
    if (r !== undefined && r.owner === key) {
      clearTimeout(r.timer);
      this.refused.delete(id);
      return "refused";
    }
    this.live.set(id, { owner: key, end });
    const w = this.waiters.get(id);
    if (w) for (const wake of w) wake();
    return "open";
  }

  close(id: string): void {
    this.live.delete(id);
    this.builds.delete(id);
  }

  /** Records the build arguments of a build allowed to use open session `id`; false when there are too many. */
  recordBuild(id: string, buildArgs: ReadonlyMap<string, string>): boolean {
    let sets = this.builds.get(id);
    if (!sets) this.builds.set(id, (sets = new Map()));
    const key = JSON.stringify([...buildArgs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (sets.has(key)) return true;
    if (sets.size >= MAX_SESSION_BUILDS) return false;
    sets.set(key, buildArgs);
    return true;
  }

  /** The build-argument sets recorded for session `id` (none recorded: the Dockerfile's own defaults). */
  buildArgs(id: string): ReadonlyArray<ReadonlyMap<string, string>> {
    const sets = this.builds.get(id);
    return sets && sets.size > 0 ? [...sets.values()] : [new Map()];
  }

  isOpen(id: string): boolean {
    return this.live.has(id);
  }

  /**
   * A build of `client` naming session `id` was refused. The docker CLI closes its session only
   * once the session is set up, and waits for it: a refusal that beats the session's own 101
   * would leave the CLI waiting forever. So the client's session ends now, or when it opens.
   */
  buildRefused(id: string, client: Client): void {
    const key = ownerKey(client);
    const live = this.live.get(id);
    if (live !== undefined) {
      if (live.owner === key) live.end();
      return;
    }
    if (this.refused.has(id)) return;
    const timer = setTimeout(() => this.refused.delete(id), SESSION_WAIT_MS);
    timer.unref();
    this.refused.set(id, { owner: key, timer });
  }

  /** "own" when `client` has session `id` open (waiting up to `waitMs` for it), else "other" or "missing". */
  async whose(id: string, client: Client, waitMs = SESSION_WAIT_MS): Promise<"own" | "other" | "missing"> {
    if (!this.live.has(id) && waitMs > 0) {
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(id);
        if (!set) this.waiters.set(id, (set = new Set()));
        const wake = (): void => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0) this.waiters.delete(id);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        set.add(wake);
      });
    }
    const live = this.live.get(id);
    if (live === undefined) return "missing";
    return live.owner === ownerKey(client) ? "own" : "other";
  }
}

/** The sessions of this process (every listener's). */
export const SESSIONS = new SessionRegistry();

function denial(operation: string, profile: string, detail: string, field: string): Denial {
  return Object.freeze({
    status: 403,
    message: `dockgate: ${operation} denied for profile ${profile}: ${detail} (rule buildkit.session)`,
    rule: "buildkit.session",
    field,
  });
}

/** The session id of a /session request, or the reason it is refused. */
export function sessionRequestId(req: RequestView): { ok: true; id: string } | { ok: false; detail: string } {
  const id = req.headers["x-docker-expose-session-uuid"];
  if (id === undefined || id === "") return { ok: false, detail: "X-Docker-Expose-Session-Uuid is missing" };
  if (!SESSION_ID.test(id)) return { ok: false, detail: `X-Docker-Expose-Session-Uuid ${JSON.stringify(id.slice(0, 80))} is not a session id` };
  return { ok: true, id };
}

/**
 * The gate's session step, after the profile's rules allowed the request: /session must bring a
 * session id not open yet; a BuildKit /build must name a session its own client has open.
 */
export function withSessionBinding(
  verdict: Verdict | Promise<Verdict>,
  req: RequestView,
  client: Client,
  profile: string,
  audit: boolean,
  registry: SessionRegistry = SESSIONS,
): Verdict | Promise<Verdict> {
  // Audit mode: the request goes on, noting the would-be denial.
  const refuse = (d: Denial, v: Verdict): Verdict => {
    if (!audit) return { kind: "deny", denial: d };
    return v.kind === "allow" ? { ...v, audit: v.audit ?? d } : v;
  };
  if (req.operation === "Session") {
    const step = (v: Verdict): Verdict => {
      if (v.kind === "deny") return v;
      const id = sessionRequestId(req);
      if (!id.ok) return refuse(denial(req.operation, profile, id.detail, "X-Docker-Expose-Session-Uuid"), v);
      if (registry.isOpen(id.id)) return refuse(denial(req.operation, profile, `session ${JSON.stringify(id.id)} is already open`, "X-Docker-Expose-Session-Uuid"), v);
      return v;
    };
    return verdict instanceof Promise ? verdict.then(step) : step(verdict);
  }
  if (req.operation !== "ImageBuild" || !isBuildKitQuery(req)) return verdict;
  const id = buildSessionId(req);
  if (id === undefined) return verdict; // the query rules refuse it (only audit mode lets it on)
  const step = async (v: Verdict): Promise<Verdict> => {
    if (v.kind === "deny") {
      registry.buildRefused(id, client);
      return v;
    }
    const whose = await registry.whose(id, client);
    if (whose === "own") {
      if (registry.recordBuild(id, queryBuildArgs(req))) return v;
      const out = refuse(denial(req.operation, profile, `session ${JSON.stringify(id)} already served ${MAX_SESSION_BUILDS} builds with different build arguments`, "session"), v);
      if (out.kind === "deny") registry.buildRefused(id, client);
      return out;
    }
    const detail =
      whose === "other"
        ? `session ${JSON.stringify(id)} was opened by another client; a build may only use its own client's session`
        : `session ${JSON.stringify(id)} is not open: a BuildKit build needs a /session opened by the same client`;
    const out = refuse(denial(req.operation, profile, detail, "session"), v);
    if (out.kind === "deny") registry.buildRefused(id, client);
    return out;
  };
  return verdict instanceof Promise ? verdict.then(step) : step(verdict);
}
