// The resolver of referenced objects: every name a request gives for another object (a container,
// exec, network, volume or image: in its path, query or body) is resolved here, with the daemon,
// to the full id the daemon would act on. The caller checks what it learned (ownership.ts: the
// owner label; the image step: the image's facts) and forwards the request with the reference
// REWRITTEN to that id, so the daemon acts on exactly the object that was checked: a rename, a
// remove + re-create or a re-tag between the check and the forward cannot redirect it.
//
// Callers: ownership.ts (path ids, NetworkMode / EndpointsConfig, Links, VolumesFrom, container:
// modes, build networkmode, connect / disconnect, commit, volumes) and engine.ts (the image a
// container is created from, and image mounts, for every profile).
//
// ── Lookup caches ────────────────────────────────────────────────────────────────────────────
//
// A miss always asks the daemon. The cache maps FULL ids of containers, networks and execs to
// their owner label, and is consulted only when the client's parameter is itself a full id:
// ids are random and never reused, and labels cannot change after creation, so "id X belongs to
// O" stays true for the object's whole life. Names and id prefixes are always resolved fresh,
// because what they point at changes (rename, remove + create). Volumes are never cached: their
// name is their id and can be re-used by anyone after a remove. The cache is only used while
// dockgate's own /events subscription is connected (container and network `destroy` drop their
// entries, keeping it small and making a removed id unknown at once); when the subscription drops
// the cache is cleared and bypassed until it is back. Die and rename events need no handling:
// nothing cached depends on a name or on whether a container runs. A failed lookup (daemon down,
// timeout, 5xx) is a 502 denial, never an allow.
//
// Images: name → id is never cached (tags move; a re-tag between check and use is the attack). What
// is learned about an image id (its config: WORKDIR) is kept for good in a bounded LRU: an image id
// is the digest of that config, so it cannot change. Its references (RepoTags, RepoDigests) do
// change: a create under an image policy asks the daemon every time (image(ref, true)).
//

import { DaemonError, type DaemonClient, type DaemonEvent } from "./daemon.js";
import { GoObject, type GoValue } from "./gojson.js";
import { isProcWorkdir } from "./inspect/util.js";
import type { Denial } from "./verdict.js";

export type ObjectKind = "container" | "exec" | "network" | "volume";

/** What the daemon says for a missing object (API 1.24 .. 1.51 use the same wording). */
export function notFoundMessage(kind: ObjectKind, ref: string): string {
  switch (kind) {
    case "container":
      return `No such container: ${ref}`;
    case "exec":
      return `No such exec instance: ${ref}`;
    case "network":
      return `network ${ref} not found`;
    case "volume":
      return `get ${ref}: no such volume`;
  }
}

