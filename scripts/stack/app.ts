// The API and the worker as child processes (so a crash test can kill one and start it again), run
// from their bundles in dist/ as the image runs them, built from the sources once per stack process.
import { readFileSync } from 'node:fs';
import { buildDist, DIST_NODE_OPTIONS, distEntry } from '../build-dist.js';
import { PROJECT_ROOT } from './paths.js';
import { spawnManaged, waitUntil, type ManagedProcess } from './process.js';

let built: Promise<string[]> | undefined;

async function spawnBuilt(name: 'api' | 'worker', env: NodeJS.ProcessEnv, logFile: string): Promise<ManagedProcess> {
  built ??= buildDist();
  await built.catch((err: unknown) => {
    built = undefined; // a failed build (a syntax error being fixed) is tried again at the next start
    throw err;
  });
  return spawnManaged(name, process.execPath, [...DIST_NODE_OPTIONS, distEntry(name)], {
    cwd: PROJECT_ROOT,
    env,
    logFile,
  });
}

export async function startApi(env: NodeJS.ProcessEnv, logFile: string): Promise<ManagedProcess> {
  const proc = await spawnBuilt('api', env, logFile);
  const host = !env.BIND_ADDRESS || env.BIND_ADDRESS === '0.0.0.0' ? '127.0.0.1' : env.BIND_ADDRESS;
  const url = `http://${host}:${env.BIND_PORT ?? 3000}/healthz`;
  await readyOrStopped(
    proc,
    waitUntil('api', async () => (await fetch(url)).ok, { proc, timeoutMs: 60_000 }),
  );
  return proc;
}

export async function startWorker(env: NodeJS.ProcessEnv, logFile: string): Promise<ManagedProcess> {
  const before = safeRead(logFile).length;
  const proc = await spawnBuilt('worker', env, logFile);
  // Ready once it logs "worker started" (after bundling workflows and connecting).
  await readyOrStopped(
    proc,
    waitUntil('worker', async () => safeRead(logFile).slice(before).includes('"worker started"'), {
      proc,
      timeoutMs: 120_000,
    }),
  );
  return proc;
}

/** A process that never became ready is stopped, so a failed start leaves nothing listening behind it. */
async function readyOrStopped(proc: ManagedProcess, ready: Promise<void>): Promise<void> {
  try {
    await ready;
  } catch (err) {
    await proc.kill().catch(() => undefined);
    throw err;
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
