// The command line options of every dockgate command, parsed by node:util parseArgs in strict mode
// (unknown options and missing values are errors), with dockgate's wording for the errors.
//
// parseArgs's own messages are long and name Node.js internals ("To specify a positional argument
// starting with a '-', place it after a '--' argument"): the offending token is found in the
// non-strict token list instead, so the message says `unknown option --x` or `--config needs a
// value`, which the command prints above its usage (exit 2).

import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

export interface ParsedArgs<T extends ParseArgsOptionsConfig> {
  values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>["values"];
  positionals: string[];
}

/**
 * Parses `argv` against `options`; a string is the usage error to print. An option given with an
 * empty value (`--config=`) is an error too: no option of dockgate's takes an empty string.
 */
export function parseOptions<T extends ParseArgsOptionsConfig>(argv: string[], options: T): ParsedArgs<T> | string {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    return explainError(argv, options) ?? (err as Error).message;
  }
  for (const token of parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true }).tokens) {
    if (token.kind === "option" && options[token.name]?.type === "string" && token.value === "") return `${token.rawName} needs a value`;
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/** The first token strict parsing refuses, worded for dockgate's usage errors. */
function explainError(argv: string[], options: ParseArgsOptionsConfig): string | undefined {
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const known = options[token.name];
    if (known === undefined) return `unknown option ${token.rawName}`;
    if (known.type === "string" && (token.value === undefined || token.value === "")) return `${token.rawName} needs a value`;
    // Strict mode does not take an option-like next argument as the value (`--profile -x`).
    if (known.type === "string" && !token.inlineValue && token.value?.startsWith("-")) {
      return `${token.rawName} needs a value (write ${token.rawName}=${token.value} for one that starts with -)`;
    }
    if (known.type === "boolean" && token.value !== undefined) return `${token.rawName} takes no value`;
  }
  return undefined;
}
