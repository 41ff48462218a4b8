// The host network's ids on the daemon dockgate serves. The daemon resolves a network reference
// by name, full id or id prefix, so the host network can be named by its id too; the inspections
// refuse those references like the name "host".
//
// It is context the gate is given (hostNetworkOf its daemon client; serve waits for the daemon's
// answer before the listeners accept), never a module global filled in later: until the ids are
// known, any reference that could be an id prefix (hex digits only) counts as the host network,
// so a request in the first instant, or while the daemon could not be asked, is checked too
// (fail closed).

import type { DaemonClient } from "./daemon.js";

const HEX = /^[0-9a-f]+$/;
/** Retry interval for learning the ids while the daemon cannot say. */
const RETRY_MS = 5000;

export class HostNetwork {
  private ids: readonly string[] | undefined;

  /** `ids` when they are known already; none: not known yet (fail closed until learn() succeeds). */
  constructor(ids?: readonly string[]) {
    if (ids !== undefined) this.ids = normalize(ids);
  }

  get known(): boolean {
    return this.ids !== undefined;
  }

  /** Whether a network reference (NetworkMode, EndpointsConfig key / NetworkID, service Target, build networkmode) may mean the host network. */
  isHostRef(ref: string): boolean {
    const lower = ref.toLowerCase();
    if (lower === "host") return true;
    if (lower === "") return false;
    if (this.ids === undefined) return HEX.test(lower);
    for (const id of this.ids) if (id.startsWith(lower)) return true;
    return false;
  }

  /** Asks the daemon for the host network's id; throws when it cannot answer (the ids stay unknown). */
  async learn(daemon: DaemonClient): Promise<void> {
    const reply = await daemon.getJson<{ Id?: unknown }>("/networks/host");
    // 404: this daemon has no host network (rootless, Windows): only the name "host" is refused.
    if (reply.status === 404) this.ids = [];
    else if (typeof reply.json?.Id === "string") this.ids = normalize([reply.json.Id]);
    else throw new Error(`GET /networks/host: the daemon answered ${reply.status}${reply.message ? `: ${reply.message}` : ""}`);
  }
}

function normalize(ids: readonly string[]): readonly string[] {
  return Object.freeze(ids.filter((id) => id !== "").map((id) => id.toLowerCase()));
}

const byDaemon = new WeakMap<DaemonClient, { hostNetwork: HostNetwork; firstAnswer: Promise<void> }>();

/**
 * The host network of the daemon behind `daemon`, shared by every gate that asks it: learned at
 * the first call, and asked again every RETRY_MS while the daemon cannot say (logged once).
 */
export function hostNetworkOf(daemon: DaemonClient): HostNetwork {
  return learning(daemon).hostNetwork;
}

/** Resolves once the daemon answered the first time, or could not (the ids then stay unknown). */
export function hostNetworkAsked(daemon: DaemonClient): Promise<void> {
  return learning(daemon).firstAnswer;
}

function learning(daemon: DaemonClient): { hostNetwork: HostNetwork; firstAnswer: Promise<void> } {
  let entry = byDaemon.get(daemon);
  if (entry === undefined) {
    const hostNetwork = new HostNetwork();
    entry = { hostNetwork, firstAnswer: keepLearning(daemon, hostNetwork, true) };
    byDaemon.set(daemon, entry);
  }
  return entry;
}

async function keepLearning(daemon: DaemonClient, hostNetwork: HostNetwork, first: boolean): Promise<void> {
  try {
    await hostNetwork.learn(daemon);
    if (!first) daemon.log?.info({ upstream: daemon.socketPath }, "learned the host network's id");
  } catch (err) {
    if (first) {
      daemon.log?.warn(
        { upstream: daemon.socketPath, err: (err as Error).message },
        "cannot read the host network's id yet: network references that could be an id prefix are refused until it is known",
      );
    }
    if (!daemon.isClosed) setTimeout(() => void keepLearning(daemon, hostNetwork, false), RETRY_MS).unref();
  }
}
