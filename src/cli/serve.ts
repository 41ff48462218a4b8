// `dockgate serve`: load the config (the shipped read-only profile by default), open the
// listeners, proxy until SIGTERM/SIGINT, then stop gracefully.
//
// Reload: SIGHUP, or a change of the config file (watched through its directory, because editors
// and config managers replace the file rather than write it; debounced; a change that leaves the
// text as it was is ignored). The new config is validated whole and switched to atomically; an
// invalid one is refused with its `file:line:col` problems logged, and the running one stays.
// Command-line overrides apply to every reload as they did at startup.

import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions } from "./args.js";
import { ConfigError, formatProblem, loadConfig, parseConfigText } from "../config/load.js";
import type { Config } from "../config/types.js";
import { type Gateway, startGateway } from "../listen/gateway.js";
import { LOG_LEVELS, isLogLevel } from "../observe/levels.js";
import { createLogger, drainLogs, type Logger } from "../observe/log.js";
import { closeDaemonClients, daemonClient } from "../policy/daemon.js";
import { createGate } from "../policy/engine.js";
import { hostNetworkAsked } from "../policy/host-network.js";
import type { Gate } from "../policy/verdict.js";

const USAGE = `usage: dockgate serve [--config FILE] [--listen PATH] [--upstream PATH] [--log-level LEVEL] [--no-watch]

  --config FILE      config to run (default: the shipped config/read-only.yaml)
  --listen PATH      unix socket path for the config's one listener (overrides the file)
  --upstream PATH    the Docker daemon's socket (overrides the file; default /var/run/docker.sock)
  --log-level LEVEL  ${LOG_LEVELS.join(" | ")}
  --no-watch         reload on SIGHUP only, not when the config file changes

SIGHUP reloads the config; SIGTERM and SIGINT stop gracefully.
`;

/** Quiet time after the last change event before the file is read (editors write in steps). */
const WATCH_DEBOUNCE_MS = 250;

export const DEFAULT_CONFIG = fileURLToPath(new URL("../../config/read-only.yaml", import.meta.url));

interface ServeOptions {
  config: string;
  listen?: string;
  upstream?: string;
  logLevel?: string;
  watch: boolean;
}

