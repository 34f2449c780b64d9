// Calls from the API into workflows: updates whose validators answer 409 (a server's intents among
// them), and the gateChanged signal that wakes servers waiting in pending-governance.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import { ApiError, ErrorType, notFound } from '../lib/errors.js';
import { gatedServers } from '../lib/ledger/servers.js';
import type { ServerIntent } from '../lib/server-status.js';
import { gateChangedSignal, type PromotionRequest, type PromotionResult } from '../workflows/governance.messages.js';
import type { promotion } from '../workflows/promotion.js';
import { intentUpdates } from '../workflows/server-lifecycle.messages.js';
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
    if (
      err instanceof WorkflowUpdateFailedError &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type === ErrorType.InvalidTransition
    ) {
      throw new ApiError(409, 'invalid_transition', err.cause.message);
    }
    if (err instanceof WorkflowNotFoundError) throw new ApiError(409, errors.ended.code, errors.ended.message);
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw workerUnavailable(errors.what);
    throw timedOut(err) ? workerUnavailable(errors.what) : err;
  }
}

/** A call past its deadline (gRPC DEADLINE_EXCEEDED). */
const timedOut = (err: unknown) => (err as { code?: number }).code === 4;

const workerUnavailable = (what: string) =>
  new ApiError(
    503,
    'worker_unavailable',
    `no worker accepted ${what} within ${UPDATE_TIMEOUT_MS / 1000}s; it may still be applied, so check before retrying`,
  );

/**
 * Rolls back a promotion whose workflow has ended (it went active): a new run of its workflow
 * records the rollback, so the workflow stays the only writer of the promotion. A first run still
 * finishing is waited for. 409 when the promotion may not be rolled back, 404 when it is gone.
 */
export async function rollBackEndedPromotion(
  { temporal, env, workflowIds }: Pick<ApiDeps, 'temporal' | 'env' | 'workflowIds'>,
  promotionId: number,
  request: PromotionRequest,
): Promise<void> {
  const workflowId = workflowIds.promotion(promotionId);
  const run = () =>
    temporal.workflow.execute<typeof promotion>('promotion', {
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      workflowId,
      args: [{ promotionId, rollbackEnded: request }],
    });
  let result: PromotionResult;
  try {
    result = await temporal.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, async () => {
      try {
        return await run();
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        await temporal.workflow
          .getHandle(workflowId)
          .result()
          .catch(() => undefined);
        return await run();
      }
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new ApiError(409, 'invalid_transition', `promotion ${promotionId} is already being rolled back`);
    throw timedOut(err) ? workerUnavailable('the rollback') : err;
  }
  if (result.status === 'abandoned') throw notFound(`promotion ${promotionId}`);
  if (result.refused !== undefined) throw new ApiError(409, 'invalid_transition', result.refused);
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
        .catch((err: Error) =>
          log.warn({ serverId: id, err: err.message }, 'could not tell a gated server that a gate changed'),
        ),
    ),
  );
}

/** Sends an intent to the server's workflow, on behalf of `actorId`. */
export async function sendIntent(
  { temporal, workflowIds }: Pick<ApiDeps, 'temporal' | 'workflowIds'>,
  serverId: number,
  intent: ServerIntent,
  actorId: number,
  reason?: string,
) {
  const request = reason === undefined ? { actorId } : { actorId, reason };
  const accepted = await executeUpdate(temporal, workflowIds.server(serverId), intentUpdates[intent], [request], {
    ended: { code: 'lifecycle_ended', message: `server ${serverId} has no running lifecycle workflow` },
    what: `the ${intent} request`,
  });
  return { server_id: serverId, intent: accepted.intent, status: accepted.status };
}
