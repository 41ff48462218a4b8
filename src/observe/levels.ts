// The log levels dockgate accepts (pino's, plus `silent`): `serve --log-level` validates against
// this list, and config `log.level` is meant to (src/config/schema.ts still has its own copy).
// No imports, so the config schema can use it without loading the logger.

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}
