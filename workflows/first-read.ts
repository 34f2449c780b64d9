// The first read of the row a workflow was started for. The API inserts the row and starts the
// workflow in one transaction whose lock the read waits for (lib/creation-lock.ts), so the read
// normally succeeds at once; a row still missing (rolled back, or created by an API from before the
// lock) is retried for ~30 s, then the workflow gives it up as abandoned.
//
// It is a local activity behind a patch: one workflow task then starts the workflow, instead of an
// activity task and a second workflow task (the Temporal server spent about a third less per start,
// bench/api). Histories from before take the activity path.
import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const options = {
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '3s', maximumAttempts: 15 },
} as const;
const asActivity = proxyActivities<Activities>(options);
const asLocalActivity = proxyLocalActivities<Activities>(options);

type RowReader = 'awaitServerRow' | 'loadGovernanceRun' | 'loadPromotion';

/** `reader` as a local activity once `patchId` is in the history (new runs), else as an activity. */
export function firstRead<K extends RowReader>(reader: K, patchId: string): Activities[K] {
  return (patched(patchId) ? asLocalActivity : asActivity)[reader] as Activities[K];
}
