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
import { ApiError, ErrorType } from '../lib/errors.js';
import { gatedServers } from '../lib/governance/gated-servers.js';
import { gateChangedSignal } from '../workflows/governance.messages.js';
import type { ApiDeps } from './context.js';

/** How long an update may wait for a worker to accept it before the API answers 503. */
export const UPDATE_TIMEOUT_MS = 20_000;

export interface UpdateErrors {
  /** The 409 when the workflow has ended (no running execution to update). */
  ended: { code: string; message: string };
  /** What the 503 says was not accepted in time (e.g. "the stop request"). */
  what: string;
}

/**
 * Runs a workflow update: a validator's refusal is a 409 with its reason, an ended workflow the
 * caller's 409, and a worker that does not accept it in time a 503.
 */
export async function executeUpdate<Ret, Args extends [unknown, ...unknown[]]>(
  temporal: Client,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  errors: UpdateErrors,
): Promise<Ret> {
  try {
    return await temporal.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(workflowId).executeUpdate(update, { args }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.InvalidTransition) {
      throw new ApiError(409, 'invalid_transition', err.cause.message);
    }
    if (err instanceof WorkflowNotFoundError) throw new ApiError(409, errors.ended.code, errors.ended.message);
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || (err as { code?: number }).code === 4) {
      throw new ApiError(
        503,
        'worker_unavailable',
        `no worker accepted ${errors.what} within ${UPDATE_TIMEOUT_MS / 1000}s; it may still be applied, so check before retrying`,
      );
    }
    throw err;
  }
}

/** Wakes the owner's servers waiting on a gate; they decide again (a server that ended hears nothing). */
export async function notifyGatedServers(
  { sql, temporal, log, workflowIds }: Pick<ApiDeps, 'sql' | 'temporal' | 'log' | 'workflowIds'>,
  ownerId: number,
): Promise<void> {
  await Promise.all(
    (await gatedServers(sql, ownerId)).map((id) =>
      temporal.workflow
        .getHandle(workflowIds.server(id))
        .signal(gateChangedSignal)
        .catch((err: Error) => log.warn({ serverId: id, err: err.message }, 'could not tell a gated server that a gate changed')),
    ),
  );
}
