// A CI job's workflow through the shipped ci profile (config/ci.yaml) with real clients: the docker
// CLI, docker-compose 1.29 (docker-py underneath) and dockerode. Everything a pipeline does works;
// the dangerous flags are refused with a Docker-style error naming the field and the rule, and
// leave nothing behind.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startProxyWithConfig } from "../harness/config-proxy.js";
import type { TestProxy } from "../harness/proxy.js";

const daemon = inject("dockerSocket");
const image = inject("dockerImage");
const RUN = `dgt-${process.pid}-ci`;
const LABEL = `dgt.run=${RUN}`;
const CI_CONFIG = path.resolve(import.meta.dirname, "../../config/ci.yaml");
const SBIN_PATH = [process.env.PATH ?? "", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");

let proxy: TestProxy;
let work: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client (docker, docker-compose) with DOCKER_HOST at `socket`. Never throws on exit codes. */
function cli(
  cmd: string,
  args: string[],
  opts: { socket?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, DOCKER_HOST: `unix://${opts.socket ?? proxy.socket}`, PATH: SBIN_PATH };
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_CONFIG;
    const p = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    p.stdin.end(opts.input ?? "");
  });
}

const docker = (args: string[], opts: Parameters<typeof cli>[2] = {}) => cli("docker", args, opts);
const onDaemon = (args: string[]) => cli("docker", args, { socket: daemon });

/** `docker ...` through dockgate must succeed; returns stdout. */
async function ok(args: string[], opts: Parameters<typeof cli>[2] = {}): Promise<string> {
  const r = await docker(args, opts);
  expect(r.code, `docker ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

function get(target: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: daemon, path: target, headers: { Host: "docker" } }, (res) => {
        let t = "";
        res.on("data", (c: Buffer) => (t += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: t ? JSON.parse(t) : undefined }));
      })
      .on("error", reject);
  });
}

async function containerNames(): Promise<string[]> {
  const r = await get(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [LABEL] }))}`);
  return (r.json as Array<{ Names: string[] }>).map((c) => c.Names[0]!.slice(1)).sort();
}

beforeAll(async () => {
  proxy = await startProxyWithConfig(CI_CONFIG, daemon);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "dgt-ci-"));
});

afterAll(async () => {
  await proxy?.stop();
  // Everything this file may have left, removed directly on the daemon.
  await cli("docker-compose", ["-p", RUN, "down", "-v", "--remove-orphans", "-t", "0"], { socket: daemon, cwd: work }).catch(() => undefined);
  const ids = (await onDaemon(["ps", "-aq", "--filter", `label=${LABEL}`])).stdout.split("\n").filter(Boolean);
  const named = (await onDaemon(["ps", "-aq", "--filter", `name=${RUN}`])).stdout.split("\n").filter(Boolean);
  if (ids.length + named.length) await onDaemon(["rm", "-f", "-v", ...new Set([...ids, ...named])]);
  const images = (await onDaemon(["images", "-q", "--filter", `reference=${RUN}*`])).stdout.split("\n").filter(Boolean);
  if (images.length) await onDaemon(["rmi", "-f", ...new Set(images)]);
  const vols = (await onDaemon(["volume", "ls", "-q", "--filter", `name=${RUN}`])).stdout.split("\n").filter(Boolean);
  if (vols.length) await onDaemon(["volume", "rm", "-f", ...vols]);
  const nets = (await onDaemon(["network", "ls", "-q", "--filter", `name=${RUN}`])).stdout.split("\n").filter(Boolean);
  if (nets.length) await onDaemon(["network", "rm", ...nets]);
  fs.rmSync(work, { recursive: true, force: true });
});

