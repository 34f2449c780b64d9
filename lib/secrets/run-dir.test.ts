import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { checkSecretsRunDir, isMemoryFs } from './run-dir.js';

// /dev/shm is a tmpfs on Linux; the checkout is on a disk (checked below, so the cases mean what they say).
const shm = mkdtempSync('/dev/shm/mcp-run-dir-');
const disk = mkdtempSync(join(PROJECT_ROOT, '.run-dir-test-'));
afterAll(() => {
  for (const dir of [shm, disk]) rmSync(dir, { recursive: true, force: true });
});

describe('SECRETS_RUN_DIR check at worker start', () => {
  it('knows tmpfs and ramfs by their magic, nothing else', () => {
    expect(isMemoryFs(0x01021994)).toBe(true);
    expect(isMemoryFs(0x858458f6)).toBe(true);
    expect(isMemoryFs(0xef53)).toBe(false); // ext4
    expect(isMemoryFs(statfsSync(shm).type)).toBe(true);
    expect(isMemoryFs(statfsSync(disk).type)).toBe(false);
  });

  it('refuses a directory on a disk, naming the variable and the directory', async () => {
    await expect(checkSecretsRunDir(join(disk, 'secrets'))).rejects.toThrow(
      `invalid environment: SECRETS_RUN_DIR: ${join(disk, 'secrets')} is not on a tmpfs`,
    );
  });

  it('accepts a tmpfs where files can be chowned (made when missing), and leaves nothing there', async () => {
    const dir = join(shm, 'secrets');
    await checkSecretsRunDir(dir);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a tmpfs where the worker cannot chown (an unprivileged worker)', () => {
    const dir = join(shm, 'unprivileged');
    mkdirSync(dir, { mode: 0o777 });
    chmodSync(dir, 0o777);
    chmodSync(shm, 0o755);
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./lib/secrets/run-dir.ts').then((m) => m.checkSecretsRunDir(${JSON.stringify(dir)})).then(() => console.log('accepted'), (e) => console.log(e.message))`,
      ],
      { cwd: PROJECT_ROOT, encoding: 'utf8', uid: 65534, gid: 65534, timeout: 60_000 },
    );
    expect(run.stdout).toMatch(/is not usable: .*EPERM.*CAP_CHOWN/);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});
