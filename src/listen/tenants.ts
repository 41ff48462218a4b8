// Per-job tenants: a socket each, made and unmade through the admin endpoint (config `tenants`).
//
//   POST   /tenants        {"name","profile"?,"ttlSeconds"?} → 201 {"name","socket","owner",...}
//   GET    /tenants        → 200 [{"name","socket","owner","profile","created","expires","holds"}]
//   DELETE /tenants/NAME   → 200 {"name","removed":{...},"kept":[...]}
//
// A tenant is a unix listener at `<directory>/<name>.sock` with the chosen profile (which has
// ownership) and the owner `tenant:<name>`: everything its clients create carries the profile's
// owner label with that value, so the tenant's objects are found on the daemon by label, never
// from memory. Deleting one (or its TTL running out) first closes the socket and its connections
// (nothing new can be created), then removes, by label: containers (running ones too, with their
// anonymous volumes and exec instances), networks, volumes, and images carrying the label (built
// or committed through the tenant) that no container uses and no image builds on; a classic
// build's cache is the built image's untagged parents, which go with it. The listing is repeated
// until a pass finds nothing, so a create that was in flight when the socket closed is not left.
//
// Images cannot be labelled once they exist, so the tags a tenant creates by load, pull, tag,
// commit or import are recorded (before the request goes to the daemon; a load's tags when its
// archive was read, before its end is sent), each with the image it pointed to then (or none), in
// a state file next to its socket, `<directory>/.<name>.images.json` (written atomically: a
// temporary file renamed over it), with the ids of the images that existed when the tenant was
// made. A delete then untags each recorded tag that points elsewhere than before the tenant's
// first request naming it (a request that failed, or a pull of what was there, changed nothing
// and is left alone): the daemon removes the image with its last tag unless a container uses it. A tag is kept when it is the only tag of an image that existed before the tenant (removing
// it would remove that image) or another tenant recorded the same tag. A tenant restored without
// a state file counts every image as existing before it.
//
// Restart: every tenant has a marker volume `dockgate-tenant.<name>` labelled with its name,
// profile and expiry, but not with the owner label (its clients never see it). At start the
// markers are read back: each tenant gets its socket again (`onRestart: restore`) or is removed
// (`clean`); an expired one is removed either way. Objects whose owner is a `tenant:` with no
// marker (a crash during a delete) are removed.

import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import type { Config, ListenerConfig, TenantsConfig } from "../config/types.js";
import { MAX_TENANT_TTL_SECONDS } from "../config/load.js";
import type { Logger } from "../observe/log.js";
import { DaemonError, daemonClient, type DaemonClient } from "../policy/daemon.js";
import { parseImageRef } from "../api/image-ref.js";
import { queryValues } from "../policy/inspect/util.js";
import type { BodyStreamCheck, Client, RequestView, Verdict } from "../policy/verdict.js";

/** What the gateway gives tenants: a listener served like the config's, closed with its connections. */
export interface TenantHost {
  open(listener: ListenerConfig): Promise<{ close(): Promise<void> }>;
  config(): Config;
}

export const TENANT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const MARKER_LABEL = "dockgate.tenant";
const MARKER_PREFIX = "dockgate-tenant.";
const OWNER_PREFIX = "tenant:";
/** Cleanup passes before giving up on objects that keep appearing (a client cannot add any once the socket is closed). */
const CLEANUP_PASSES = 4;
const MAX_REQUEST_BYTES = 65536;

export interface Holdings {
  containers: string[];
  networks: string[];
  volumes: string[];
  images: string[];
}

interface Tenant {
  name: string;
  profile: string;
  /** The profile's owner label key when the tenant was made (its objects carry it whatever a reload does). */
  label: string;
  owner: string;
  socket: string;
  created: Date;
  expires: Date | undefined;
  timer: NodeJS.Timeout | undefined;
  handle: { close(): Promise<void> } | undefined;
  /** A delete in progress (its promise, so a second one waits for the same result). */
  deleting: Promise<DeleteResult> | undefined;
  /** Tags its requests created (as the client wrote them) → the image id each pointed to before (null: none); persisted in its state file. */
  tags: Map<string, string | null>;
  /** Ids of the images that existed when it was made; undefined: unknown (every image counts as older). */
  before: Set<string> | undefined;
  /** The state file's writes, in order. */
  saving: Promise<void>;
}

