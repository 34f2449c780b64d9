// Child processes of the stack: started with their output in a log file, awaited until ready,
// and stopped (SIGTERM, then SIGKILL) with the stack.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (for crash tests); resolves once the process has exited. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

let supervisor: ((proc: ManagedProcess) => void) | undefined;

/**
 * From now on each child starts in a process group of its own, so a terminal's Ctrl-C reaches only
 * this process, which stops them in order; and each is reported to `onSpawn` as it starts.
 */
export function superviseChildren(onSpawn: (proc: ManagedProcess) => void): void {
  supervisor = onSpawn;
}

export function spawnManaged(name: string, command: string, args: string[], options: SpawnOptions): ManagedProcess {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const out = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', out, out],
    detached: supervisor !== undefined,
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const proc: ManagedProcess = {
    name,
    child,
    logFile: options.logFile,
    async stop(graceMs = 10_000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
  };
  supervisor?.(proc);
  return proc;
}

/**
 * When a live process (not a zombie) started, in clock ticks since boot: with its pid, what names one
 * process for good (a pid is reused, a start time with it is not). Undefined when `pid` is gone.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); // "pid (comm) state …"; comm may hold ")"
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** The argv of a live process (not a zombie), or undefined when `pid` is gone. */
export function processArgv(pid: number): string[] | undefined {
  if (processStartTime(pid) === undefined) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    return argv.length > 0 ? argv : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM to `pid`, SIGKILL after `graceMs`; resolves once it is gone (for processes not our children). */
export async function stopPid(pid: number, graceMs = 20_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  for (const started = processStartTime(pid); started !== undefined && processStartTime(pid) === started;) {
    if (Date.now() > deadline) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Polls `check` until it answers true; fails with the process's log file named. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  {
    timeoutMs = 60_000,
    intervalMs = 200,
    proc,
  }: { timeoutMs?: number; intervalMs?: number; proc?: ManagedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(
        `${what}: ${proc.name} exited (code ${proc.child.exitCode ?? proc.child.signalCode}); see ${proc.logFile}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not ready after ${timeoutMs} ms${proc ? `; see ${proc.logFile}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { freePort } from '../../lib/net.js';
