// `npm start` again at once: after Ctrl-C (with a container running, as a hosted server would be),
// and after the stack was killed with SIGKILL (its dockerd with it, so dockerd's pid file and mounts
// stay behind while the stack's other children keep running). Each start comes up; while a stack runs, a second start refuses in one line and leaves it
// running; once stopped, nothing of it stays mounted.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readJsonStream } from '../../lib/docker.js';
import { mountsUnder } from '../../scripts/stack/mounts.js';
import { processStartTime } from '../../scripts/stack/process.js';
import { cloneForNpmStart, npmStart, type Clone, type NpmStart } from '../support/npm-start.js';

let clone: Clone;
let stack: NpmStart | undefined;
let dockerRoots: string[];

/** Mounts of the clone's stack: under its .data and its dockerd's exec root. */
const mounts = () => mountsUnder(dockerRoots);
const record = () =>
  JSON.parse(readFileSync(join(clone.root, '.data', 'stack.json'), 'utf8')) as {
    stack: { pid: number };
    children: { name: string; pid: number; started: number }[];
  };

async function startUp(): Promise<NpmStart> {
  const t = Date.now();
  const started = npmStart(clone);
  await started.up();
  console.log(`npm start: up in ${Date.now() - t} ms`);
  return started;
}

beforeAll(async () => {
  clone = await cloneForNpmStart('restart', inject('stack').databaseUrl);
  const dataDir = join(clone.root, '.data');
  dockerRoots = [
    dataDir,
    `/run/mcp-host-docker-${createHash('sha256').update(join(dataDir, 'docker')).digest('hex').slice(0, 12)}`,
  ];
}, 60_000);

afterAll(async () => {
  await stack?.interrupt();
  await clone?.remove();
}, 120_000);

describe('npm start right after the previous stack', () => {
  it('comes up again at once after Ctrl-C, and the stopped stack left nothing mounted', async () => {
    const first = await startUp();
    // A container from the base image the stack published, running when Ctrl-C comes.
    const base = /^registry .*\(base image (\S+)\)$/m.exec(first.output())![1]!;
    const docker = new Docker({ socketPath: join(clone.root, '.data', 'docker', 'docker.sock') });
    await readJsonStream(await docker.pull(base), () => {});
    const container = await docker.createContainer({
      Image: base,
      Cmd: ['sleep', '600'],
      HostConfig: { NetworkMode: 'host' },
    });
    await container.start();
    expect(mounts().length).toBeGreaterThan(0); // dockerd's own, so the check below can see them
    await first.interrupt();
    expect(first.output()).toContain('stopping dockerd');
    expect(mounts()).toEqual([]);
    expect(existsSync(join(clone.root, '.data', 'stack.json'))).toBe(false);
    stack = await startUp();
  }, 600_000);

  it('a second start while one runs says so in one line and leaves the first running', async () => {
    const second = npmStart(clone);
    expect(await second.exited).not.toBe(0);
    const pid = record().stack.pid;
    expect(second.output()).toContain(
      `a previous stack is still running (pid ${pid}); stop it first (Ctrl-C in its terminal, or kill ${pid})\n`,
    );
    expect(second.output()).not.toContain('stopping ');
    expect((await fetch(`http://127.0.0.1:${clone.ports.api}/healthz`)).ok).toBe(true);
  }, 120_000);

  it('comes up again at once after SIGKILL, stopping what the killed stack left running', async () => {
    const { children } = record();
    const dockerd = children.find((c) => c.name === 'dockerd')!;
    // The stack (npm, its shell, dev-stack) and its dockerd die at once; the other children live on.
    process.kill(-stack!.child.pid!, 'SIGKILL');
    process.kill(dockerd.pid, 'SIGKILL');
    await stack!.exited;
    const orphans = children.filter((c) => c.name !== 'dockerd' && processStartTime(c.pid) === c.started);
    expect(orphans.map((c) => c.name)).toContain('temporal');
    expect(mounts().length).toBeGreaterThan(0);

    stack = await startUp();
    for (const orphan of orphans) {
      expect(stack.output()).toContain(
        `stopping ${orphan.name} (pid ${orphan.pid}), left running by a stack that was killed`,
      );
      expect(processStartTime(orphan.pid)).not.toBe(orphan.started);
    }
    await stack.interrupt();
    expect(stack.output()).toContain('stopping dockerd');
    stack = undefined;
    expect(mounts()).toEqual([]);
  }, 600_000);
});
