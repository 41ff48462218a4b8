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
//   references     every one goes through claim(): the resolver (refs.ts), then the owner check,
//                  then the full id in the reference's place. In a ContainerCreate body: a network
//                  (NetworkMode, EndpointsConfig keys) must be the client's (rewritten to its full
//                  id; bridge/host/none/default and mutate.network are shared, by name only;
//                  each endpoint also gets NetworkID = that id, as the daemon otherwise keeps a
//                  not yet started container's network by name and looks the name up again at
//                  start: see pinEndpoint);
//                  containers named by `container:<x>` namespace modes (when the rules allow
//                  joins), VolumesFrom and Links must be the client's (rewritten to `container:<id>`,
//                  `<id>[:mode]`, `<id>:<alias>`; endpoint Links are DNS aliases inside the network
//                  and stay as written, checked only); a named volume (Binds `name:/path`, Mounts
//                  type volume) must be the client's, and one that does not exist yet is created
//                  first with the owner label (what the daemon would do, minus the label).
//                  ImageBuild networkmode: the client's network or `container:<x>`, rewritten the
//                  same way. NetworkConnect/Disconnect: the body's Container must be owned
//                  (rewritten to its full id). Refused (rule ownership.join): NetworkCreate
//                  ConfigFrom, endpoint NetworkID, a `container:` prefix in another case.
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
//                  mutate.network is joined by its exact name and forwarded as its id (checked to
//                  carry no owner label); no tenant may create a network of that name.
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
// ── Not covered ──────────────────────────────────────────────────────────────────────────────
//
// Names are one namespace on the daemon: creating a container, network or volume with a name
// another tenant uses fails with the daemon's conflict error (which names the other object's id
// for containers), so names leak existence. Counts in /info (Containers, Images, ...) are global
// (redact them with `redact.info`). The default bridge network is shared: ownership isolates the
// API, not the network (use `mutate.network` or per-tenant networks). Anonymous volumes (image
// VOLUMEs, `-v /path`) are created by the daemon without the label: they go with their container
// (`docker rm -v`, `compose down -v`) but do not show in the tenant's volume list. A volume's name
// is its id: a named volume is checked by name and cannot be pinned (a tenant removing its own
// volume while a create naming it is in flight may get one another tenant created in between).

import { SPEC_ROUTES } from "../api/spec-routes.js";
import { GoJsonError, GoObject, type GoValue, parseGoJson, toJson } from "./gojson.js";
import { type ObjectKind, type RefResolver, type Resolution, type VolumeJson, isFullId, notFoundMessage } from "./refs.js";
import { catalogued } from "./rules.js";
import type { Client, Denial, RequestView, ResponseTransform, Rewrite } from "./verdict.js";
import { parseAnswer, writeAnswer } from "./answer-json.js";


// ─────────────────────────────────────────────────────────────────────────────────────────────
// Per-operation policy

