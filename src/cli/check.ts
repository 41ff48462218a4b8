// `dockgate check CONFIG`: validate a config and summarize what it grants.
// Exit 0 when valid (warnings included), 1 when invalid (every problem as file:line:col), 2 on
// usage errors.

import { DEFAULT_RULES } from "../policy/rules.js";
import { GROUPS } from "../config/groups.js";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config, ListenAddress, ProfileConfig } from "../config/types.js";
import { parseOptions } from "./args.js";

const USAGE = "usage: dockgate check CONFIG\n       dockgate check --config CONFIG";

export async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, { config: { type: "string", short: "c", multiple: true }, help: { type: "boolean", short: "h" } });
  if (typeof parsed === "string") return usage(parsed);
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n\nValidates CONFIG and prints its listeners and profiles. Exit 0: valid; 1: invalid.\n`);
    return 0;
  }
  const files = [...(parsed.values.config ?? []), ...parsed.positionals];
  if (files.length > 1) return usage("one config at a time");
  const file = files[0];
  if (file === undefined || file === "") return usage("no config file given");

  let config: Config;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n${file}: invalid (${err.problems.length} problem${err.problems.length === 1 ? "" : "s"})\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(summarize(config, file));
  for (const w of config.warnings ?? []) process.stderr.write(`${w}\n`);
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`dockgate check: ${message}\n${USAGE}\n`);
  return 2;
}

export function describeAddress(l: ListenAddress): string {
  switch (l.kind) {
    case "unix": {
      const owner = [l.uid !== undefined ? `uid ${l.uid}` : "", l.gid !== undefined ? `gid ${l.gid}` : ""].filter(Boolean).join(", ");
      return `unix ${l.path} (mode 0${l.mode.toString(8)}${owner ? `, ${owner}` : ""})`;
    }
    case "tcp":
      return `tcp ${l.host}:${l.port} (from ${l.allow.join(", ")})`;
    case "tls":
      return `tls ${l.host}:${l.port} (client certificates from ${l.ca}${l.allow ? `; from ${l.allow.join(", ")}` : ""})`;
  }
}

/**
 * The profile's grant as groups that are wholly granted (leaving out groups inside a larger
 * granted group) plus the remaining single operations.
 */
export function grantSummary(p: ProfileConfig): { groups: string[]; operations: string[] } {
  const full = [...GROUPS].filter(([, g]) => g.operations.every((op) => p.allow.has(op)));
  const groups = full
    .filter(([name, g]) => !full.some(([other, o]) => other !== name && o.operations.length > g.operations.length && g.operations.every((op) => o.operations.includes(op))))
    .map(([name]) => name);
  const covered = new Set(groups.flatMap((name) => GROUPS.get(name)!.operations));
  return { groups, operations: [...p.allow].filter((op) => !covered.has(op)).sort() };
}

/** Rule settings that differ from the defaults, as `key=value`. */
export function changedRules(p: ProfileConfig): string[] {
  const out: string[] = [];
  const rules = p.rules as unknown as Record<string, unknown>;
  const defaults = DEFAULT_RULES as unknown as Record<string, unknown>;
  for (const key of Object.keys(rules)) {
    const v = JSON.stringify(rules[key]);
    if (v !== JSON.stringify(defaults[key])) out.push(`${key}=${v}`);
  }
  return out;
}

export function summarize(config: Config, file: string): string {
  const lines: string[] = [];
  lines.push(`${file}: valid`);
  lines.push(`upstream   ${config.upstream}`);
  lines.push(`limits     headers ${config.limits.maxHeaderBytes} bytes, inspected bodies ${config.limits.maxBodyBytes} bytes, shutdown grace ${config.shutdownGraceSeconds} s, log level ${config.logLevel}`);
  lines.push("listeners");
  for (const l of config.listeners) {
    lines.push(`  ${l.name}: ${describeAddress(l.listen)} -> profile ${l.profile}`);
    for (const [id, profile] of Object.entries(l.identities ?? {})) lines.push(`    identity ${id} -> profile ${profile}`);
  }
  const t = config.tenants;
  if (t !== undefined) {
    const socket = describeAddress({ kind: "unix", path: `${t.directory}/<name>.sock`, mode: t.mode, ...(t.uid !== undefined ? { uid: t.uid } : {}), ...(t.gid !== undefined ? { gid: t.gid } : {}) });
    lines.push(`tenants    ${socket}, profiles ${t.profiles.join(", ")}${t.defaultProfile ? ` (default ${t.defaultProfile})` : ""}, at most ${t.max}, ttl ${t.defaultTtlSeconds !== undefined ? `${t.defaultTtlSeconds} s` : "none"} by default, on restart ${t.onRestart}`);
  }
  lines.push("profiles");
  for (const p of config.profiles.values()) {
    const { groups, operations } = grantSummary(p);
    lines.push(`  ${p.name}: ${p.mode}, API >= ${p.minApiVersion}, ${p.allow.size} operation${p.allow.size === 1 ? "" : "s"}${p.description ? ` -- ${p.description}` : ""}`);
    if (groups.length > 0) lines.push(`    groups: ${groups.join(", ")}`);
    if (operations.length > 0) lines.push(`    operations: ${operations.join(", ")}`);
    const rules = changedRules(p);
    lines.push(`    rules: ${rules.length > 0 ? rules.join(", ") : "defaults"}`);
  }
  return `${lines.join("\n")}\n`;
}
