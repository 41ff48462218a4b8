// `dockgate tenants create|list|delete`: the per-job tenants API of a running `dockgate serve`,
// spoken over its admin socket (config `admin.unix`; see src/listen/tenants.ts). Made for CI
// runner hooks: `create` prints the tenant's socket path alone, ready for DOCKER_HOST.
// Exit 0 on success, 1 when dockgate refused or could not be reached, 2 on usage errors.

import http from "node:http";
import { ConfigError, loadConfig } from "../config/load.js";
import { parseOptions } from "./args.js";

const DEFAULT_ADMIN = "/run/dockgate/admin.sock";

const USAGE = `usage: dockgate tenants create NAME [--profile P] [--ttl SECONDS] [--json] [--admin SOCKET | --config FILE]
       dockgate tenants list [--json] [--admin SOCKET | --config FILE]
       dockgate tenants delete NAME [--json] [--admin SOCKET | --config FILE]

  create   prints the tenant's socket path (export DOCKER_HOST=unix://<path>); --json: the whole answer
  list     one line per tenant: name, profile, socket, expiry, what it holds
  delete   closes the tenant's socket and removes everything it created; prints what was removed
  --admin SOCKET   dockgate's admin socket (default ${DEFAULT_ADMIN})
  --config FILE    read the admin socket's path from the config dockgate serves
`;

interface Options {
  command: string;
  name?: string;
  profile?: string;
  ttl?: number;
  json: boolean;
  admin: string;
  config?: string;
}

/** The options, or the usage error ("" for --help). --profile and --ttl belong to create only. */
function parse(argv: string[]): Options | string {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help") return "";
  if (!["create", "list", "delete"].includes(command)) return `unknown subcommand ${command}`;
  const parsed = parseOptions(rest, {
    json: { type: "boolean" },
    admin: { type: "string" },
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
    profile: { type: "string" },
    ttl: { type: "string" },
  });
  if (typeof parsed === "string") return parsed;
  const { values } = parsed;
  if (values.help) return "";
  if (command !== "create") {
    const only = values.profile !== undefined ? "--profile" : values.ttl !== undefined ? "--ttl" : undefined;
    if (only !== undefined) return `unknown option ${only} (create only)`;
  }
  const o: Options = { command, json: values.json === true, admin: values.admin ?? DEFAULT_ADMIN };
  if (values.config !== undefined) o.config = values.config;
  if (values.profile !== undefined) o.profile = values.profile;
  if (values.ttl !== undefined) {
    if (!/^\d+$/.test(values.ttl)) return "--ttl needs a number of seconds";
    o.ttl = Number(values.ttl);
  }
  const names = parsed.positionals;
  if (command === "list" ? names.length > 0 : names.length > 1) return `unexpected argument ${names[command === "list" ? 0 : 1]}`;
  if (command !== "list") {
    if (names[0] === undefined || names[0] === "") return `${command} needs a tenant NAME`;
    o.name = names[0];
  }
  return o;
}

export async function run(argv: string[]): Promise<number> {
  const o = parse(argv);
  if (typeof o === "string") {
    (o === "" ? process.stdout : process.stderr).write(o === "" ? USAGE : `dockgate tenants: ${o}\n${USAGE}`);
    return o === "" ? 0 : 2;
  }
  if (o.config !== undefined) {
    try {
      const admin = loadConfig(o.config).admin;
      if (admin?.kind !== "unix") {
        process.stderr.write(`dockgate tenants: ${o.config} has no admin.unix socket\n`);
        return 1;
      }
      o.admin = admin.path;
    } catch (err) {
      process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `dockgate tenants: ${(err as Error).message}\n`);
      return 1;
    }
  }
  let reply: { status: number; json: any };
  try {
    if (o.command === "create") {
      const body: Record<string, unknown> = { name: o.name };
      if (o.profile !== undefined) body["profile"] = o.profile;
      if (o.ttl !== undefined) body["ttlSeconds"] = o.ttl;
      reply = await call(o.admin, "POST", "/tenants", body);
    } else if (o.command === "list") {
      reply = await call(o.admin, "GET", "/tenants");
    } else {
      reply = await call(o.admin, "DELETE", `/tenants/${encodeURIComponent(o.name!)}`);
    }
  } catch (err) {
    process.stderr.write(`dockgate tenants: cannot reach dockgate at ${o.admin}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  if (reply.status >= 300) {
    process.stderr.write(`dockgate tenants: ${reply.json?.message ?? `dockgate answered ${reply.status}`}\n`);
    return 1;
  }
  if (o.json) process.stdout.write(JSON.stringify(reply.json, null, 2) + "\n");
  else if (o.command === "create") process.stdout.write(`${reply.json.socket}\n`);
  else if (o.command === "list") {
    for (const t of reply.json as any[]) {
      const h = t.holds ?? {};
      const held = ["containers", "networks", "volumes", "images"].map((k) => `${(h[k] ?? []).length} ${k}`).join(", ");
      process.stdout.write(`${t.name}\t${t.profile}\t${t.socket}\t${t.expires ?? "no expiry"}\t${t.state}\t${held}\n`);
    }
  } else {
    const r = reply.json.removed ?? {};
    for (const k of ["containers", "networks", "volumes", "images"]) process.stdout.write(`removed ${k}: ${(r[k] ?? []).join(" ") || "-"}\n`);
    for (const k of reply.json.kept ?? []) process.stdout.write(`kept ${k}\n`);
  }
  return 0;
}

function call(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { socketPath, method, path, headers: { host: "dockgate", ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = { message: text.trim() };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}
