#!/usr/bin/env node
// dockgate's command line (the package's `dockgate` bin and the image's entrypoint): checks the
// Node.js version, then loads and runs one command (one file per command).
//
// This file has no static imports, on purpose: ES modules evaluate their imports before their own
// body, and dockgate's dependencies (undici) crash while loading on an older Node.js. So the
// version check below runs before anything else is loaded, and says in one line what to do.

const MIN_NODE_MAJOR = 24;

const major = Number(process.versions.node.split(".")[0]);
if (!(major >= MIN_NODE_MAJOR)) {
  process.stderr.write(
    `dockgate needs Node.js ${MIN_NODE_MAJOR} or later; this is ${process.versions.node} (${process.execPath}): ` +
      `run it with a Node.js ${MIN_NODE_MAJOR} (in a clone, the npm scripts and \`npm exec -- node dist/cli/main.js\` use the one the \`node\` dev dependency installs), ` +
      `or use the container image (docker build -t dockgate .)\n`,
  );
  process.exit(1);
}

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import("./serve.js"),
  check: () => import("./check.js"),
  explain: () => import("./explain.js"),
  learn: () => import("./learn.js"),
  rules: () => import("./rules.js"),
  tenants: () => import("./tenants.js"),
};

const USAGE = `usage: dockgate <command> [options]

commands:
  serve     run the proxy          dockgate serve [--config FILE] [--listen PATH] [--upstream PATH] [--log-level LEVEL] [--no-watch]
  check     validate a config      dockgate check CONFIG
  explain   show one decision      dockgate explain --config FILE --profile NAME METHOD PATH [BODY-FILE]
  learn     profile from a log     dockgate learn [--profile NAME] LOGFILE...
  rules     the rule catalog       dockgate rules [--json] [ID...]
  tenants   per-job sockets        dockgate tenants create NAME [--profile P] [--ttl S] | list | delete NAME

\`dockgate <command> --help\` for a command's options, \`dockgate --version\` for the version.
A running serve reloads its config on SIGHUP.
`;

const [command, ...argv] = process.argv.slice(2);
const load = command === undefined ? undefined : COMMANDS[command];
if (command === "--version" || command === "-v" || command === "version") {
  // package.json sits beside dist/ in a clone, in the npm package and in the image.
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(`dockgate ${pkg.version}\n`);
} else if (load === undefined) {
  const help = command === "-h" || command === "--help" || command === "help";
  (help ? process.stdout : process.stderr).write(USAGE);
  process.exitCode = help ? 0 : 2;
} else {
  const code = await (await load()).run(argv);
  if (code !== 0 || command !== "serve") process.exitCode = code;
}
