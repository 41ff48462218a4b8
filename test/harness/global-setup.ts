// vitest globalSetup: one Docker daemon (reused or private) for the whole run.
// Tests read it with inject('dockerSocket') / inject('dockerImage'); child
// processes get DOCKGATE_TEST_DOCKER_SOCK / DOCKGATE_TEST_IMAGE.
/// <reference path="./context.d.ts" />
import type { TestProject } from 'vitest/node';
import { ensureDaemon, stopOwnedDaemon } from './docker.js';

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  const { socket, image, owned } = await ensureDaemon();
  project.provide('dockerSocket', socket);
  project.provide('dockerImage', image);
  process.env.DOCKGATE_TEST_DOCKER_SOCK = socket;
  process.env.DOCKGATE_TEST_IMAGE = image;
  console.log(
    `[dockgate-test] docker daemon ${owned ? 'started' : 'reused'} at ${socket}, image ${image} (${Date.now() - started} ms)`,
  );
}

export async function teardown(): Promise<void> {
  await stopOwnedDaemon();
}
