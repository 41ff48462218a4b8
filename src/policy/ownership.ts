// Ownership: tenants sharing one daemon. Every container, network and volume created through a
// profile with `ownership` carries the label `<label>=<owner>` (owner = Client.owner: the listener
// name, or `listener/identity`), and everything the client names or lists is limited to objects
// carrying its own label. What it may not see does not exist: the answer is the daemon's own 404
// wording (`No such container: x`), so a client cannot tell another tenant's object from a
// missing one (except where the daemon's shared namespaces tell it; see "Not covered").
//
// ── What each operation gets ────────────────────────────────────────────────────────────────
//
//   create         ContainerCreate, NetworkCreate, VolumeCreate: the owner label is set in the
//                  body (Labels, found case-insensitively as Go does; a client label of the same
//                  key is overwritten; one that differs only in case is refused). ImageBuild: added
//                  to the `labels` query (the built image carries it). The profile's rules inspect
//                  the client's own body first.
//   by id/name     every `{id}` / `{name}` of container, exec, network and volume operations, and
//                  ImageCommit's `container=`: dockgate asks the daemon to inspect exactly that
//                  string (the daemon resolves full ids, names and unique id prefixes), reads the
//                  owner label, and forwards the request with the parameter REPLACED by the full id
//                  it checked, so the daemon acts on exactly that object (a rename or remove +
//                  re-create under the same name in between cannot redirect it). Not owned, or
//                  missing: 404 with the daemon's wording. Execs: ExecInspect → ContainerID → the
//                  container's owner.
//   references     in a ContainerCreate body: a named network (NetworkMode, EndpointsConfig keys)
//                  must be the client's (rewritten to its full id; bridge/host/none/default are
//                  shared); a named volume (Binds `name:/path`, Mounts type volume) must be the
//                  client's, and one that does not exist yet is created first with the owner label
//                  (what the daemon would do, minus the label). NetworkConnect/Disconnect: the body's
//                  Container must be owned (rewritten to its full id). Joins to other containers
//                  (`container:<x>` namespace modes, VolumesFrom, NetworkCreate ConfigFrom,
//                  build networkmode=container:<x>) are refused under ownership even when the
//                  profile's rules allow joins (rule ownership.join). Links must name the client's
//                  own containers (legacy links are forwarded as `<full id>:<alias>`; see claimLinks).
//   answers        the owner label is hidden from what the client reads (hide-owner.ts), and a
//                  NetworkMode forwarded as an id reads back as the client wrote it.
//   lists          ContainerList, NetworkList, VolumeList, the three prunes and SystemEvents get
//                  `label=<label>=<owner>` merged into `filters` (both the JSON object-of-arrays
//                  form and the old object-of-booleans form; anything else is a 400). The daemon
//                  ANDs label filters, so a client's own filters only narrow further.
//                  Events: the daemon matches labels against the event's actor attributes.
//                  Container events carry the container's labels and pass; network and volume
//                  events carry no labels (network: name, type, container; volume: driver) and
//                  are filtered out: a tenant sees its containers' events only (image events of
//                  images it built with the owner label too).
//   shared nets    the daemon's predefined networks (bridge, host, none) and the profile's
//                  `mutate.network` belong to no tenant: NetworkInspect answers with `Containers`
//                  emptied (the attached containers are everyone's; Testcontainers reads the
//                  bridge's gateway from it when it runs inside a container), own containers may
//                  be connected and disconnected, removal is a 404. `network ls` does not list them.
//   system df      the response's Containers and Volumes are filtered to the client's own.
//   shared         images (list, inspect, pull, tag, remove, prune, save, load, push), build cache
//                  prune, /info, /version, /_ping, /auth, distribution, plugin list/inspect: one
//                  image store, unfiltered. ImageList is not filtered: a tenant can see and remove
//                  images another tenant pulled or built.
//   refused        swarm, services, tasks, nodes, secrets, configs, plugin changes and BuildKit
//                  (/session, /grpc): dockgate cannot label or scope them (rule
//                  ownership.unsupported).
//   names          a container or network name of 64 hex digits is refused (ownership.name): the
//                  daemon resolves a full id before a name, and a name equal to some id would make
//                  the forwarded full id ambiguous after that object is removed.
//
// ── Lookup cache ─────────────────────────────────────────────────────────────────────────────
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
// ── Not covered ──────────────────────────────────────────────────────────────────────────────
//
// Names are one namespace on the daemon: creating a container, network or volume with a name
// another tenant uses fails with the daemon's conflict error (which names the other object's id
// for containers), so names leak existence. Counts in /info (Containers, Images, ...) are global
// (redact them with `redact.info`). The default bridge network is shared: ownership isolates the
// API, not the network (use `mutate.network` or per-tenant networks). Anonymous volumes (image
// VOLUMEs, `-v /path`) are created by the daemon without the label: they go with their container
// (`docker rm -v`, `compose down -v`) but do not show in the tenant's volume list.

import { SPEC_ROUTES } from "../api/spec-routes.js";
import { DaemonError, type DaemonClient, type DaemonEvent } from "./daemon.js";
import { GoJsonError, GoObject, type GoValue, parseGoJson, toJson } from "./gojson.js";
import { dropClientSpellings, spellingLabel } from "./hide-owner.js";
import type { Client, Denial, RequestView, ResponseTransform, Rewrite } from "./verdict.js";

