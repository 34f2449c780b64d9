// What the governance workflows (governanceRun, promotion, certification) tell the servers they
// concern: a redeploy after a completed run, and a changed gate. Workflow code: a server whose
// workflow has ended (deleted) has nothing to hear, so a failed signal is ignored.
import { getExternalWorkflowHandle, proxyActivities, workflowInfo, type SignalDefinition } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { workflowIdsOf } from '../lib/workflow-ids.js';
import { gateChangedSignal } from './governance.messages.js';

const { findGatedServers } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

/** Signals a server of the calling workflow's installation. */
export async function signalServer<Args extends unknown[]>(
  serverId: number,
  signal: SignalDefinition<Args>,
  ...args: Args
): Promise<void> {
  try {
    await getExternalWorkflowHandle(workflowIdsOf(workflowInfo().workflowId).server(serverId)).signal(signal, ...args);
  } catch {
    // the server's workflow has ended (deleted): nothing waits there
  }
}

/** Wakes the owner's servers waiting on a gate: each decides again. */
export async function wakeGatedServers(ownerId: number): Promise<void> {
  for (const id of await findGatedServers({ ownerId })) await signalServer(id, gateChangedSignal);
}
