// docker-compose 1.29 (docker-py) against a socket, in a project directory, classic builder.
// Never throws on a non-zero exit: tests look at code, stdout and stderr (warnings included).
// `run` and `exec` go through the docker CLI on PATH (compose's default, -H passed on), not
// compose's own attach (COMPOSE_INTERACTIVE_NO_CLI=1): that one (dockerpty) races a container
// that exits at once and sometimes prints nothing, measured against the daemon directly
// (3 of 40 runs under load; 0 of 40 through the CLI).

import { spawn } from "node:child_process";
import type { DockerResult } from "./docker.js";

export function compose(socket: string, dir: string, project: string, args: string[], timeoutMs = 120_000): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const p = spawn("docker-compose", ["-H", `unix://${socket}`, "-p", project, ...args], {
      cwd: dir,
      env: { ...withoutInteractiveNoCli(process.env), DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function withoutInteractiveNoCli(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { COMPOSE_INTERACTIVE_NO_CLI: _ignored, ...rest } = env;
  return rest;
}
