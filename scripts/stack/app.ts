// The API and the worker as child processes (so a crash test can kill one and start it again).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';
import { spawnManaged, waitUntil, type ManagedProcess } from './process.js';

function spawnTs(name: string, entry: string, env: NodeJS.ProcessEnv, logFile: string): ManagedProcess {
  return spawnManaged(name, process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, entry)], {
    cwd: PROJECT_ROOT,
    env,
    logFile,
  });
}

export async function startApi(env: NodeJS.ProcessEnv, logFile: string): Promise<ManagedProcess> {
  const proc = spawnTs('api', 'api/server.ts', env, logFile);
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
  const proc = spawnTs('worker', 'worker/main.ts', env, logFile);
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
