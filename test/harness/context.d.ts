// Values provided by test/harness/global-setup.ts; read them in tests with
// `inject('dockerSocket')` / `inject('dockerImage')` from 'vitest'.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the Docker daemon's unix socket (use DOCKER_HOST=unix://<it>). */
    dockerSocket: string;
    /** Test image with static busybox and all its applets, e.g. 'dockgate-test:busybox'. */
    dockerImage: string;
  }
}
