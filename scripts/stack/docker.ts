// A private dockerd (Debian's docker.io) on a socket under .data, for when DOCKER_HOST is not set.
// vfs storage and no iptables/bridge: it runs in containers and sandboxes without kernel privileges.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { spawnManaged, waitUntil, type ManagedProcess } from './process.js';

export interface DockerDaemon {
  host: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

const DOCKERD = '/usr/sbin/dockerd';

export function dockerPing(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startDockerd(dir: string, logDir: string): Promise<DockerDaemon> {
  if (!existsSync(DOCKERD)) throw new Error(`${DOCKERD} not found; run "npm run setup" (installs docker.io)`);
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  // exec-root holds unix sockets, whose paths must stay short: keep it under /run.
  const execRoot = `/run/mcp-host-docker-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;
  const proc = spawnManaged(
    'dockerd',
    DOCKERD,
    [
      '--host', `unix://${socket}`,
      '--data-root', join(dir, 'data'),
      '--exec-root', execRoot,
      '--pidfile', join(dir, 'docker.pid'),
      '--storage-driver=vfs',
      '--iptables=false',
      '--bridge=none',
    ],
    { logFile: join(logDir, 'dockerd.log') },
  );
  await waitUntil('dockerd', () => dockerPing(socket), { proc, timeoutMs: 60_000 });
  return { host: `unix://${socket}`, process: proc, stop: () => proc.stop(20_000) };
}
