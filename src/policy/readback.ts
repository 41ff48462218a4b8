// Read-back of rewritten references: dockgate forwards a container create with the objects it
// checked named by id (refs.ts: `Image` and image mounts' `Source` → `sha256:…`; ownership:
// `HostConfig.NetworkMode` → the network's full id, `container:<x>` modes and `VolumesFrom` → the
// container's full id), and the daemon stores what it was given, so a direct
// `docker inspect` would show ids where the client wrote names. Tools that compare what they read
// with what they asked for (docker-compose, Ansible's docker_container, Terraform) would then see
// a change on every run. The client's spellings are kept on the container itself, in the label
// `dockgate.refs` (JSON: field → [what the daemon was given, what the client wrote]), and put
// back in ContainerInspect, ContainerList and SystemDataUsage answers, with the label hidden. A value is put back
// only while the daemon still shows exactly what dockgate gave it.
//
// Not covered: events (the `image` attribute of container events, and the label among their
// attributes), `docker commit` of such a container (the image's config keeps the label).

import { GoObject, type GoValue } from "./gojson.js";
import type { ResponseTransform } from "./verdict.js";
import { parseAnswer, writeAnswer } from "./answer-json.js";

export const READBACK_LABEL = "dockgate.refs";
const LABEL_BYTES = Buffer.from(JSON.stringify(READBACK_LABEL));

/** The create body's fields a rewrite may change, as the client wrote them. */
export type Spellings = Map<string, string>;

/** HostConfig fields that name another object by a string dockgate may rewrite to an id. */
const HOST_FIELDS = ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "Cgroup"] as const;

/** What the client wrote (or hardening set), before references are rewritten: path → value. */
export function spellings(value: GoValue | undefined): Spellings {
  const out: Spellings = new Map();
  if (!(value instanceof GoObject)) return out;
  const image = value.get("Image");
  if (typeof image === "string") out.set("Image", image);
  const hc = value.get("HostConfig");
  if (!(hc instanceof GoObject)) return out;
  for (const f of HOST_FIELDS) {
    const v = hc.get(f);
    if (typeof v === "string") out.set(`HostConfig.${f}`, v);
  }
  const from = hc.get("VolumesFrom");
  if (Array.isArray(from)) from.forEach((v, i) => typeof v === "string" && out.set(`HostConfig.VolumesFrom.${i}`, v));
  const mounts = hc.get("Mounts");
  if (Array.isArray(mounts)) {
    mounts.forEach((m, i) => {
      const src = m instanceof GoObject ? m.get("Source") : undefined;
      if (typeof src === "string") out.set(`HostConfig.Mounts.${i}.Source`, src);
    });
  }
  return out;
}

/**
 * Records in the body's labels what was rewritten since `before` (and drops a client's own label
 * of that key: only dockgate writes it). Returns whether the body changed, or why it cannot be
 * recorded (a client label Go would confuse with dockgate's).
 */
export function recordRewrites(before: Spellings, value: GoValue | undefined): boolean | string {
  if (!(value instanceof GoObject)) return false;
  const after = spellings(value);
  const changed: Record<string, [string, string]> = {};
  let any = false;
  for (const [k, was] of before) {
    const now = after.get(k);
    if (now !== undefined && now !== was) {
      changed[k] = [now, was];
      any = true;
    }
  }
  const lv = value.get("Labels");
  if (lv !== undefined && lv !== null && !(lv instanceof GoObject)) return false; // the daemon refuses the body
  const labels = lv instanceof GoObject ? lv : new GoObject();
  for (const [k] of labels.entries()) {
    if (k !== READBACK_LABEL && k.toLowerCase() === READBACK_LABEL) return `Labels: label ${JSON.stringify(k)} differs from dockgate's ${JSON.stringify(READBACK_LABEL)} only in case`;
  }
  // Always set, "{}" when nothing was rewritten: a container inherits its image's labels, and an
  // image may carry this one (pulled, built, committed); the body's label is the one kept.
  labels.set(READBACK_LABEL, any ? JSON.stringify(changed) : "{}");
  value.set("Labels", labels);
  return true;
}

const ID = "[0-9a-f]{64}";
/**
 * What dockgate writes in each field it rewrites (the "given" side of a record), and what the
 * client may have written there: a record of any other shape was not written by dockgate (the
 * daemon also shows containers created without it, whose labels may come from any image), and
 * is not read back. A predefined network or a host namespace is never a rewrite.
 */
