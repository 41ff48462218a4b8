// `dockgate explain`: what dockgate would do with one request, and which rule decided.
//
//   dockgate explain --config FILE [--profile NAME] [-H 'Name: value']... METHOD TARGET [BODY-FILE]
//
// TARGET is the request target as a client sends it (`/v1.47/containers/create?name=web`);
// BODY-FILE is the request body (`-` for stdin). The request goes through the same target
// parsing, route table and gate as `serve`. Exit 0: allowed (also in audit mode); 1: denied;
// 2: usage or config error.

import { readFileSync } from "node:fs";
import { matchRoute } from "../api/routes.js";
import { GROUPS, groupsOf } from "../config/groups.js";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config, ProfileConfig } from "../config/types.js";
import { TargetError, encodeTarget, parseTarget } from "../http/target.js";
import { createGate } from "../policy/engine.js";
import { HostNetwork } from "../policy/host-network.js";
import { ruleInfo } from "../policy/rules.js";
import type { Client, Denial, RequestView, Rewrite } from "../policy/verdict.js";
import { parseOptions } from "./args.js";

const USAGE = "usage: dockgate explain --config FILE [--profile NAME] [-H 'Name: value']... METHOD TARGET [BODY-FILE]";

interface Args {
  config: string;
  profile: string | undefined;
  headers: Record<string, string>;
  method: string;
  target: string;
  bodyFile: string | undefined;
}

/** The arguments, or the usage error ("" for --help). */
function parseExplainArgs(argv: string[]): Args | string {
  const parsed = parseOptions(argv, {
    config: { type: "string", short: "c" },
    profile: { type: "string", short: "p" },
    header: { type: "string", short: "H", multiple: true },
    help: { type: "boolean", short: "h" },
  });
  if (typeof parsed === "string") return parsed;
  const { values, positionals: rest } = parsed;
  if (values.help) return "";
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const colon = h.indexOf(":");
    if (colon <= 0) return `--header needs 'Name: value', not '${h}'`;
    const name = h.slice(0, colon).trim().toLowerCase();
    const v = h.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? v : `${headers[name]}, ${v}`;
  }
  if (values.config === undefined) return "--config is required";
  if (rest.length < 2) return "METHOD and TARGET are required";
  if (rest.length > 3) return `unexpected argument ${rest[3]}`;
  return { config: values.config, profile: values.profile, headers, method: rest[0]!.toUpperCase(), target: rest[1]!, bodyFile: rest[2] };
}

/** Allow entries (as written) that grant `op`. */
function grantedBy(p: ProfileConfig, op: string): string[] {
  const entries = p.grants?.allow ?? [];
  return entries.filter((e) => e === op || (GROUPS.get(e)?.operations.includes(op) ?? false));
}

