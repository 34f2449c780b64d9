// bench/gateway's report: the tables and the goals, printed from what run.ts measured (the
// harness: processes, load, CPU and memory readings). Pure formatting; it measures nothing itself.
import { cpus, loadavg, totalmem } from 'node:os';
import { table } from '../api/common.js';

export const ROLES = ['bench', 'server', 'gateway', 'peer', 'postgres'] as const;
export type Role = (typeof ROLES)[number];

export interface CpuShare {
  /** Of the machine's capacity (all cores), in %. */
  busy: number;
  /** The part of `busy` that was not this benchmark's processes. */
  others: number;
  ms: Record<Role, number>;
}

export interface CaseResult {
  target: string;
  concurrency: number;
  calls: number;
  bad: number;
  perSecond: number;
  p50: number;
  p99: number;
  cpu: CpuShare;
}

/** One hold of many sessions with open GET streams: RSS of the watched processes before and while held. */
export interface StreamsHeld {
  name: string;
  sessions: number;
  openSeconds: number;
  answers: boolean;
  before: { rss: number; peak: number }[];
  held: { rss: number; peak: number }[];
}

export function report(
  results: CaseResult[],
  streams: StreamsHeld[],
  load0: number[],
  seconds: number,
  opts: { duration: number; warmup: number; sessions: number },
): void {
  const cpu = cpus();
  console.log(
    `\nmachine: ${cpu.length} × ${cpu[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${process.platform}/${process.arch}; ` +
      `load average ${load0.map((l) => l.toFixed(1)).join(' ')} at start, ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at end; ${seconds.toFixed(0)} s in all`,
  );
  console.log(
    `tools/call of echo, closed loop: each of c sessions has one call in flight on a keep-alive connection of its own; ` +
      `${opts.duration} s per case after ${opts.warmup} s of warm-up; latency per call as the client sees it; load generator in this process, same machine`,
  );
  console.log(
    `"+p50"/"+p99": added to the direct call's p50/p99 in the same run; "÷ direct": calls/s over direct's at the same c; ` +
      `"busy %": the machine's CPU use over the case, of all ${cpu.length} cores; "others %": the part not used by this benchmark's processes`,
  );
  const direct = (c: number) => results.find((r) => r.target === 'direct' && r.concurrency === c);
  table(
    [
      'case',
      'c',
      'calls/s',
      'p50 ms',
      'p99 ms',
      '+p50 ms',
      '+p99 ms',
      '÷ direct',
      'calls',
      'failed',
      'busy %',
      'others %',
    ],
    results.map((r) => {
      const d = direct(r.concurrency)!;
      const base = r === d || !d;
      return [
        r.target,
        String(r.concurrency),
        r.perSecond.toFixed(0),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        base ? '-' : (r.p50 - d.p50).toFixed(2),
        base ? '-' : (r.p99 - d.p99).toFixed(2),
        base ? '-' : (r.perSecond / d.perSecond).toFixed(2),
        String(r.calls),
        String(r.bad),
        r.cpu.busy.toFixed(0),
        r.cpu.others.toFixed(0),
      ];
    }),
  );
  console.log(
    `\nCPU per call, by process (µs; from /proc, 10 ms ticks; "server" is the echo server over HTTP, "peer" supergateway with its stdio children ` +
      `(the server's work included), "postgres" the gateway database's backends, "bench" the load generator; "added": all but bench, less direct's at the same c)`,
  );
  const stack = (r: CaseResult) =>
    (ROLES.filter((role) => role !== 'bench').reduce((n, role) => n + r.cpu.ms[role], 0) * 1000) / Math.max(1, r.calls);
  table(
    ['case', 'c', ...ROLES, 'all but bench', 'added'],
    results.map((r) => {
      const per = (ms: number) => (ms * 1000) / Math.max(1, r.calls);
      const d = direct(r.concurrency);
      return [
        r.target,
        String(r.concurrency),
        ...ROLES.map((role) => per(r.cpu.ms[role]).toFixed(0)),
        stack(r).toFixed(0),
        !d || r === d ? '-' : (stack(r) - stack(d)).toFixed(0),
      ];
    }),
  );
  console.log(`\n${opts.sessions} sessions, each with its GET stream open, held at once (resident memory, MB)`);
  table(
    ['through', 'process', 'RSS before', 'RSS held', 'peak RSS', 'kB per session', 'open s', 'call answered'],
    streams.flatMap((s) =>
      s.held.map((h, i) => [
        s.name,
        i === 0 ? s.name : 'server behind it',
        s.before[i]!.rss.toFixed(0),
        h.rss.toFixed(0),
        h.peak.toFixed(0),
        (((h.rss - s.before[i]!.rss) * 1024) / s.sessions).toFixed(0),
        s.openSeconds.toFixed(1),
        String(s.answers),
      ]),
    ),
  );
  goals(results, streams);
}

/** The goals, each met or missed by this run's figures. */
function goals(results: CaseResult[], streams: StreamsHeld[]): void {
  const at = (target: string, c: number) => results.find((r) => r.target.startsWith(target) && r.concurrency === c);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'pass' : 'MISS');
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log('\ngoals');
  const [d16, g16, p16] = [at('direct', 16), at('gateway', 16), at('peer', 16)];
  if (d16 && g16) {
    const [a50, a99] = [g16.p50 - d16.p50, g16.p99 - d16.p99];
    const peer = p16 && ([p16.p50 - d16.p50, p16.p99 - d16.p99] as const);
    console.log(`  added latency at c=16, p50 ≤ 1 ms: ${ms(a50)} → ${verdict(a50 <= 1)}`);
    console.log(`  added latency at c=16, p99 ≤ 5 ms: ${ms(a99)} → ${verdict(a99 <= 5)}`);
    if (peer)
      console.log(
        `  added latency at c=16 below the peer's: gateway +${ms(a50)} / +${ms(a99)}, supergateway +${ms(peer[0])} / +${ms(peer[1])} (p50 / p99) → ` +
          `p50 ${verdict(a50 < peer[0])}, p99 ${verdict(a99 < peer[1])}`,
      );
  } else console.log('  added latency at c=16: not measured');
  const [d64, g64, p64] = [at('direct', 64), at('gateway', 64), at('peer', 64)];
  if (d64 && g64) {
    const ratio = g64.perSecond / d64.perSecond;
    console.log(
      `  throughput through the gateway at c=64 ≥ 0.8× direct: ${g64.perSecond.toFixed(0)} ÷ ${d64.perSecond.toFixed(0)} calls/s = ${ratio.toFixed(2)}× → ${verdict(ratio >= 0.8)}` +
        (p64
          ? `; ÷ the peer's ${p64.perSecond.toFixed(0)} calls/s = ${(g64.perSecond / p64.perSecond).toFixed(2)}×`
          : ''),
    );
  } else console.log('  throughput at c=64: not measured');
  for (const held of streams.filter((s) => s.name.startsWith('gateway')))
    console.log(
      `  ${held.sessions} sessions with open GET streams held by one gateway process under 200 MB RSS (${held.name === 'gateway' ? 'after the load cases' : 'a fresh process'}): ` +
        `${held.held[0]!.rss.toFixed(0)} MB (peak ${held.held[0]!.peak.toFixed(0)} MB) → ${verdict(held.answers && held.held[0]!.rss < 200)}`,
    );
  if (!streams.some((s) => s.name.startsWith('gateway'))) console.log('  GET streams held: not measured');
}