export const OWNERSHIP_RULES: ReadonlyArray<{ id: string; status: number; describe: string }> = [
  { id: "ownership.not-found", status: 404, describe: "the named container, exec, network or volume is not the client's (answered in the daemon's words for a missing object)" },
  { id: "ownership.lookup", status: 502, describe: "dockgate could not ask the daemon who owns an object; the request is denied" },
  { id: "ownership.filters", status: 400, describe: "a list's `filters` (or a build's `labels`) parameter is not JSON the daemon would read" },
  { id: "ownership.label", status: 400, describe: "the client's labels contain a key that differs from the ownership label only in case" },
  { id: "ownership.join", status: 403, describe: "the request joins another container (container:<x>, VolumesFrom, ConfigFrom): not supported with ownership" },
  { id: "ownership.name", status: 403, describe: "a container or network name of 64 hex digits (it would be ambiguous with object ids)" },
  { id: "ownership.volume", status: 409, describe: "a named volume the container would mount, or the volume being created, belongs to another client" },
  { id: "ownership.unsupported", status: 403, describe: "the operation cannot be scoped to an owner (swarm, services, secrets, configs, nodes, tasks, plugin changes, BuildKit)" },
];

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
interface VolumeJson {
  Name?: string;
  Labels?: Record<string, string> | null;
}
interface ExecJson {
  ID?: string;
  ContainerID?: string;
}