function pickProfile(config: Config, name: string | undefined): ProfileConfig | string {
  if (name !== undefined) {
    const p = config.profiles.get(name);
    return p ?? `no profile "${name}" in ${config.source} (profiles: ${[...config.profiles.keys()].join(", ")})`;
  }
  if (config.profiles.size === 1) return [...config.profiles.values()][0]!;
  return `--profile is required: ${config.source} has ${config.profiles.size} profiles (${[...config.profiles.keys()].join(", ")})`;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseExplainArgs(argv);
  if (args === "") {
    process.stdout.write(`${USAGE}\n\nShows the operation a request matches, the decision and the rule that made it.\nExit 0: allowed; 1: denied; 2: usage or config error.\n`);
    return 0;
  }
  if (typeof args === "string") {
    process.stderr.write(`dockgate explain: ${args}\n${USAGE}\n`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(args.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const profile = pickProfile(config, args.profile);
  if (typeof profile === "string") {
    process.stderr.write(`dockgate explain: ${profile}\n`);
    return 2;
  }
  let body: Buffer | undefined;
  if (args.bodyFile !== undefined) {
    try {
      body = readFileSync(args.bodyFile === "-" ? 0 : args.bodyFile);
    } catch (err) {
      process.stderr.write(`dockgate explain: cannot read ${args.bodyFile}: ${(err as Error).message}\n`);
      return 2;
    }
    if (args.headers["content-type"] === undefined) args.headers["content-type"] = "application/json";
  }
  const { lines, allowed } = await explain(config, profile, args.method, args.target, args.headers, body);
  process.stdout.write(lines.map(([k, v]) => `${k.padEnd(10)} ${v}`).join("\n") + "\n");
  return allowed ? 0 : 1;
}

/** The explanation as label/value lines; exported for tests. */
export async function explain(
  config: Config,
  profile: ProfileConfig,
  method: string,
  rawTarget: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<{ lines: [string, string][]; allowed: boolean }> {
  const lines: [string, string][] = [["request", `${method} ${rawTarget}`]];
  const denied = (status: number, rule: string, message: string, field?: string) => {
    lines.push(["decision", `deny ${status}`]);
    const info = ruleInfo(rule);
    lines.push(["rule", info ? `${rule}: ${info.describe}` : rule]);
    if (field !== undefined) lines.push(["field", field]);
    lines.push(["message", message]);
    lines.push(["needs", info?.needs === undefined ? "no profile setting allows this" : `profile setting ${info.needs}`]);
    return { lines, allowed: false };
  };
  lines.push(["profile", `${profile.name} (${profile.mode}, API >= ${profile.minApiVersion})`]);

  let target;
  try {
    target = parseTarget(rawTarget);
  } catch (err) {
    if (!(err instanceof TargetError)) throw err;
    return denied(400, "request.target", `dockgate: ${err.message}`);
  }
  const route = matchRoute(method, target.path);
  if (!route.ok) {
    return route.status === 404
      ? denied(403, "endpoint.unknown", `dockgate: ${route.reason} (rule endpoint.unknown)`)
      : denied(400, "request.target", `dockgate: ${route.reason}`);
  }
  const m = route.match;
  const groups = groupsOf(m.operation);
  const details = [m.apiVersion ? `API ${m.apiVersion}` : "API: daemon default", `groups: ${groups.join(", ") || "none"}`];
  const params = Object.entries(m.params).map(([k, v]) => `${k}=${v}`);
  if (params.length > 0) details.push(params.join(" "));
  lines.push(["operation", `${m.operation} (${details.join("; ")})`]);

  const view: RequestView = {
    method,
    path: m.apiVersion === undefined ? target.path : target.path.slice(m.apiVersion.length + 2),
    apiVersion: m.apiVersion,
    operation: m.operation,
    params: m.params,
    query: target.query,
    headers,
  };
  // Without a daemon the host network's id is not known: only the name "host" is refused here
  // (serve also refuses references to its id, learned from the daemon).
  const gate = createGate({ ...config, profiles: new Map([[profile.name, profile]]) }, { checkImages: false, hostNetwork: new HostNetwork([]) });
  // As a client of the first unix listener with this profile: bindMounts' ownSocket is its socket.
  const via = config.listeners.find((l) => l.profile === profile.name && l.listen.kind === "unix")?.listen;
  const client: Client = {
    listener: "explain", profile: profile.name, peer: "explain", owner: "explain",
    ...(via?.kind === "unix" ? { socket: via.path } : {}),
  };
  const verdict = await gate.decide(view, client);

  const allowedBy = () => {
    const by = grantedBy(profile, m.operation);
    return `endpoint.allow: ${m.operation} is granted${by.length > 0 ? ` by ${by.join(", ")}` : ""}`;
  };
  const audited = (d: Denial | undefined) => {
    if (d === undefined) return;
    lines.push(["audit", `would deny ${d.status} (rule ${d.rule}${d.field !== undefined ? `, field ${d.field}` : ""}): ${d.message}`]);
  };
  // What the daemon would receive instead of what was sent (ownership filters, resolved ids,
  // hardened bodies) and what the client would see (redaction).
  const rewritten = (rewrite: Rewrite | undefined, newBody?: Buffer) => {
    if (rewrite?.path !== undefined || rewrite?.query !== undefined) {
      const prefix = view.apiVersion === undefined ? "" : `/v${view.apiVersion}`;
      lines.push(["forwarded", `${view.method} ${encodeTarget(prefix + (rewrite.path ?? view.path), rewrite.query ?? view.query)}`]);
    }
    if (newBody !== undefined) lines.push(["new body", newBody.toString("utf8")]);
    if (rewrite?.response !== undefined) lines.push(["response", "rewritten before the client sees it (redaction or ownership filtering)"]);
  };

  if (verdict.kind === "deny") {
    const d = verdict.denial;
    return denied(d.status, d.rule, d.message, d.field);
  }
  if (verdict.kind === "allow") {
    if (body !== undefined && body.length > 0) lines.push(["body", "not inspected for this operation (forwarded as is)"]);
    lines.push(["decision", verdict.audit ? "allow (audit mode)" : "allow"]);
    lines.push(["rule", verdict.audit ? "audit mode: the profile logs denials instead of enforcing them" : allowedBy()]);
    audited(verdict.audit);
    rewritten(verdict.rewrite);
    return { lines, allowed: true };
  }

  const check = verdict.check;
  const bytes = body ?? Buffer.alloc(0);
  lines.push(["body", body === undefined ? "inspected; no BODY-FILE given, so as an empty body" : `inspected (${bytes.length} bytes, limit ${check.maxBytes})`]);
  if (bytes.length > check.maxBytes) {
    return denied(413, "body.size", `dockgate: ${m.operation} body of ${bytes.length} bytes exceeds the inspection limit of ${check.maxBytes} bytes`);
  }
  const result = await check.inspect(bytes);
  if (!result.ok) {
    const d = result.denial;
    return denied(d.status, d.rule, d.message, d.field);
  }
  lines.push(["decision", result.audit ? "allow (audit mode)" : "allow"]);
  lines.push(["rule", result.audit ? "audit mode: the profile logs denials instead of enforcing them" : `${allowedBy()}; query and body pass the profile's rules`]);
  audited(result.audit);
  rewritten(result.rewrite ?? verdict.rewrite, result.body);
  return { lines, allowed: true };
}