export interface DeleteResult {
  name: string;
  removed: Holdings;
  /** Objects left on purpose (in use by others) or that could not be removed, with why. */
  kept: string[];
}

class TenantError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class Tenants {
  private readonly tenants = new Map<string, Tenant>();
  private closed = false;
  /** False after a reload removed the `tenants` section: existing tenants can still be listed and deleted. */
  private enabled = true;

  constructor(
    private settings: TenantsConfig,
    private readonly host: TenantHost,
    private readonly logger: Logger,
  ) {}

  /** A reload: new tenants follow the new settings; existing ones keep their socket and profile. */
  configure(settings: TenantsConfig | undefined): void {
    this.enabled = settings !== undefined;
    if (settings !== undefined) this.settings = settings;
  }

  private get daemon(): DaemonClient {
    return daemonClient(this.host.config().upstream);
  }

  private labelOf(profile: string): string {
    const label = this.host.config().profiles.get(profile)?.ownership?.label;
    if (label === undefined) throw new TenantError(500, `profile ${profile} has no ownership`);
    return label;
  }

  async create(body: unknown): Promise<Record<string, unknown>> {
    if (this.closed) throw new TenantError(503, "dockgate is stopping");
    if (!this.enabled) throw new TenantError(403, "the config has no tenants section: new tenants cannot be created");
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new TenantError(400, "the body must be a JSON object");
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!["name", "profile", "ttlSeconds"].includes(k)) throw new TenantError(400, `unknown field "${k}" (name, profile, ttlSeconds)`);
    const { name, profile: asked, ttlSeconds } = b;
    if (typeof name !== "string" || !TENANT_NAME_RE.test(name)) throw new TenantError(400, `name must match ${TENANT_NAME_RE.source}`);
    const profile = asked ?? this.settings.defaultProfile;
    if (profile === undefined) throw new TenantError(400, `profile is required (one of ${this.settings.profiles.join(", ")}): the config names no defaultProfile`);
    if (typeof profile !== "string" || !this.settings.profiles.includes(profile)) {
      throw new TenantError(403, `profile ${JSON.stringify(profile)} may not be used for tenants (allowed: ${this.settings.profiles.join(", ")})`);
    }
    const ttl = ttlSeconds ?? this.settings.defaultTtlSeconds;
    if (ttl !== undefined && (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TENANT_TTL_SECONDS)) {
      throw new TenantError(400, `ttlSeconds must be an integer from 1 to ${MAX_TENANT_TTL_SECONDS}`);
    }
    if (this.tenants.has(name)) throw new TenantError(409, `tenant ${name} already exists`);
    if (this.tenants.size >= this.settings.max) throw new TenantError(429, `the maximum of ${this.settings.max} tenants is reached`);
    const created = new Date();
    const tenant: Tenant = {
      name,
      profile,
      label: this.labelOf(profile),
      owner: OWNER_PREFIX + name,
      socket: join(this.settings.directory, `${name}.sock`),
      created,
      expires: ttl === undefined ? undefined : new Date(created.getTime() + ttl * 1000),
      timer: undefined,
      handle: undefined,
      deleting: undefined,
      tags: new Map(),
      before: undefined,
      saving: Promise.resolve(),
    };
    this.tenants.set(name, tenant); // reserved while the marker and socket are made
    try {
      await this.writeMarker(tenant);
      // Taken before the socket exists: nothing of the tenant's is among them.
      tenant.before = new Set((await list<{ Id: string }>(this.daemon, "/images/json?all=1")).map((i) => i.Id));
      await this.open(tenant); // makes the directory, like every unix listener's
      await this.save(tenant);
    } catch (err) {
      this.tenants.delete(name);
      await this.removeMarker(name).catch(() => {});
      await rm(this.statePath(name), { force: true }).catch(() => {});
      throw err instanceof TenantError ? err : new TenantError(err instanceof DaemonError ? 502 : 500, `cannot create tenant ${name}: ${(err as Error).message}`);
    }
    this.logger.info({ tenant: name, profile, socket: tenant.socket, expires: tenant.expires?.toISOString() }, "tenant created");
    return this.describe(tenant);
  }

  private describe(t: Tenant): Record<string, unknown> {
    return {
      name: t.name,
      socket: t.socket,
      owner: t.owner,
      profile: t.profile,
      created: t.created.toISOString(),
      expires: t.expires?.toISOString() ?? null,
      // closed: a delete closed the socket but could not finish (DELETE again retries).
      state: t.deleting ? "deleting" : t.handle ? "active" : "closed",
    };
  }

  async list(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const t of this.tenants.values()) {
      out.push({ ...this.describe(t), holds: await this.holdings(t) });
    }
    return out;
  }

  delete(name: string, why = "deleted"): Promise<DeleteResult> {
    const t = this.tenants.get(name);
    if (t === undefined) return Promise.reject(new TenantError(404, `no such tenant: ${name}`));
    t.deleting ??= this.teardown(t, why).finally(() => {
      t.deleting = undefined;
    });
    return t.deleting;
  }

  private async teardown(t: Tenant, why: string): Promise<DeleteResult> {
    clearTimeout(t.timer);
    const handle = t.handle;
    t.handle = undefined;
    await handle?.close(); // no connection of the tenant's is left to create anything
    const result = await this.removeOwned(t.name, t.owner, t.label);
    await this.untagRecorded(t, result);
    await this.removeMarker(t.name);
    await rm(this.statePath(t.name), { force: true });
    this.tenants.delete(t.name);
    this.logger.info({ tenant: t.name, why, removed: result.removed, kept: result.kept }, "tenant removed");
    return result;
  }

  /** Everything labelled `label=owner`, removed in dependency order until a pass finds nothing. */
  private async removeOwned(name: string, owner: string, label: string): Promise<DeleteResult> {
    const removed: Holdings = { containers: [], networks: [], volumes: [], images: [] };
    const kept = new Set<string>();
    const d = this.daemon;
    const f = filter(label, owner);
    for (let pass = 0; pass < CLEANUP_PASSES; pass++) {
      let found = 0;
      for (const c of await list<{ Id: string; Names?: string[] }>(d, `/containers/json?all=1&filters=${f}`)) {
        found++;
        if (await remove(d, `/containers/${c.Id}?force=1&v=1`, kept, `container ${c.Id}`)) removed.containers.push(displayName(c.Names, c.Id));
      }
      for (const n of await list<{ Id: string; Name: string }>(d, `/networks?filters=${f}`)) {
        found++;
        if (await remove(d, `/networks/${n.Id}`, kept, `network ${n.Name}`)) removed.networks.push(n.Name);
      }
      const vols = await d.getJson<{ Volumes: { Name: string }[] | null }>(`/volumes?filters=${f}`);
      if (vols.json === undefined) throw new DaemonError(`volume list: ${vols.status} ${vols.message ?? ""}`);
      for (const v of vols.json.Volumes ?? []) {
        found++;
        if (await remove(d, `/volumes/${encodeURIComponent(v.Name)}`, kept, `volume ${v.Name}`)) removed.volumes.push(v.Name);
      }
      for (const i of await list<{ Id: string; RepoTags?: string[] | null }>(d, `/images/json?filters=${f}`)) {
        if (kept.has(`image ${i.Id}`)) continue;
        found++;
        const users = await list<{ Id: string }>(d, `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ ancestor: [i.Id] }))}`);
        if (users.length > 0) {
          kept.add(`image ${i.Id}`);
          continue;
        }
        // Every tag goes with it (the tenant tagged it, or someone tagged the tenant's image);
        // an image other images are built on is refused by the daemon and stays.
        if (await remove(d, `/images/${i.Id}?force=1`, kept, `image ${i.Id}`)) {
          const tags = (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>");
          removed.images.push(...(tags.length > 0 ? tags : [i.Id]));
        }
      }
      if (found === 0 || [...kept].length >= found) break;
    }
    return { name, removed, kept: [...kept] };
  }

  /** What the tenant holds: its objects by label, and the recorded tags it changed (as a delete would find them). */
  async holdings(t: Tenant): Promise<Holdings> {
    const d = this.daemon;
    const f = filter(t.label, t.owner);
    const [containers, networks, volumes, images] = await Promise.all([
      list<{ Id: string; Names?: string[] }>(d, `/containers/json?all=1&filters=${f}`),
      list<{ Name: string }>(d, `/networks?filters=${f}`),
      d.getJson<{ Volumes: { Name: string }[] | null }>(`/volumes?filters=${f}`),
      list<{ Id: string; RepoTags?: string[] | null }>(d, `/images/json?filters=${f}`),
    ]);
    return {
      containers: containers.map((c) => displayName(c.Names, c.Id)),
      networks: networks.map((n) => n.Name),
      volumes: (volumes.json?.Volumes ?? []).map((v) => v.Name),
      images: [
        ...new Set([
          ...images.flatMap((i) => ((i.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>").length > 0 ? i.RepoTags! : [i.Id])),
          ...(await this.recordedTags(t)).map((r) => r.shown),
        ]),
      ],
    };
  }

  // ── images by record: the state file ──

  private statePath(name: string): string {
    return join(this.settings.directory, `.${name}.images.json`);
  }

  /** Writes the tenant's state file atomically (a temporary file renamed over it), after earlier writes. */
  private save(t: Tenant): Promise<void> {
    const body = JSON.stringify({ tags: Object.fromEntries(t.tags), before: t.before === undefined ? null : [...t.before] });
    const file = this.statePath(t.name);
    const write = async (): Promise<void> => {
      const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, file);
    };
    t.saving = t.saving.then(write, write);
    return t.saving;
  }

  private async load(name: string): Promise<{ tags: Map<string, string | null>; before: Set<string> | undefined }> {
    let text: string;
    try {
      text = await readFile(this.statePath(name), "utf8");
    } catch {
      return { tags: new Map(), before: undefined };
    }
    const v = JSON.parse(text) as { tags?: unknown; before?: unknown };
    const tags = new Map<string, string | null>();
    if (v.tags !== null && typeof v.tags === "object") {
      for (const [tag, prior] of Object.entries(v.tags)) if (typeof prior === "string" || prior === null) tags.set(tag, prior);
    }
    const before = Array.isArray(v.before) ? new Set(v.before.filter((s): s is string => typeof s === "string")) : undefined;
    return { tags, before };
  }

  /**
   * The gate's verdict for a tenant's request, with the tags it would create recorded first (a
   * load's when its archive has been read, before its end goes to the daemon). Other clients'
   * verdicts pass unchanged.
   */
  attribute(req: RequestView, client: Client, verdict: Verdict | Promise<Verdict>): Verdict | Promise<Verdict> {
    if (!client.owner.startsWith(OWNER_PREFIX)) return verdict;
    const t = this.tenants.get(client.owner.slice(OWNER_PREFIX.length));
    if (t === undefined || (req.operation !== "ImageLoad" && createdTags(req).length === 0)) return verdict;
    const after = async (v: Verdict): Promise<Verdict> => {
      if (v.kind === "deny") return v;
      if (req.operation !== "ImageLoad") {
        await this.note(t, createdTags(req));
        return v;
      }
      if (v.kind !== "allow" || v.bodyStream === undefined) return v;
      const inner = v.bodyStream;
      const bodyStream: BodyStreamCheck = {
        rewrites: inner.rewrites,
        open: () => {
          const s = inner.open();
          return {
            push: (chunk) => s.push(chunk),
            end: async () => {
              const step = await s.end();
              if (step.ok && step.creates !== undefined && step.creates.length > 0) await this.note(t, step.creates);
              return step;
            },
          };
        },
      };
      return { ...v, bodyStream };
    };
    return verdict instanceof Promise ? verdict.then(after) : after(verdict);
  }

  /** Records tags not recorded yet, with the image each points to now (before the request). */
  private async note(t: Tenant, tags: readonly string[]): Promise<void> {
    const fresh = [...new Set(tags)].filter((tag) => !t.tags.has(tag));
    if (fresh.length === 0) return;
    for (const tag of fresh) t.tags.set(tag, (await this.imageOf(tag))?.Id ?? null);
    await this.save(t);
  }

  /** The image a name resolves to, or undefined (404). */
  private async imageOf(name: string): Promise<{ Id: string; RepoTags?: string[] | null } | undefined> {
    const r = await this.daemon.getJson<{ Id: string; RepoTags?: string[] | null }>(`/images/${encodeURIComponent(name)}/json`);
    if (r.status === 404) return undefined;
    if (r.json === undefined) throw new DaemonError(`image ${name}: the daemon answered ${r.status} ${r.message ?? ""}`);
    return r.json;
  }

  /** The recorded tags that exist and point elsewhere than before the tenant's request, as the daemon shows them. */
  private async recordedTags(t: Tenant): Promise<Array<{ tag: string; shown: string; image: { Id: string; RepoTags: string[] } }>> {
    const out: Array<{ tag: string; shown: string; image: { Id: string; RepoTags: string[] } }> = [];
    for (const [tag, prior] of t.tags) {
      const image = await this.imageOf(tag);
      // Gone already (the label pass, or someone else), or where it was before the tenant's request.
      if (image === undefined || image.Id === prior) continue;
      // The name may resolve to an image by id or digest rather than by this tag: only a tag counts.
      const key = refKey(tag);
      const tags = image.RepoTags ?? [];
      // As the daemon shows it (the CLI sends docker.io/library/x for x).
      const shown = tags.find((x) => refKey(x) === key);
      if (shown !== undefined) out.push({ tag, shown, image: { Id: image.Id, RepoTags: tags } });
    }
    return out;
  }

  /** Untags what the tenant's requests tagged (after its containers are gone); see the file's head. */
  private async untagRecorded(t: Tenant, result: DeleteResult): Promise<void> {
    const d = this.daemon;
    const kept = new Set(result.kept);
    const others = new Set([...this.tenants.values()].filter((u) => u !== t).flatMap((u) => [...u.tags.keys()].map(refKey)));
    for (const { tag, shown, image } of await this.recordedTags(t)) {
      // Inspected again: untagging an earlier one may have changed this one's image.
      const now = await this.imageOf(tag);
      if (now === undefined || now.Id !== image.Id) continue;
      const key = refKey(tag);
      const last = (now.RepoTags ?? []).length <= 1;
      if (last && (t.before === undefined || t.before.has(image.Id))) {
        kept.add(`tag ${shown}: the only tag of image ${image.Id}, which existed before the tenant`);
        continue;
      }
      if (last && others.has(key)) {
        kept.add(`tag ${shown}: another tenant tagged it too`);
        continue;
      }
      if (await remove(d, `/images/${encodeURIComponent(tag)}`, kept, `tag ${shown}`)) result.removed.images.push(shown);
    }
    result.kept = [...kept];
  }

  // ── the marker, the socket, the timer ──

  private async writeMarker(t: Tenant): Promise<void> {
    const labels: Record<string, string> = {
      [MARKER_LABEL]: t.name,
      [`${MARKER_LABEL}.profile`]: t.profile,
      [`${MARKER_LABEL}.label`]: t.label,
      [`${MARKER_LABEL}.created`]: t.created.toISOString(),
    };
    if (t.expires) labels[`${MARKER_LABEL}.expires`] = t.expires.toISOString();
    const r = await this.daemon.postJson<{ Labels?: Record<string, string> | null }>("/volumes/create", { Name: MARKER_PREFIX + t.name, Labels: labels });
    if (r.json === undefined) throw new DaemonError(`creating the tenant's marker volume: ${r.status} ${r.message ?? ""}`);
    // The daemon answers a create of an existing volume with that volume.
    if (r.json.Labels?.[MARKER_LABEL] !== t.name || r.json.Labels?.[`${MARKER_LABEL}.created`] !== labels[`${MARKER_LABEL}.created`]) {
      throw new TenantError(409, `tenant ${t.name} already exists on the daemon (volume ${MARKER_PREFIX + t.name})`);
    }
  }

  private async removeMarker(name: string): Promise<void> {
    const r = await this.daemon.request("DELETE", `/volumes/${encodeURIComponent(MARKER_PREFIX + name)}`);
    if (r.status >= 300 && r.status !== 404) throw new DaemonError(`removing the tenant's marker volume: ${r.status}`);
  }

  private async open(t: Tenant): Promise<void> {
    const s = this.settings;
    const listener: ListenerConfig = {
      name: t.owner, // a listener's name is its clients' owner
      listen: { kind: "unix", path: t.socket, mode: s.mode, ...(s.uid !== undefined ? { uid: s.uid } : {}), ...(s.gid !== undefined ? { gid: s.gid } : {}) },
      profile: t.profile,
    };
    t.handle = await this.host.open(listener);
    if (t.expires) {
      t.timer = setTimeout(() => {
        this.delete(t.name, "ttl expired").catch((err: Error) => this.logger.error({ tenant: t.name, err: err.message }, "tenant expiry: cleanup failed"));
      }, Math.max(0, t.expires.getTime() - Date.now()));
      t.timer.unref();
    }
  }

  /** At start: tenants are read back from their marker volumes; orphaned objects are removed. */
  async restore(): Promise<void> {
    const d = this.daemon;
    const r = await d.getJson<{ Volumes: { Name: string; Labels?: Record<string, string> | null }[] | null }>(
      `/volumes?filters=${encodeURIComponent(JSON.stringify({ label: [MARKER_LABEL] }))}`,
    );
    if (r.json === undefined) throw new DaemonError(`volume list: ${r.status} ${r.message ?? ""}`);
    const known = new Set<string>();
    for (const v of r.json.Volumes ?? []) {
      const labels = v.Labels ?? {};
      const name = labels[MARKER_LABEL];
      const profile = labels[`${MARKER_LABEL}.profile`];
      const label = labels[`${MARKER_LABEL}.label`];
      if (name === undefined || v.Name !== MARKER_PREFIX + name || profile === undefined || label === undefined || !TENANT_NAME_RE.test(name)) continue;
      // A marker never has an owner: a volume a client made (which ownership labels) is not one.
      if (this.settings.profiles.some((p) => labels[this.labelOf(p)] !== undefined) || labels[label] !== undefined) continue;
      known.add(name);
      const expires = labels[`${MARKER_LABEL}.expires`] ? new Date(labels[`${MARKER_LABEL}.expires`]!) : undefined;
      const tenant: Tenant = {
        name,
        profile,
        label,
        owner: OWNER_PREFIX + name,
        socket: join(this.settings.directory, `${name}.sock`),
        created: new Date(labels[`${MARKER_LABEL}.created`] ?? Date.now()),
        expires,
        timer: undefined,
        handle: undefined,
        deleting: undefined,
        ...(await this.load(name)),
        saving: Promise.resolve(),
      };
      if (this.tenants.has(name)) continue; // a retry of a restore that got this far
      this.tenants.set(name, tenant);
      const usable = this.settings.profiles.includes(profile) && this.host.config().profiles.get(profile)?.ownership?.label === label;
      const expired = expires !== undefined && expires.getTime() <= Date.now();
      // One tenant that cannot come back (its socket path taken, a cleanup that fails) does not
      // keep the others from it: it stays listed as closed, DELETE retries its cleanup.
      try {
        if (this.settings.onRestart === "clean" || expired || !usable) {
          const why = expired ? "ttl expired" : !usable ? `profile ${profile} is no longer allowed for tenants (or its owner label changed)` : "onRestart: clean";
          await this.delete(name, why);
          continue;
        }
        await this.open(tenant); // our socket file from before the restart is stale: listenUnix replaces it
        this.logger.info({ tenant: name, profile, socket: tenant.socket }, "tenant restored");
      } catch (err) {
        this.logger.error({ tenant: name, err: (err as Error).message }, "tenant could not be restored");
      }
    }
    // Objects of tenants without a marker (a crash during a delete): nobody can reach them.
    for (const label of new Set(this.settings.profiles.map((p) => this.labelOf(p)))) {
      const owners = new Set<string>();
      for (const path of ["/containers/json?all=1", "/networks?", "/images/json?"]) {
        for (const o of await list<{ Labels?: Record<string, string> | null }>(d, `${path}&filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`)) {
          const owner = o.Labels?.[label];
          if (owner?.startsWith(OWNER_PREFIX) && !known.has(owner.slice(OWNER_PREFIX.length))) owners.add(owner);
        }
      }
      for (const owner of owners) {
        const result = await this.removeOwned(owner.slice(OWNER_PREFIX.length), owner, label);
        this.logger.info({ owner, removed: result.removed, kept: result.kept }, "objects of a tenant that no longer exists removed");
      }
    }
  }

  /** dockgate stops: sockets close with the gateway; tenants stay on the daemon for the next start. */
  close(): void {
    this.closed = true;
    for (const t of this.tenants.values()) clearTimeout(t.timer);
  }

  // ── the admin API ──

  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    try {
      if (path === "/tenants") {
        if (req.method === "GET") return json(res, 200, await this.list());
        if (req.method === "POST") return json(res, 201, await this.create(await readJson(req)));
        throw methodNotAllowed(res, "GET, POST", req.method, path);
      }
      const name = decodeURIComponent(path.slice("/tenants/".length));
      if (req.method === "DELETE") return json(res, 200, await this.delete(name));
      if (req.method === "GET") {
        const t = this.tenants.get(name);
        if (t === undefined) throw new TenantError(404, `no such tenant: ${name}`);
        return json(res, 200, { ...this.describe(t), holds: await this.holdings(t) });
      }
      throw methodNotAllowed(res, "GET, DELETE", req.method, path);
    } catch (err) {
      const status = err instanceof TenantError ? err.status : err instanceof DaemonError ? 502 : 500;
      json(res, status, { message: (err as Error).message });
    }
  }
}

function methodNotAllowed(res: http.ServerResponse, allow: string, method: string | undefined, path: string): TenantError {
  res.setHeader("Allow", allow);
  return new TenantError(405, `${method} is not allowed on ${path}`);
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  res.end(body);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new TenantError(413, `the body is larger than ${MAX_REQUEST_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new TenantError(400, "the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

/** The tags ImageTag, ImageCreate (pull, import) and ImageCommit would create, as the client wrote them. */
function createdTags(req: RequestView): string[] {
  const first = (key: string): string => queryValues(req, key)[0] ?? "";
  const tagged = (repo: string, tag: string): string[] => (repo === "" ? [] : [tag !== "" ? `${repo}:${tag}` : parseImageRef(repo).tag !== undefined || repo.includes("@") ? repo : `${repo}:latest`]);
  switch (req.operation) {
    case "ImageTag":
    case "ImageCommit":
      return tagged(first("repo"), first("tag"));
    case "ImageCreate":
      return first("fromImage") !== "" ? tagged(first("fromImage"), first("tag")) : tagged(first("repo"), first("tag"));
    default:
      return [];
  }
}

/** A reference as the daemon normalizes it (alpine:3 is docker.io/library/alpine:3). */
function refKey(name: string): string {
  const r = parseImageRef(name);
  return `${r.host}/${r.path}:${r.tag ?? ""}@${r.digest ?? ""}`;
}

function filter(label: string, owner: string): string {
  return encodeURIComponent(JSON.stringify({ label: [`${label}=${owner}`] }));
}

function displayName(names: string[] | undefined, id: string): string {
  return names?.[0]?.replace(/^\//, "") ?? id;
}

async function list<T>(d: DaemonClient, path: string): Promise<T[]> {
  const r = await d.getJson<T[] | null>(path);
  if (r.json === undefined) throw new DaemonError(`${path.split("?")[0]}: the daemon answered ${r.status} ${r.message ?? ""}`);
  return r.json ?? [];
}

/** DELETE; a 404 (gone meanwhile) counts as removed, a 409 (in use) is kept with the daemon's reason. */
async function remove(d: DaemonClient, path: string, kept: Set<string>, what: string): Promise<boolean> {
  const r = await d.request("DELETE", path);
  if (r.status < 300 || r.status === 404) return true;
  if (r.status >= 500) throw new DaemonError(`removing ${what}: the daemon answered ${r.status} ${r.body.toString("utf8").trim()}`);
  kept.add(what);
  return false;
}
