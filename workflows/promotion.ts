// promotion (`promotion/<id>`): one release-train stage promotion of a digest. Runs the track's
// governance workflow as a child (`governance/<run>`), waits for a manual approval, and ends
// `active` (waking servers that wait on the promotion gate) or `rolled_back` (the governance run
// failed or was cancelled, or an operator rolled it back). Every status change goes through
// recordPromotionTransition, which keeps artifact_promotions and its events in one transaction —
// the rollback of an active promotion too, in a run of its own (its first run has ended by then).
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import { checkPromotionTransition, type PromotionStatus } from '../lib/governance/states.js';
import { ManifestDigestKey } from '../lib/search-attributes.js';
import { workflowIdsOf } from '../lib/workflow-ids.js';
import { firstRead } from './first-read.js';
import { governanceRun } from './governance-run.js';
import { wakeGatedServers } from './governance-server-signals.js';
import {
  approveUpdate,
  promotionQuery,
  rollbackUpdate,
  type PromotionInput,
  type PromotionRequest,
  type PromotionResult,
} from './governance.messages.js';

const ledger = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: {
    initialInterval: '500ms',
    maximumInterval: '10s',
    nonRetryableErrorTypes: [ErrorType.PromotionNotFound, ErrorType.InvalidTransition],
  },
});

const rolledBackNote = (req: PromotionRequest) =>
  `promotion:rolled-back:user:${req.actorId}${req.note ? `:${req.note}` : ''}`;

/** A run started to roll back a promotion whose first run has ended: records the rollback, or refuses it. */
async function rollBackEnded(promotionId: number, req: PromotionRequest): Promise<PromotionResult> {
  const loaded = await firstRead('loadPromotion', 'promotion-local-load-v1', { promotionId });
  if (!loaded) return { status: 'abandoned' };
  const verdict = checkPromotionTransition(loaded.status, 'rolled_back');
  if (!verdict.ok) return { status: loaded.status, refused: verdict.reason ?? 'invalid transition' };
  await ledger.recordPromotionTransition({
    promotionId,
    key: `${workflowInfo().workflowId}#rolled-back`,
    actorId: req.actorId,
    status: 'rolled_back',
    note: rolledBackNote(req),
  });
  return { status: 'rolled_back' };
}

export async function promotion({ promotionId, rollbackEnded }: PromotionInput): Promise<PromotionResult> {
  if (rollbackEnded && patched('promotion-rollback-ended-v1')) return rollBackEnded(promotionId, rollbackEnded);
  // Handlers come first, so an approval sent in the first moments is not refused for want of one;
  // a promotion's workflow starts with its row, which is always `scheduled` then.
  const workflowId = workflowInfo().workflowId;
  const workflowIds = workflowIdsOf(workflowId); // the governance run's id is of this installation
  let status: PromotionStatus = 'scheduled';
  let governanceRunId: number | null = null;
  let seq = 0;
  let approval: PromotionRequest | undefined;
  let rollback: PromotionRequest | undefined;
  let governanceDone = false;
  let governanceFailed: string | undefined;

  setHandler(promotionQuery, () => ({ status, governanceRunId }));
  const reject = (reason?: string): never => {
    throw ApplicationFailure.nonRetryable(reason ?? 'invalid transition', ErrorType.InvalidTransition);
  };
  // Each update answers once its change is recorded, so the caller reads it back at once.
  let approvalRecorded = false;
  setHandler(
    approveUpdate,
    async (req: PromotionRequest) => {
      approval = req;
      await condition(() => approvalRecorded || status === 'rolled_back');
      return { status };
    },
    {
      validator: (req: PromotionRequest) => {
        if (!Number.isInteger(req?.actorId)) reject('actorId is required');
        if (approval) reject('promotion is already approved');
        if (rollback) reject('promotion is being rolled back');
        const verdict = checkPromotionTransition(status, 'approved');
        if (!verdict.ok) reject(verdict.reason);
      },
    },
  );
  setHandler(
    rollbackUpdate,
    async (req: PromotionRequest) => {
      rollback = req;
      await condition(() => status === 'rolled_back');
      return { status };
    },
    {
      validator: (req: PromotionRequest) => {
        if (!Number.isInteger(req?.actorId)) reject('actorId is required');
        if (rollback) reject('promotion is already being rolled back');
        const verdict = checkPromotionTransition(status, 'rolled_back');
        if (!verdict.ok) reject(verdict.reason);
      },
    },
  );

  const loaded = await firstRead('loadPromotion', 'promotion-local-load-v1', { promotionId });
  if (!loaded) return { status: 'abandoned' };
  status = loaded.status;
  governanceRunId = loaded.governanceRunId;
  governanceDone = loaded.governanceWorkflowId === null;

  async function transition(to: PromotionStatus, actorId: number | null, note: string): Promise<void> {
    seq += 1;
    await ledger.recordPromotionTransition({ promotionId, key: `${workflowId}#${seq}`, actorId, status: to, note });
    status = to;
  }

  let child: ChildWorkflowHandle<typeof governanceRun> | undefined;
  if (loaded.governanceWorkflowId !== null && status === 'scheduled') {
    governanceRunId = await ledger.createPromotionRun({ promotionId, key: `${workflowId}#run` });
    child = await startChild(governanceRun, {
      workflowId: workflowIds.governance(governanceRunId),
      args: [{ runId: governanceRunId }],
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [{ key: ManifestDigestKey, value: loaded.manifestDigest }],
    });
    await transition('in_progress', loaded.scheduledBy, `governance:run-started:${governanceRunId}`);
    child.result().then(
      (r) => {
        governanceDone = true;
        if (r.status !== 'completed') governanceFailed = r.status;
      },
      (err: unknown) => {
        governanceDone = true;
        governanceFailed = err instanceof Error ? err.message : 'failed';
      },
    );
  }

  // Approval and governance in either order; a rollback or a failed run ends it at any point.
  for (;;) {
    await condition(
      () =>
        rollback !== undefined ||
        governanceFailed !== undefined ||
        (approval !== undefined && status !== 'approved') ||
        (governanceDone && status === 'approved'),
    );
    if (rollback) {
      // Cancel the governance run first (it records `cancelled`), then record the rollback.
      if (child && !governanceDone) {
        await getExternalWorkflowHandle(workflowIds.governance(governanceRunId!)).cancel();
        await condition(() => governanceDone);
      }
      await transition('rolled_back', rollback.actorId, rolledBackNote(rollback));
      break;
    }
    if (governanceFailed !== undefined) {
      await transition('rolled_back', null, `promotion:governance:${governanceRunId}:${governanceFailed}`);
      break;
    }
    if (approval && status !== 'approved') {
      await transition(
        'approved',
        approval.actorId,
        `promotion:approved:user:${approval.actorId}${approval.note ? `:${approval.note}` : ''}`,
      );
      approvalRecorded = true;
      continue;
    }
    await transition(
      'active',
      null,
      governanceRunId === null ? 'promotion:active' : `promotion:governance:${governanceRunId}:active`,
    );
    break;
  }
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  if (status === 'active') {
    await wakeGatedServers(loaded.ownerId);
  }
  return { status };
}
