// The servers aggregate: mcp_servers and its event log, server_events. The API creates a server
// (with its serverLifecycle workflow) and reads; every later status change is written by that
// workflow's activities, idempotently: keyed by the transition key, a retried activity never writes
// a transition twice.
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { afterCreation, createWithWorkflow } from '../creation-lock.js';
import { isPgError, PgCode, type Sql } from '../db.js';
import { ApiError, ErrorType, notFound } from '../errors.js';
import type { SecretUpdatePolicy, Server, ServerEvent, ServerSource, ServerTransport } from '../schemas/servers.js';
import { canTransition, type ServerStatus } from '../server-status.js';
import { ownedBy, type OwnerScope } from './scope.js';
import type { ConfigValues } from '../schemas/secrets.js';

export interface ServerRow {
  id: number;
  owner_id: number;
  name: string;
  server_type: string;
  source: ServerSource;
  transport?: ServerTransport | null;
  config: ConfigValues;
  use_gpu: boolean;
  secret_updates: SecretUpdatePolicy;
  status: ServerStatus;
  status_reason: string | null;
  webhook_secret?: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ServerEventRow {
  id: number;
  server_id: number;
  owner_id: number;
  /** `settings`: PATCH /api/servers/:id changed a setting (the status is the one it had). */
  event_type: 'status' | 'deleted' | 'settings';
  status: string;
  previous_status: string | null;
  reason: string | null;
  created_at: Date;
}

export function toServer(row: ServerRow): Server {
  return {
    id: row.id,
    name: row.name,
    server_type: row.server_type,
    source: row.source,
    transport: row.transport ?? null,
    config: row.config,
    use_gpu: row.use_gpu,
    secret_updates: row.secret_updates,
    owner_id: row.owner_id,
    status: row.status,
    status_reason: row.status_reason,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toServerEvent(row: ServerEventRow): ServerEvent {
  return {
    id: row.server_id,
    event_id: row.id,
    status: row.status,
    previous_status: row.previous_status,
    reason: row.reason,
    at: row.created_at.toISOString(),
  };
}

/** The server if it is in the scope; another owner's server is indistinguishable from none. */
export async function findServer(sql: Sql, id: number, scope: OwnerScope): Promise<ServerRow> {
  const [row] = await sql<ServerRow[]>`select * from mcp_servers where id = ${id} ${ownedBy(sql, scope)}`;
  if (!row) throw notFound(`server ${id}`);
  return row;
}

export function listServers(
  sql: Sql,
  scope: OwnerScope,
  page: { after?: number; status?: ServerStatus; limit?: number },
): Promise<ServerRow[]> {
  return sql<ServerRow[]>`
    select * from mcp_servers
    where id > ${page.after ?? 0}
      ${ownedBy(sql, scope)}
      ${page.status === undefined ? sql`` : sql`and status = ${page.status}`}
    order by id
    limit ${page.limit ?? 100}`;
}

/** Status events after `after`, oldest first (a stream's replay). */
export function serverEventsAfter(
  sql: Sql,
  scope: OwnerScope,
  after: number,
  serverId?: number,
): Promise<ServerEventRow[]> {
  return sql<ServerEventRow[]>`
    select * from server_events
    where id > ${after}
      ${ownedBy(sql, scope)}
      ${serverId === undefined ? sql`` : sql`and server_id = ${serverId}`}
    order by id
    limit 1000`;
}

export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface NewServer {
  ownerId: number;
  /** Admins are not held to their server quota. */
  quotaExempt: boolean;
  name: string;
  serverType: string;
  source: ServerSource;
  transport?: ServerTransport;
  config: ConfigValues;
  useGpu: boolean;
  secretUpdates: SecretUpdatePolicy;
}

/** Creates the server (within its owner's quota; 409 when the name is taken) and starts its workflow. */
export async function createServer(
  sql: Sql,
  input: NewServer,
  start: (server: ServerRow) => Promise<unknown>,
): Promise<ServerRow> {
  try {
    return await createWithWorkflow<ServerRow>(sql, 'mcp_servers', {
      insert: async (tx) => {
        // Lock the owner's row: concurrent creates count the quota one after another.
        const [owner] = await tx<
          { server_quota: number }[]
        >`select server_quota from users where id = ${input.ownerId} for update`;
        const [owned] = await tx<
          { count: number }[]
        >`select count(*)::int as count from mcp_servers where owner_id = ${input.ownerId}`;
        if (!input.quotaExempt && owned!.count >= owner!.server_quota) {
          throw new ApiError(
            409,
            'quota_exceeded',
            `server quota of ${owner!.server_quota} reached; delete a server or ask an admin`,
          );
        }
        const [server] = await tx<ServerRow[]>`
          insert into mcp_servers (owner_id, name, server_type, source, transport, config, use_gpu, secret_updates, webhook_secret)
          values (${input.ownerId}, ${input.name}, ${input.serverType}, ${tx.json(input.source)}, ${input.transport ?? null}, ${tx.json(input.config)}, ${input.useGpu},
                  ${input.secretUpdates}, ${newWebhookSecret()})
          returning *`;
        return server!;
      },
      start,
      firstEvent: (tx, server) => tx`
        insert into server_events (server_id, owner_id, event_type, status)
        values (${server.id}, ${server.owner_id}, 'status', 'creating')`,
    });
  } catch (err) {
    if (isPgError(err, PgCode.uniqueViolation)) {
      throw new ApiError(409, 'name_taken', `you already have a server named "${input.name}"`, 'name');
    }
    throw err;
  }
}

export interface ServerSettingsChange {
  config?: ConfigValues;
  useGpu?: boolean;
  secretUpdates?: SecretUpdatePolicy;
}

/** What changed, for the event's reason: setting names and the new policy or flag, never a config value. */
function settingsReason(server: ServerRow, change: ServerSettingsChange): { reason?: string; launch: boolean } {
  const parts: string[] = [];
  if (change.config !== undefined) {
    const before = server.config;
    const after = change.config;
    // Compared as values, not as JSON text: jsonb hands objects back with its own key order, so
    // `{"secret": …, "as": "env"}` sent again unchanged would read as a change.
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (k) => !isDeepStrictEqual(before[k], after[k]),
    );
    if (keys.length > 0) parts.push(`config ${keys.sort().join(', ')} (at the next launch)`);
  }
  if (change.useGpu !== undefined && change.useGpu !== server.use_gpu)
    parts.push(`use_gpu ${change.useGpu} (at the next launch)`);
  const launch = parts.length > 0;
  if (change.secretUpdates !== undefined && change.secretUpdates !== server.secret_updates)
    parts.push(`secret_updates ${change.secretUpdates}`);
  return { ...(parts.length > 0 && { reason: `settings changed: ${parts.join('; ')}` }), launch };
}

/**
 * Changes a server's settings (404 outside the scope) and records a `settings` event naming what
 * changed; nothing changed, nothing is written. When a launch setting changed, `tell` hands the new
 * ones to the server's workflow inside the transaction: it failing, the row stays as it was, so the
 * row and what the workflow launches never disagree.
 */
export async function updateServerSettings(
  sql: Sql,
  id: number,
  scope: OwnerScope,
  change: ServerSettingsChange,
  tell: (server: ServerRow) => Promise<unknown>,
): Promise<ServerRow> {
  return sql.begin(async (tx) => {
    const [server] = await tx<ServerRow[]>`
      select * from mcp_servers where id = ${id} ${ownedBy(sql, scope)} for update`;
    if (!server) throw notFound(`server ${id}`);
    const { reason, launch } = settingsReason(server, change);
    if (reason === undefined) return server;
    const [updated] = await tx<ServerRow[]>`
      update mcp_servers set
        config = ${tx.json(change.config ?? server.config)},
        use_gpu = ${change.useGpu ?? server.use_gpu},
        secret_updates = ${change.secretUpdates ?? server.secret_updates},
        updated_at = now()
      where id = ${id}
      returning *`;
    await tx`
      insert into server_events (server_id, owner_id, event_type, status, previous_status, reason)
      values (${id}, ${server.owner_id}, 'settings', ${server.status}, ${server.status}, ${reason})`;
    if (launch) await tell(updated!);
    return updated!;
  });
}

/** What a push webhook needs of any server (the signature, not an owner, authorizes it). */
export async function webhookTarget(sql: Sql, id: number) {
  const [server] = await sql<
    {
      id: number;
      owner_id: number;
      webhook_secret: string | null;
      source: { type: string; branch?: string };
      status: ServerStatus;
    }[]
  >`
    select id, owner_id, webhook_secret, source, status from mcp_servers where id = ${id}`;
  return server;
}

/** A new webhook secret for the server; 404 when it is gone. */
export async function rotateWebhookSecret(sql: Sql, id: number): Promise<string> {
  const secret = newWebhookSecret();
  const updated = await sql`update mcp_servers set webhook_secret = ${secret} where id = ${id} returning id`;
  if (updated.length === 0) throw notFound(`server ${id}`);
  return secret;
}

/**
 * The owner's servers a gate may hold: waiting in pending-governance, or starting — a launch deciding
 * now may have read the gate before its change and be about to wait. Whoever changes a gate's input
 * tells each to decide again; one that is launching anyway ignores it.
 */
export async function gatedServers(sql: Sql, ownerId: number): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from mcp_servers
    where owner_id = ${ownerId} and status in ('pending-governance', 'starting') order by id`;
  return rows.map((r) => r.id);
}

// Written by the serverLifecycle workflow's activities only.

export interface RecordStatusInput {
  serverId: number;
  to: ServerStatus;
  reason?: string | null;
  transitionKey: string;
}

export interface RemoveServerInput {
  serverId: number;
  transitionKey: string;
}

/** The server's status once the transaction that created it has ended; undefined when it rolled back. */
export async function readCreatedServer(sql: Sql, serverId: number): Promise<{ status: ServerStatus } | undefined> {
  const [row] = await afterCreation(
    sql,
    'mcp_servers',
    serverId,
    (db) => db<{ status: ServerStatus }[]>`select status from mcp_servers where id = ${serverId}`,
  );
  return row;
}

export async function recordServerStatus(
  sql: Sql,
  { serverId, to, reason = null, transitionKey }: RecordStatusInput,
): Promise<void> {
  await sql.begin(async (tx) => {
    const [server] = await tx<{ status: ServerStatus; owner_id: number }[]>`
      select status, owner_id from mcp_servers where id = ${serverId} for update`;
    if (!server) throw ApplicationFailure.nonRetryable(`server ${serverId} no longer exists`, ErrorType.ServerNotFound);
    // The row lock serializes this server's transitions, so this check cannot race.
    const [done] = await tx`select 1 from server_events where transition_key = ${transitionKey}`;
    if (done) return; // already recorded by an earlier attempt
    if (!canTransition(server.status, to)) {
      throw ApplicationFailure.nonRetryable(
        `server ${serverId}: ${server.status} -> ${to} is not allowed`,
        ErrorType.InvalidTransition,
      );
    }
    await tx`
      insert into server_events (server_id, owner_id, event_type, status, previous_status, reason, transition_key)
      values (${serverId}, ${server.owner_id}, 'status', ${to}, ${server.status}, ${reason}, ${transitionKey})`;
    await tx`update mcp_servers set status = ${to}, status_reason = ${reason}, updated_at = now() where id = ${serverId}`;
  });
}

/** Deletes the server row (related rows cascade) and records the final event. */
export async function removeServer(sql: Sql, { serverId, transitionKey }: RemoveServerInput): Promise<void> {
  await sql.begin(async (tx) => {
    const [server] = await tx<{ status: ServerStatus; owner_id: number }[]>`
      delete from mcp_servers where id = ${serverId} returning status, owner_id`;
    if (!server) return; // removed by an earlier attempt
    await tx`
      insert into server_events (server_id, owner_id, event_type, status, previous_status, transition_key)
      values (${serverId}, ${server.owner_id}, 'deleted', 'deleted', ${server.status}, ${transitionKey})
      on conflict (transition_key) do nothing`;
  });
}
