// Tenancy that tools cannot see: the owner label (and the labels that remember how the client
// spelled a reference dockgate rewrote to an id) is dockgate's bookkeeping, not the client's.
// Tools compare what they read with what they asked for: docker-compose warns `label
// "dockgate.owner" has changed` for a network whose labels differ from its file, Ansible
// recreates a container whose HostConfig.NetworkMode reads back as an id where it wrote a name.
// So the answers of an ownership profile's clients have those labels removed, and a rewritten
// reference put back the way the client wrote it (a spelling label stored at create).
//
// The labels stay on the daemon: the list filters ownership adds keep matching them, and a
// client's own label filters are the daemon's business as before. Streams are not buffered here
// (SystemEvents' attributes are not rewritten).

import type { GoObject } from "./gojson.js";
import type { ResponseTransform } from "./verdict.js";

const MAX_BYTES = 64 * 1048576;

/** The label that keeps the client's spelling of `field` (a reference forwarded as an id). */
export function spellingLabel(ownerLabel: string, field: "HostConfig.NetworkMode"): string {
  return `${ownerLabel}.ref.${field}`;
}

/** Whether a label key is dockgate's bookkeeping for this owner label (never the client's to set or see). */
export function isBookkeeping(key: string, ownerLabel: string): boolean {
  return key === ownerLabel || key.startsWith(`${ownerLabel}.ref.`);
}

/** Removes client-supplied bookkeeping labels other than the owner label itself (ownership sets that one). */
export function dropClientSpellings(labels: GoObject, ownerLabel: string): void {
  for (const [k] of labels.entries()) if (k !== ownerLabel && isBookkeeping(k, ownerLabel)) labels.delete(k);
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** Removes the bookkeeping labels from `holder[field]`; returns what they said. */
function strip(holder: unknown, field: string, ownerLabel: string): Json | undefined {
  if (!isObject(holder)) return undefined;
  const labels = holder[field];
  if (!isObject(labels)) return undefined;
  let removed: Json | undefined;
  for (const k of Object.keys(labels)) {
    if (!isBookkeeping(k, ownerLabel)) continue;
    (removed ??= {})[k] = labels[k];
    delete labels[k];
  }
  return removed;
}

/** HostConfig.NetworkMode back to the client's spelling when dockgate forwarded it as an id. */
function restoreNetworkMode(hostConfig: unknown, removed: Json | undefined, ownerLabel: string): void {
  const spelled = removed?.[spellingLabel(ownerLabel, "HostConfig.NetworkMode")];
  if (isObject(hostConfig) && typeof spelled === "string" && typeof hostConfig["NetworkMode"] === "string") hostConfig["NetworkMode"] = spelled;
}

function container(c: unknown, labelsAt: "Config" | "", ownerLabel: string): void {
  if (!isObject(c)) return;
  const removed = strip(labelsAt === "" ? c : c[labelsAt], "Labels", ownerLabel);
  restoreNetworkMode(c["HostConfig"], removed, ownerLabel);
}

const REWRITES: Record<string, (body: unknown, ownerLabel: string) => void> = {
  ContainerInspect: (b, l) => container(b, "Config", l),
  ContainerList: (b, l) => {
    if (Array.isArray(b)) for (const c of b) container(c, "", l);
  },
  NetworkInspect: (b, l) => void strip(b, "Labels", l),
  NetworkList: (b, l) => {
    if (Array.isArray(b)) for (const n of b) strip(n, "Labels", l);
  },
  VolumeInspect: (b, l) => void strip(b, "Labels", l),
  VolumeCreate: (b, l) => void strip(b, "Labels", l),
  VolumeList: (b, l) => {
    if (isObject(b) && Array.isArray(b["Volumes"])) for (const v of b["Volumes"]) strip(v, "Labels", l);
  },
  ImageInspect: (b, l) => {
    if (!isObject(b)) return;
    strip(b["Config"], "Labels", l);
    strip(b["ContainerConfig"], "Labels", l);
  },
  ImageList: (b, l) => {
    if (Array.isArray(b)) for (const i of b) strip(i, "Labels", l);
  },
  SystemDataUsage: (b, l) => {
    if (!isObject(b)) return;
    for (const key of ["Images", "Volumes"]) {
      const list = b[key];
      if (Array.isArray(list)) for (const x of list) strip(x, "Labels", l);
    }
    if (Array.isArray(b["Containers"])) for (const c of b["Containers"]) container(c, "", l);
  },
};

const cache = new Map<string, ResponseTransform>();

/**
 * The response transform that hides `ownerLabel`'s bookkeeping from `operation`'s answer, or
 * undefined when that answer carries no labels. Applied after ownership's own transforms, before
 * redaction.
 */
export function hideOwner(operation: string, ownerLabel: string): ResponseTransform | undefined {
  const rewrite = REWRITES[operation];
  if (rewrite === undefined) return undefined;
  const key = `${operation}\0${ownerLabel}`;
  let t = cache.get(key);
  if (t === undefined) {
    t = Object.freeze({
      maxBytes: MAX_BYTES,
      transform(body: Buffer): Buffer {
        const value = JSON.parse(body.toString("utf8")) as unknown;
        rewrite(value, ownerLabel);
        return Buffer.from(JSON.stringify(value));
      },
    });
    cache.set(key, t);
  }
  return t;
}