const SHAPES: ReadonlyArray<[RegExp, RegExp, (given: string, wrote: string) => boolean]> = [
  [/^Image$|^HostConfig\.Mounts\.\d+\.Source$/, new RegExp(`^sha256:${ID}$`), (_g, w) => w !== ""],
  [/^HostConfig\.(?:NetworkMode|PidMode|IpcMode|UTSMode|UsernsMode|Cgroup)$/, new RegExp(`^container:${ID}$`), (_g, w) => w.startsWith("container:")],
  [/^HostConfig\.NetworkMode$/, new RegExp(`^${ID}$`), (_g, w) => !["", "default", "bridge", "host", "none"].includes(w) && !w.startsWith("container:")],
  [/^HostConfig\.VolumesFrom\.\d+$/, new RegExp(`^${ID}(?::|$)`), (g, w) => g.slice(64) === (w.includes(":") ? w.slice(w.indexOf(":")) : "")],
];

function dockgateWrote(field: string, given: string, wrote: string): boolean {
  return SHAPES.some(([f, g, w]) => f.test(field) && g.test(given) && w(given, wrote));
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Puts the client's spellings back into one container (inspect: `config` is its `Config`; list:
 * the item itself, whose `Image` and `HostConfig.NetworkMode` are the ones shown).
 */
function restore(container: Json, config: Json, labels: unknown): void {
  if (!isObject(labels)) return;
  const raw = labels[READBACK_LABEL];
  if (raw === undefined) return;
  delete labels[READBACK_LABEL];
  let rec: unknown;
  try {
    rec = JSON.parse(String(raw));
  } catch {
    return;
  }
  if (!isObject(rec)) return;
  for (const [field, pair] of Object.entries(rec)) {
    if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "string") continue;
    const [given, wrote] = pair as [string, string];
    if (!dockgateWrote(field, given, wrote)) continue;
    // `Image`, `HostConfig.F`, `HostConfig.F.i`, `HostConfig.Mounts.i.Source`: walk to the holder.
    const keys = field === "Image" ? ["Image"] : field.split(".");
    let holder: unknown = field === "Image" ? config : container;
    for (const k of keys.slice(0, -1)) holder = Array.isArray(holder) ? holder[Number(k)] : isObject(holder) ? holder[k] : undefined;
    const last = keys[keys.length - 1]!;
    if (Array.isArray(holder) && holder[Number(last)] === given) holder[Number(last)] = wrote;
    else if (isObject(holder) && holder[last] === given) holder[last] = wrote;
  }
}

const MAX_BYTES = 64 * 1048576;

/** ContainerInspect: Config.Image and the HostConfig references; the label hidden. */
export const INSPECT_READBACK: ResponseTransform = Object.freeze({
  maxBytes: MAX_BYTES,
  transform(body: Buffer): Buffer {
    if (body.indexOf(LABEL_BYTES) < 0) return body;
    const c = parseAnswer(body);
    if (!isObject(c) || !isObject(c["Config"])) return body;
    restore(c, c["Config"], c["Config"]["Labels"]);
    return writeAnswer(c);
  },
});

/** ContainerList: each item's Image and HostConfig.NetworkMode; the label hidden. */
export const LIST_READBACK: ResponseTransform = Object.freeze({
  maxBytes: MAX_BYTES,
  transform(body: Buffer): Buffer {
    if (body.indexOf(LABEL_BYTES) < 0) return body;
    const list = parseAnswer(body);
    if (!Array.isArray(list)) return body;
    for (const c of list) if (isObject(c)) restore(c, c, c["Labels"]);
    return writeAnswer(list);
  },
});

/** SystemDataUsage (`docker system df -v`): its Containers are list items. */
export const DF_READBACK: ResponseTransform = Object.freeze({
  maxBytes: MAX_BYTES,
  transform(body: Buffer): Buffer {
    if (body.indexOf(LABEL_BYTES) < 0) return body;
    const df = parseAnswer(body);
    if (!isObject(df) || !Array.isArray(df["Containers"])) return body;
    for (const c of df["Containers"]) if (isObject(c)) restore(c, c, c["Labels"]);
    return writeAnswer(df);
  },
});