/** Resolves object references to (full id, owner) through one daemon, with the full-id cache. */
export class OwnerResolver {
  /** `kind \0 fullId` → labels (only the keys some ownership profile uses). */
  private readonly cache = new Map<string, Record<string, string>>();
  /** exec full id → container full id. */
  private readonly execs = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<Resolution>>();
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

const resolvers = new WeakMap<DaemonClient, OwnerResolver>();

export function resolverFor(daemon: DaemonClient): OwnerResolver {
  let r = resolvers.get(daemon);
  if (r === undefined) {
    r = new OwnerResolver(daemon);
    resolvers.set(daemon, r);
  }
  return r;
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Per-operation policy

export interface OwnershipContext {
  /** The profile's ownership label key. */
  label: string;
  profile: string;
  resolver: OwnerResolver;
  /** Networks of the profile shared by all its clients (mutate.network), besides the predefined ones. */
  sharedNetworks: ReadonlySet<string>;
}

export type PreResult = { ok: true; rewrite?: Rewrite } | { ok: false; denial: Denial };
export type BodyOutcome = { ok: true; value: GoValue } | { ok: false; denial: Denial };

export interface OwnedOperation {
  /** Before the body: path and query checks and rewrites. Absent: nothing to do. */
  pre?(req: RequestView, client: Client, ctx: OwnershipContext): PreResult | Promise<PreResult>;
  /** After the rules passed the client's body: the body to forward (mutated in place) or a denial. */
  body?(value: GoValue | undefined, req: RequestView, client: Client, ctx: OwnershipContext): BodyOutcome | Promise<BodyOutcome>;
}

const OK: PreResult = Object.freeze({ ok: true });

function denial(status: number, message: string, rule: string, field?: string): Denial {
  return field === undefined ? { status, message, rule } : { status, message, rule, field };
}

function policyDenial(req: RequestView, ctx: OwnershipContext, status: number, detail: string, rule: string, field?: string): Denial {
  return denial(status, `dockgate: ${req.operation} denied for profile ${ctx.profile}: ${detail} (rule ${rule})`, rule, field);
}

function lookupDenial(req: RequestView, err: unknown): Denial {
  const why = err instanceof Error ? err.message : String(err);
  return denial(502, `dockgate: ${req.operation}: cannot check ownership: ${why} (rule ownership.lookup)`, "ownership.lookup");
}

function notFound(message: string, field: string): Denial {
  // The daemon's own words, without a dockgate prefix: indistinguishable from a missing object.
  return denial(404, message, "ownership.not-found", field);
}

/** Path templates by operation, for putting the resolved full id into the forwarded path. */
const TEMPLATES: ReadonlyMap<string, string> = new Map(SPEC_ROUTES.map((r) => [r.operation, r.path] as const).reverse());

function pathWith(req: RequestView, param: string, value: string): string {
  const t = TEMPLATES.get(req.operation);
  if (t === undefined) throw new Error(`no route template for ${req.operation}`);
  return t.replace(`{${param}}`, value);
}

/** `{id}` / `{name}` of a container, exec, network or volume operation. */
function byParam(kind: ObjectKind, param: "id" | "name"): OwnedOperation {
  return {
    async pre(req, client, ctx) {
      const ref = req.params[param];
      if (ref === undefined) return { ok: false, denial: policyDenial(req, ctx, 403, `no ${param} parameter`, "ownership.not-found") };
      let r: Resolution;
      try {
        r = await ctx.resolver.resolve(kind, ref, ctx.label);
      } catch (err) {
        return { ok: false, denial: lookupDenial(req, err) };
      }
      if (!r.found) return { ok: false, denial: notFound(r.message, param) };
      const path = pathWith(req, param, r.id);
      if (r.owner === client.owner) return { ok: true, rewrite: { path } };
      if (kind === "network" && r.owner === undefined && r.name !== undefined && isSharedNetwork(r.name, ctx)) {
        // The daemon's predefined networks and the profile's forced one belong to no tenant: they
        // may be inspected (without the list of attached containers, which are other tenants' too)
        // and own containers connected to them, but not removed.
        if (req.operation === "NetworkInspect") return { ok: true, rewrite: { path, response: HIDE_NETWORK_CONTAINERS } };
        if (req.operation === "NetworkConnect" || req.operation === "NetworkDisconnect") return { ok: true, rewrite: { path } };
      }
      return { ok: false, denial: notFound(notFoundMessage(kind, ref), param) };
    },
  };
}

/** The daemon's predefined networks (no one can create networks of these names). */
const PREDEFINED_NETWORKS: ReadonlySet<string> = new Set(["bridge", "host", "none"]);

function isSharedNetwork(name: string, ctx: OwnershipContext): boolean {
  return PREDEFINED_NETWORKS.has(name) || ctx.sharedNetworks.has(name);
}

/** NetworkInspect of a shared network: `Containers` (and swarm `Services`) emptied. */
const HIDE_NETWORK_CONTAINERS: ResponseTransform = Object.freeze({
  maxBytes: 16 * 1048576,
  transform(body: Buffer): Buffer {
    const n = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    if (typeof n !== "object" || n === null || Array.isArray(n)) throw new Error("network inspect: not an object");
    if ("Containers" in n) n["Containers"] = {};
    if ("Services" in n) n["Services"] = {};
    return Buffer.from(JSON.stringify(n));
  },
});

// ── filters ──

/** First value of a query parameter, as Go's r.Form.Get reads it. */
function firstQuery(req: RequestView, name: string): string | undefined {
  for (const [k, v] of req.query) if (k === name) return v;
  return undefined;
}

/** The query with every `name` pair replaced by one `name=value` (at the first one's place, or appended). */
function replaceQuery(query: ReadonlyArray<readonly [string, string]>, name: string, value: string): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  let placed = false;
  for (const pair of query) {
    if (pair[0] !== name) out.push(pair);
    else if (!placed) {
      out.push([name, value]);
      placed = true;
    }
  }
  if (!placed) out.push([name, value]);
  return out;
}

/**
 * `filters` with `label=<expr>` added, in the daemon's canonical form `{"key":{"value":true}}`.
 * Reads both forms the daemon reads (filters.FromJSON: object of objects of booleans, else the
 * legacy object of string arrays); throws a message otherwise.
 */
export function mergeLabelFilter(raw: string | undefined, expr: string): string {
  const fields = new Map<string, Map<string, boolean>>();
  if (raw !== undefined && raw !== "") {
    let parsed: GoValue;
    try {
      parsed = parseGoJson(Buffer.from(raw, "utf8"));
    } catch (err) {
      if (err instanceof GoJsonError) throw new Error(`filters is not valid JSON: ${err.message}`);
      throw err;
    }
    if (parsed !== null) {
      if (!(parsed instanceof GoObject)) throw new Error("filters must be a JSON object");
      let form: "map" | "list" | undefined;
      for (const [key, value] of parsed.entries()) {
        const values = new Map<string, boolean>();
        if (value instanceof GoObject) {
          if (form === "list") throw new Error("filters mixes the object and list forms");
          form = "map";
          for (const [v, b] of value.entries()) {
            if (typeof b !== "boolean") throw new Error(`filters.${key}: values must be true or false`);
            values.set(v, b);
          }
        } else if (Array.isArray(value)) {
          if (form === "map") throw new Error("filters mixes the object and list forms");
          form = "list";
          for (const v of value) {
            if (typeof v !== "string") throw new Error(`filters.${key}: entries must be strings`);
            values.set(v, true);
          }
        } else if (value !== null) {
          throw new Error(`filters.${key} must be an object or a list`);
        }
        fields.set(key, values);
      }
    }
  }
  let labels = fields.get("label");
  if (labels === undefined) {
    labels = new Map();
    fields.set("label", labels);
  }
  labels.set(expr, true);
  let out = "{";
  let first = true;
  for (const [key, values] of fields) {
    out += `${first ? "" : ","}${JSON.stringify(key)}:{`;
    first = false;
    let f = true;
    for (const [v, b] of values) {
      out += `${f ? "" : ","}${JSON.stringify(v)}:${b}`;
      f = false;
    }
    out += "}";
  }
  return out + "}";
}

const LIST: OwnedOperation = {
  pre(req, client, ctx) {
    let merged: string;
    try {
      merged = mergeLabelFilter(firstQuery(req, "filters"), `${ctx.label}=${client.owner}`);
    } catch (err) {
      return { ok: false, denial: policyDenial(req, ctx, 400, (err as Error).message, "ownership.filters", "filters") };
    }
    return { ok: true, rewrite: { query: replaceQuery(req.query, "filters", merged) } };
  },
};

// ── system df ──

const DF_MAX_BYTES = 64 * 1048576;

function ownedByLabels(item: unknown, label: string, owner: string): boolean {
  if (item === null || typeof item !== "object") return false;
  const labels = (item as { Labels?: unknown }).Labels;
  return labels !== null && typeof labels === "object" && (labels as Record<string, unknown>)[label] === owner;
}

const SYSTEM_DF: OwnedOperation = {
  pre(_req, client, ctx) {
    const { label } = ctx;
    const owner = client.owner;
    const response: ResponseTransform = {
      maxBytes: DF_MAX_BYTES,
      transform(body) {
        const df = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
        for (const key of ["Containers", "Volumes"]) {
          const list = df[key];
          if (Array.isArray(list)) df[key] = list.filter((x) => ownedByLabels(x, label, owner));
          else if (list !== null && list !== undefined) throw new Error(`system df: ${key} is not a list`);
        }
        return Buffer.from(JSON.stringify(df));
      },
    };
    return { ok: true, rewrite: { response } };
  },
};

// ── labels in bodies ──

/**
 * Sets `label=owner` in the body's `field` (a Go struct field holding a map): the field is found
 * the way Go finds it, the map key must be exact. A client key that Go would keep apart but that
 * differs only in case is refused, so nobody reading labels loosely can be confused.
 */
function setOwnerLabel(o: GoObject, field: string, label: string, owner: string): string | undefined {
  const current = o.get(field);
  let labels: GoObject;
  if (current === undefined || current === null) {
    labels = new GoObject();
  } else if (current instanceof GoObject) {
    labels = current;
  } else {
    return `${o.keyOf(field) ?? field} must be an object of strings`;
  }
  for (const [k] of labels.entries()) {
    if (k !== label && k.toLowerCase() === label.toLowerCase()) return `label ${JSON.stringify(k)} differs from the ownership label ${JSON.stringify(label)} only in case`;
  }
  try {
    labels.set(label, owner);
    o.set(field, labels);
  } catch (err) {
    if (err instanceof GoJsonError) return `label keys are ambiguous with the ownership label: ${err.message}`;
    throw err;
  }
  return undefined;
}

/**
 * The create body to put the owner label in. A missing body is refused: the rewritten one would
 * reach the daemon without the client's (absent) `Content-Type: application/json`, and a
 * VolumeCreate without a body would make an unlabelled volume.
 */
function createBody(value: GoValue | undefined, req: RequestView, ctx: OwnershipContext): GoObject | Denial {
  if (value === undefined) {
    return policyDenial(req, ctx, 400, "the request has no JSON body to carry the owner label (send one, with Content-Type: application/json)", "ownership.label");
  }
  if (value === null) return new GoObject();
  return value instanceof GoObject ? value : policyDenial(req, ctx, 400, "the body must be a JSON object", "body.type");
}

function nonEmpty(v: GoValue | undefined): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "string") return v !== "";
  return true;
}

