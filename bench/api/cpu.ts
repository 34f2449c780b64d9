// bench/api: CPU accounting per phase (split from run.ts, which composes the phases).
import { readFileSync } from 'node:fs';
import { sleep } from './common.js';

// ---------------------------------------------------------------------------------------------
// CPU: how busy the machine was during a phase, and how much of it was this benchmark's stack

/** Linux reports CPU times in USER_HZ ticks: 100 a second on every architecture Node runs on. */
export const TICK_MS = 10;

/** utime + stime of a process, in clock ticks (0 once it has gone). */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Busy and total clock ticks of the whole machine. */
export function machineTicks(): { busy: number; total: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total }; // less idle and iowait
}

/** `baseline` is the baseline's worker (bench/api/baseline-worker.ts). */
export const ROLES = ['api', 'worker', 'baseline', 'temporal', 'postgres', 'bench'] as const;
export type Role = (typeof ROLES)[number];

export interface CpuShare {
  /** Of the machine's capacity (all cores), in %. */
  busy: number;
  ours: number;
  others: number;
  /** CPU milliseconds each part of the stack spent over the case. */
  ms: Record<Role, number>;
}

/** Measures `fn`; "ours" is this process, the API, the worker, Temporal and the database's backends. */
export async function withCpu<T>(
  pids: () => Promise<[Role, number][]>,
  fn: () => Promise<T>,
): Promise<T & { cpu: CpuShare }> {
  const before = new Map((await pids()).map(([, pid]) => [pid, processTicks(pid)]));
  const m0 = machineTicks();
  const result = await fn();
  const m1 = machineTicks();
  const after = new Map([...before.keys()].map((pid) => [pid, processTicks(pid)]));
  const roles = new Map((await pids()).map(([role, pid]) => [pid, role]));
  for (const pid of roles.keys()) if (!after.has(pid)) after.set(pid, processTicks(pid));
  const ms = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<Role, number>;
  let ours = 0;
  for (const [pid, t] of after) {
    const used = Math.max(0, t - (before.get(pid) ?? 0));
    ours += used;
    ms[roles.get(pid) ?? 'postgres'] += used * TICK_MS; // a backend gone by the end was the database's
  }
  const total = m1.total - m0.total || 1;
  const busy = ((m1.busy - m0.busy) / total) * 100;
  const oursPct = Math.min(busy, (ours / total) * 100);
  return { ...result, cpu: { busy, ours: oursPct, others: busy - oursPct, ms } };
}

/**
 * Waits (at most `maxMs`) until the given processes together use under 10% of a core over a second:
 * the worker and Temporal finish the work earlier starts left behind before the next case begins.
 */
export async function quiesce(pids: number[], maxMs = 60_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const before = pids.reduce((n, pid) => n + processTicks(pid), 0);
    await sleep(1_000);
    const used = (pids.reduce((n, pid) => n + processTicks(pid), 0) - before) * TICK_MS;
    if (used < 100 || performance.now() - t0 > maxMs) return (performance.now() - t0) / 1000;
  }
}
