// The telemetry aggregate: usage_metrics, a server's registry and lifecycle events. Activities
// append them; operators post their own through the API (marked with who posted them, and never
// counted in the platform's gauges); both are read newest first or tailed.
import type { Sql } from '../db.js';

export interface MetricRow {
  id: number;
  server_id: number;
  run_id: number | null;
  timestamp: Date;
  event_type: string;
  details: unknown;
  posted_by: number | null;
}

export const toMetric = (row: MetricRow) => ({
  id: row.id,
  timestamp: row.timestamp.toISOString(),
  event_type: row.event_type,
  details: row.details,
  run_id: row.run_id,
  posted_by: row.posted_by,
});

/** A server's events, newest first (`before` pages back). */
export function serverMetrics(
  sql: Sql,
  serverId: number,
  page: { before?: number; limit?: number },
): Promise<MetricRow[]> {
  return sql<MetricRow[]>`
    select * from usage_metrics
    where server_id = ${serverId} ${page.before === undefined ? sql`` : sql`and id < ${page.before}`}
    order by id desc limit ${page.limit ?? 50}`;
}

/** A server's events after `after`, oldest first (a stream's replay). */
export function serverMetricsAfter(sql: Sql, serverId: number, after: number): Promise<MetricRow[]> {
  return sql<
    MetricRow[]
  >`select * from usage_metrics where server_id = ${serverId} and id > ${after} order by id limit 1000`;
}

/** Records one event; the row as stored. */
export async function recordMetric(
  sql: Sql,
  event: {
    serverId: number;
    runId?: number | null;
    eventType: string;
    details: Record<string, unknown> | null;
    /** The user who posted it through the API; left out for the platform's own events. */
    postedBy?: number;
  },
): Promise<MetricRow> {
  const [row] = await sql<MetricRow[]>`
    insert into usage_metrics (server_id, run_id, event_type, details, posted_by)
    values (${event.serverId}, ${event.runId ?? null}, ${event.eventType}, ${event.details === null ? null : sql.json(event.details as never)},
            ${event.postedBy ?? null})
    returning *`;
  return row!;
}
