// Image references as the daemon reads them (distribution/reference), and the image patterns of
// a profile's `rules.images.allow`: the config parses patterns (src/config), the image policy
// (src/policy/inspect/image-policy.ts) matches references against them.

export const DOCKER_HUB = "docker.io";
/** Names of Docker Hub's registry besides docker.io (the daemon's IndexServer, its API host). */
const HUB_ALIASES: ReadonlySet<string> = new Set(["index.docker.io", "registry-1.docker.io"]);

/** An image reference as the daemon reads it: lower-cased registry host (with port), repository path, tag, digest. */
export interface ImageRef {
  host: string;
  path: string;
  tag: string | undefined;
  digest: string | undefined;
}

export const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

export function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/**
 * distribution/reference ParseNormalizedNamed's split: the first component is a registry when it
 * contains "." or ":", is "localhost", or has an upper-case letter; otherwise the image is on
 * Docker Hub, where a one-component name is under library/. Tag and digest are split off the
 * last component. Malformed names are left to the daemon, which refuses them without a fetch.
 */
export function parseImageRef(name: string): ImageRef {
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  let host = DOCKER_HUB;
  let path = rest;
  if (slash >= 0 && (isRegistryName(first) || first !== first.toLowerCase())) {
    host = canonicalHost(first);
    path = rest.slice(slash + 1);
  }
  if (host === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  return { host, path, tag, digest };
}

/** A first name component that names a registry rather than a Docker Hub namespace. */
export function isRegistryName(component: string): boolean {
  return /[.:]/.test(component) || component === "localhost";
}

/** One `images.allow` entry (inspect/image-policy.ts parses and matches them). */
export interface ImagePattern {
  /** As written, for messages. */
  text: string;
  /** Registry host, lower-case, with port; docker.io for Docker Hub. */
  host: string;
  /** Repository path; undefined: every repository on the registry. */
  path: string | undefined;
  /** true: the repositories below `path`, not `path` itself. */
  below: boolean;
  /** Only this digest (`sha256:...`) of the repository. */
  digest: string | undefined;
}

// ── patterns (rules.images.allow) ──

/** Parses an `images.allow` entry; a string is the problem. */
export function parseImagePattern(text: string): ImagePattern | string {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return `${JSON.stringify(text)}: a digest is written @sha256:<hex>`;
  }
  if (rest === "" || /\s/.test(rest) || rest.startsWith("/") || rest.endsWith("/")) return `${JSON.stringify(text)} is not an image pattern (registry, registry/path or registry/path/*)`;
  let below = false;
  if (rest.endsWith("/*")) {
    below = true;
    rest = rest.slice(0, -2);
    if (digest !== undefined) return `${JSON.stringify(text)}: a digest pins one repository, not repositories below a path`;
  }
  if (rest.includes("*")) return `${JSON.stringify(text)}: "*" may only end a pattern, as "/*"`;
  const slash = rest.indexOf("/");
  const head = slash < 0 ? rest : rest.slice(0, slash);
  const onRegistry = isRegistryName(head) || head !== head.toLowerCase();
  if (onRegistry && slash < 0) {
    // A whole registry: docker.io, registry.example.com:5000, localhost:5000/*.
    if (digest !== undefined) return `${JSON.stringify(text)}: a digest needs a repository, not a whole registry`;
    return { text, host: canonicalHost(head), path: undefined, below: false, digest: undefined };
  }
  if (below) {
    // Every repository below a path: docker.io/library/*, library/*, ghcr.io/acme/*.
    return { text, host: onRegistry ? canonicalHost(head) : DOCKER_HUB, path: onRegistry ? rest.slice(slash + 1) : rest, below: true, digest: undefined };
  }
  const ref = parseImageRef(rest);
  if (ref.tag !== undefined) return `${JSON.stringify(text)}: patterns name repositories, not tags (use @sha256:<digest> to pin an image)`;
  return { text, host: ref.host, path: ref.path, below: false, digest };
}
