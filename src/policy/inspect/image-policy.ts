// Image policy: which registries and repositories a profile's clients may make the daemon talk to
// (rules.images). Checked wherever a request names a registry or an image the daemon will fetch
// or send: pull (ImageCreate fromImage + tag), push (ImagePush {name} + tag), registry login
// (SystemAuth serveraddress), the X-Registry-Auth header's serveraddress (pull, push),
// /distribution/{name}/json, image search (the term's registry), and plugin pull, upgrade
// (`remote`) and push ({name}); and, with the image the daemon resolved it to in hand, the images
// a container create runs (createImageViolation, called from the create's image step: refs.ts);
// the names the daemon gives images without contacting a registry (createdTagViolation: a
// build's tags (t=), the tags a `docker load` archive would create, from image-load.ts); and the
// images BuildKit builds fetch (fetchedImageViolation, called from src/policy/buildkit/:
// Dockerfile FROM lines, LLB sources, named contexts, registry caches).
//
// Two settings:
//   * localRegistries (default false): a registry on a loopback, link-local or unspecified
//     address, or named localhost (or *.localhost, or a name /etc/hosts maps to such an address),
//     is refused: the daemon would open connections from the host to the host's own loopback
//     services and to metadata endpoints (169.254.169.254). Addresses are read as the daemon's
//     resolver reads them (inet_aton: 127.1, 0x7f.0.0.1, 2130706433 are loopback too). Other DNS
//     names are not resolved here (a name may change what it resolves to): README "Known limits".
//   * allow (default: any): image patterns. `registry` (a single component with "." or ":", or
//     localhost: every repository there), `registry/path` (exactly that repository),
//     `registry/path/*` (every repository below), each optionally `@sha256:<hex>` (only that
//     digest: pulls and pushes must name it). Names are normalized as the daemon does
//     (distribution/reference ParseNormalizedNamed: `alpine` is docker.io/library/alpine).
//     Registry-level requests (login, search) need a pattern on that registry.

import { readFileSync } from "node:fs";
import { BlockList, isIPv6 } from "node:net";
import { GoJsonError, GoObject, parseGoJson, type GoValue } from "../gojson.js";
import { DIGEST, DOCKER_HUB, type ImagePattern, type ImageRef, canonicalHost, isRegistryName, parseImageRef } from "../../api/image-ref.js";
import type { RuleSettings } from "../rules.js";
import type { RequestView } from "../verdict.js";
import { isBuildKitQuery } from "../buildkit/build-query.js";
import type { Inspection, Violation } from "./index.js";
import { bodyObject, formBodyViolation, guard, optString, queryValues, quote } from "./util.js";

/** The registry host of a login server address, as the daemon's registry service reads it (url.Parse(...).Host). */
export function serverAddressHost(address: string): string {
  if (address === "") return DOCKER_HUB;
  let rest = address;
  if (rest.startsWith("https://")) rest = rest.slice(8);
  else if (rest.startsWith("http://")) rest = rest.slice(7);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  return canonicalHost(authority.slice(authority.lastIndexOf("@") + 1));
}

/** The registry an image search goes to (registry splitReposSearchTerm): the term's first component if it names one. */
export function searchTermHost(term: string): string {
  const slash = term.indexOf("/");
  if (slash < 0) return DOCKER_HUB;
  const first = term.slice(0, slash);
  return isRegistryName(first) ? canonicalHost(first) : DOCKER_HUB;
}

// ---------------------------------------------------------------------------------------------
// Local addresses

const LOCAL = new BlockList();
LOCAL.addSubnet("127.0.0.0", 8, "ipv4");
LOCAL.addSubnet("169.254.0.0", 16, "ipv4");
LOCAL.addSubnet("0.0.0.0", 8, "ipv4"); // "this host": connecting to 0.0.0.0 reaches the host's own services
LOCAL.addSubnet("::1", 128, "ipv6");
LOCAL.addSubnet("::", 128, "ipv6");
LOCAL.addSubnet("fe80::", 10, "ipv6");
LOCAL.addSubnet("::ffff:127.0.0.0", 104, "ipv6");
LOCAL.addSubnet("::ffff:169.254.0.0", 112, "ipv6");
LOCAL.addSubnet("::ffff:0.0.0.0", 104, "ipv6");

