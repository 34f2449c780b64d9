// The gateway's audit: gateway_audit, one row per JSON-RPC request that reached the gateway. The
// gateway appends rows in batches; the API reads them newest first (keyset pages by id) and tails them.
import type { Sql } from '../db.js';
import type { AuditOutcomeName } from '../schemas/gateway.js';
import type { OwnerScope } from './scope.js';

/** A row as the gateway writes it (columns by name). */
export interface NewGatewayAuditRow {
  at: Date;
  owner_id: number | null;
  user_id: number | null;
  subject: string | null;
  token_id: number | null;
  server_id: number | null;
  session_id: string | null;
  method: string;
  name: string | null;
  outcome: AuditOutcomeName;
  http_status: number;
  duration_ms: number;
  request_bytes: number;
  response_bytes: number;
  arguments_digest: string | null;
  arguments: unknown;
  error: string | null;
}

export interface GatewayAuditRow extends NewGatewayAuditRow {
  id: number;
  recorded_at: Date;
}

/**
 * Appends rows in one statement (one round trip per batch), the batch sent as one JSON document: one
 * parameter instead of one per column of every row, which cost the gateway more than the rows' making.
 */
export async function insertGatewayAudit(sql: Sql, rows: NewGatewayAuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into gateway_audit (at, owner_id, user_id, subject, token_id, server_id, session_id, method, name,
      outcome, http_status, duration_ms, request_bytes, response_bytes, arguments_digest, arguments, error)
    select at, owner_id, user_id, subject, token_id, server_id, session_id, method, name, outcome,
           http_status, duration_ms, request_bytes, response_bytes, arguments_digest,
           nullif(arguments, 'null'::jsonb), error
    from jsonb_to_recordset(${sql.json(rows as never)}) as r(
      at timestamptz, owner_id integer, user_id integer, subject text, token_id integer, server_id integer,
      session_id text, method text, name text, outcome text, http_status integer, duration_ms float8,
      request_bytes integer, response_bytes integer, arguments_digest text, arguments jsonb, error text)`;
}

export interface GatewayAuditFilter {
  serverId?: number;
  tokenId?: number;
  outcome?: AuditOutcomeName;
  method?: string;
  since?: Date;
}

/**
 * Who sees a row: admins and viewers every row; an operator the calls to their servers and the calls
 * they made themselves (a refused call to a server that is not theirs has no owner, only a caller).
 */
function visible(sql: Sql, scope: OwnerScope) {
  return scope.kind === 'all' ? sql`` : sql`and (owner_id = ${scope.ownerId} or user_id = ${scope.ownerId})`;
}

function filtered(sql: Sql, f: GatewayAuditFilter) {
  return sql`
    ${f.serverId === undefined ? sql`` : sql`and server_id = ${f.serverId}`}
    ${f.tokenId === undefined ? sql`` : sql`and token_id = ${f.tokenId}`}
    ${f.outcome === undefined ? sql`` : sql`and outcome = ${f.outcome}`}
    ${f.method === undefined ? sql`` : sql`and method = ${f.method}`}
    ${f.since === undefined ? sql`` : sql`and at >= ${f.since}`}`;
}

/** Rows newest first, before the id `before` when given (the next page's key is the last row's id). */
export function gatewayAuditPage(
  sql: Sql,
  scope: OwnerScope,
  f: GatewayAuditFilter,
  page: { before?: number; limit: number },
): Promise<GatewayAuditRow[]> {
  return sql<GatewayAuditRow[]>`
    select * from gateway_audit
    where true ${visible(sql, scope)} ${filtered(sql, f)}
      ${page.before === undefined ? sql`` : sql`and id < ${page.before}`}
    order by id desc limit ${page.limit}`;
}

/** Rows after `after`, oldest first (a stream's replay). */
export function gatewayAuditAfter(
  sql: Sql,
  scope: OwnerScope,
  f: GatewayAuditFilter,
  after: number,
): Promise<GatewayAuditRow[]> {
  return sql<GatewayAuditRow[]>`
    select * from gateway_audit
    where id > ${after} ${visible(sql, scope)} ${filtered(sql, f)}
    order by id limit 1000`;
}

/** Whether a tailed row is one the scope and filter admit (the same rules as the reads above). */
export function admitsAuditRow(scope: OwnerScope, f: GatewayAuditFilter, row: GatewayAuditRow): boolean {
  if (scope.kind === 'owner' && row.owner_id !== scope.ownerId && row.user_id !== scope.ownerId) return false;
  if (f.serverId !== undefined && row.server_id !== f.serverId) return false;
  if (f.tokenId !== undefined && row.token_id !== f.tokenId) return false;
  if (f.outcome !== undefined && row.outcome !== f.outcome) return false;
  if (f.method !== undefined && row.method !== f.method) return false;
  if (f.since !== undefined && row.at.getTime() < f.since.getTime()) return false;
  return true;
}

export const toGatewayAuditEntry = (row: GatewayAuditRow) => ({
  id: row.id,
  at: row.at.toISOString(),
  owner_id: row.owner_id,
  user_id: row.user_id,
  subject: row.subject,
  token_id: row.token_id,
  server_id: row.server_id,
  session_id: row.session_id,
  method: row.method,
  name: row.name,
  outcome: row.outcome,
  http_status: row.http_status,
  duration_ms: row.duration_ms,
  request_bytes: row.request_bytes,
  response_bytes: row.response_bytes,
  arguments_digest: row.arguments_digest,
  arguments: row.arguments ?? null,
  error: row.error,
});
