// A profile's `rules:` as the policy reads them: RuleSettings, the schema's defaults (DEFAULT_RULES,
// from RULE_DEFAULTS, which `npm run schema` extracts from RULES_SCHEMA)
// and normalizeRules, which turns a schema-valid `rules:` map into settings (capability names as
// the daemon normalizes them, cleaned host paths, parsed image patterns) and reports what the
// schema cannot say: unknown capabilities and security options, overlapping bind paths, URL shapes.

import { KNOWN_CAPABILITIES, SECURITY_OPT_KEYS, cleanAbsolute, isUnder, normalizeCapability, normalizeSecurityOpt } from "../api/engine.js";
import { type ImagePattern, parseImagePattern } from "../api/image-ref.js";
import type { RulesFile } from "./schema.js";
import { RULE_DEFAULTS } from "./schema-validator.js";
import { didYouMean } from "./suggest.js";

/** One allowed host path for bind mounts. */
export interface BindPath {
  /** Absolute, cleaned host path. */
  path: string;
  /**
   * true: the path and anything below it may be mounted, read-only only. false: exactly this path,
   * read-write or read-only; paths below it are refused (a container that could write there may
   * have replaced them with symlinks).
   */
  readOnly: boolean;
}

type Settings = { readonly [K in keyof RulesFile]-?: NonNullable<RulesFile[K]> extends (infer U)[] ? readonly U[] : NonNullable<RulesFile[K]> };

/** The settings, every one filled in (RULES_SCHEMA documents each). */
export type RuleSettings = Readonly<
  Omit<Settings, "bindMounts" | "images"> & {
    /** `ownSocket`: the unix socket the client connected through may be mounted too (withOwnSocket). */
    bindMounts: { allow: readonly BindPath[]; ownSocket: boolean };
    images: { allow: readonly ImagePattern[]; localRegistries: boolean };
  }
>;

export type Problem = (path: (string | number)[], message: string) => void;

/** `rules:` merged over the schema's defaults; a setting with a problem keeps its default. */
export function normalizeRules(raw: RulesFile | null | undefined, report: Problem): RuleSettings {
  const defaults = RULE_DEFAULTS as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(defaults)) out[key] = (raw as Record<string, unknown> | null | undefined)?.[key] ?? structuredClone(value);
  const list = (key: string, check?: (s: string) => string | undefined): string[] => {
    const items = (out[key] ?? []) as string[];
    let ok = true;
    items.forEach((s, i) => {
      const err = check?.(s);
      if (err !== undefined) {
        report([key, i], err);
        ok = false;
      }
    });
    return ok ? [...new Set(items)] : ((defaults[key] as string[] | undefined) ?? []);
  };
  out["capAdd"] = [
    ...new Set(
      list("capAdd", (s) => {
        const n = normalizeCapability(s);
        return n === "ALL" || KNOWN_CAPABILITIES.has(n) ? undefined : `unknown capability "${s}"${didYouMean(n, KNOWN_CAPABILITIES)}`;
      }).map(normalizeCapability),
    ),
  ];
  out["securityOpt"] = list("securityOpt", (s) => {
    const n = normalizeSecurityOpt(s);
    const eq = n.indexOf("=");
    const k = eq < 0 ? n : n.slice(0, eq);
    if (!SECURITY_OPT_KEYS.includes(k)) return `unknown security option "${k}"${didYouMean(k, SECURITY_OPT_KEYS)}; one of ${SECURITY_OPT_KEYS.join(", ")}`;
    if (eq < 0) return `must be written key=value (e.g. "${k}=unconfined", or "${k}=*" for any value)`;
    return undefined;
  }).map(normalizeSecurityOpt);
  out["sysctls"] = list("sysctls", (s) => {
    if (s === "*") return `"*" would allow every sysctl; list names or prefixes such as "net.ipv4.*"`;
    const star = s.indexOf("*");
    return star >= 0 && star !== s.length - 1 ? `"*" may only end a prefix (e.g. "net.ipv4.*"): ${JSON.stringify(s)}` : undefined;
  }).map((s) => s.replaceAll("/", "."));
  out["fetchUrls"] = list("fetchUrls", (s) =>
    !/\s/.test(s) && (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\s]+/.test(s) || /^[^@\s/]+@[^:\s/]+:/.test(s) || /^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::[0-9]+)?\//.test(s))
      ? undefined
      : `must be a URL prefix with a host (https://example.com/builds/), a git remote (git@host:org/) or host/path (github.com/org/), without spaces`,
  );
  for (const key of ["hostNamespaces", "namespaceJoins", "buildkitFrontends", "runtimes", "logDrivers", "volumeDrivers", "networkDrivers", "networkOptions"]) out[key] = list(key);
  out["bindMounts"] = bindMounts((out["bindMounts"] as RulesFile["bindMounts"]) ?? {}, report);
  const images = (out["images"] ?? {}) as NonNullable<RulesFile["images"]>;
  const patterns: ImagePattern[] = [];
  (images.allow ?? []).forEach((s, i) => {
    const p = parseImagePattern(s);
    if (typeof p === "string") report(["images", "allow", i], p);
    else patterns.push(p);
  });
  out["images"] = { allow: patterns, localRegistries: images.localRegistries ?? false };
  return deepFreeze(out as RuleSettings);
}

function bindMounts(v: NonNullable<RulesFile["bindMounts"]>, report: Problem): RuleSettings["bindMounts"] {
  const allow: BindPath[] = [];
  const at: number[] = [];
  let ownSocket = false;
  (v.allow ?? []).forEach((item, i) => {
    if (typeof item === "object" && "ownSocket" in item) {
      ownSocket = true;
      return;
    }
    const path = typeof item === "string" ? item : item.path;
    if (path.split("/").some((s) => s === ".." || s === ".")) {
      report(typeof item === "string" ? ["bindMounts", "allow", i] : ["bindMounts", "allow", i, "path"], `must not contain "." or ".." segments: ${JSON.stringify(path)}`);
      return;
    }
    allow.push({ path: cleanAbsolute(path), readOnly: typeof item === "string" ? true : (item.readOnly ?? true) });
    at.push(i);
  });
  // A container that can write to a writable entry could replace anything below it with a symlink.
  let ok = true;
  for (let i = 0; i < allow.length; i++) {
    for (let j = 0; j < allow.length; j++) {
      const a = allow[i]!;
      const b = allow[j]!;
      if (i !== j && !b.readOnly && a.path !== b.path && isUnder(a.path, b.path)) {
        report(["bindMounts", "allow", at[i]!], `${JSON.stringify(a.path)} lies inside the writable entry ${JSON.stringify(b.path)}: a container could replace it with a symlink; make ${JSON.stringify(b.path)} read-only or remove one of them`);
        ok = false;
      }
      if (i < j && a.path === b.path && a.readOnly !== b.readOnly) {
        report(["bindMounts", "allow", at[j]!], `${JSON.stringify(b.path)} is listed twice with different readOnly values`);
        ok = false;
      }
    }
  }
  return ok ? { allow, ownSocket } : { allow: [], ownSocket: false };
}

export function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

export const DEFAULT_RULES: RuleSettings = normalizeRules({}, () => {
  throw new Error("the schema's rule defaults are invalid");
});
