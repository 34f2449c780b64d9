// bench/api: request load (autocannon and an open-loop generator) (split from run.ts, which composes the phases).
import { type Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { log, pct, sleep } from './common.js';

// ---------------------------------------------------------------------------------------------
// Request load

export interface LoadResult {
  name: string;
  connections: number;
  /** Offered requests/s (open loop), or undefined for as fast as answers come (closed loop). */
  rate?: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
}

/** autocannon, for `duration` seconds or (exactly counted) `amount` requests. */
export async function load(
  name: string,
  o: {
    url: string;
    token?: string;
    method?: 'GET' | 'POST';
    body?: string;
    connections: number;
    duration?: number;
    amount?: number;
  },
): Promise<LoadResult> {
  log(`${name}: ${o.amount ? `${o.amount} requests` : `${o.duration} s`}, ${o.connections} connections`);
  const r = await autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    connections: o.connections,
    ...(o.amount ? { amount: o.amount } : { duration: o.duration }),
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(o.body ? { body: o.body } : {}),
  });
  const ok = r['2xx'];
  return {
    name,
    connections: o.connections,
    reqPerSec: ok / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok,
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

/**
 * Open loop: `rate` calls a second for `seconds`, each sent when due whatever happened to earlier
 * ones; latency from when it was due (time spent queued for a socket counts). Waits for every answer.
 */
export async function paced(
  name: string,
  connections: number,
  rate: number,
  seconds: number,
  call: () => Promise<boolean>,
): Promise<LoadResult> {
  log(`${name}: ${seconds} s at ${rate}/s`);
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  let last = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < Math.round(rate * seconds); i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    inflight.push(
      call().then(
        (good) => {
          last = performance.now();
          if (!good) return void bad++;
          ok++;
          latencies.push(last - due);
        },
        () => void bad++,
      ),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return {
    name,
    connections,
    rate,
    reqPerSec: ok / ((last - start) / 1000),
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    ok,
    bad,
  };
}

/** One request over a keep-alive agent; true on 2xx. */
export function httpCall(agent: Agent, url: string, token: string, body: string): () => Promise<boolean> {
  return () =>
    new Promise<boolean>((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode! >= 200 && res.statusCode! < 300));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

/**
 * Closed loop: `connections` callers, each calling again as soon as its last call returned, until
 * `amount` calls were made (the saturated case of a call that is not HTTP, e.g. a bare Temporal start).
 */
export async function closed(
  name: string,
  connections: number,
  amount: number,
  call: () => Promise<boolean>,
): Promise<LoadResult> {
  log(`${name}: ${amount} calls, ${connections} at a time`);
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  let sent = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < amount) {
        sent++;
        const t0 = performance.now();
        const good = await call().catch(() => false);
        if (!good) {
          bad++;
          continue;
        }
        ok++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { name, connections, reqPerSec: ok / elapsed, p50: pct(latencies, 50), p99: pct(latencies, 99), ok, bad };
}