/** An IPv4 address in any form inet_aton accepts (1 to 4 parts, decimal, octal or hex), as dotted quad. */
function inetAton(s: string): string | undefined {
  const parts = s.split(".");
  if (parts.length > 4 || parts.some((p) => !/^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/.test(p))) return undefined;
  const nums = parts.map((p) => (/^0[xX]/.test(p) ? parseInt(p.slice(2) || "0", 16) : p.length > 1 && p[0] === "0" ? parseInt(p, 8) : Number(p)));
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 2 ** (8 * (4 - nums.length))) return undefined;
  let value = last;
  for (let i = 0; i < nums.length; i++) value += nums[i]! * 2 ** (8 * (3 - i));
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

function isLocalAddress(ip: string): boolean {
  if (isIPv6(ip)) return LOCAL.check(ip, "ipv6");
  const v4 = inetAton(ip);
  return v4 !== undefined && LOCAL.check(v4, "ipv4");
}

/** Names /etc/hosts maps to a local address (the host's own name is often 127.0.1.1). Read on each check: it may change. */
function hostsFileLocalNames(): Set<string> {
  const out = new Set<string>();
  let text: string;
  try {
    text = readFileSync("/etc/hosts", "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const [addr, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (addr && names.length > 0 && isLocalAddress(addr)) for (const n of names) out.add(n.toLowerCase());
  }
  return out;
}

/** Whether a registry host (with optional :port, IPv6 in brackets) is on this host's loopback, link-local or unspecified addresses. */
export function isLocalRegistry(hostPort: string): boolean {
  let host = hostPort.toLowerCase();
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    host = host.slice(1, close < 0 ? undefined : close);
    const zone = host.indexOf("%");
    if (zone >= 0) host = host.slice(0, zone);
    return isIPv6(host) ? LOCAL.check(host, "ipv6") : true; // an unreadable literal: refused
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0) host = host.slice(0, colon);
  host = host.replace(/\.+$/, "");
  if (host === "" || host === "localhost" || host.endsWith(".localhost")) return true;
  if (isLocalAddress(host)) return true;
  return hostsFileLocalNames().has(host);
}

function matches(ref: ImageRef, p: ImagePattern): boolean {
  if (ref.host !== p.host) return false;
  if (p.path !== undefined) {
    if (p.below ? !ref.path.startsWith(p.path + "/") : ref.path !== p.path) return false;
  }
  return p.digest === undefined || ref.digest === p.digest;
}

// ---------------------------------------------------------------------------------------------
// Checks

const LOCAL_RULE = "images.local-registry";
const ALLOW_RULE = "images.reference";

function localViolation(field: string, shown: string, host: string): Violation {
  return {
    rule: LOCAL_RULE,
    field,
    detail: `${field}=${quote(shown)}: registry ${quote(host)} is on this host's loopback, link-local or localhost addresses, which this profile does not allow (images.localRegistries)`,
  };
}

/** An image the daemon would fetch or send: its registry, then the profile's patterns. */
function checkImage(field: string, shown: string, ref: ImageRef, rules: RuleSettings): Violation | null {
  const policy = rules.images;
  if (!policy.localRegistries && isLocalRegistry(ref.host)) return localViolation(field, shown, ref.host);
  if (policy.allow.length === 0 || policy.allow.some((p) => matches(ref, p))) return null;
  const pinned = policy.allow.some((p) => p.digest !== undefined && ref.digest === undefined && matches({ ...ref, digest: p.digest }, p));
  return {
    rule: ALLOW_RULE,
    field,
    detail: `${field}=${quote(shown)}: image ${ref.host}/${ref.path} is not among the images this profile allows (images.allow)${pinned ? "; it is allowed by digest only: name it @sha256:..." : ""}`,
  };
}

