#!/usr/bin/env node
// dockgate's command line: one file per command, this one only dispatches.

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import("./serve.js"),
  check: () => import("./check.js"),
  explain: () => import("./explain.js"),
  learn: () => import("./learn.js"),
  tenants: () => import("./tenants.js"),
};

const USAGE = `usage: dockgate <command> [options]

commands:
  serve     run the proxy          dockgate serve [--config FILE] [--listen PATH] [--upstream PATH] [--log-level LEVEL] [--no-watch]
  check     validate a config      dockgate check CONFIG
  explain   show one decision      dockgate explain --config FILE --profile NAME METHOD PATH [BODY-FILE]
  learn     profile from a log     dockgate learn [--profile NAME] LOGFILE...
  tenants   per-job sockets        dockgate tenants create NAME [--profile P] [--ttl S] | list | delete NAME

\`dockgate <command> --help\` for a command's options. A running serve reloads its config on SIGHUP.
`;

const [command, ...argv] = process.argv.slice(2);
const load = command === undefined ? undefined : COMMANDS[command];
if (load === undefined) {
  const help = command === "-h" || command === "--help" || command === "help";
  (help ? process.stdout : process.stderr).write(USAGE);
  process.exitCode = help ? 0 : 2;
} else {
  const code = await (await load()).run(argv);
  if (code !== 0 || command !== "serve") process.exitCode = code;
}