const JOIN_FIELDS = ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "Cgroup"] as const;
/** Network modes that are not a network object of anyone's: the daemon's predefined ones. */
const SHARED_NETWORKS: ReadonlySet<string> = new Set(["", "default", "bridge", "host", "none"]);

function checkName(req: RequestView, ctx: OwnershipContext, param: string): Denial | undefined {
  for (const [k, v] of req.query) {
    if (k !== param) continue;
    const name = v.startsWith("/") ? v.slice(1) : v;
    if (isFullId(name.toLowerCase())) {
      return policyDenial(req, ctx, 403, `${param}=${JSON.stringify(v)}: a name of 64 hex digits would be ambiguous with container ids`, "ownership.name", param);
    }
  }
  return undefined;
}

interface VolumeRef {
  name: string;
  driver: string;
  options: GoObject | undefined;
  labels: GoObject | undefined;
  path: string;
}

/** Named volumes of a create body: Binds `name:/dst[:mode]` and Mounts of type volume with a Source. */
function namedVolumes(hc: GoObject): VolumeRef[] | string {
  const out: VolumeRef[] = [];
  const vd = hc.get("VolumeDriver");
  const defaultDriver = typeof vd === "string" ? vd : "";
  const binds = hc.get("Binds");
  if (Array.isArray(binds)) {
    for (const [i, b] of binds.entries()) {
      if (typeof b !== "string") return `HostConfig.Binds[${i}] must be a string`;
      const colon = b.indexOf(":");
      const src = colon < 0 ? "" : b.slice(0, colon);
      if (src !== "" && !src.startsWith("/")) out.push({ name: src, driver: defaultDriver, options: undefined, labels: undefined, path: `HostConfig.Binds[${i}]` });
    }
  } else if (binds !== undefined && binds !== null) return "HostConfig.Binds must be a list";
  const mounts = hc.get("Mounts");
  if (Array.isArray(mounts)) {
    for (const [i, m] of mounts.entries()) {
      if (!(m instanceof GoObject)) return `HostConfig.Mounts[${i}] must be an object`;
      const type = m.get("Type");
      const source = m.get("Source");
      if (typeof type !== "string" || type.toLowerCase() !== "volume") continue;
      if (source === undefined || source === null || source === "") continue; // anonymous
      if (typeof source !== "string") return `HostConfig.Mounts[${i}].Source must be a string`;
      const vo = m.get("VolumeOptions");
      let driver = defaultDriver;
      let options: GoObject | undefined;
      let labels: GoObject | undefined;
      if (vo instanceof GoObject) {
        const dc = vo.get("DriverConfig");
        if (dc instanceof GoObject) {
          const n = dc.get("Name");
          if (typeof n === "string" && n !== "") driver = n;
          const o = dc.get("Options");
          if (o instanceof GoObject) options = o;
        }
        const l = vo.get("Labels");
        if (l instanceof GoObject) labels = l;
      }
      out.push({ name: source, driver, options, labels, path: `HostConfig.Mounts[${i}]` });
    }
  } else if (mounts !== undefined && mounts !== null) return "HostConfig.Mounts must be a list";
  return out;
}

