// The log levels dockgate accepts (pino's, plus `silent`): `serve --log-level` and the config
// schema's `log.level` (src/config/schema.ts) validate against this list.
// No imports, so the config schema can use it without loading the logger.

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}
