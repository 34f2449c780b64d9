// Ledger writes of the serverLifecycle workflow (lib/ledger/servers.ts), as activities.
import type { Sql } from '../../lib/db.js';
import {
  readCreatedServer,
  recordServerStatus,
  removeServer,
  type RecordStatusInput,
  type RemoveServerInput,
} from '../../lib/ledger/servers.js';
import type { ServerStatus } from '../../lib/server-status.js';
import { rowMissing } from './row-missing.js';

export function createServerDbActivities(sql: Sql) {
  return {
    /** The server's row, once the transaction that created it has committed. */
    async awaitServerRow({ serverId }: { serverId: number }): Promise<{ status: ServerStatus }> {
      const row = await readCreatedServer(sql, serverId);
      if (!row) throw rowMissing(`server ${serverId}`);
      return row;
    },
    recordServerStatus: (input: RecordStatusInput): Promise<void> => recordServerStatus(sql, input),
    /** Deletes the server row (related rows cascade) and records the final event. */
    removeServer: (input: RemoveServerInput): Promise<void> => removeServer(sql, input),
  };
}
