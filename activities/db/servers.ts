// Ledger writes of the serverLifecycle workflow. Each is idempotent: keyed by the transition key,
// so a retried activity never writes a transition twice.
import { ApplicationFailure } from '@temporalio/activity';
import { afterCreation } from '../../lib/creation-lock.js';
import type { Sql } from '../../lib/db.js';
import { ErrorType } from '../../lib/errors.js';
import { canTransition, type ServerStatus } from '../../lib/server-status.js';
import { rowMissing } from './row-missing.js';

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

export function createServerDbActivities(sql: Sql) {
  return {
    /** The server's row, once the transaction that created it has committed. */
    async awaitServerRow({ serverId }: { serverId: number }): Promise<{ status: ServerStatus }> {
      const [row] = await afterCreation(sql, 'mcp_servers', serverId, (tx) => tx<{ status: ServerStatus }[]>`select status from mcp_servers where id = ${serverId}`);
      if (!row) throw rowMissing(`server ${serverId}`);
      return row;
    },

    async recordServerStatus({ serverId, to, reason = null, transitionKey }: RecordStatusInput): Promise<void> {
      await sql.begin(async (tx) => {
        const [server] = await tx<{ status: ServerStatus; owner_id: number }[]>`
          select status, owner_id from mcp_servers where id = ${serverId} for update`;
        if (!server) throw ApplicationFailure.nonRetryable(`server ${serverId} no longer exists`, ErrorType.ServerNotFound);
        // The row lock serializes this server's transitions, so this check cannot race.
        const [done] = await tx`select 1 from server_events where transition_key = ${transitionKey}`;
        if (done) return; // already recorded by an earlier attempt
        if (!canTransition(server.status, to)) {
          throw ApplicationFailure.nonRetryable(`server ${serverId}: ${server.status} -> ${to} is not allowed`, ErrorType.InvalidTransition);
        }
        await tx`
          insert into server_events (server_id, owner_id, event_type, status, previous_status, reason, transition_key)
          values (${serverId}, ${server.owner_id}, 'status', ${to}, ${server.status}, ${reason}, ${transitionKey})`;
        await tx`update mcp_servers set status = ${to}, status_reason = ${reason}, updated_at = now() where id = ${serverId}`;
      });
    },

    /** Deletes the server row (related rows cascade) and records the final event. */
    async removeServer({ serverId, transitionKey }: RemoveServerInput): Promise<void> {
      await sql.begin(async (tx) => {
        const [server] = await tx<{ status: ServerStatus; owner_id: number }[]>`
          delete from mcp_servers where id = ${serverId} returning status, owner_id`;
        if (!server) return; // removed by an earlier attempt
        await tx`
          insert into server_events (server_id, owner_id, event_type, status, previous_status, transition_key)
          values (${serverId}, ${server.owner_id}, 'deleted', 'deleted', ${server.status}, ${transitionKey})
          on conflict (transition_key) do nothing`;
      });
    },
  };
}
