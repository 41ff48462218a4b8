import { defineConfig } from 'vitest/config';

// Two projects:
//  - unit:   test/unit/**, no Docker, files in parallel (2 workers on 2 cores).
//  - docker: every other test/**/*.test.ts (integration, e2e, differential, ...).
//            Gets a Docker daemon + test image from test/harness/global-setup.ts
//            (inject('dockerSocket') / inject('dockerImage')). Its files run one at
//            a time: they share one daemon, start containers and proxies, and some
//            measure timing; on 2 cores parallel files mostly add flakiness.
// Projects run one after the other (sequence.groupOrder): unit first, then docker.
export default defineConfig({
  test: {
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', '**/node_modules/**'],
          globalSetup: ['test/harness/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
