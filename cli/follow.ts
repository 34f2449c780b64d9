// Follows one event stream for as long as the caller wants, reconnecting with Last-Event-ID when the
// connection drops, so no event is lost or repeated. `servers watch`, `builds watch` and
// `servers metrics --follow` all run on this loop.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './client.js';
import { ApiHttpError, CliError, ConnectionError } from './handle-error.js';
import type { SseFrame } from './sse.js';

export interface FollowOptions {
  /** The stream's path (with its query), e.g. `/api/builds/7/logs/stream`. */
  path: string;
  /** Resume after this event id from the very first connection (the API replays what came after it). */
  lastEventId?: string;
  /** Bounds the whole follow; when it fires the follow throws `timedOut()`. */
  deadline?: AbortSignal;
  /** Ends the follow quietly (from outside, e.g. a poller that found what was awaited). */
  stop?: AbortSignal;
  timedOut?: () => Error;
  /**
   * Every frame (`ready` included; keep-alive comments are not frames). `resumeId` is the last event
   * id received over any connection so far, undefined until one arrives. Return true to stop.
   */
  onFrame: (frame: SseFrame, resumeId: string | undefined) => boolean | void | Promise<boolean | void>;
  /** Progress notes for stderr (reconnects). */
  onNote: (note: string) => void;
  /** First wait before reconnecting; doubles up to `retryMaxMs`. */
  retryFirstMs?: number;
  retryMaxMs?: number;
}

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

/** A dropped connection or a 5xx is worth another try; anything else is reported. */
export function retryable(err: unknown): boolean {
  return err instanceof ConnectionError || (err instanceof ApiHttpError && err.status >= 500);
}

export async function followStream(client: ApiClient, opts: FollowOptions): Promise<void> {
  const { deadline } = opts;
  const retryFirst = opts.retryFirstMs ?? RETRY_FIRST_MS;
  const retryMax = opts.retryMaxMs ?? RETRY_MAX_MS;
  const timedOut = () => opts.timedOut?.() ?? new CliError('timed out');
  let lastEventId = opts.lastEventId;
  let received = opts.lastEventId; // what `onFrame` is told: only ids that arrived, or the caller's own
  let connected = false; // a first connection that fails is an error, not something to wait out
  let retryMs = retryFirst;

  for (;;) {
    const connection = new AbortController();
    const signal = AbortSignal.any([
      connection.signal,
      ...(deadline ? [deadline] : []),
      ...(opts.stop ? [opts.stop] : []),
    ]);
    try {
      for await (const frame of client.stream(opts.path, lastEventId, signal)) {
        if (frame.id !== undefined) lastEventId = received = frame.id;
        if (frame.event === 'ready') connected = true;
        else retryMs = retryFirst; // events flow again; a stream that only connects and drops keeps backing off
        if (await opts.onFrame(frame, received)) return;
        if (opts.stop?.aborted) return;
      }
      if (opts.stop?.aborted) return;
      opts.onNote(`the API closed the event stream; reconnecting in ${retryMs / 1000}s`);
    } catch (err) {
      if (opts.stop?.aborted) return;
      if (deadline?.aborted) throw timedOut();
      if (!connected || !retryable(err)) throw err;
      opts.onNote(`${(err as Error).message}; reconnecting in ${retryMs / 1000}s`);
    } finally {
      connection.abort(); // close the socket, whichever way the loop ended
    }
    try {
      await sleep(retryMs, undefined, {
        signal: AbortSignal.any([...(deadline ? [deadline] : []), ...(opts.stop ? [opts.stop] : [])]),
      });
    } catch {
      if (opts.stop?.aborted) return;
      throw timedOut();
    }
    retryMs = Math.min(retryMs * 2, retryMax);
  }
}

/** A JSON `data:` field, or a clear error naming what the API sent instead. */
export function parseData<T>(frame: SseFrame, valid: (value: unknown) => value is T): T {
  try {
    const value: unknown = JSON.parse(frame.data);
    if (valid(value)) return value;
  } catch {
    // reported below
  }
  throw new CliError(`the API sent a malformed ${frame.event} event: ${frame.data.slice(0, 200)}`);
}
