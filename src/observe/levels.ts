// The log levels dockgate accepts (pino's, plus `silent`): config `log.level` and `serve
// --log-level` validate against this one list. No imports, so the config loader can use it
// without loading the logger.

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}