/** A named volume the container will mount: the client's, or created now with its label. */
async function claimVolume(v: VolumeRef, req: RequestView, client: Client, ctx: OwnershipContext): Promise<Denial | undefined> {
  let r: Resolution;
  try {
    r = await ctx.resolver.resolve("volume", v.name, ctx.label);
  } catch (err) {
    return lookupDenial(req, err);
  }
  if (r.found) {
    return r.owner === client.owner
      ? undefined
      : policyDenial(req, ctx, 409, `${v.path}: volume name ${JSON.stringify(v.name)} is already in use`, "ownership.volume", v.path);
  }
  // Create it as the daemon would, with the owner label (the rules already checked driver and options).
  const labels: Record<string, string> = {};
  for (const [k, val] of v.labels?.entries() ?? []) if (typeof val === "string") labels[k] = val;
  labels[ctx.label] = client.owner;
  const options: Record<string, string> = {};
  for (const [k, val] of v.options?.entries() ?? []) if (typeof val === "string") options[k] = val;
  try {
    const c = await ctx.resolver.daemon.postJson<VolumeJson>("/volumes/create", { Name: v.name, Driver: v.driver, DriverOpts: options, Labels: labels });
    if (c.json === undefined) {
      if (c.status >= 500) return lookupDenial(req, new Error(`creating volume ${v.name}: ${c.status} ${c.message ?? ""}`));
      return policyDenial(req, ctx, c.status, `${v.path}: creating volume ${JSON.stringify(v.name)}: ${c.message ?? c.status}`, "ownership.volume", v.path);
    }
    // The daemon returns an existing volume of that name unchanged: someone else may have been first.
    if (c.json.Labels?.[ctx.label] !== client.owner) {
      return policyDenial(req, ctx, 409, `${v.path}: volume name ${JSON.stringify(v.name)} is already in use`, "ownership.volume", v.path);
    }
  } catch (err) {
    return lookupDenial(req, err);
  }
  return undefined;
}

/**
 * A network the container will join by name: must be the client's; returns its full id. A missing
 * or foreign one is answered in the daemon's words but with status 400, not 404: the daemon itself
 * only notices a missing network at start, and clients read a 404 from create as "no such image"
 * (the docker CLI then tries to pull it).
 */
async function claimNetwork(name: string, path: string, req: RequestView, client: Client, ctx: OwnershipContext): Promise<{ id: string } | { denial: Denial }> {
  let r: Resolution;
  try {
    r = await ctx.resolver.resolve("network", name, ctx.label);
  } catch (err) {
    return { denial: lookupDenial(req, err) };
  }
  const message = !r.found ? r.message : r.owner !== client.owner ? notFoundMessage("network", name) : undefined;
  if (message !== undefined) return { denial: denial(400, message, "ownership.not-found", path) };
  return { id: (r as { id: string }).id };
}

/**
 * Links (`name:alias`, `name`, or `/name:/parent/alias` as inspect prints them, read like the
 * daemon's opts.ParseLink): each named container must be the client's. Legacy links
 * (HostConfig.Links, `rewrite`) are forwarded as `<full id>:<alias>`, so the daemon links exactly
 * the container that was checked. An endpoint's links on a user-defined network are kept as
 * names: the daemon stores them as DNS aliases resolved by name when the container looks them up
 * (a full id would not resolve), on a network the client's own containers share.
 */
async function claimLinks(
  v: GoValue | undefined,
  path: string,
  rewrite: boolean,
  req: RequestView,
  client: Client,
  ctx: OwnershipContext,
): Promise<{ value: GoValue[] | undefined } | { denial: Denial }> {
  if (v === undefined || v === null) return { value: undefined };
  if (!Array.isArray(v)) return { denial: policyDenial(req, ctx, 400, `${path} must be a list of strings`, "body.type", path) };
  const out: GoValue[] = [];
  for (const link of v) {
    if (typeof link !== "string") return { denial: policyDenial(req, ctx, 400, `${path} must be a list of strings`, "body.type", path) };
    const parts = link.split(":");
    if (link === "" || parts.length > 2) return { denial: policyDenial(req, ctx, 400, `${path}: bad format for links: ${link}`, "body.type", path) };
    let [name, alias] = parts.length === 1 ? [link, link] : [parts[0]!, parts[1]!];
    if (parts.length === 2 && name.startsWith("/")) {
      name = name.slice(1);
      alias = alias.slice(alias.lastIndexOf("/") + 1);
    }
    let r: Resolution;
    try {
      r = await ctx.resolver.resolve("container", name, ctx.label);
    } catch (err) {
      return { denial: lookupDenial(req, err) };
    }
    // 400 like a missing network: the daemon's create answers a missing link target with its own 4xx.
    if (!r.found || r.owner !== client.owner) return { denial: denial(400, notFoundMessage("container", name), "ownership.not-found", path) };
    out.push(rewrite ? `${r.id}:${alias}` : link);
  }
  return { value: out };
}

