// Ledger-wide reads: the totals behind the Prometheus gauges (read at scrape time, so every API replica
// reports the same numbers) and the readiness round trip.
import type { Sql } from '../db.js';

/** The tables whose rows carry a workflow outcome in `status`. */
export type StatusTable =
  | 'mcp_servers'
  | 'build_artifact_runs'
  | 'governance_workflow_runs'
  | 'artifact_promotions'
  | 'evaluation_certifications';

export function countByStatus(sql: Sql, table: StatusTable): Promise<{ status: string; n: number }[]> {
  return sql<{ status: string; n: number }[]>`select status, count(*)::int as n from ${sql(table)} group by status`;
}

/** Registry telemetry events by type and reason (push_retry reasons, push_failed kinds, auth_*). */
export function registryEventCounts(sql: Sql): Promise<{ event_type: string; reason: string | null; n: number }[]> {
  return sql<{ event_type: string; reason: string | null; n: number }[]>`
    select event_type, coalesce(details->>'reason', details->>'error_kind') as reason, count(*)::int as n
    from usage_metrics
    where posted_by is null and (event_type like 'push_%' or event_type like 'auth_%' or event_type like 'manifest_%')
    group by 1, 2`;
}

/** Each registry's last credential check: its status and seconds until expiry. */
export function latestCredentialExpiry(
  sql: Sql,
): Promise<{ registry: string; status: string; seconds: number | null }[]> {
  return sql<{ registry: string; status: string; seconds: number | null }[]>`
    select distinct on (registry) registry, status, seconds_until_expiry::float8 as seconds
    from registry_credential_checks order by registry, id desc`;
}

/** A round trip to the database (readiness). */
export async function ping(sql: Sql): Promise<void> {
  await sql`select 1`;
}
