// What upstream servers send the aggregate's client on their own initiative: requests (sampling,
// elicitation, roots) and notifications (log messages, resource updates, list changes), renamed into
// the aggregate's naming. Whatever belongs with a call the server is serving for this session travels
// on that call's stream (the newest, when several are in flight), so a client that holds no GET stream
// still gets it; the rest goes on the session's GET stream.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  LoggingLevelSchema,
  ResultSchema,
  type LoggingLevel,
  type RequestId,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../lib/logger.js';
import { qualifyNotification } from './names.js';
import type { UpstreamAsk, UpstreamTell } from './upstreams.js';

export interface ClientSide {
  server: Server;
  /** The aggregate's prefix of a server, or undefined when the session may no longer use it. */
  prefixOf(serverId: number): Promise<string | undefined>;
  callTimeoutMs: number;
  log: Logger;
  isClosed(): boolean;
}

const SEVERITY = new Map<string, number>(LoggingLevelSchema.options.map((level, i) => [level, i]));

/** Whether a message of `level` passes the client's `logging/setLevel` (before it, every message does). */
export function levelPasses(level: unknown, minimum: LoggingLevel | undefined): boolean {
  if (minimum === undefined) return true;
  return (SEVERITY.get(String(level)) ?? SEVERITY.size) >= SEVERITY.get(minimum)!;
}

/** The call's stream is gone once its answer went out: what was meant for it goes on the GET stream instead. */
const streamGone = (err: unknown) => err instanceof Error && /No connection established/.test(err.message);

export class ClientRelay {
  private minimumLevel: LoggingLevel | undefined;

  constructor(private readonly side: ClientSide) {}

  /** The client's `logging/setLevel`: upstreams are told too, and what one sends anyway below it is dropped here. */
  setLevel(level: LoggingLevel): void {
    this.minimumLevel = level;
  }

  /** A notification on the GET stream (the aggregate's own, or a server's that belongs to no call). */
  async notify(n: ServerNotification, relatedRequestId?: RequestId): Promise<void> {
    if (this.side.isClosed()) return;
    try {
      await this.side.server.notification(n, relatedRequestId === undefined ? undefined : { relatedRequestId });
    } catch (err) {
      if (relatedRequestId !== undefined && streamGone(err)) return this.notify(n);
      this.side.log.debug({ err, method: n.method }, 'aggregate: a notification was not delivered');
    }
  }

  readonly ask: UpstreamAsk = async (upstream, request, extra) => {
    const relatedRequestId = upstream.inFlight.at(-1);
    const token = request.params?._meta?.progressToken;
    const send = (related: RequestId | undefined) =>
      this.side.server.request(request, ResultSchema, {
        // The server's cancellation (notifications/cancelled upstream aborts this) is passed on to the client.
        signal: extra.signal,
        timeout: this.side.callTimeoutMs,
        ...(related === undefined ? {} : { relatedRequestId: related }),
        ...(token === undefined
          ? {}
          : {
              resetTimeoutOnProgress: true,
              // The client reports progress under the aggregate's token; the server hears its own.
              onprogress: (p: { progress: number; total?: number; message?: string }) =>
                void extra
                  .sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } })
                  .catch(() => {}),
            }),
      });
    try {
      return await send(relatedRequestId);
    } catch (err) {
      if (relatedRequestId !== undefined && streamGone(err)) return send(undefined);
      throw err;
    }
  };

  readonly tell: UpstreamTell = async (upstream, n) => {
    // Which call it belongs with is decided as it arrives, before the answer of that call can overtake it.
    const inFlight = upstream.inFlight.at(-1);
    const prefix = await this.side.prefixOf(upstream.serverId);
    const out = prefix === undefined ? undefined : qualifyNotification(prefix, n);
    if (!out) return;
    if (out.method === 'notifications/message' && !levelPasses(out.params?.level, this.minimumLevel)) return;
    const notification = { method: out.method, ...(out.params ? { params: out.params } : {}) } as ServerNotification;
    await this.notify(notification, out.how === 'call' ? inFlight : undefined);
  };
}