describe("docker CLI", () => {
  it("docker version / info / system df", async () => {
    expect(await ok(["version", "--format", "{{.Server.APIVersion}}"])).toMatch(/^1\.\d+\n$/);
    expect(await ok(["info", "--format", "{{.OSType}}"])).toBe("linux\n");
    expect(await ok(["system", "df"])).toMatch(/^TYPE\s+TOTAL/);
  });

  it("docker run prints the container's output; run -i passes stdin", async () => {
    expect(await ok(["run", "--rm", "--label", LABEL, image, "echo", "hello from ci"])).toBe("hello from ci\n");
    expect(await ok(["run", "-i", "--rm", "--label", LABEL, image, "tr", "a-z", "A-Z"], { input: "piped stdin\n" })).toBe("PIPED STDIN\n");
    const r = await docker(["run", "--rm", "--label", LABEL, image, "sh", "-c", "exit 3"]);
    expect(r.code).toBe(3);
  });

  it("create / start / stop / restart / kill / wait / rm", async () => {
    const name = `${RUN}-life`;
    await ok(["create", "--name", name, "--label", LABEL, image, "sleep", "300"]);
    expect(await ok(["inspect", "-f", "{{.State.Status}}", name])).toBe("created\n");
    await ok(["start", name]);
    expect(await ok(["inspect", "-f", "{{.State.Running}}", name])).toBe("true\n");
    await ok(["stop", "-t", "1", name]);
    expect(await ok(["inspect", "-f", "{{.State.Running}}", name])).toBe("false\n");
    await ok(["restart", "-t", "1", name]);
    expect(await ok(["inspect", "-f", "{{.State.Running}}", name])).toBe("true\n");
    await ok(["kill", name]);
    expect(await ok(["wait", name])).toBe("137\n");
    await ok(["rm", name]);
    expect(await containerNames()).not.toContain(name);
  });

  describe("on a running container", () => {
    const name = `${RUN}-svc`;
    beforeAll(async () => {
      await ok(["run", "-d", "--name", name, "--label", LABEL, "-p", "127.0.0.1::8080", image, "sh", "-c", "echo started; exec httpd -f -p 8080 -h /tmp"]);
    });
    afterAll(async () => {
      await onDaemon(["rm", "-f", name, `${name}-renamed`]);
    });

    it("exec, exec -i, logs, inspect", async () => {
      expect(await ok(["exec", name, "id", "-u"])).toBe("0\n");
      expect(await ok(["exec", "-i", name, "sh", "-c", "cat; echo ."], { input: "exec stdin\n" })).toBe("exec stdin\n.\n");
      expect(await ok(["exec", "-u", "nobody", "-w", "/tmp", name, "pwd"])).toBe("/tmp\n");
      expect(await ok(["logs", name])).toBe("started\n");
      expect(await ok(["inspect", "-f", "{{.Config.Image}}", name])).toBe(`${image}\n`);
    });

    it("stats --no-stream, top, port", async () => {
      expect(await ok(["stats", "--no-stream", "--format", "{{.Name}}", name])).toBe(`${name}\n`);
      expect(await ok(["top", name])).toMatch(/httpd/);
      expect(await ok(["port", name, "8080"])).toMatch(/^127\.0\.0\.1:\d+\n$/);
    });

    it("pause / unpause, update --memory", async () => {
      await ok(["pause", name]);
      expect(await ok(["inspect", "-f", "{{.State.Status}}", name])).toBe("paused\n");
      await ok(["unpause", name]);
      expect(await ok(["inspect", "-f", "{{.State.Status}}", name])).toBe("running\n");
      await ok(["update", "--memory", "64m", "--memory-swap", "128m", "--restart", "on-failure:2", name]);
      expect(await ok(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", name])).toBe(`${64 * 1024 * 1024} on-failure\n`);
    });

    it("cp both ways", async () => {
      const src = path.join(work, "in.txt");
      fs.writeFileSync(src, "copied through dockgate\n");
      await ok(["cp", src, `${name}:/tmp/in.txt`]);
      expect(await ok(["exec", name, "cat", "/tmp/in.txt"])).toBe("copied through dockgate\n");
      const dst = path.join(work, "out.txt");
      await ok(["cp", `${name}:/tmp/in.txt`, dst]);
      expect(fs.readFileSync(dst, "utf8")).toBe("copied through dockgate\n");
    });

    it("commit and export", async () => {
      const tag = `${RUN}-committed:1`;
      await ok(["commit", "-c", "ENV COMMITTED=yes", "-c", "WORKDIR /tmp", name, tag]);
      expect(await ok(["run", "--rm", "--label", LABEL, tag, "sh", "-c", "echo $COMMITTED $(pwd); cat in.txt"])).toBe("yes /tmp\ncopied through dockgate\n");
      const tar = path.join(work, "export.tar");
      await ok(["export", "-o", tar, name]);
      expect(fs.statSync(tar).size).toBeGreaterThan(100_000);
    });

    it("rename (last: the other tests use the name)", async () => {
      await ok(["rename", name, `${name}-renamed`]);
      expect(await containerNames()).toContain(`${name}-renamed`);
    });
  });

  it("build (classic builder), tag, save | load, rmi", async () => {
    const ctx = path.join(work, "ctx");
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nLABEL ${LABEL}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCMD ["cat", "/b.txt"]\n`);
    fs.writeFileSync(path.join(ctx, "a.txt"), "built\n");
    const tag = `${RUN}-built:1`;
    await ok(["build", "-q", "--build-arg", "X=1", "-t", tag, ctx], { env: { DOCKER_BUILDKIT: "0" } });
    expect(await ok(["run", "--rm", "--label", LABEL, tag])).toBe("built\n");
    await ok(["tag", tag, `${RUN}-built:2`]);
    const tar = path.join(work, "img.tar");
    await ok(["save", "-o", tar, tag, `${RUN}-built:2`]);
    await ok(["rmi", tag, `${RUN}-built:2`]);
    expect((await get(`/images/${tag}/json`)).status).toBe(404);
    expect(await ok(["load", "-i", tar])).toContain(`Loaded image: ${tag}`);
    expect(await ok(["images", "--format", "{{.Repository}}:{{.Tag}}", `${RUN}-built`])).toMatch(new RegExp(`${RUN}-built:1`));
    await ok(["rmi", `${RUN}-built:2`]);
  });

  it("networks: create, connect, disconnect, rm; containers reach each other by name", async () => {
    const net = `${RUN}-net`;
    const srv = `${RUN}-srv`;
    await ok(["network", "create", "--label", LABEL, net]);
    await ok(["run", "-d", "--name", srv, "--label", LABEL, image, "sh", "-c", "echo pong | nc -l -p 7000"]);
    await ok(["network", "connect", "--alias", "server", net, srv]);
    const out = await ok(["run", "--rm", "--label", LABEL, "--network", net, image, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 server 7000 </dev/null && exit 0; sleep 0.3; done; exit 1"]);
    expect(out).toBe("pong\n");
    await ok(["network", "disconnect", "-f", net, srv]);
    await ok(["rm", "-f", srv]);
    await ok(["network", "rm", net]);
    expect((await get(`/networks/${net}`)).status).toBe(404);
  });

  it("volumes: create, mount by name, rm", async () => {
    const vol = `${RUN}-vol`;
    await ok(["volume", "create", "--label", LABEL, vol]);
    await ok(["run", "--rm", "--label", LABEL, "-v", `${vol}:/data`, image, "sh", "-c", "echo kept > /data/f"]);
    expect(await ok(["run", "--rm", "--label", LABEL, "--mount", `type=volume,source=${vol},target=/data,readonly`, image, "cat", "/data/f"])).toBe("kept\n");
    expect(await ok(["run", "--rm", "--label", LABEL, "--tmpfs", "/scratch", "--mount", "type=tmpfs,target=/t2", image, "sh", "-c", "echo x > /scratch/y && cat /scratch/y"])).toBe("x\n");
    await ok(["volume", "rm", vol]);
    expect((await get(`/volumes/${vol}`)).status).toBe(404);
  });

  it("container / image / volume / network prune (filtered to this run)", async () => {
    const stopped = `${RUN}-stopped`;
    await ok(["create", "--name", stopped, "--label", LABEL, image, "true"]);
    await ok(["volume", "create", "--label", LABEL, `${RUN}-unused`]);
    await ok(["network", "create", "--label", LABEL, `${RUN}-unused`]);
    const ctx = path.join(work, "ctx-prune");
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nLABEL ${LABEL}\nRUN echo > /x\n`);
    const built = (await ok(["build", "-q", ctx], { env: { DOCKER_BUILDKIT: "0" } })).trim();

    expect(await ok(["container", "prune", "-f", "--filter", `label=${LABEL}`])).toContain("Total reclaimed space");
    expect(await containerNames()).not.toContain(stopped);
    await ok(["image", "prune", "-f", "--filter", `label=${LABEL}`]);
    expect((await get(`/images/${built}/json`)).status).toBe(404);
    await ok(["volume", "prune", "-f", "--filter", `label=${LABEL}`]);
    expect((await get(`/volumes/${RUN}-unused`)).status).toBe(404);
    await ok(["network", "prune", "-f", "--filter", `label=${LABEL}`]);
    expect((await get(`/networks/${RUN}-unused`)).status).toBe(404);
  });
});

describe("dangerous flags get a Docker-style error naming the field and the rule", () => {
  const refused: Array<[string, string[], string, RegExp]> = [
    ["--privileged", ["--privileged"], "containers.privileged", /HostConfig\.Privileged=true is not allowed/],
    ["-v /:/host", ["-v", "/:/host"], "containers.bind-protected", /HostConfig\.Binds\[0\]: host path "\/" exposes/],
    ["--cap-add SYS_ADMIN", ["--cap-add", "SYS_ADMIN"], "containers.capabilities", /HostConfig\.CapAdd\[0\]: capability "CAP_SYS_ADMIN" is not allowed/],
    ["--pid host", ["--pid", "host"], "containers.host-namespaces", /HostConfig\.PidMode="host"/],
    ["--network host", ["--network", "host"], "containers.host-namespaces", /HostConfig\.NetworkMode="host"/],
    ["-v /var/run/docker.sock:/var/run/docker.sock", ["-v", "/var/run/docker.sock:/var/run/docker.sock"], "containers.bind-protected", /HostConfig\.Binds\[0\]/],
    ["-v /etc:/etc:ro", ["-v", "/etc:/host-etc:ro"], "containers.bind-mounts", /HostConfig\.Binds\[0\]: host path "\/etc" is not in the allowed bind paths/],
    ["--security-opt seccomp=unconfined", ["--security-opt", "seccomp=unconfined"], "containers.security-opt", /HostConfig\.SecurityOpt\[0\]/],
    ["--security-opt systempaths=unconfined", ["--security-opt", "systempaths=unconfined"], "containers.system-paths", /HostConfig\.MaskedPaths/],
    ["--device /dev/null", ["--device", "/dev/null"], "containers.devices", /HostConfig\.Devices/],
    ["--userns host", ["--userns", "host"], "containers.host-namespaces", /HostConfig\.UsernsMode="host"/],
    ["--sysctl kernel.shm_rmid_forced=1", ["--sysctl", "kernel.shm_rmid_forced=1"], "containers.sysctls", /HostConfig\.Sysctls/],
    ["--log-driver syslog", ["--log-driver", "syslog"], "containers.log-driver", /HostConfig\.LogConfig\.Type/],
    ["-w /proc/self/fd/8", ["-w", "/proc/self/fd/8"], "containers.workdir", /WorkingDir/],
    [
      "--mount with a bind through a volume",
      ["--mount", `type=volume,source=${RUN}-evil,target=/host,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/`],
      "containers.bind-protected",
      /HostConfig\.Mounts\[0\]\.VolumeOptions\.DriverConfig\.Options/,
    ],
  ];
  for (const [label, flags, rule, field] of refused) {
    it(`docker run ${label}`, async () => {
      const name = `${RUN}-refused-${rule.replace(/\W/g, "-")}`;
      const r = await docker(["run", "--name", name, "--label", LABEL, ...flags, image, "true"]);
      expect(r.code).toBe(125);
      const line = r.stderr.split("\n")[0]!;
      expect(line).toMatch(/^docker: Error response from daemon: dockgate: ContainerCreate denied for profile ci: /);
      expect(line).toMatch(field);
      expect(line.endsWith(`(rule ${rule})`), line).toBe(true);
      expect(await containerNames()).not.toContain(name);
    });
  }

  it("docker run --privileged prints the documented error line", async () => {
    const r = await docker(["run", "--privileged", image, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr.split("\n")[0]).toBe(
      "docker: Error response from daemon: dockgate: ContainerCreate denied for profile ci: HostConfig.Privileged=true is not allowed (privileged containers have full access to the host) (rule containers.privileged)",
    );
  });

  it("docker exec --privileged", async () => {
    const name = `${RUN}-exec-target`;
    await ok(["run", "-d", "--name", name, "--label", LABEL, image, "sleep", "300"]);
    try {
      const r = await docker(["exec", "--privileged", name, "true"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Error response from daemon: dockgate: ContainerExec denied for profile ci: Privileged=true is not allowed .*\(rule exec\.privileged\)/);
    } finally {
      await onDaemon(["rm", "-f", name]);
    }
  });

  it("docker volume create of a host bind, docker build --network host, docker plugin install", async () => {
    const vol = await docker(["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/etc", `${RUN}-bindvol`]);
    expect(vol.code).not.toBe(0);
    expect(vol.stderr).toMatch(/Error response from daemon: dockgate: VolumeCreate denied for profile ci: .*\(rule containers\.bind-mounts\)/);
    expect((await get(`/volumes/${RUN}-bindvol`)).status).toBe(404);

    const ctx = path.join(work, "ctx-net");
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM ${image}\nRUN true\n`);
    const build = await docker(["build", "--network", "host", "-t", `${RUN}-hostnet`, ctx], { env: { DOCKER_BUILDKIT: "0" } });
    expect(build.code).not.toBe(0);
    expect(build.stderr).toMatch(/Error response from daemon: dockgate: ImageBuild denied for profile ci: networkmode="host".*\(rule build\.network\)/);
    expect((await get(`/images/${RUN}-hostnet/json`)).status).toBe(404);

    const plugin = await docker(["plugin", "install", "--grant-all-permissions", "vieux/sshfs"]);
    expect(plugin.code).not.toBe(0);
    expect(plugin.stderr).toMatch(/Error response from daemon: dockgate: \w+ denied for profile ci: operation is not allowed \(rule endpoint\.allow\)/);
  });
});

describe("docker-compose 1.29 (docker-py)", () => {
  it("up -d, logs, exec -T, down -v with two services, a named volume and a network", async () => {
    const dir = path.join(work, "compose");
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, "docker-compose.yml"),
      [
        'version: "3.7"',
        "services:",
        "  web:",
        `    image: ${image}`,
        '    command: ["sh", "-c", "echo web up; echo served > /data/index.html; exec httpd -f -p 8080 -h /data"]',
        "    volumes: [data:/data]",
        "    networks: [back]",
        `    labels: ["${LABEL}"]`,
        "  client:",
        `    image: ${image}`,
        '    command: ["sh", "-c", "echo client up; exec sleep 300"]',
        "    depends_on: [web]",
        "    networks: [back]",
        "    environment: [TARGET=web]",
        "    tmpfs: [/scratch]",
        `    labels: ["${LABEL}"]`,
        "volumes:",
        "  data: {}",
        "networks:",
        "  back: {}",
        "",
      ].join("\n"),
    );
    const compose = (args: string[]) => cli("docker-compose", ["-p", RUN, ...args], { cwd: dir, timeoutMs: 120_000 });

    const up = await compose(["up", "-d"]);
    expect(up.code, up.stderr).toBe(0);
    expect(await containerNames()).toEqual(expect.arrayContaining([`${RUN}_web_1`, `${RUN}_client_1`]));
    expect((await get(`/volumes/${RUN}_data`)).status).toBe(200);
    expect((await get(`/networks/${RUN}_back`)).status).toBe(200);

    let logs = "";
    for (let i = 0; i < 50 && !(logs.includes("web up") && logs.includes("client up")); i++) {
      logs = (await compose(["logs", "--no-color"])).stdout;
      if (!logs.includes("client up")) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toMatch(/web_1\s+\| web up/);
    expect(logs).toMatch(/client_1\s+\| client up/);

    const exec = await compose(["exec", "-T", "client", "sh", "-c", 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://$TARGET:8080/index.html && exit 0; sleep 0.3; done; exit 1']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe("served\n");

    const down = await compose(["down", "-v", "-t", "1"]);
    expect(down.code, down.stderr).toBe(0);
    expect(await containerNames()).not.toEqual(expect.arrayContaining([`${RUN}_web_1`]));
    expect((await get(`/volumes/${RUN}_data`)).status).toBe(404);
    expect((await get(`/networks/${RUN}_back`)).status).toBe(404);
  });

  it("a compose service asking for privileged gets the rule in the error", async () => {
    const dir = path.join(work, "compose-priv");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "docker-compose.yml"), `version: "3.7"\nservices:\n  bad:\n    image: ${image}\n    privileged: true\n    labels: ["${LABEL}"]\n`);
    const up = await cli("docker-compose", ["-p", `${RUN}-priv`, "up", "-d"], { cwd: dir, timeoutMs: 120_000 });
    expect(up.code).not.toBe(0);
    expect(up.stderr).toMatch(/dockgate: ContainerCreate denied for profile ci: HostConfig\.Privileged=true is not allowed.*\(rule containers\.privileged\)/);
    expect(await containerNames()).not.toContain(`${RUN}-priv_bad_1`);
    await cli("docker-compose", ["-p", `${RUN}-priv`, "down", "-v"], { cwd: dir, socket: daemon });
  });
});

describe("dockerode", () => {
  it("create, start, logs, wait, remove", async () => {
    const client = new Docker({ socketPath: proxy.socket });
    const container = await client.createContainer({
      name: `${RUN}-dockerode`,
      Image: image,
      Cmd: ["sh", "-c", "echo out; echo err >&2; exit 7"],
      Labels: { "dgt.run": RUN },
      HostConfig: { CapDrop: ["ALL"], Memory: 32 * 1024 * 1024, Binds: [`${RUN}-dvol:/data`], Tmpfs: { "/run": "" } },
    });
    try {
      await container.start();
      const result = (await container.wait()) as { StatusCode: number };
      expect(result.StatusCode).toBe(7);
      const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      const frames: string[] = [];
      for (let i = 0; i + 8 <= raw.length; ) {
        const n = raw.readUInt32BE(i + 4);
        frames.push(`${raw[i]}:${raw.toString("utf8", i + 8, i + 8 + n)}`);
        i += 8 + n;
      }
      expect(frames.sort()).toEqual(["1:out\n", "2:err\n"]);
      // Forwarded by image id, read back as written; the daemon holds the id.
      const seen = await container.inspect();
      expect([seen.Config.Image, seen.Config.Labels]).toEqual([image, { "dgt.run": RUN }]);
      expect(JSON.parse((await onDaemon(["inspect", container.id])).stdout)[0].Config.Image).toMatch(/^sha256:/);
    } finally {
      await container.remove({ force: true, v: true });
      await client.getVolume(`${RUN}-dvol`).remove().catch(() => undefined);
    }
    expect(await containerNames()).not.toContain(`${RUN}-dockerode`);
  });

  it("a privileged create is refused with a 403 carrying the rule", async () => {
    const client = new Docker({ socketPath: proxy.socket });
    const err = (await client.createContainer({ Image: image, Labels: { "dgt.run": RUN }, HostConfig: { Privileged: true } }).catch((e: unknown) => e)) as {
      statusCode?: number;
      json?: { message?: string };
    };
    expect(err.statusCode).toBe(403);
    expect(err.json?.message).toMatch(/^dockgate: ContainerCreate denied for profile ci: .*\(rule containers\.privileged\)$/);
  });
});