const CONTAINER_CREATE: OwnedOperation = {
  pre(req, _client, ctx) {
    const d = checkName(req, ctx, "name");
    return d ? { ok: false, denial: d } : OK;
  },
  async body(value, req, client, ctx) {
    const o = createBody(value, req, ctx);
    if (!(o instanceof GoObject)) return { ok: false, denial: o };
    const bad = setOwnerLabel(o, "Labels", ctx.label, client.owner);
    if (bad) return { ok: false, denial: policyDenial(req, ctx, 400, bad, "ownership.label", "Labels") };
    dropClientSpellings(o.get("Labels") as GoObject, ctx.label);

    const hcv = o.get("HostConfig");
    const hc = hcv instanceof GoObject ? hcv : undefined;
    if (hcv !== undefined && hcv !== null && !hc) return { ok: false, denial: policyDenial(req, ctx, 400, "HostConfig must be an object", "body.type", "HostConfig") };
    if (hc) {
      for (const f of JOIN_FIELDS) {
        const v = hc.get(f);
        if (typeof v === "string" && v.toLowerCase().startsWith("container:")) {
          return { ok: false, denial: policyDenial(req, ctx, 403, `HostConfig.${f}=${JSON.stringify(v)}: joining another container is not supported with ownership`, "ownership.join", `HostConfig.${f}`) };
        }
      }
      if (nonEmpty(hc.get("VolumesFrom"))) {
        return { ok: false, denial: policyDenial(req, ctx, 403, "HostConfig.VolumesFrom: referring to another container is not supported with ownership", "ownership.join", "HostConfig.VolumesFrom") };
      }
      const links = await claimLinks(hc.get("Links"), "HostConfig.Links", true, req, client, ctx);
      if ("denial" in links) return { ok: false, denial: links.denial };
      if (links.value !== undefined) hc.set("Links", links.value);
    }
    const ncv = o.get("NetworkingConfig");
    const epv = ncv instanceof GoObject ? ncv.get("EndpointsConfig") : undefined;
    const endpoints = epv instanceof GoObject ? epv : undefined;
    if (endpoints) {
      for (const [name, ep] of endpoints.entries()) {
        if (ep instanceof GoObject) {
          const links = await claimLinks(ep.get("Links"), `NetworkingConfig.EndpointsConfig[${JSON.stringify(name)}].Links`, false, req, client, ctx);
          if ("denial" in links) return { ok: false, denial: links.denial };
        }
        if (ep instanceof GoObject && namesNetworkById(ep)) {
          return { ok: false, denial: policyDenial(req, ctx, 403, `NetworkingConfig.EndpointsConfig[${JSON.stringify(name)}].NetworkID: a network named by NetworkID is not supported with ownership (name it by the key)`, "ownership.join", "NetworkingConfig.EndpointsConfig") };
        }
      }
    }

    // Networks by name: owned, and forwarded as the full id that was checked.
    const resolved = new Map<string, string>();
    const claim = async (name: string, path: string): Promise<Denial | undefined> => {
      if (SHARED_NETWORKS.has(name) || ctx.sharedNetworks.has(name) || resolved.has(name)) return undefined;
      const c = await claimNetwork(name, path, req, client, ctx);
      if ("denial" in c) return c.denial;
      resolved.set(name, c.id);
      return undefined;
    };
    if (hc) {
      const nm = hc.get("NetworkMode");
      if (typeof nm === "string") {
        const d = await claim(nm, "HostConfig.NetworkMode");
        if (d) return { ok: false, denial: d };
        const id = resolved.get(nm);
        if (id !== undefined) {
          hc.set("NetworkMode", id);
          // Read back as the client wrote it (hide-owner.ts): tools compare it with their own spelling.
          (o.get("Labels") as GoObject).set(spellingLabel(ctx.label, "HostConfig.NetworkMode"), nm);
        }
      }
    }
    if (endpoints) {
      for (const [name] of endpoints.entries()) {
        const d = await claim(name, "NetworkingConfig.EndpointsConfig");
        if (d) return { ok: false, denial: d };
      }
      if (resolved.size > 0) {
        let renamed: GoObject;
        try {
          renamed = new GoObject(endpoints.entries().map(([k, v]) => [resolved.get(k) ?? k, v] as const));
        } catch (err) {
          if (!(err instanceof GoJsonError)) throw err;
          return { ok: false, denial: policyDenial(req, ctx, 400, "NetworkingConfig.EndpointsConfig names one network twice", "body.json") };
        }
        (ncv as GoObject).set("EndpointsConfig", renamed);
      }
    }

    // Named volumes: owned, or created now with the owner label.
    if (hc) {
      const volumes = namedVolumes(hc);
      if (typeof volumes === "string") return { ok: false, denial: policyDenial(req, ctx, 400, volumes, "body.type") };
      const seen = new Set<string>();
      for (const v of volumes) {
        if (seen.has(v.name)) continue;
        seen.add(v.name);
        const d = await claimVolume(v, req, client, ctx);
        if (d) return { ok: false, denial: d };
      }
    }
    return { ok: true, value: o };
  },
};

