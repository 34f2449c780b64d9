// The first read of the row a workflow was started for. The API inserts the row and starts the
// workflow in one transaction whose lock the read waits for (lib/creation-lock.ts), so the read
// normally succeeds at once. The read is retried as long as it fails — a database outage is waited
// out, however long — except that a row still missing after ~30 s of attempts (rolled back, or
// created by an API from before the lock) is final (activities/db/row-missing.ts), and the
// workflow gives it up as abandoned.
//
// It is a local activity behind a patch: one workflow task then starts the workflow, instead of an
// activity task and a second workflow task (the Temporal server spent about a third less per start,
// bench/api). Histories from before take the activity path.
import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const options = {
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '3s' },
} as const;
const asActivity = proxyActivities<Activities>(options);
const asLocalActivity = proxyLocalActivities<Activities>(options);

type RowReader = 'awaitServerRow' | 'loadGovernanceRun' | 'loadPromotion';

/**
 * The row, read by `reader` — as a local activity once `patchId` is in the history (new runs), else
 * as an activity — or undefined when it is missing for good: the workflow is then abandoned.
 */
export async function firstRead<K extends RowReader>(
  reader: K,
  patchId: string,
  ...args: Parameters<Activities[K]>
): Promise<Awaited<ReturnType<Activities[K]>> | undefined> {
  const read = (patched(patchId) ? asLocalActivity : asActivity)[reader] as unknown as (
    ...a: Parameters<Activities[K]>
  ) => ReturnType<Activities[K]>;
  try {
    return await read(...args);
  } catch (err) {
    // An activity's last failure arrives wrapped in an ActivityFailure, a local activity's as the
    // ApplicationFailure it threw (rowMissing's RowRolledBack).
    if (err instanceof ActivityFailure || err instanceof ApplicationFailure) return undefined;
    throw err;
  }
}
