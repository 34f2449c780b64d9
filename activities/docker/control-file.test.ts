import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONTROL_FILE_MAX_BYTES, dockerignorePatterns, readControlFile } from './build.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'control-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("a checkout's Dockerfile and .dockerignore", () => {
  it('reads a regular file and reports an absent one as undefined', async () => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    await expect(readControlFile(dir, 'Dockerfile')).resolves.toBe('FROM scratch\n');
    await expect(readControlFile(dir, '.dockerignore')).resolves.toBeUndefined();
  });

  it('refuses a fifo without blocking on it', async () => {
    execFileSync('mkfifo', [join(dir, 'Dockerfile')]);
    await expect(readControlFile(dir, 'Dockerfile')).rejects.toThrow(/^Dockerfile is not a regular file$/);
  });

  it('refuses symlinks, to devices or to files inside the checkout alike, and directories', async () => {
    symlinkSync('/dev/zero', join(dir, 'Dockerfile'));
    await expect(readControlFile(dir, 'Dockerfile')).rejects.toThrow(/Dockerfile is a symbolic link/);
    writeFileSync(join(dir, 'ignore'), 'node_modules\n');
    symlinkSync('ignore', join(dir, '.dockerignore'));
    await expect(readControlFile(dir, '.dockerignore')).rejects.toThrow(/\.dockerignore is a symbolic link/);
    rmSync(join(dir, 'Dockerfile'));
    mkdirSync(join(dir, 'Dockerfile'));
    await expect(readControlFile(dir, 'Dockerfile')).rejects.toThrow(/Dockerfile is not a regular file/);
  });

  it(".dockerignore's patterns without comments and blank lines; none when absent, refused when a link", async () => {
    await expect(dockerignorePatterns(dir)).resolves.toEqual([]);
    writeFileSync(join(dir, '.dockerignore'), '# tooling\r\nnode_modules\n\n  *.log  \n');
    await expect(dockerignorePatterns(dir)).resolves.toEqual(['node_modules', '*.log']);
    rmSync(join(dir, '.dockerignore'));
    symlinkSync('/dev/zero', join(dir, '.dockerignore'));
    await expect(dockerignorePatterns(dir)).rejects.toThrow(/\.dockerignore is a symbolic link/);
  });

  it('refuses a file larger than the bound, naming the bound and not the content', async () => {
    writeFileSync(join(dir, 'Dockerfile'), 'S'.repeat(CONTROL_FILE_MAX_BYTES + 1));
    const err = await readControlFile(dir, 'Dockerfile').catch((e: Error) => e);
    expect((err as Error).message).toBe(`Dockerfile is larger than ${CONTROL_FILE_MAX_BYTES} bytes`);
  });
});
