// How the API starts each workflow (type name, id, input), in one place for the workflow tests: a
// change to a workflow's start input is fixed here, not in every test.
import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { ServerSource } from '../../lib/schemas/servers.js';
import { ServerIdKey, ServerStatusKey } from '../../lib/search-attributes.js';
import { workflowIdsFor } from '../../lib/workflow-ids.js';
import type { buildAndPublish } from '../build-and-publish.js';
import type { BuildInput } from '../build-and-publish.messages.js';
import type { governanceRun } from '../governance-run.js';
import type { promotion } from '../promotion.js';
import type { serverLifecycle } from '../server-lifecycle.js';

/** One installation id per test run: the workflows must name the workflows they start from their own ids. */
export const workflowIds = workflowIdsFor(randomBytes(4).toString('hex'));

export interface ServerStart {
  serverId: number;
  ownerId?: number;
  /** Created with `start: true`: the first intent is queued with the creation. */
  start?: boolean;
  source?: ServerSource;
  actorId?: number;
}

/** POST /api/servers: the row is `creating`, the workflow starts with it. */
export function startServerLifecycle(
  client: Client,
  taskQueue: string,
  s: ServerStart,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof serverLifecycle>> {
  const ownerId = s.ownerId ?? 1;
  return client.workflow.start<typeof serverLifecycle>('serverLifecycle', {
    taskQueue,
    workflowId: workflowIds.server(s.serverId),
    args: [
      {
        serverId: s.serverId,
        ownerId,
        source: s.source ?? { type: 'image', image: 'example/echo:latest' },
        config: {},
        useGpu: false,
        status: 'creating',
        seq: 0,
        pending: s.start ? [{ intent: 'start', actorId: s.actorId ?? ownerId }] : [],
      },
    ],
    typedSearchAttributes: [
      { key: ServerIdKey, value: String(s.serverId) },
      { key: ServerStatusKey, value: 'creating' },
    ],
  });
}

/** The governance run's workflow, started with its rows (fake ledger: `ledger.addRun`). */
export function startGovernanceRun(
  client: Client,
  taskQueue: string,
  runId: number,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof governanceRun>> {
  return client.workflow.start<typeof governanceRun>('governanceRun', {
    taskQueue,
    workflowId: workflowIds.governance(runId),
    args: [{ runId }],
  });
}

/** The promotion's workflow, started with its row (fake ledger: `ledger.addPromotion`). */
export function startPromotion(
  client: Client,
  taskQueue: string,
  promotionId: number,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof promotion>> {
  return client.workflow.start<typeof promotion>('promotion', {
    taskQueue,
    workflowId: workflowIds.promotion(promotionId),
    args: [{ promotionId }],
  });
}

/** A build of one revision, as serverLifecycle starts it (its child), here started on its own. */
export function startBuild(
  client: Client,
  taskQueue: string,
  input: BuildInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof buildAndPublish>> {
  return client.workflow.start<typeof buildAndPublish>('buildAndPublish', {
    taskQueue,
    workflowId: workflowIds.build(input.serverId, input.revision),
    args: [input],
  });
}
