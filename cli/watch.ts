// Follows the server event stream, reconnecting with Last-Event-ID so no event is lost or repeated.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server, ServerEvent } from '../lib/schemas/servers.js';
import type { ApiClient } from './client.js';
import { ApiHttpError, CliError, ConnectionError } from './handle-error.js';

export interface WatchOptions {
  serverId?: number;
  /** Return once `serverId` has this status ("deleted" counts). */
  until?: string;
  /** Bounds the whole watch; only used with `until`. */
  timeoutMs?: number;
  onEvent: (event: ServerEvent) => void;
  /** Progress notes for stderr (reconnects, an already reached status). */
  onNote: (note: string) => void;
}

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export async function watchServers(client: ApiClient, opts: WatchOptions): Promise<void> {
  const { serverId, until } = opts;
  const deadline = until !== undefined && opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  const path = `/api/servers/stream${serverId === undefined ? '' : `?server_id=${serverId}`}`;
  let lastEventId: string | undefined;
  let lastStatus: string | undefined;
  let connected = false; // a first connection that fails is an error, not something to wait out
  let retryMs = RETRY_FIRST_MS;

  const timedOut = () =>
    new CliError(
      `timed out after ${opts.timeoutMs! / 1000}s waiting for server ${serverId} to reach ${until}` +
        (lastStatus ? ` (last seen: ${lastStatus})` : ''),
    );

  for (;;) {
    const connection = new AbortController();
    const signal = deadline ? AbortSignal.any([deadline, connection.signal]) : connection.signal;
    try {
      for await (const frame of client.stream(path, lastEventId, signal)) {
        if (frame.id !== undefined) lastEventId = frame.id;
        if (frame.event === 'ready') {
          connected = true;
          // Subscribed now, so later changes arrive as events; but the status may already be there.
          // (With a Last-Event-ID the API replays what was missed instead.)
          if (until !== undefined && lastEventId === undefined) {
            lastStatus = await currentStatus(client, serverId!);
            if (lastStatus === until) {
              opts.onNote(`server ${serverId} is already ${until}`);
              return;
            }
            if (lastStatus === 'deleted') throw new CliError(`server ${serverId} not found`);
          }
          continue;
        }
        if (frame.event !== 'status' && frame.event !== 'deleted') continue;
        retryMs = RETRY_FIRST_MS; // events flow again; a stream that only connects and drops keeps backing off
        const event = parseEvent(frame.data);
        if (frame.event === 'deleted') event.status = 'deleted';
        opts.onEvent(event);
        if (until === undefined || event.id !== serverId) continue;
        lastStatus = event.status;
        if (event.status === until) return;
        if (event.status === 'deleted') throw new CliError(`server ${serverId} was deleted before it reached ${until}`);
      }
      opts.onNote(`the API closed the event stream; reconnecting in ${retryMs / 1000}s`);
    } catch (err) {
      if (deadline?.aborted) throw timedOut();
      if (!connected || !retryable(err)) throw err;
      opts.onNote(`${(err as Error).message}; reconnecting in ${retryMs / 1000}s`);
    } finally {
      connection.abort(); // close the socket, whichever way the loop ended
    }
    try {
      await sleep(retryMs, undefined, deadline ? { signal: deadline } : {});
    } catch {
      throw timedOut();
    }
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
}

/** The server's status now; a server that is gone counts as "deleted". */
async function currentStatus(client: ApiClient, serverId: number): Promise<string> {
  try {
    return (await client.get<Server>(`/api/servers/${serverId}`)).status;
  } catch (err) {
    if (err instanceof ApiHttpError && err.status === 404) return 'deleted';
    throw err;
  }
}

function parseEvent(data: string): ServerEvent {
  try {
    const event = JSON.parse(data) as ServerEvent;
    if (typeof event.id === 'number' && typeof event.status === 'string') return event;
  } catch {
    // reported below
  }
  throw new CliError(`the API sent a malformed event: ${data.slice(0, 200)}`);
}

function retryable(err: unknown): boolean {
  return err instanceof ConnectionError || (err instanceof ApiHttpError && err.status >= 500);
}
