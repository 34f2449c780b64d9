// A real OCI registry (Debian's docker-registry, i.e. distribution) on loopback.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnManaged, waitUntil, type ManagedProcess } from './process.js';

export interface Registry {
  /** host:port, as used in image references. */
  address: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';

export async function startRegistry(opts: {
  dir: string;
  port: number;
  logDir: string;
  htpasswd?: string;
}): Promise<Registry> {
  if (!existsSync(REGISTRY_BIN))
    throw new Error(`${REGISTRY_BIN} not found; run "npm run setup" (installs docker-registry)`);
  mkdirSync(opts.dir, { recursive: true });
  const config = join(opts.dir, `config-${opts.port}.yml`);
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(opts.dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${opts.port}`,
      ...(opts.htpasswd ? ['auth:', '  htpasswd:', '    realm: mcp-host', `    path: ${opts.htpasswd}`] : []),
      '',
    ].join('\n'),
  );
  const proc = spawnManaged('registry', REGISTRY_BIN, ['serve', config], {
    logFile: join(opts.logDir, `registry-${opts.port}.log`),
  });
  const address = `127.0.0.1:${opts.port}`;
  await waitUntil(
    'registry',
    async () => {
      const res = await fetch(`http://${address}/v2/`);
      return res.status === 200 || res.status === 401;
    },
    { proc, timeoutMs: 30_000 },
  );
  return { address, process: proc, stop: () => proc.stop() };
}