const FULL_ID = /^[0-9a-f]{64}$/;
export function isFullId(s: string): boolean {
  return s.length === 64 && FULL_ID.test(s);
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Resolver: who owns what, asked of the daemon, cached by full id

export type Resolution = { found: true; id: string; owner: string | undefined; name?: string } | { found: false; message: string };

/** What dockgate decides on about an image: immutable for its id. */
export interface ImageFacts {
  /** `sha256:<hex>`, the id the daemon acts on when given it. */
  id: string;
  /** Config.WorkingDir ("" when the image sets none). */
  workdir: string;
}

/** An image reference resolved: its facts, or the daemon's refusal (404 No such image, 400 invalid reference) in its words. */
export type ImageResolution = { found: true; facts: ImageFacts; refs?: readonly string[] } | { found: false; status: number; message: string };

const IMAGE_CACHE_MAX = 4096;
const IMAGE_ID = /^(?:sha256:)?([0-9a-f]{64})$/;

const CACHE_MAX = 10_000;

interface ContainerJson {
  Id?: string;
  Config?: { Labels?: Record<string, string> | null } | null;
}
interface NetworkJson {
  Id?: string;
  Name?: string;
  Labels?: Record<string, string> | null;
}
export interface VolumeJson {
  Name?: string;
  Labels?: Record<string, string> | null;
}
interface ImageJson {
  Id?: string;
  RepoTags?: unknown;
  RepoDigests?: unknown;
  Config?: { WorkingDir?: unknown } | null;
}
interface ExecJson {
  ID?: string;
  ContainerID?: string;
}

/** Resolves object references to full ids (and owners, image facts) through one daemon, with the id caches. */
export class RefResolver {
  /** `kind \0 fullId` → labels (only the keys some ownership profile uses). */
  private readonly cache = new Map<string, Record<string, string>>();
  /** exec full id → container full id. */
  private readonly execs = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<Resolution>>();
  /** image id → facts, least recently used first. */
  private readonly images = new Map<string, ImageFacts>();
  private readonly imageInflight = new Map<string, Promise<ImageResolution>>();
  private readonly labels = new Set<string>();
  private live = false;
  private unsubscribe: (() => void) | undefined;
  /** For tests and metrics: lookups answered from the cache / by the daemon. */
  readonly stats = { hits: 0, lookups: 0 };

  constructor(readonly daemon: DaemonClient) {}

  /** Registers an ownership label key (which labels to keep in cache entries). */
  use(label: string): void {
    this.labels.add(label);
  }

  /** The event subscription starts with the first lookup (a gate that never looks anything up opens nothing). */
  private subscribe(): void {
    this.unsubscribe ??= this.daemon.subscribe(
      { type: ["container", "network"], event: ["destroy"] },
      (e) => this.onEvent(e),
      (live) => {
        // Events may have been missed while the stream was down: start from nothing.
        this.live = live;
        this.cache.clear();
        this.execs.clear();
      },
    );
    this.live = this.daemon.eventsLive;
  }

  private onEvent(e: DaemonEvent): void {
    const id = e.Actor?.ID;
    if (id === undefined) return;
    if (e.Type === "container") this.cache.delete(`container\0${id}`);
    else if (e.Type === "network") this.cache.delete(`network\0${id}`);
  }

  private remember(kind: "container" | "network", id: string, labels: Record<string, string> | null | undefined, name?: string): void {
    if (!this.live || !isFullId(id)) return;
    const kept: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const l of this.labels) {
      const v = labels?.[l];
      if (typeof v === "string") kept[l] = v;
    }
    // A network's name cannot change: kept for the predefined-network check.
    if (name !== undefined) kept["\0name"] = name;
    const key = `${kind}\0${id}`;
    this.cache.delete(key);
    this.cache.set(key, kept);
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
  }

  private cached(kind: "container" | "network", ref: string, label: string): Resolution | undefined {
    if (!this.live || !isFullId(ref)) return undefined;
    const labels = this.cache.get(`${kind}\0${ref}`);
    if (labels === undefined) return undefined;
    this.stats.hits++;
    const name = labels["\0name"];
    return name === undefined ? { found: true, id: ref, owner: labels[label] } : { found: true, id: ref, owner: labels[label], name };
  }

  /** Resolves `ref` as the daemon would for `kind`; throws DaemonError when the daemon cannot answer. */
  resolve(kind: ObjectKind, ref: string, label: string): Promise<Resolution> {
    if (this.unsubscribe === undefined) this.subscribe();
    if (kind === "container" || kind === "network") {
      const hit = this.cached(kind, ref, label);
      if (hit) return Promise.resolve(hit);
    }
    const key = `${kind}\0${label}\0${ref}`;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.lookup(kind, ref, label).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async lookup(kind: ObjectKind, ref: string, label: string): Promise<Resolution> {
    this.stats.lookups++;
    const enc = encodeURIComponent(ref);
    switch (kind) {
      case "container": {
        const r = await this.daemon.getJson<ContainerJson>(`/containers/${enc}/json`);
        if (r.json === undefined) return missing(kind, ref, r.status, r.message);
        const id = r.json.Id;
        if (typeof id !== "string") throw new DaemonError("container inspect without an Id");
        const labels = r.json.Config?.Labels;
        this.remember("container", id, labels);
        return { found: true, id, owner: labels?.[label] };
      }
      case "network": {
        const r = await this.daemon.getJson<NetworkJson>(`/networks/${enc}`);
        if (r.json === undefined) return missing(kind, ref, r.status, r.message);
        const id = r.json.Id;
        if (typeof id !== "string") throw new DaemonError("network inspect without an Id");
        const name = typeof r.json.Name === "string" ? r.json.Name : "";
        this.remember("network", id, r.json.Labels, name);
        return { found: true, id, owner: r.json.Labels?.[label], name };
      }
      case "volume": {
        const r = await this.daemon.getJson<VolumeJson>(`/volumes/${enc}`);
        if (r.json === undefined) return missing(kind, ref, r.status, r.message);
        const name = r.json.Name;
        if (typeof name !== "string") throw new DaemonError("volume inspect without a Name");
        return { found: true, id: name, owner: r.json.Labels?.[label] };
      }
      case "exec": {
        let container = this.live && isFullId(ref) ? this.execs.get(ref) : undefined;
        let id = ref;
        if (container === undefined) {
          const r = await this.daemon.getJson<ExecJson>(`/exec/${enc}/json`);
          if (r.json === undefined) return missing(kind, ref, r.status, r.message);
          if (typeof r.json.ID !== "string" || typeof r.json.ContainerID !== "string") throw new DaemonError("exec inspect without ID / ContainerID");
          id = r.json.ID;
          container = r.json.ContainerID;
          if (this.live && isFullId(id)) {
            this.execs.set(id, container);
            if (this.execs.size > CACHE_MAX) this.execs.delete(this.execs.keys().next().value!);
          }
        } else {
          this.stats.hits++;
        }
        const c = await this.resolve("container", container, label);
        // The exec's container is gone: so is the exec, as far as the client may know.
        if (!c.found) return { found: false, message: notFoundMessage("exec", ref) };
        return { found: true, id, owner: c.owner };
      }
    }
  }

  /**
   * Resolves an image reference as the daemon's GetImage would (name[:tag], name@digest, id, id
   * prefix). A full id is answered from the facts cache unless `withRefs` (the image's current
   * RepoTags and RepoDigests are wanted: they change); anything else asks the daemon every time.
   * Throws DaemonError when the daemon cannot answer.
   */
  image(ref: string, withRefs = false): Promise<ImageResolution> {
    const full = withRefs ? null : IMAGE_ID.exec(ref);
    if (full) {
      const hit = this.images.get(`sha256:${full[1]!}`);
      if (hit !== undefined) {
        this.stats.hits++;
        this.images.delete(hit.id);
        this.images.set(hit.id, hit);
        return Promise.resolve({ found: true, facts: hit });
      }
    }
    let p = this.imageInflight.get(ref);
    if (p === undefined) {
      p = this.lookupImage(ref).finally(() => this.imageInflight.delete(ref));
      this.imageInflight.set(ref, p);
    }
    return p;
  }

  private async lookupImage(ref: string): Promise<ImageResolution> {
    this.stats.lookups++;
    const r = await this.daemon.getJson<ImageJson>(`/images/${encodeURIComponent(ref)}/json`);
    if (r.json === undefined) {
      if (r.status >= 500) throw new DaemonError(`the daemon answered ${r.status}${r.message ? `: ${r.message}` : ""}`);
      // What create says: image inspect on 20.10 wraps it ("no such image: x: No such image: x:latest").
      const i = r.message?.indexOf("No such image: ") ?? -1;
      return { found: false, status: r.status, message: i >= 0 ? r.message!.slice(i) : r.message ?? `No such image: ${ref}` };
    }
    const id = r.json.Id;
    if (typeof id !== "string" || !IMAGE_ID.test(id) || !id.startsWith("sha256:")) throw new DaemonError("image inspect without a sha256 Id");
    const wd = r.json.Config?.WorkingDir;
    const facts: ImageFacts = Object.freeze({ id, workdir: typeof wd === "string" ? wd : "" });
    this.images.delete(id);
    this.images.set(id, facts);
    if (this.images.size > IMAGE_CACHE_MAX) this.images.delete(this.images.keys().next().value!);
    const refs = [r.json.RepoTags, r.json.RepoDigests].flatMap((l) => (Array.isArray(l) ? l.filter((x): x is string => typeof x === "string") : []));
    return { found: true, facts, refs };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

/**
 * The daemon said no. 404 is "missing" in its own words; any other 4xx (an ambiguous id prefix,
 * an invalid name) is reported as missing too, so it reveals nothing about other tenants' objects;
 * 5xx means the daemon could not tell: the lookup fails.
 */
function missing(kind: ObjectKind, ref: string, status: number, message: string | undefined): Resolution {
  if (status >= 500) throw new DaemonError(`the daemon answered ${status}${message ? `: ${message}` : ""}`);
  return { found: false, message: status === 404 && message ? message : notFoundMessage(kind, ref) };
}

const resolvers = new WeakMap<DaemonClient, RefResolver>();

export function resolverFor(daemon: DaemonClient): RefResolver {
  let r = resolvers.get(daemon);
  if (r === undefined) {
    r = new RefResolver(daemon);
    resolvers.set(daemon, r);
  }
  return r;
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Images of a container create, for every profile

/**
 * The images a ContainerCreate body names (`Image`, and `HostConfig.Mounts` of type image where
 * the daemon supports them; older daemons refuse that type themselves): each resolved once, its
 * facts checked, and the body rewritten to name the id that was checked. CVE-2024-21626 through an
 * image: a container created without a WorkingDir of its own gets its image's WORKDIR, which the
 * body does not show; one under /proc is refused like a WorkingDir in the body (rule
 * containers.workdir). An image the daemon does not have is answered in its words (404 `No such
 * image: x`, which the docker CLI reads as "pull it"): forwarding the name would let an image
 * tagged with it in between be created unchecked. With `policy` (rules.images.allow), each image
 * is also checked against the profile's image policy with its current references.
 */
/** The image policy's check of an image a create names, given the image's references (engine.ts builds it from rules.images). */
export type ImagePolicyCheck = (field: string, written: string, refs: readonly string[]) => Denial | undefined;

export async function pinImages(value: GoValue | undefined, resolver: RefResolver, operation: string, profile: string, policy?: ImagePolicyCheck): Promise<Denial | undefined> {
  if (!(value instanceof GoObject)) return undefined; // no body, or not an object: the daemon refuses it
  const image = value.get("Image");
  if (typeof image === "string" && image !== "") {
    const r = await resolveImage(image, "Image", resolver, operation, profile, policy);
    if ("denial" in r) return r.denial;
    const own = value.get("WorkingDir");
    if ((typeof own !== "string" || own === "") && isProcWorkdir(r.facts.workdir)) {
      return {
        status: 403,
        message: `dockgate: ${operation} denied for profile ${profile}: image ${JSON.stringify(image)} has WORKDIR ${JSON.stringify(r.facts.workdir)} under /proc, which is not allowed (set a WorkingDir) (rule containers.workdir)`,
        rule: "containers.workdir",
        field: "Image",
      };
    }
    if (r.facts.id !== image) value.set("Image", r.facts.id);
  }
  const hc = value.get("HostConfig");
  const mounts = hc instanceof GoObject ? hc.get("Mounts") : undefined;
  if (Array.isArray(mounts)) {
    for (const [i, m] of mounts.entries()) {
      if (!(m instanceof GoObject)) continue;
      const type = m.get("Type");
      const source = m.get("Source");
      if (typeof type !== "string" || type.toLowerCase() !== "image" || typeof source !== "string" || source === "") continue;
      const r = await resolveImage(source, `HostConfig.Mounts[${i}].Source`, resolver, operation, profile, policy);
      if ("denial" in r) return r.denial;
      if (r.facts.id !== source) m.set("Source", r.facts.id);
    }
  }
  return undefined;
}

async function resolveImage(ref: string, field: string, resolver: RefResolver, operation: string, profile: string, policy: ImagePolicyCheck | undefined): Promise<{ facts: ImageFacts } | { denial: Denial }> {
  let r: ImageResolution;
  try {
    r = await resolver.image(ref, policy !== undefined);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { denial: { status: 502, message: `dockgate: ${operation} denied for profile ${profile}: image ${JSON.stringify(ref)} could not be checked: ${why} (rule policy.lookup)`, rule: "policy.lookup", field } };
  }
  if (!r.found) return { denial: { status: r.status, message: r.message, rule: "images.not-found", field } };
  const denial = policy?.(field, ref, r.refs ?? []);
  return denial ? { denial } : { facts: r.facts };
}
