// `dockgate tenants create|list|delete`: the per-job tenants API of a running `dockgate serve`,
// spoken over its admin socket (config `admin.unix`; see src/listen/tenants.ts). Made for CI
// runner hooks: `create` prints the tenant's socket path alone, ready for DOCKER_HOST.
// Exit 0 on success, 1 when dockgate refused or could not be reached, 2 on usage errors.

import http from "node:http";
import { ConfigError, loadConfig } from "../config/load.js";

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

function parse(argv: string[]): Options | string {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help") return "";
  if (!["create", "list", "delete"].includes(command)) return `unknown subcommand ${command}`;
  const o: Options = { command, json: false, admin: DEFAULT_ADMIN };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = (): string | undefined => rest[++i];
    if (a === "-h" || a === "--help") return "";
    else if (a === "--json") o.json = true;
    else if (a === "--profile" && command === "create") o.profile = value();
    else if (a === "--ttl" && command === "create") {
      const v = value();
      if (v === undefined || !/^\d+$/.test(v)) return "--ttl needs a number of seconds";
      o.ttl = Number(v);
    } else if (a === "--admin") o.admin = value() ?? "";
    else if (a === "--config") o.config = value();
    else if (a.startsWith("-")) return `unknown option ${a}`;
    else if (o.name === undefined && command !== "list") o.name = a;
    else return `unexpected argument ${a}`;
  }
  if (command !== "list" && (o.name === undefined || o.name === "")) return `${command} needs a tenant NAME`;
  if (o.profile === "" || o.admin === "" || o.config === "") return "an option is missing its value";
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
