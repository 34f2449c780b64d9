// One SSE loop for every tailed table: subscribe first, replay after Last-Event-ID second (so
// nothing falls between the two), then live rows, keep-alive comments, and an optional end.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { TableTail, TailRow } from './table-tail.js';

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

export function lastEventId(c: Context, query?: number): number | undefined {
  const header = c.req.header('last-event-id');
  return header && /^\d{1,18}$/.test(header) ? Number(header) : query;
}

export function tailStream<Row extends TailRow>(c: Context, resumeAfter: number | undefined, opts: TailStreamOptions<Row>) {
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
    const send = async (row: Row) => {
      if (row.id <= sent) return; // already delivered by the replay
      sent = row.id;
      const { event, data } = opts.frame(row);
      await stream.writeSSE({ event, id: String(row.id), data: JSON.stringify(data) });
    };
    try {
      await stream.writeSSE({ event: 'ready', id: String(sent), data: JSON.stringify({ last_event_id: sent }) });
      if (resumeAfter !== undefined || opts.replayFromStart) {
        for (;;) {
          const rows = await opts.replay(sent);
          for (const row of rows) await send(row);
          if (rows.length === 0 || closed) break;
        }
      }
      while (!closed) {
        while (queue.length > 0 && !closed) await send(queue.shift()!);
        if (closed) break;
        if (opts.finished && (await opts.finished())) {
          // Rows written just before the end may still be on their way through NOTIFY.
          for (const row of await opts.replay(sent)) await send(row);
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