const NETWORK_CREATE: OwnedOperation = {
  body(value, req, client, ctx) {
    const o = createBody(value, req, ctx);
    if (!(o instanceof GoObject)) return { ok: false, denial: o };
    const name = o.get("Name");
    if (typeof name === "string" && isFullId(name.toLowerCase())) {
      return { ok: false, denial: policyDenial(req, ctx, 403, `Name ${JSON.stringify(name)}: a name of 64 hex digits would be ambiguous with network ids`, "ownership.name", "Name") };
    }
    if (nonEmpty(o.get("ConfigFrom"))) {
      return { ok: false, denial: policyDenial(req, ctx, 403, "ConfigFrom: creating a network from another network's configuration is not supported with ownership", "ownership.join", "ConfigFrom") };
    }
    const bad = setOwnerLabel(o, "Labels", ctx.label, client.owner);
    if (bad) return { ok: false, denial: policyDenial(req, ctx, 400, bad, "ownership.label", "Labels") };
    // Two networks of one name make the name ambiguous for the tenant who had it first.
    o.set("CheckDuplicate", true);
    return { ok: true, value: o };
  },
};

function volumeCreateCheck(label: string, owner: string): ResponseTransform {
  return {
    maxBytes: 1048576,
    transform(body) {
      const v = JSON.parse(body.toString("utf8")) as VolumeJson;
      // The daemon answers a create of an existing name with that volume, whoever owns it.
      if (v.Labels?.[label] !== owner) throw new Error("the volume name belongs to another client");
      return body;
    },
  };
}

const VOLUME_CREATE: OwnedOperation = {
  pre(_req, client, ctx) {
    return { ok: true, rewrite: { response: volumeCreateCheck(ctx.label, client.owner) } };
  },
  async body(value, req, client, ctx) {
    const o = createBody(value, req, ctx);
    if (!(o instanceof GoObject)) return { ok: false, denial: o };
    const name = o.get("Name");
    if (typeof name === "string" && name !== "") {
      let r: Resolution;
      try {
        r = await ctx.resolver.resolve("volume", name, ctx.label);
      } catch (err) {
        return { ok: false, denial: lookupDenial(req, err) };
      }
      if (r.found && r.owner !== client.owner) {
        return { ok: false, denial: policyDenial(req, ctx, 409, `volume name ${JSON.stringify(name)} is already in use`, "ownership.volume", "Name") };
      }
    }
    const bad = setOwnerLabel(o, "Labels", ctx.label, client.owner);
    if (bad) return { ok: false, denial: policyDenial(req, ctx, 400, bad, "ownership.label", "Labels") };
    return { ok: true, value: o };
  },
};

const CONTAINER_RENAME: OwnedOperation = {
  async pre(req, client, ctx) {
    const d = checkName(req, ctx, "name");
    if (d) return { ok: false, denial: d };
    return BY_CONTAINER.pre!(req, client, ctx);
  },
};

/** NetworkConnect / NetworkDisconnect: the network by path, the container by body. */
/**
 * The daemon (20.10) joins the network an endpoint's NetworkID names, whatever the EndpointsConfig
 * key or the connect path says: another tenant's network could ride in on it unchecked.
 */
function namesNetworkById(ep: GoObject): boolean {
  const id = ep.get("NetworkID");
  return id !== undefined && id !== null && id !== "";
}

const NETWORK_ATTACH: OwnedOperation = {
  pre: byParam("network", "id").pre!,
  async body(value, req, client, ctx) {
    if (!(value instanceof GoObject)) return { ok: true, value: value ?? null }; // the daemon refuses it
    const c = value.get("Container");
    if (typeof c === "string") {
      let r: Resolution;
      try {
        r = await ctx.resolver.resolve("container", c, ctx.label);
      } catch (err) {
        return { ok: false, denial: lookupDenial(req, err) };
      }
      if (!r.found) return { ok: false, denial: notFound(r.message, "Container") };
      if (r.owner !== client.owner) return { ok: false, denial: notFound(notFoundMessage("container", c), "Container") };
      value.set("Container", r.id);
    }
    const ep = value.get("EndpointConfig");
    if (ep instanceof GoObject) {
      const links = await claimLinks(ep.get("Links"), "EndpointConfig.Links", false, req, client, ctx);
      if ("denial" in links) return { ok: false, denial: links.denial };
    }
    if (ep instanceof GoObject && namesNetworkById(ep)) {
      return { ok: false, denial: policyDenial(req, ctx, 403, "EndpointConfig.NetworkID: a network named by NetworkID is not supported with ownership (the path names the network)", "ownership.join", "EndpointConfig.NetworkID") };
    }
    return { ok: true, value };
  },
};

