// Proves the Docker test harness: the daemon answers /_ping and a container
// from the test image runs and its output comes back through the docker CLI.
import http from 'node:http';
import { describe, expect, inject, it } from 'vitest';
import { docker } from '../harness/docker.js';

const socket = inject('dockerSocket');
const image = inject('dockerImage');

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: socket, path, headers: { host: 'docker' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('docker test harness', () => {
  it('provides a socket and an image, also to child processes', () => {
    expect(socket).toMatch(/\.sock$/);
    expect(image).toBe('dockgate-test:busybox');
    expect(process.env.DOCKGATE_TEST_DOCKER_SOCK).toBe(socket);
    expect(process.env.DOCKGATE_TEST_IMAGE).toBe(image);
  });

  it('daemon answers /_ping', async () => {
    expect(await get('/_ping')).toEqual({ status: 200, body: 'OK' });
  });

  it('runs a container from the test image and reads its output', async () => {
    const r = await docker(socket, ['run', '--rm', image, 'echo', 'hello']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hello\n');
  });

  it('containers on a user-defined network reach each other by name', async () => {
    const tag = `dgt-harness-${process.pid}`;
    expect((await docker(socket, ['network', 'create', tag])).code).toBe(0);
    try {
      const srv = await docker(socket, ['run', '-d', '--name', `${tag}-srv`, '--network', tag, image, 'sh', '-c', 'echo pong | nc -l -p 7000']);
      expect(srv.code, srv.stderr).toBe(0);
      const cli = await docker(socket, ['run', '--rm', '--network', tag, image, 'sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 ${tag}-srv 7000 </dev/null && exit 0; sleep 0.3; done; exit 1`]);
      expect(cli.stdout, cli.stderr).toBe('pong\n');
    } finally {
      await docker(socket, ['rm', '-f', `${tag}-srv`]);
      await docker(socket, ['network', 'rm', tag]);
    }
  });
});
