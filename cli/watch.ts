// Follows the server event stream, reconnecting with Last-Event-ID so no event is lost or repeated.
import type { Server, ServerEvent } from '../lib/schemas/servers.js';
import type { ApiClient } from './client.js';
import { followStream, parseData } from './follow.js';
import { ApiHttpError, CliError } from './handle-error.js';

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

export async function watchServers(client: ApiClient, opts: WatchOptions): Promise<void> {
  const { serverId, until } = opts;
  const deadline = until !== undefined && opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  let lastStatus: string | undefined;

  await followStream(client, {
    path: `/api/servers/stream${serverId === undefined ? '' : `?server_id=${serverId}`}`,
    deadline,
    timedOut: () =>
      new CliError(
        `timed out after ${opts.timeoutMs! / 1000}s waiting for server ${serverId} to reach ${until}` +
          (lastStatus ? ` (last seen: ${lastStatus})` : ''),
      ),
    onNote: opts.onNote,
    onFrame: async (frame) => {
      if (frame.event === 'ready') {
        // Subscribed now, so later changes arrive as events (and, after a reconnect, the API
        // replays what was missed); but the status may already be there.
        if (until !== undefined) {
          lastStatus = await currentStatus(client, serverId!);
          if (lastStatus === until) {
            opts.onNote(`server ${serverId} is already ${until}`);
            return true;
          }
          if (lastStatus === 'deleted') throw new CliError(`server ${serverId} not found`);
        }
        return false;
      }
      if (frame.event !== 'status' && frame.event !== 'deleted') return false;
      const event = parseData(frame, isServerEvent);
      if (frame.event === 'deleted') event.status = 'deleted';
      opts.onEvent(event);
      if (until === undefined || event.id !== serverId) return false;
      lastStatus = event.status;
      if (event.status === until) return true;
      if (event.status === 'deleted') throw new CliError(`server ${serverId} was deleted before it reached ${until}`);
      return false;
    },
  });
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

export function isServerEvent(value: unknown): value is ServerEvent {
  const event = value as ServerEvent | null;
  return (
    typeof event === 'object' && event !== null && typeof event.id === 'number' && typeof event.status === 'string'
  );
}
