// governanceRun (`governance/<run id>`): a governance run's ordered steps and its status, each
// change an update whose validator enforces the state machine (lib/governance/states.ts) and whose
// handler records it — run row, step rows and an audit row with actor and note — in one
// transaction. When the run completes it asks its target server to redeploy and wakes servers
// waiting on a gate. The API created the rows (and started this run) in one transaction.
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import {
  checkRunTransition,
  checkStepTransition,
  runEnded,
  type RunStatus,
  type StepState,
} from '../lib/governance/states.js';
import {
  advanceStepUpdate,
  governanceRunQuery,
  redeployRequestedSignal,
  setRunStatusUpdate,
  type GovernanceRunInput,
  type GovernanceRunResult,
  type RunStatusRequest,
  type StepRequest,
} from './governance.messages.js';
import { firstRead } from './first-read.js';
import { signalServer, wakeGatedServers } from './governance-server-signals.js';

const ledger = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: {
    initialInterval: '500ms',
    maximumInterval: '10s',
    nonRetryableErrorTypes: [ErrorType.GovernanceRunNotFound, ErrorType.InvalidTransition],
  },
});

export async function governanceRun({ runId }: GovernanceRunInput): Promise<GovernanceRunResult> {
  // Handlers are registered before the run's row is loaded, so a change sent in the first moments
  // is not refused for want of a handler: validators let it through until the state is known, and
  // each handler waits for it and checks again under the lock.
  let ready = false;
  let status: RunStatus = 'pending';
  const steps: StepState[] = [];
  let seq = 0;
  let busy = true; // held until the row is loaded
  let lastActor = 0;
  const workflowId = workflowInfo().workflowId;

  const state = () => ({ status, steps: steps.map((s) => ({ ...s })) });
  setHandler(governanceRunQuery, state);

  /** One change at a time: each handler re-checks under the lock what its validator saw. */
  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !busy);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }
  const reject = (reason?: string) => {
    throw ApplicationFailure.nonRetryable(reason ?? 'invalid transition', ErrorType.InvalidTransition);
  };

  async function setStatus(
    to: RunStatus,
    actorId: number,
    note: string | undefined,
    event = 'status_change',
  ): Promise<void> {
    seq += 1;
    await ledger.recordGovernanceTransition({ runId, key: `${workflowId}#${seq}`, actorId, event, status: to, note });
    status = to;
    // Ending the run settles its steps: completed completes the open ones, failed/cancelled fails them.
    for (const s of steps) {
      if (to === 'completed' && s.status !== 'completed') s.status = 'completed';
      if ((to === 'failed' || to === 'cancelled') && s.status !== 'completed' && s.status !== 'failed')
        s.status = 'failed';
    }
    lastActor = actorId;
  }

  setHandler(
    setRunStatusUpdate,
    (req: RunStatusRequest) =>
      exclusive(async () => {
        const verdict = checkRunTransition(status, req.status);
        if (!verdict.ok) reject(verdict.reason);
        await setStatus(req.status, req.actorId, req.note);
        return state();
      }),
    {
      validator: (req: RunStatusRequest) => {
        if (!Number.isInteger(req?.actorId)) reject('actorId is required');
        if (!ready) return;
        const verdict = checkRunTransition(status, req.status);
        if (!verdict.ok) reject(verdict.reason);
      },
    },
  );

  setHandler(
    advanceStepUpdate,
    (req: StepRequest) =>
      exclusive(async () => {
        const verdict = checkStepTransition(status, steps, req.position, req.status);
        if (!verdict.ok) reject(verdict.reason);
        const step = steps.find((s) => s.position === req.position)!;
        seq += 1;
        // The first step under way puts the run under way, in the same transaction.
        const runTo: RunStatus | undefined = status === 'pending' ? 'in_progress' : undefined;
        await ledger.recordGovernanceTransition({
          runId,
          key: `${workflowId}#${seq}`,
          actorId: req.actorId,
          event: `step_${req.status}`,
          status: runTo,
          step: { position: req.position, status: req.status },
          note: req.note,
        });
        step.status = req.status;
        if (runTo) status = runTo;
        lastActor = req.actorId;
        // The last step completed completes the run.
        if (steps.every((s) => s.status === 'completed'))
          await setStatus('completed', req.actorId, `all ${steps.length} step(s) completed`);
        return state();
      }),
    {
      validator: (req: StepRequest) => {
        if (!Number.isInteger(req?.actorId)) reject('actorId is required');
        if (!ready) return;
        const verdict = checkStepTransition(status, steps, req.position, req.status);
        if (!verdict.ok) reject(verdict.reason);
      },
    },
  );

  const loaded = await firstRead('loadGovernanceRun', 'governance-run-local-load-v1', { runId });
  if (!loaded) return { status: 'abandoned' };
  status = loaded.status;
  steps.push(...loaded.steps);
  lastActor = loaded.initiatedBy ?? 0;
  ready = true;
  busy = false;

  try {
    await condition(() => runEnded(status));
  } catch (err) {
    // Cancelled (a promotion rolled back): the run ends cancelled, recorded even while cancelling.
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      await condition(() => !busy);
      if (!runEnded(status)) await setStatus('cancelled', lastActor, 'cancelled: the promotion was rolled back');
      await condition(allHandlersFinished);
    });
    return { status };
  }
  await condition(allHandlersFinished);

  if (status === 'completed') {
    if (loaded.targetServerId !== null) {
      await signalServer(loaded.targetServerId, redeployRequestedSignal, {
        actorId: lastActor,
        reason: `governance run ${runId} completed`,
      });
    }
    await wakeGatedServers(loaded.ownerId);
  }
  return { status };
}