/** The options, or the usage error ("" for --help). */
function parseServeArgs(argv: string[]): ServeOptions | string {
  const parsed = parseOptions(argv, {
    config: { type: "string" },
    listen: { type: "string" },
    upstream: { type: "string" },
    "log-level": { type: "string" },
    "no-watch": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (typeof parsed === "string") return parsed;
  const { values, positionals } = parsed;
  if (values.help) return "";
  if (positionals.length > 0) return `unexpected argument ${positionals[0]}`;
  return {
    config: values.config ?? DEFAULT_CONFIG,
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    ...(values.upstream !== undefined ? { upstream: values.upstream } : {}),
    ...(values["log-level"] !== undefined ? { logLevel: values["log-level"] } : {}),
    watch: values["no-watch"] !== true,
  };
}

/** Applies --listen / --upstream / --log-level on top of the validated file. */
function applyOverrides(config: Config, options: ServeOptions): Config {
  const result: Config = { ...config };
  if (options.upstream !== undefined) result.upstream = options.upstream.replace(/^unix:\/\//, "");
  if (options.logLevel !== undefined) {
    if (!isLogLevel(options.logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
    result.logLevel = options.logLevel;
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
  // From the first instant a SIGHUP means "reload", never the default "terminate".
  let hangupEarly = false;
  let onHangup: () => void = () => {
    hangupEarly = true;
  };
  process.on("SIGHUP", () => onHangup());

  const options = parseServeArgs(argv);
  if (typeof options === "string") {
    (options === "" ? process.stdout : process.stderr).write(options === "" ? USAGE : `dockgate serve: ${options}\n${USAGE}`);
    return options === "" ? 0 : 2;
  }
  let config: Config;
  let text: string | undefined;
  try {
    config = applyOverrides(loadConfig(options.config), options);
    text = await readFile(options.config, "utf8").catch(() => undefined);
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `dockgate serve: ${(err as Error).message}\n`);
    return 1;
  }

  const logger = createLogger(config.logLevel);
  for (const warning of config.warnings ?? []) logger.warn({ config: config.source }, warning);
  const gate = await gateFor(config, logger);
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, gate, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "cannot start");
    process.stderr.write(`dockgate serve: ${(err as Error).message}\n`);
    return 1;
  }
  logger.info({ config: config.source, upstream: config.upstream }, "dockgate started");

  let stopping = false;
  const reloader = new Reloader(options, gateway, logger, text, (next) => {
    config = next;
  });
  const watcher = options.watch ? reloader.watch() : undefined;
  onHangup = () => {
    if (!stopping) reloader.request("SIGHUP");
  };
  if (hangupEarly) onHangup();

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    watcher?.close();
    reloader.stop();
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "stopping: no new connections");
    await gateway.stop(config.shutdownGraceSeconds);
    await closeDaemonClients();
    logger.info("stopped");
    await drainLogs(1000);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  return 0;
}

/** Re-reads the config file on request, one reload at a time, and switches the gateway over. */
class Reloader {
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly options: ServeOptions,
    private readonly gateway: Gateway,
    private readonly logger: Logger,
    /** The text last read (applied or refused): a watch event that does not change it is no reload. */
    private lastText: string | undefined,
    private readonly applied: (config: Config) => void,
  ) {}

  /** Watches the file's directory: a replaced file (rename over it) is seen like a rewritten one. */
  watch(): FSWatcher | undefined {
    const file = this.options.config;
    const name = basename(file);
    try {
      const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        // `..data` is how Kubernetes swaps a mounted ConfigMap; null: the platform did not say.
        if (changed === null || changed === name || changed.startsWith("..")) this.debounce();
      });
      watcher.on("error", (err) => this.logger.warn({ config: file, err: err.message }, "config watch failed: reload with SIGHUP"));
      return watcher;
    } catch (err) {
      this.logger.warn({ config: file, err: (err as Error).message }, "cannot watch the config file: reload with SIGHUP");
      return undefined;
    }
  }

  private debounce(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.request("watch"), WATCH_DEBOUNCE_MS);
  }

  /** Runs a reload after the one in progress (requests meanwhile collapse into one). */
  request(trigger: "SIGHUP" | "watch"): void {
    if (this.stopped || this.queued) return;
    this.queued = true;
    this.chain = this.chain.then(async () => {
      this.queued = false;
      if (this.stopped) return;
      try {
        await this.reload(trigger);
      } catch (err) {
        this.logger.error({ trigger, err: (err as Error).message }, "config reload failed unexpectedly: the running config stays");
      }
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async reload(trigger: "SIGHUP" | "watch"): Promise<void> {
    const file = this.options.config;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A file that is gone for a moment (being replaced) is not worth a refusal: the next event reloads.
      if (trigger === "watch" && code === "ENOENT") return;
      this.refuse(trigger, [`${file}: cannot read config: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`], true);
      return;
    }
    if (trigger === "watch" && text === this.lastText) return;
    this.lastText = text;

    let next: Config;
    let gate: Gate;
    try {
      next = applyOverrides(parseConfigText(text, file), this.options);
      gate = await gateFor(next, this.logger);
    } catch (err) {
      this.refuse(trigger, err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message], true);
      return;
    }
    let summary;
    try {
      summary = await this.gateway.reload(next, gate);
    } catch (err) {
      this.refuse(trigger, [(err as Error).message], false); // the gateway counted it
      return;
    }
    this.applied(next);
    this.logger.level = next.logLevel;
    for (const warning of next.warnings ?? []) this.logger.warn({ config: next.source }, warning);
    this.logger.info({ trigger, config: next.source, upstream: next.upstream, ...summary }, "config reloaded");
  }

  private refuse(trigger: string, errors: string[], count: boolean): void {
    if (count) this.gateway.metrics.reload("refused");
    this.logger.error({ trigger, config: this.options.config, errors }, `config reload refused, the running config stays: ${errors[0]}`);
  }
}

/**
 * The gate for `config`, built once the daemon has answered (or could not answer) what its host
 * network's id is: the listeners open with the id known, and while the daemon cannot say, the
 * inspections refuse every reference that could be an id prefix (see policy/host-network.ts).
 */
async function gateFor(config: Config, logger: Logger): Promise<Gate> {
  const daemon = daemonClient(config.upstream, logger);
  await hostNetworkAsked(daemon);
  return createGate(config, { daemon });
}
