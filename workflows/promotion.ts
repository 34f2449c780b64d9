// promotion (`promotion/<id>`): one release-train stage promotion of a digest. Runs the track's
// governance workflow as a child (`governance/<run>`), waits for a manual approval, and ends
// `active` (waking servers that wait on the promotion gate) or `rolled_back` (the governance run
// failed or was cancelled, or an operator rolled it back). Every status change goes through
// recordPromotionTransition, which keeps artifact_promotions and its events in one transaction —
// the rollback of an active promotion too, in a run of its own (its first run has ended by then).
// A stage with a soak time keeps the workflow watching after `active` (behind rollback-v1): a
// server of the stage that fails health (or drifts) within the soak rolls the promotion back, marks
// the digest so it is not promoted again by itself, and relaunches each server of the stage on the
// last digest active and certified there.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
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
import type { SoakFailure, SoakPlan } from '../lib/ledger/soak.js';
import { ManifestDigestKey } from '../lib/search-attributes.js';
import { workflowIdsOf } from '../lib/workflow-ids.js';
import { firstRead } from './first-read.js';
import { governanceRun } from './governance-run.js';
import { signalServer, wakeGatedServers } from './governance-server-signals.js';
import {
  NOT_SOAKING,
  approveUpdate,
  promotionQuery,
  relaunchRequestedSignal,
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

/** Soaks: the stage's servers are watched after `active`; older runs ended there. */
const ROLLBACK_PATCH = 'rollback-v1';

/**
 * The soak's watch: as long as the longest soak; the heartbeats carry the cancellation at the soak's
 * end, and their timeout hands the watch to another worker within seconds of a crash.
 */
const soakWatch = proxyActivities<Activities>({
  startToCloseTimeout: '8d',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes: [ErrorType.PromotionNotFound] },
});

/** A server's reason can be long (a probe's error): the promotion's note keeps its start. */
const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

const soakFailedNote = (plan: SoakPlan, f: SoakFailure) =>
  `promotion:soak-failed:${plan.stage}:server:${f.serverId}:${f.status}${f.reason ? `:${clip(f.reason)}` : ''}`;

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
  /** While the stage soaks, an operator's rollback goes to this run (it is not ending). */
  let soaking = false;

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
        // Active and done soaking, this run is ending: the API starts one of its own (rollbackEnded).
        if (status === 'active' && !soaking) reject(NOT_SOAKING);
      },
    },
  );

  const loaded = await firstRead('loadPromotion', 'promotion-local-load-v1', { promotionId });
  if (!loaded) return { status: 'abandoned' };
  status = loaded.status;
  governanceRunId = loaded.governanceRunId;
  governanceDone = loaded.governanceWorkflowId === null;

  async function transition(
    to: PromotionStatus,
    actorId: number | null,
    note: string,
    soakFailed?: boolean,
  ): Promise<void> {
    seq += 1;
    await ledger.recordPromotionTransition({
      promotionId,
      key: `${workflowId}#${seq}`,
      actorId,
      status: to,
      note,
      ...(soakFailed && { soakFailed }),
    });
    status = to;
  }

  /** Rolls back a failed soak: the digest is marked, each server of the stage relaunched on the last good one. */
  async function rollBackFailedSoak(plan: SoakPlan, failure: SoakFailure): Promise<void> {
    const note = soakFailedNote(plan, failure);
    await transition('rolled_back', null, note, true);
    for (const target of await ledger.rollbackTargets({ promotionId })) {
      const what =
        target.artifactRunId === null
          ? `decides again: no earlier digest is active and certified at ${plan.stage}`
          : `relaunches ${target.manifestDigest} (build run ${target.artifactRunId})`;
      await ledger.recordPromotionNote({
        promotionId,
        key: `${workflowId}#relaunch-${target.serverId}`,
        note: `promotion:rollback:server:${target.serverId}:${what}`,
      });
      await signalServer(target.serverId, relaunchRequestedSignal, {
        artifactRunId: target.artifactRunId,
        reason: `promotion ${promotionId} of ${loaded!.manifestDigest} at ${plan.stage} rolled back (server ${failure.serverId} went ${failure.status} during its soak): ${what}`,
      });
    }
  }

  /** Watches the stage's servers for the soak time, unless an operator rolls back first. */
  async function soak(): Promise<void> {
    const plan = await ledger.beginSoak({ promotionId, key: `${workflowId}#soak` });
    let failure: SoakFailure | undefined;
    // The watch fails only when the promotion is gone (its track was deleted): nothing left to judge.
    let gone = false;
    if (plan.seconds > 0 && !rollback) {
      const watch = new CancellationScope();
      void watch
        .run(() => soakWatch.awaitSoakFailure({ promotionId }))
        .then(
          (f) => void (failure = f),
          (err: unknown) => void (gone = !isCancellation(err)),
        );
      await condition(() => failure !== undefined || rollback !== undefined || gone, plan.seconds * 1000);
      watch.cancel();
    }
    soaking = false;
    if (rollback) await transition('rolled_back', rollback.actorId, rolledBackNote(rollback));
    else if (failure) await rollBackFailedSoak(plan, failure);
    else if (plan.seconds > 0 && !gone)
      await ledger.recordSoakPassed({ promotionId, key: `${workflowId}#soak-passed`, seconds: plan.seconds });
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
  if (status === 'active' && patched(ROLLBACK_PATCH)) {
    // From here an operator's rollback is this run's to record (a handler waiting for it would
    // never finish if the run waited for all handlers first).
    soaking = true;
    await wakeGatedServers(loaded.ownerId);
    await soak();
  } else {
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    if (status === 'active') await wakeGatedServers(loaded.ownerId);
  }
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return { status };
}
