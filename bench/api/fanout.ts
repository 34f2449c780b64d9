// bench/api: SSE fan-out (split from run.ts, which composes the phases).
import { randomUUID } from 'node:crypto';
import { request, type ClientRequest } from 'node:http';
import { SseParser } from '../../cli/sse.js';
import type { Sql } from '../../lib/db.js';
import { log, now, pct, sleep } from './common.js';
import type { CpuShare } from './cpu.js';

// ---------------------------------------------------------------------------------------------
// SSE fan-out

export interface Subscriber {
  req: ClientRequest;
  ready: Promise<void>;
}

export function subscribe(
  url: string,
  token: string,
  onStatus: (data: string, receivedAt: number) => void,
): Subscriber {
  let req!: ClientRequest;
  const ready = new Promise<void>((resolve, reject) => {
    req = request(
      url,
      { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode}`));
        const parser = new SseParser();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = now();
          for (const frame of parser.push(chunk)) {
            if (frame.event === 'ready') resolve();
            else if (frame.event === 'status') onStatus(frame.data, at);
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', reject);
    req.end();
  });
  return { req, ready };
}

export interface FanoutResult {
  subscribers: number;
  events: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  duplicates: number;
  connectSeconds: number;
  /** Over the events and their delivery (not the connecting). */
  cpu: CpuShare;
}

/**
 * `subscribers` clients on one stream; `events` status events on one server, written as
 * recordServerStatus writes them (row lock, event insert, status update, one transaction), spaced
 * 1/eventRate s apart. The send time travels in the event's reason; latency = receipt − send.
 */
export async function fanout(
  sql: Sql,
  apiUrl: string,
  token: string,
  serverId: number,
  subscribers: number,
  events: number,
  eventRate: number,
  meter: (fn: () => Promise<object>) => Promise<{ cpu: CpuShare }>,
): Promise<FanoutResult> {
  log(`SSE fan-out: ${subscribers} subscriber(s), ${events} events at ${eventRate}/s`);
  const tag = randomUUID().slice(0, 8);
  const received = Array.from({ length: subscribers }, () => new Uint8Array(events));
  const latencies: number[] = [];
  let duplicates = 0;
  let delivered = 0;
  const subs: Subscriber[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < subscribers; i += 50) {
      const batch = [];
      for (let s = i; s < Math.min(subscribers, i + 50); s++) {
        const sub = subscribe(`${apiUrl}/api/servers/stream?server_id=${serverId}`, token, (data, at) => {
          const [mark, seq, sentAt] = ((JSON.parse(data) as { reason: string | null }).reason ?? '').split(' ');
          if (mark !== `bench:${tag}`) return;
          if (received[s]![Number(seq)]!++) duplicates++;
          else {
            delivered++;
            latencies.push(at - Number(sentAt));
          }
        });
        subs.push(sub);
        batch.push(sub.ready);
      }
      await Promise.all(batch);
    }
    const connectSeconds = (performance.now() - t0) / 1000;

    const { cpu } = await meter(async () => {
      let status = (await sql<{ status: string }[]>`select status from mcp_servers where id = ${serverId}`)[0]!.status;
      const start = performance.now();
      for (let n = 0; n < events; n++) {
        const wait = start + (n * 1000) / eventRate - performance.now();
        if (wait > 0) await sleep(wait);
        // running ⇄ unhealthy: allowed edges both ways (lib/server-status.ts).
        const to = status === 'running' ? 'unhealthy' : 'running';
        const reason = `bench:${tag} ${n} ${now().toFixed(3)}`;
        await sql.begin(async (tx) => {
          const [server] = await tx<
            { status: string; owner_id: number }[]
          >`select status, owner_id from mcp_servers where id = ${serverId} for update`;
          await tx`
            insert into server_events (server_id, owner_id, event_type, status, previous_status, reason, transition_key)
            values (${serverId}, ${server!.owner_id}, 'status', ${to}, ${server!.status}, ${reason}, ${`bench/${tag}#${n}`})`;
          await tx`update mcp_servers set status = ${to}, status_reason = ${reason}, updated_at = now() where id = ${serverId}`;
        });
        status = to;
      }
      // Stragglers: at most 15 s after the last event.
      const deadline = performance.now() + 15_000;
      while (delivered < subscribers * events && performance.now() < deadline) await sleep(50);
      return {};
    });
    latencies.sort((a, b) => a - b);
    return {
      subscribers,
      events,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
      lost: subscribers * events - delivered,
      duplicates,
      connectSeconds,
      cpu,
    };
  } finally {
    for (const s of subs) s.req.destroy();
  }
}
