// Fans server_events out to SSE subscribers. One LISTEN connection per API process: a NOTIFY only
// says "something new"; the hub then reads the new rows once and hands each to the subscribers
// that may see it. Any number of API replicas serve the same events, since the rows live in Postgres.
import type { Sql } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import type { ServerEvent } from '../lib/schemas/servers.js';

export interface ServerEventRow {
  id: number;
  server_id: number;
  owner_id: number;
  event_type: 'status' | 'deleted';
  status: string;
  previous_status: string | null;
  reason: string | null;
  created_at: Date;
}

export interface EventFilter {
  /** Only events of servers owned by this user; undefined = every owner. */
  ownerId?: number;
  serverId?: number;
}

interface Subscriber {
  filter: EventFilter;
  push: (row: ServerEventRow) => void;
}

const BATCH = 500;

export function toServerEvent(row: ServerEventRow): ServerEvent {
  return {
    id: row.server_id,
    event_id: Number(row.id),
    status: row.status,
    previous_status: row.previous_status,
    reason: row.reason,
    at: row.created_at.toISOString(),
  };
}

function matches(filter: EventFilter, row: ServerEventRow): boolean {
  return (
    (filter.ownerId === undefined || row.owner_id === filter.ownerId) &&
    (filter.serverId === undefined || row.server_id === filter.serverId)
  );
}

export class ServerEventHub {
  private readonly subscribers = new Set<Subscriber>();
  private lastId = 0;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const [row] = await this.sql<{ max: number }[]>`select coalesce(max(id), 0)::bigint as max from server_events`;
    this.lastId = Number(row!.max);
    // onlisten also fires after a reconnect: catch up on whatever was missed while disconnected.
    const { unlisten } = await this.sql.listen('mcp_server_events', () => this.poll(), () => this.poll());
    this.unlisten = unlisten;
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
    this.subscribers.clear();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Live events from now on; returns the unsubscribe function. */
  subscribe(filter: EventFilter, push: (row: ServerEventRow) => void): () => void {
    const subscriber = { filter, push };
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  /** Stored events after `afterId` that the filter admits, oldest first (for Last-Event-ID). */
  async replay(afterId: number, filter: EventFilter, limit = 1000): Promise<ServerEventRow[]> {
    return this.sql<ServerEventRow[]>`
      select * from server_events
      where id > ${afterId}
        ${filter.ownerId === undefined ? this.sql`` : this.sql`and owner_id = ${filter.ownerId}`}
        ${filter.serverId === undefined ? this.sql`` : this.sql`and server_id = ${filter.serverId}`}
      order by id
      limit ${limit}`;
  }

  private poll(): void {
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.drain()
      .catch((err: unknown) => this.log.error({ err }, 'reading server events failed'))
      .finally(() => {
        this.polling = undefined;
        if (this.pollAgain) {
          this.pollAgain = false;
          this.poll();
        }
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const rows = await this.sql<ServerEventRow[]>`
        select * from server_events where id > ${this.lastId} order by id limit ${BATCH}`;
      for (const row of rows) {
        this.lastId = Number(row.id);
        for (const subscriber of this.subscribers) {
          if (matches(subscriber.filter, row)) subscriber.push(row);
        }
      }
      if (rows.length < BATCH) return;
    }
  }
}