export interface OwnershipContext {
  /** The profile's ownership label key. */
  label: string;
  profile: string;
  resolver: RefResolver;
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
  catalogued(rule);
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

type Claim = { ok: true; id: string; shared: boolean } | { ok: false; denial: Denial };

/**
 * The one check of a reference to another object under ownership (a path parameter, a query
 * parameter, a body field): resolved by the daemon (refs.ts), then it must be the client's; the
 * caller forwards the returned full id in the reference's place. `shared` says it is one of the
 * networks that belong to no tenant (the predefined ones, the profile's mutate.network): the
 * caller decides what may be done with those. Missing or another's: the daemon's words for a
 * missing object, with `status` (404; 400 in create bodies, see claimNetwork).
 */
async function claim(kind: ObjectKind, ref: string, field: string, req: RequestView, client: Client, ctx: OwnershipContext, status = 404): Promise<Claim> {
  let r: Resolution;
  try {
    r = await ctx.resolver.resolve(kind, ref, ctx.label);
  } catch (err) {
    return { ok: false, denial: lookupDenial(req, err) };
  }
  if (!r.found) return { ok: false, denial: denial(status, r.message, "ownership.not-found", field) };
  if (r.owner === client.owner) return { ok: true, id: r.id, shared: false };
  if (kind === "network" && r.owner === undefined && r.name !== undefined && isSharedNetwork(r.name, ctx)) return { ok: true, id: r.id, shared: true };
  return { ok: false, denial: denial(status, notFoundMessage(kind, ref), "ownership.not-found", field) };
}

/** `{id}` / `{name}` of a container, exec, network or volume operation. */
function byParam(kind: ObjectKind, param: "id" | "name"): OwnedOperation {
  return {
    async pre(req, client, ctx) {
      const ref = req.params[param];
      if (ref === undefined) return { ok: false, denial: policyDenial(req, ctx, 403, `no ${param} parameter`, "ownership.not-found") };
      const c = await claim(kind, ref, param, req, client, ctx);
      if (!c.ok) return c;
      const path = pathWith(req, param, c.id);
      if (!c.shared) return { ok: true, rewrite: { path } };
      // The daemon's predefined networks and the profile's forced one belong to no tenant: they
      // may be inspected (without the list of attached containers, which are other tenants' too)
      // and own containers connected to them, but not removed.
      if (req.operation === "NetworkInspect") return { ok: true, rewrite: { path, response: HIDE_NETWORK_CONTAINERS } };
      if (req.operation === "NetworkConnect" || req.operation === "NetworkDisconnect") return { ok: true, rewrite: { path } };
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
    const n = parseAnswer(body) as Record<string, unknown>;
    if (typeof n !== "object" || n === null || Array.isArray(n)) throw new Error("network inspect: not an object");
    if ("Containers" in n) n["Containers"] = {};
    if ("Services" in n) n["Services"] = {};
    return writeAnswer(n);
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
  const fields = readFilters(raw);
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

/** A `filters` query value as the daemon reads it (both forms), or an error saying what is wrong. */
function readFilters(raw: string | undefined): Map<string, Map<string, boolean>> {
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
  return fields;
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

// ── build cache prune ──

/**
 * An id filter no build cache record matches: BuildKit's record ids are base-36 (no '-'), and the
 * daemon matches the `id` filter as a substring (measured on 20.10: id=a pruned every record
 * whose id holds an "a").
 */
const NO_CACHE_RECORD = "dockgate-owns-no-cache-record";

/**
 * BuildPrune: build cache records carry no labels, so none is attributable to an owner, and the
 * daemon has no way to scope a prune to one. A tenant prunes its own cache, which is none: the
 * daemon answers the prune with its `filters` replaced by one that matches nothing (the client's
 * `filters` must still be the JSON the daemon would read), so one tenant cannot empty the cache
 * every other tenant builds with.
 */
const BUILD_PRUNE: OwnedOperation = {
  pre(req, _client, ctx) {
    try {
      readFilters(firstQuery(req, "filters"));
    } catch (err) {
      return { ok: false, denial: policyDenial(req, ctx, 400, (err as Error).message, "ownership.filters", "filters") };
    }
    return { ok: true, rewrite: { query: replaceQuery(req.query, "filters", JSON.stringify({ id: [NO_CACHE_RECORD] })) } };
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
        const df = parseAnswer(body) as Record<string, unknown>;
        for (const key of ["Containers", "Volumes"]) {
          const list = df[key];
          if (Array.isArray(list)) df[key] = list.filter((x) => ownedByLabels(x, label, owner));
          else if (list !== null && list !== undefined) throw new Error(`system df: ${key} is not a list`);
        }
        return writeAnswer(df);
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
 * A network a container (or a build's RUN containers) will join by name or id: must be the
 * client's; returns the reference to forward: its full id, or the name of one of the daemon's
 * predefined networks (no one can create another of those names). The profile's mutate.network is
 * let through by its exact name only, and pinned to its id like the others (a network of that
 * name a tenant made would carry the tenant's label and is refused to the rest); named by id or
 * prefix, a shared network is refused like a missing one. In a create body a missing
 * or foreign network is answered in the daemon's words with status 400, not 404: the daemon itself
 * only notices a missing network at start, and clients read a 404 from create as "no such image"
 * (the docker CLI then tries to pull it).
 */
async function claimNetwork(name: string, field: string, req: RequestView, client: Client, ctx: OwnershipContext, status: number): Promise<Claim> {
  if (SHARED_NETWORKS.has(name)) return { ok: true, id: name, shared: true };
  const c = await claim("network", name, field, req, client, ctx, status);
  if (c.ok && c.shared && !ctx.sharedNetworks.has(name)) return { ok: false, denial: denial(status, notFoundMessage("network", name), "ownership.not-found", field) };
  return c;
}

/**
 * `container:<x>` in a namespace mode (the rules decided whether joins are allowed at all): x must
 * be the client's, forwarded as `container:<full id>`. The daemon matches the prefix exactly; any
 * other spelling of it is refused rather than guessed at.
 */
async function claimJoin(value: string, field: string, req: RequestView, client: Client, ctx: OwnershipContext, status: number): Promise<{ ok: true; value: string } | { ok: false; denial: Denial }> {
  if (!value.startsWith("container:")) {
    return { ok: false, denial: policyDenial(req, ctx, 403, `${field}=${JSON.stringify(value)}: write the container: prefix in lower case`, "ownership.join", field) };
  }
  const c = await claim("container", value.slice("container:".length), field, req, client, ctx, status);
  return c.ok ? { ok: true, value: `container:${c.id}` } : c;
}

/** A link `name[:alias]` as the daemon's opts.ParseLink reads it. */
function parseLink(link: string): { name: string; alias: string } | undefined {
  const parts = link.split(":");
  if (link === "" || parts.length > 2) return undefined;
  if (parts.length === 1) return { name: link, alias: link };
  if (parts[0]!.startsWith("/")) return { name: parts[0]!.slice(1), alias: parts[1]!.slice(parts[1]!.lastIndexOf("/") + 1) };
  return { name: parts[0]!, alias: parts[1]! };
}

/** HostConfig.Links / VolumesFrom / EndpointsConfig Links: each entry's container must be the client's. */
async function claimContainerList(
  list: GoValue | undefined,
  field: string,
  req: RequestView,
  client: Client,
  ctx: OwnershipContext,
  rewrite: ((entry: string, id: string) => string) | undefined,
  split: (entry: string) => string | undefined,
): Promise<{ ok: true; value: GoValue[] | undefined } | { ok: false; denial: Denial }> {
  if (list === undefined || list === null) return { ok: true, value: undefined };
  if (!Array.isArray(list)) return { ok: false, denial: policyDenial(req, ctx, 400, `${field} must be a list`, "body.type", field) };
  const out: GoValue[] = [];
  for (const [i, entry] of list.entries()) {
    if (typeof entry !== "string") return { ok: false, denial: policyDenial(req, ctx, 400, `${field}[${i}] must be a string`, "body.type", field) };
    const name = split(entry);
    // Malformed: the daemon refuses it itself.
    if (name === undefined) {
      out.push(entry);
      continue;
    }
    const c = await claim("container", name, `${field}[${i}]`, req, client, ctx, 400);
    if (!c.ok) return c;
    out.push(rewrite ? rewrite(entry, c.id) : entry);
  }
  return { ok: true, value: out };
}

/** Links: forwarded as `<full id>:<alias>` (the alias the client wrote or implied). */
const linkById = (entry: string, id: string): string => `${id}:${parseLink(entry)!.alias}`;
/** VolumesFrom `name[:mode]` (volume.ParseVolumesFrom splits at the first colon): `<full id>[:mode]`. */
const volumesFromById = (entry: string, id: string): string => {
  const colon = entry.indexOf(":");
  return colon < 0 ? id : id + entry.slice(colon);
};
const volumesFromName = (entry: string): string | undefined => {
  const colon = entry.indexOf(":");
  return colon < 0 ? entry : entry.slice(0, colon);
};

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

    const hcv = o.get("HostConfig");
    const hc = hcv instanceof GoObject ? hcv : undefined;
    if (hcv !== undefined && hcv !== null && !hc) return { ok: false, denial: policyDenial(req, ctx, 400, "HostConfig must be an object", "body.type", "HostConfig") };
    const ncv = o.get("NetworkingConfig");
    const epv = ncv instanceof GoObject ? ncv.get("EndpointsConfig") : undefined;
    const endpoints = epv instanceof GoObject ? epv : undefined;
    if (endpoints) {
      for (const [name, ep] of endpoints.entries()) {
        if (ep instanceof GoObject && namesNetworkById(ep)) {
          return { ok: false, denial: policyDenial(req, ctx, 403, `NetworkingConfig.EndpointsConfig[${JSON.stringify(name)}].NetworkID: a network named by NetworkID is not supported with ownership (name it by the key)`, "ownership.join", "NetworkingConfig.EndpointsConfig") };
        }
      }
    }

    if (hc) {
      // Joins of another container's namespaces (the rules allowed them): the client's own only.
      for (const f of JOIN_FIELDS) {
        const v = hc.get(f);
        if (typeof v !== "string" || !v.toLowerCase().startsWith("container:")) continue;
        const j = await claimJoin(v, `HostConfig.${f}`, req, client, ctx, 400);
        if (!j.ok) return j;
        hc.set(f, j.value);
      }
      const links = await claimContainerList(hc.get("Links"), "HostConfig.Links", req, client, ctx, linkById, (e) => parseLink(e)?.name);
      if (!links.ok) return links;
      if (links.value) hc.set("Links", links.value);
      const from = await claimContainerList(hc.get("VolumesFrom"), "HostConfig.VolumesFrom", req, client, ctx, volumesFromById, volumesFromName);
      if (!from.ok) return from;
      if (from.value) hc.set("VolumesFrom", from.value);
      // Networks by name: owned, and forwarded as the full id that was checked.
      const nm = hc.get("NetworkMode");
      if (typeof nm === "string" && !nm.toLowerCase().startsWith("container:")) {
        const c = await claimNetwork(nm, "HostConfig.NetworkMode", req, client, ctx, 400);
        if (!c.ok) return c;
        if (c.id !== nm) hc.set("NetworkMode", c.id);
        // Without an endpoint the daemon would record the network by name only: pin it (below).
        if (isFullId(c.id) && (endpoints === undefined || endpoints.size === 0) && (ncv === undefined || ncv === null || ncv instanceof GoObject)) {
          const pinned = new GoObject([[c.id, new GoObject([["NetworkID", c.id]])]]);
          if (ncv instanceof GoObject) ncv.set("EndpointsConfig", pinned);
          else o.set("NetworkingConfig", new GoObject([["EndpointsConfig", pinned]]));
        }
      }
    }
    if (endpoints) {
      const resolved = new Map<string, string>();
      for (const [name, ep] of endpoints.entries()) {
        const field = `NetworkingConfig.EndpointsConfig[${JSON.stringify(name)}]`;
        const c = await claimNetwork(name, field, req, client, ctx, 400);
        if (!c.ok) return c;
        if (c.id !== name) resolved.set(name, c.id);
        if (ep instanceof GoObject && isFullId(c.id)) pinEndpoint(ep, c.id);
        // Endpoint links are DNS aliases inside that network (resolved by container name at run
        // time, so they stay as written): the linked containers must be the client's.
        if (ep instanceof GoObject) {
          const l = await claimContainerList(ep.get("Links"), `${field}.Links`, req, client, ctx, undefined, (e) => parseLink(e)?.name);
          if (!l.ok) return l;
        }
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
    if (typeof name === "string" && ctx.sharedNetworks.has(name)) {
      return { ok: false, denial: policyDenial(req, ctx, 403, `Name ${JSON.stringify(name)}: the profile's shared network has this name`, "ownership.name", "Name") };
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

/**
 * The daemon keeps a not yet started container's networks by NAME (create, and connect while
 * stopped: NetworkSettings.Networks is keyed by the network's name whatever it was given) and
 * resolves that name again at start, unless the endpoint carries a NetworkID (daemon
 * getNetworkID: NetworkID first for user-defined networks). Removed and re-created under that
 * name by another tenant in between, the name would join the other tenant's network. So the
 * endpoint is given the id that was checked (the client's own NetworkID was refused before).
 */
function pinEndpoint(ep: GoObject, id: string): void {
  ep.set("NetworkID", id);
}

/** NetworkConnect: the full id its `pre` checked, for its `body` (the same request object). */
const connecting = new WeakMap<RequestView, string>();
const BY_NETWORK = byParam("network", "id");

const NETWORK_ATTACH: OwnedOperation = {
  async pre(req, client, ctx) {
    const r = await BY_NETWORK.pre!(req, client, ctx);
    const id = r.ok ? /^\/networks\/([0-9a-f]{64})\/connect$/.exec(r.rewrite?.path ?? "")?.[1] : undefined;
    if (id !== undefined) connecting.set(req, id);
    return r;
  },
  async body(value, req, client, ctx) {
    if (!(value instanceof GoObject)) return { ok: true, value: value ?? null }; // the daemon refuses it
    const container = value.get("Container");
    if (typeof container === "string") {
      const c = await claim("container", container, "Container", req, client, ctx);
      if (!c.ok) return c;
      value.set("Container", c.id);
    }
    const ep = value.get("EndpointConfig");
    if (ep instanceof GoObject && namesNetworkById(ep)) {
      return { ok: false, denial: policyDenial(req, ctx, 403, "EndpointConfig.NetworkID: a network named by NetworkID is not supported with ownership (the path names the network)", "ownership.join", "EndpointConfig.NetworkID") };
    }
    if (ep instanceof GoObject) {
      const l = await claimContainerList(ep.get("Links"), "EndpointConfig.Links", req, client, ctx, undefined, (e) => parseLink(e)?.name);
      if (!l.ok) return l;
    }
    // The path was rewritten to the full id that was checked (pre): pin the endpoint to it too.
    const network = connecting.get(req);
    if (network !== undefined && (ep === undefined || ep === null || ep instanceof GoObject)) {
      if (ep instanceof GoObject) pinEndpoint(ep, network);
      else value.set("EndpointConfig", new GoObject([["NetworkID", network]]));
    }
    return { ok: true, value };
  },
};

const IMAGE_BUILD: OwnedOperation = {
  async pre(req, client, ctx) {
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
    let query = replaceQuery(req.query, "labels", toJson(holder.get("labels")!));
    // The RUN containers join what networkmode names (the value the daemon reads: the first):
    // the client's own network or container, forwarded as the full id that was checked.
    const nm = firstQuery(req, "networkmode");
    if (nm !== undefined && nm !== "") {
      let checked: string;
      if (nm.toLowerCase().startsWith("container:")) {
        const j = await claimJoin(nm, "networkmode", req, client, ctx, 404);
        if (!j.ok) return j;
        checked = j.value;
      } else {
        const c = await claimNetwork(nm, "networkmode", req, client, ctx, 404);
        if (!c.ok) return c;
        checked = c.id;
      }
      query = replaceQuery(query, "networkmode", checked);
    }
    return { ok: true, rewrite: { query } };
  },
};

const IMAGE_COMMIT: OwnedOperation = {
  async pre(req, client, ctx) {
    const ref = firstQuery(req, "container") ?? "";
    if (ref === "") return { ok: false, denial: notFound(notFoundMessage("container", ref), "container") };
    const c = await claim("container", ref, "container", req, client, ctx);
    if (!c.ok) return c;
    return { ok: true, rewrite: { query: replaceQuery(req.query, "container", c.id) } };
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
  "PluginList", "PluginInspect", "GetPluginPrivileges",
  "Session", // bound to the client that opened it (buildkit/sessions.ts); builds carry the owner label
];

/** Every operation dockgate knows → what ownership does with it; absent means refused. */
export const OWNED_OPERATIONS: ReadonlyMap<string, OwnedOperation> = new Map<string, OwnedOperation>([
  ...CONTAINER_PARAM_OPS.map((op) => [op, BY_CONTAINER] as const),
  ["ContainerRename", CONTAINER_RENAME],
  ["ContainerCreate", CONTAINER_CREATE],
  ["ContainerList", LIST],
  ["ContainerPrune", LIST],
  ["BuildPrune", BUILD_PRUNE],
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