/**
 * An image a container create names (`Image`, an image mount's Source), as the daemon resolved it:
 * under `images.allow` the name the client wrote must be allowed when the daemon found it by that
 * name (it is among the image's RepoTags / RepoDigests); a name the daemon found by id instead
 * (`sha256:<id>`, an id, an id prefix, or a hex name with no such tag) runs an image the client
 * did not name, so one of that image's own RepoTags / RepoDigests must be allowed. Registries are
 * not contacted by a create: localRegistries does not apply.
 */
export function createImageViolation(field: string, written: string, refs: readonly string[], rules: RuleSettings): Violation | null {
  const allow = rules.images.allow;
  if (allow.length === 0) return null;
  const ref = parseImageRef(written);
  const key = refKey(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref);
  const own = refs.map(parseImageRef);
  if (own.some((r) => refKey(r) === key)) return checkImage(field, written, ref, rules);
  if (own.some((r) => allow.some((p) => matches(r, p)))) return null;
  return {
    rule: ALLOW_RULE,
    field,
    detail: `${field}=${quote(written)}: it names image ${own.length === 0 ? "with no repository tags" : `${own.map((r) => `${r.host}/${r.path}`).filter((v, i, a) => a.indexOf(v) === i).join(", ")}`} by id, and none of its references is among the images this profile allows (images.allow)`,
  };
}

/**
 * An image a build makes the daemon fetch (a Dockerfile's FROM, COPY --from, RUN --mount from;
 * LLB docker-image sources; named contexts; registry cache imports and exports): the same check
 * as a pull (src/policy/buildkit/).
 */
export function fetchedImageViolation(field: string, name: string, rules: RuleSettings): Violation | null {
  return checkImage(field, name, parseImageRef(name), rules);
}

/**
 * A name the daemon gives an image without contacting a registry: a build's tag (`t=`), a tag a
 * `docker load` archive would create (image-load.ts reads them from the archive). Under
 * images.allow it must be allowed, as every name a create may run is; localRegistries does not
 * apply.
 */
export function createdTagViolation(field: string, name: string, rules: RuleSettings): Violation | null {
  if (rules.images.allow.length === 0) return null;
  return checkImage(field, name, parseImageRef(name), { ...rules, images: { ...rules.images, localRegistries: true } });
}

function refKey(r: ImageRef): string {
  return `${r.host}/${r.path}${r.tag === undefined ? "" : `:${r.tag}`}${r.digest === undefined ? "" : `@${r.digest}`}`;
}

/** A registry the daemon would talk to for a whole-registry request (login, search). */
function checkRegistry(field: string, shown: string, host: string, rules: RuleSettings): Violation | null {
  const policy = rules.images;
  if (!policy.localRegistries && isLocalRegistry(host)) return localViolation(field, shown, host);
  if (policy.allow.length === 0 || policy.allow.some((p) => p.host === host)) return null;
  return { rule: ALLOW_RULE, field, detail: `${field}=${quote(shown)}: registry ${quote(host)} is not among the registries this profile allows (images.allow)` };
}

/** X-Registry-Auth: base64url JSON AuthConfig; its serveraddress is a registry the credentials are for. Undecodable headers the daemon ignores are ignored. */
function registryAuthViolation(req: RequestView, rules: RuleSettings): Violation | null {
  const header = req.headers["x-registry-auth"];
  if (header === undefined || header === "") return null;
  let value: GoValue;
  try {
    value = parseGoJson(Buffer.from(header, "base64url"));
  } catch (err) {
    if (err instanceof GoJsonError) return null;
    throw err;
  }
  if (!(value instanceof GoObject)) return null;
  const address = value.get("serveraddress");
  if (typeof address !== "string" || address === "") return null;
  return checkRegistry("X-Registry-Auth.serveraddress", address, serverAddressHost(address), rules);
}

/** Each value of a query key the daemon reads one of (over-approximated: every spelling, every repeat). */
function eachValue(req: RequestView, key: string): string[] {
  const values = queryValues(req, key);
  return values.length === 0 ? [""] : values;
}

