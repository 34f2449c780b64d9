// certification (`certification/<id>`): the automatic evaluation of a certification and its refresh
// cadence — a durable timer per certification, not a polling scheduler. Evaluating
// launches the artifact in a throw-away container, runs the MCP handshake and tools/list, and
// records pass/fail with the evidence. A pass stays valid until the refresh is due; then the
// evaluation runs again (nothing flips it to pending early). A plan change re-arms the timer; a
// retry evaluates at once. A pass wakes the owner's servers waiting on a gate.
import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import { wakeGatedServers } from './governance-server-signals.js';
import {
  planChangedSignal,
  retrySignal,
  type CertificationInput,
  type CertificationResult,
} from './governance.messages.js';

const ledger = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

// Pulls and starts the artifact, then asks it for its tools: a few attempts for a flaky daemon.
const evaluator = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '30s',
  retry: {
    initialInterval: '2s',
    maximumInterval: '30s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: [ErrorType.CertificationManual],
  },
});

export async function certification({
  certificationId,
  evaluateNow,
}: CertificationInput): Promise<CertificationResult> {
  let planChanged = false;
  let retry = evaluateNow;
  setHandler(planChangedSignal, () => void (planChanged = true));
  setHandler(retrySignal, () => void (retry = true));
  const workflowId = workflowInfo().workflowId;

  for (let round = 0; ; round += 1) {
    if (retry) {
      retry = false;
      const result = await evaluator.evaluateCertification({
        certificationId,
        key: `${workflowId}#${workflowInfo().runId}#${round}`,
      });
      if (result.status === 'gone') return { status: 'gone' };
      if (result.status === 'pass') {
        await wakeGatedServers(result.ownerId);
      }
    }
    planChanged = false;
    const plan = await ledger.loadCertificationPlan({ certificationId });
    // Manual certifications, and those without a cadence, have no refresh to run.
    if (!plan || !plan.automatic || plan.nextRefreshAt === null) return { status: plan?.status ?? 'gone' };
    const wait = Math.max(0, Date.parse(plan.nextRefreshAt) - Date.now());
    const woken = await condition(() => planChanged || retry, wait);
    if (!woken) retry = true; // the refresh is due: evaluate again
    // Bound history: a long-lived certification refreshes in a fresh run each time.
    if (retry && workflowInfo().continueAsNewSuggested)
      return await continueAsNew<typeof certification>({ certificationId, evaluateNow: true });
  }
}