const IMAGE_BUILD: OwnedOperation = {
  pre(req, client, ctx) {
    for (const [k, v] of req.query) {
      if (k === "networkmode" && v.toLowerCase().startsWith("container:")) {
        return { ok: false, denial: policyDenial(req, ctx, 403, `networkmode=${JSON.stringify(v)}: building in another container's network is not supported with ownership`, "ownership.join", "networkmode") };
      }
    }
    const raw = firstQuery(req, "labels");
    let labels: GoObject;
    try {
      const parsed = raw === undefined || raw === "" ? null : parseGoJson(Buffer.from(raw, "utf8"));
      if (parsed === null) labels = new GoObject();
      else if (parsed instanceof GoObject && parsed.entries().every(([, v]) => typeof v === "string")) labels = parsed;
      else throw new Error("labels must be a JSON object of strings");
    } catch (err) {
      const message = err instanceof GoJsonError ? `labels is not valid JSON: ${err.message}` : (err as Error).message;
      return { ok: false, denial: policyDenial(req, ctx, 400, message, "ownership.filters", "labels") };
    }
    const holder = new GoObject([["labels", labels]]);
    const bad = setOwnerLabel(holder, "labels", ctx.label, client.owner);
    if (bad) return { ok: false, denial: policyDenial(req, ctx, 400, bad, "ownership.label", "labels") };
    return { ok: true, rewrite: { query: replaceQuery(req.query, "labels", toJson(holder.get("labels")!)) } };
  },
};

const IMAGE_COMMIT: OwnedOperation = {
  async pre(req, client, ctx) {
    const ref = firstQuery(req, "container") ?? "";
    if (ref === "") return { ok: false, denial: notFound(notFoundMessage("container", ref), "container") };
    let r: Resolution;
    try {
      r = await ctx.resolver.resolve("container", ref, ctx.label);
    } catch (err) {
      return { ok: false, denial: lookupDenial(req, err) };
    }
    if (!r.found) return { ok: false, denial: notFound(r.message, "container") };
    if (r.owner !== client.owner) return { ok: false, denial: notFound(notFoundMessage("container", ref), "container") };
    return { ok: true, rewrite: { query: replaceQuery(req.query, "container", r.id) } };
  },
};

const SHARED: OwnedOperation = Object.freeze({});
const BY_CONTAINER = byParam("container", "id");

const CONTAINER_PARAM_OPS = [
  "ContainerInspect", "ContainerTop", "ContainerLogs", "ContainerChanges", "ContainerExport", "ContainerStats",
  "ContainerResize", "ContainerStart", "ContainerStop", "ContainerRestart", "ContainerKill", "ContainerUpdate",
  "ContainerPause", "ContainerUnpause", "ContainerAttach", "ContainerAttachWebsocket", "ContainerWait",
  "ContainerDelete", "ContainerArchive", "ContainerArchiveInfo", "PutContainerArchive", "ContainerExec",
];
const SHARED_OPS = [
  "SystemPing", "SystemPingHead", "SystemVersion", "SystemInfo", "SystemAuth",
  "ImageList", "ImageInspect", "ImageHistory", "ImageAttestations", "ImageSearch", "ImageCreate", "ImageTag",
  "ImageDelete", "ImagePrune", "ImageGet", "ImageGetAll", "ImageLoad", "ImagePush", "DistributionInspect",
  "BuildPrune", "PluginList", "PluginInspect", "GetPluginPrivileges",
];

/** Every operation dockgate knows → what ownership does with it; absent means refused. */
export const OWNED_OPERATIONS: ReadonlyMap<string, OwnedOperation> = new Map<string, OwnedOperation>([
  ...CONTAINER_PARAM_OPS.map((op) => [op, BY_CONTAINER] as const),
  ["ContainerRename", CONTAINER_RENAME],
  ["ContainerCreate", CONTAINER_CREATE],
  ["ContainerList", LIST],
  ["ContainerPrune", LIST],
  ["ExecStart", byParam("exec", "id")],
  ["ExecResize", byParam("exec", "id")],
  ["ExecInspect", byParam("exec", "id")],
  ["NetworkInspect", byParam("network", "id")],
  ["NetworkDelete", byParam("network", "id")],
  ["NetworkConnect", NETWORK_ATTACH],
  ["NetworkDisconnect", NETWORK_ATTACH],
  ["NetworkCreate", NETWORK_CREATE],
  ["NetworkList", LIST],
  ["NetworkPrune", LIST],
  ["VolumeInspect", byParam("volume", "name")],
  ["VolumeUpdate", byParam("volume", "name")],
  ["VolumeDelete", byParam("volume", "name")],
  ["VolumeCreate", VOLUME_CREATE],
  ["VolumeList", LIST],
  ["VolumePrune", LIST],
  ["SystemEvents", LIST],
  ["SystemDataUsage", SYSTEM_DF],
  ["ImageBuild", IMAGE_BUILD],
  ["ImageCommit", IMAGE_COMMIT],
  ...SHARED_OPS.map((op) => [op, SHARED] as const),
]);

export function unsupportedDenial(req: RequestView, profile: string): Denial {
  return denial(
    403,
    `dockgate: ${req.operation} denied for profile ${profile}: the operation cannot be limited to the client's own objects (rule ownership.unsupported)`,
    "ownership.unsupported",
  );
}