/** An image with an optional separate `tag` parameter (a digest there pins the digest). */
function withTag(name: string, tag: string): ImageRef {
  const ref = parseImageRef(name);
  if (tag === "") return ref;
  return DIGEST.test(tag) ? { ...ref, tag: undefined, digest: tag } : { ...ref, tag };
}

function first(...checks: Array<() => Violation | null>): Violation | null {
  for (const c of checks) {
    const v = c();
    if (v) return v;
  }
  return null;
}

/** The image policy's inspections, by operation (index.ts merges them with the operations' own). */
export const IMAGE_POLICY: ReadonlyMap<string, Inspection> = new Map<string, Inspection>([
  [
    "ImageCreate",
    {
      query(req, rules) {
        return first(
          () => {
            for (const name of queryValues(req, "fromImage")) {
              if (name === "") continue;
              for (const tag of eachValue(req, "tag")) {
                const v = checkImage("fromImage", tag === "" ? name : `${name}:${tag}`, withTag(name, tag), rules);
                if (v) return v;
              }
            }
            return null;
          },
          () => registryAuthViolation(req, rules),
        );
      },
    },
  ],
  [
    "ImagePush",
    {
      query(req, rules) {
        const name = req.params["name"] ?? "";
        return first(
          () => {
            for (const tag of eachValue(req, "tag")) {
              const v = checkImage("name", tag === "" ? name : `${name}:${tag}`, withTag(name, tag), rules);
              if (v) return v;
            }
            return null;
          },
          () => registryAuthViolation(req, rules),
        );
      },
    },
  ],
  [
    "DistributionInspect",
    {
      query(req, rules) {
        const name = req.params["name"] ?? "";
        return first(
          () => checkImage("name", name, parseImageRef(name), rules),
          () => registryAuthViolation(req, rules),
        );
      },
    },
  ],
  [
    "ImageSearch",
    {
      query(req, rules) {
        for (const term of queryValues(req, "term")) {
          const v = checkRegistry("term", term, searchTermHost(term), rules);
          if (v) return v;
        }
        return registryAuthViolation(req, rules);
      },
    },
  ],
  // Plugins are images too: pulling or upgrading one fetches `remote`, pushing one sends {name}.
  ...(["PluginPull", "PluginUpgrade"] as const).map(
    (op) =>
      [
        op,
        {
          query(req: RequestView, rules: RuleSettings) {
            return first(
              () => {
                for (const remote of queryValues(req, "remote")) {
                  const v = remote === "" ? null : checkImage("remote", remote, parseImageRef(remote), rules);
                  if (v) return v;
                }
                return null;
              },
              () => registryAuthViolation(req, rules),
            );
          },
        },
      ] as const,
  ),
  [
    "PluginPush",
    {
      query(req, rules) {
        const name = req.params["name"] ?? "";
        return first(
          () => checkImage("name", name, parseImageRef(name), rules),
          () => registryAuthViolation(req, rules),
        );
      },
    },
  ],
  [
    "ImageBuild",
    {
      query(req, rules) {
        for (const tag of queryValues(req, "t")) {
          const v = tag === "" ? null : createdTagViolation("t", tag, rules);
          if (v) return v;
        }
        // A classic build's Dockerfile is read from the context tar in the body (build-context.ts);
        // one the daemon fetches (a URL or git repository) is not seen by dockgate.
        if (rules.images.allow.length > 0 && !isBuildKitQuery(req)) {
          for (const remote of queryValues(req, "remote")) {
            if (remote !== "") return { rule: "build.context", field: "remote", detail: `remote=${quote(remote)}: under images.allow a classic build's Dockerfile must come in the context tar, where dockgate checks the images it names; the daemon would fetch this one` };
          }
        }
        return null;
      },
    },
  ],
  [
    "SystemAuth",
    {
      query: (req) => formBodyViolation(req),
      body(body, _req, rules) {
        let address = "";
        const v = guard(() => {
          const o = bodyObject(body, "body");
          if (o) address = optString(o, "serveraddress", "").value ?? "";
        });
        return v ?? checkRegistry("serveraddress", address, serverAddressHost(address), rules);
      },
    },
  ],
]);
