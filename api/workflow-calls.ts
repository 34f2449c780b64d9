// Calls from the API into the governance workflows: updates whose validators answer 409, and the
// gateChanged signal that wakes servers waiting in pending-governance.
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import type { Sql } from '../lib/db.js';
import { ApiError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { workflowIds } from '../lib/workflow-ids.js';
import { gateChangedSignal } from '../workflows/governance.messages.js';

const UPDATE_TIMEOUT_MS = 20_000;

/** Runs a workflow update: a validator's refusal is a 409, a worker that does not answer a 503. */
export async function executeUpdate<Ret, Args extends [unknown, ...unknown[]]>(
  temporal: Client,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  ended: string,
): Promise<Ret> {
  try {
    return await temporal.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(workflowId).executeUpdate(update, { args }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.InvalidTransition) {
      throw new ApiError(409, 'invalid_transition', err.cause.message);
    }
    if (err instanceof WorkflowNotFoundError) throw new ApiError(409, 'invalid_transition', ended);
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || (err as { code?: number }).code === 4) {
      throw new ApiError(503, 'worker_unavailable', `no worker answered within ${UPDATE_TIMEOUT_MS / 1000}s; it may still be applied, so check before retrying`);
    }
    throw err;
  }
}

/** Wakes the owner's servers waiting on a gate; they decide again (a server that ended hears nothing). */
export async function notifyGatedServers(sql: Sql, temporal: Client, log: Logger, ownerId: number): Promise<void> {
  const rows = await sql<{ id: number }[]>`select id from mcp_servers where owner_id = ${ownerId} and status = 'pending-governance'`;
  await Promise.all(
    rows.map(({ id }) =>
      temporal.workflow
        .getHandle(workflowIds.server(id))
        .signal(gateChangedSignal)
        .catch((err: Error) => log.warn({ serverId: id, err: err.message }, 'could not tell a gated server that a gate changed')),
    ),
  );
}
