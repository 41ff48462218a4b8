// `dockgate serve`: load the config (the shipped read-only profile by default), open the
// listeners, proxy until SIGTERM/SIGINT, then stop gracefully.

import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { startGateway } from "../listen/gateway.js";
import { createLogger } from "../observe/log.js";
import { createGate } from "../policy/engine.js";

const USAGE = `usage: dockgate serve [--config FILE] [--listen PATH] [--upstream PATH] [--log-level LEVEL]

  --config FILE      config to run (default: the shipped config/read-only.yaml)
  --listen PATH      unix socket path for the config's one listener (overrides the file)
  --upstream PATH    the Docker daemon's socket (overrides the file; default /var/run/docker.sock)
  --log-level LEVEL  trace | debug | info | warn | error | fatal | silent
`;

export const DEFAULT_CONFIG = fileURLToPath(new URL("../../config/read-only.yaml", import.meta.url));

interface ServeOptions {
  config: string;
  listen?: string;
  upstream?: string;
  logLevel?: string;
}

function parseArgs(argv: string[]): ServeOptions | string {
  const options: ServeOptions = { config: DEFAULT_CONFIG };
  const flags: Record<string, keyof ServeOptions> = {
    "--config": "config",
    "--listen": "listen",
    "--upstream": "upstream",
    "--log-level": "logLevel",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return "";
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = flags[name];
    if (key === undefined) return `unknown option ${arg}`;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") return `${name} needs a value`;
    options[key] = value;
  }
  return options;
}

/** Applies --listen / --upstream / --log-level on top of the validated file. */
function applyOverrides(config: Config, options: ServeOptions): Config {
  const result: Config = { ...config };
  if (options.upstream !== undefined) result.upstream = options.upstream.replace(/^unix:\/\//, "");
  if (options.logLevel !== undefined) {
    const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
    if (!levels.includes(options.logLevel)) throw new Error(`--log-level must be one of ${levels.join(", ")}`);
    result.logLevel = options.logLevel as Config["logLevel"];
  }
  if (options.listen !== undefined) {
    const only = config.listeners.length === 1 ? config.listeners[0]! : undefined;
    if (only === undefined || only.listen.kind !== "unix") {
      throw new Error(`--listen needs a config with exactly one unix listener (${config.source} has ${config.listeners.length})`);
    }
    result.listeners = [{ ...only, listen: { ...only.listen, path: options.listen } }];
  }
  return result;
}

export async function run(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (typeof options === "string") {
    (options === "" ? process.stdout : process.stderr).write(options === "" ? USAGE : `dockgate serve: ${options}\n${USAGE}`);
    return options === "" ? 0 : 2;
  }
  let config: Config;
  try {
    config = applyOverrides(loadConfig(options.config), options);
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `dockgate serve: ${(err as Error).message}\n`);
    return 1;
  }

  const logger = createLogger(config.logLevel);
  const gate = createGate(config);
  let gateway;
  try {
    gateway = await startGateway(config, gate, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "cannot start");
    process.stderr.write(`dockgate serve: ${(err as Error).message}\n`);
    return 1;
  }
  logger.info({ config: config.source, upstream: config.upstream }, "dockgate started");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "stopping: no new connections");
    await gateway.stop(config.shutdownGraceSeconds);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  return 0;
}
