// A ledger row and the workflow that owns it are created together: the API inserts the row and
// starts the workflow in one transaction, and the workflow's first activity reads the row. The
// creating transaction holds an advisory lock keyed by the row until it commits or rolls back; the
// reader takes the same lock, shared, before it reads — so it waits for the commit instead of
// polling until the row shows up, and a row still missing after the wait was rolled back.
import type postgres from 'postgres';
import type { Sql } from './db.js';

/** The tables whose rows are created this way. */
export type CreatedTable = 'mcp_servers' | 'governance_workflow_runs' | 'artifact_promotions';

type Tx = postgres.TransactionSql;

const key = (table: CreatedTable, id: number) => `${table}:${id}`;

/** In the creating transaction, before the workflow is started: held until commit or rollback. */
export async function holdCreation(tx: Tx, table: CreatedTable, id: number): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${key(table, id)}, 0))`;
}

/**
 * Waits for the creating transaction of `table`/`id` to end, then reads. The lock is taken by a
 * statement of its own outside any transaction: it is granted once the creating transaction has
 * ended and released with the statement, and the read after it is a new statement, so a new
 * snapshot in which the committed row is visible — two statements where a transaction around them
 * took four.
 */
export async function afterCreation<T>(
  sql: Sql,
  table: CreatedTable,
  id: number,
  read: (sql: Sql) => Promise<T>,
): Promise<T> {
  await sql`select pg_advisory_xact_lock_shared(hashtextextended(${key(table, id)}, 0))`;
  return read(sql);
}

export interface CreationSteps<R extends { id: number }> {
  /** Writes the row (and rows that belong to it); throws to refuse. */
  insert: (tx: Tx) => Promise<R>;
  /** Starts the row's workflow. */
  start: (row: R) => Promise<unknown>;
  /** The first event, written last: an event insert takes its table's ordering lock until commit. */
  firstEvent?: (tx: Tx, row: R) => Promise<unknown>;
}

/**
 * Creates a row and starts the workflow that owns it in one transaction: insert, take the creation
 * lock, start the workflow, write the first event. The workflow is started inside the transaction,
 * whose lock its first read waits for: if the commit fails, the workflow finds no row and ends.
 */
export function createWithWorkflow<R extends { id: number }>(
  sql: Sql,
  table: CreatedTable,
  steps: CreationSteps<R>,
): Promise<R> {
  return sql.begin(async (tx) => {
    const row = await steps.insert(tx);
    await holdCreation(tx, table, row.id);
    await steps.start(row);
    if (steps.firstEvent) await steps.firstEvent(tx, row);
    return row;
  }) as Promise<R>;
}
