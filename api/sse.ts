// One SSE loop for every tailed table: subscribe first, replay after Last-Event-ID second (so
// nothing falls between the two), then live rows, keep-alive comments, and an optional end.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { TableTail, TailRow } from '../lib/ledger/table-tail.js';

export interface TailStreamOptions<Row extends TailRow> {
  tail: TableTail<Row>;
  accepts: (row: Row) => boolean;
  /** Stored rows after `afterId` (oldest first) for a resuming client; the first connection gets those after 0 when `replayFromStart`. */
  replay: (afterId: number) => Promise<Row[]>;
  frame: (row: Row) => { event: string; data: unknown };
  keepAliveMs: number;
  /** Replay everything on a first connection (build logs), not only after Last-Event-ID (status streams). */
  replayFromStart?: boolean;
  /** When it resolves true the stream sends `event: end` and closes (e.g. a finished build). */
  finished?: () => Promise<boolean>;
}

const encoder = new TextEncoder();
/** Encoded frames per frame function and live row: a row fanned out to many subscribers is formatted once. */
const frameCache = new WeakMap<object, WeakMap<object, Uint8Array>>();

/**
 * A row as the bytes writeSSE would write (JSON holds no raw line breaks, so one data line). Routes
 * pass a module-level frame function, so every subscriber of a route shares the cache.
 */
function frameBytes<Row extends TailRow>(frame: TailStreamOptions<Row>['frame'], row: Row): Uint8Array {
  let byRow = frameCache.get(frame);
  if (!byRow) frameCache.set(frame, (byRow = new WeakMap()));
  let bytes = byRow.get(row);
  if (!bytes) {
    const { event, data } = frame(row);
    if (/[\r\n]/.test(event)) throw new Error('event must not contain "\\r" or "\\n"');
    bytes = encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\nid: ${row.id}\n\n`);
    byRow.set(row, bytes);
  }
  return bytes;
}

export function lastEventId(c: Context, query?: number): number | undefined {
  const header = c.req.header('last-event-id');
  return header && /^\d{1,18}$/.test(header) ? Number(header) : query;
}

export function tailStream<Row extends TailRow>(
  c: Context,
  resumeAfter: number | undefined,
  opts: TailStreamOptions<Row>,
) {
  return streamSSE(c, async (stream) => {
    const queue: Row[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const unsubscribe = opts.tail.subscribe(opts.accepts, (row) => {
      queue.push(row);
      wake?.();
    });
    stream.onAbort(() => {
      closed = true;
      unsubscribe();
      wake?.();
    });
    // A first connection starts at the tail's position: the ready frame carries it as its id, so a
    // client that reconnects before any event arrived still resumes without a gap.
    let sent = resumeAfter ?? (opts.replayFromStart ? 0 : opts.tail.position);
    // All rows that are waiting go out in one write: with many subscribers the per-write cost of the
    // web stream under streamSSE is what the fan-out spends its time on (bench/api).
    const send = async (rows: Row[]) => {
      const chunks: Uint8Array[] = [];
      for (const row of rows) {
        if (row.id <= sent) continue; // already delivered by the replay
        sent = row.id;
        chunks.push(frameBytes(opts.frame, row));
      }
      if (chunks.length === 1) await stream.write(chunks[0]!);
      else if (chunks.length > 1) await stream.write(Buffer.concat(chunks));
    };
    try {
      await stream.writeSSE({ event: 'ready', id: String(sent), data: JSON.stringify({ last_event_id: sent }) });
      if (resumeAfter !== undefined || opts.replayFromStart) {
        for (;;) {
          const rows = await opts.replay(sent);
          await send(rows);
          if (rows.length === 0 || closed) break;
        }
      }
      while (!closed) {
        while (queue.length > 0 && !closed) await send(queue.splice(0));
        if (closed) break;
        if (opts.finished && (await opts.finished())) {
          // Rows written just before the end may still be on their way through NOTIFY.
          await send(await opts.replay(sent));
          await stream.writeSSE({ event: 'end', data: JSON.stringify({ last_event_id: sent }) });
          break;
        }
        // A stream that can end re-checks every second; the others only wake for rows.
        const waitMs = opts.finished ? Math.min(1_000, opts.keepAliveMs) : opts.keepAliveMs;
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        wake = undefined;
        if (!woken && !closed) await stream.write(': keep-alive\n\n');
      }
    } finally {
      unsubscribe();
    }
  });
}
