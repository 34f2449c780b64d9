// Tails an append-only table whose ids become visible in id order (see the ordering triggers in
// migrations 00001/00002) and fans new rows out to subscribers. One LISTEN per table per API
// process: a NOTIFY only says "something new"; the rows are read once and handed to every
// subscriber whose filter admits them. Any number of API replicas serve the same rows.
import type { Sql } from '../db.js';
import type { Logger } from '../logger.js';

export interface TailRow {
  id: number;
}

interface Subscriber<Row> {
  accepts: (row: Row) => boolean;
  push: (row: Row) => void;
}

const BATCH = 500;

export class TableTail<Row extends TailRow> {
  private readonly subscribers = new Set<Subscriber<Row>>();
  private lastId = 0;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    /** Table name; also its NOTIFY channel. Never user input. */
    private readonly table: string,
    private readonly channel: string = table,
  ) {}

  async start(): Promise<void> {
    const [row] = await this.sql<
      { max: number }[]
    >`select coalesce(max(id), 0)::bigint as max from ${this.sql(this.table)}`;
    this.lastId = row!.max;
    // onlisten also fires after a reconnect: catch up on whatever was missed while disconnected.
    const { unlisten } = await this.sql.listen(
      this.channel,
      () => this.poll(),
      () => this.poll(),
    );
    this.unlisten = unlisten;
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
    this.subscribers.clear();
  }

  /** The last id handed to subscribers: a new subscriber receives every row after it. */
  get position(): number {
    return this.lastId;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Live rows from now on; returns the unsubscribe function. */
  subscribe(accepts: (row: Row) => boolean, push: (row: Row) => void): () => void {
    const subscriber = { accepts, push };
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  private poll(): void {
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.drain()
      .catch((err: unknown) => this.log.error({ err, table: this.table }, 'tailing table failed'))
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
      const rows = await this.sql<Row[]>`
        select * from ${this.sql(this.table)} where id > ${this.lastId} order by id limit ${BATCH}`;
      for (const row of rows) {
        this.lastId = row.id;
        for (const subscriber of this.subscribers) {
          if (subscriber.accepts(row)) subscriber.push(row);
        }
      }
      if (rows.length < BATCH) return;
    }
  }
}
