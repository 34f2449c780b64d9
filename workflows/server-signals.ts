// Signals the governance workflows send to serverLifecycle (`server/<id>`). Workflow code: a
// server whose workflow has ended (deleted) has nothing to hear, so a failed signal is ignored.
import { getExternalWorkflowHandle, proxyActivities, type SignalDefinition } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { workflowIds } from '../lib/workflow-ids.js';
import { gateChangedSignal } from './governance.messages.js';

const { findGatedServers } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

export async function signalServer<Args extends unknown[]>(serverId: number, signal: SignalDefinition<Args>, ...args: Args): Promise<void> {
  try {
    await getExternalWorkflowHandle(workflowIds.server(serverId)).signal(signal, ...args);
  } catch {
    // the server's workflow has ended (deleted): nothing waits there
  }
}

/** Wakes the owner's servers waiting on a gate: each decides again. */
export async function wakeGatedServers(ownerId: number): Promise<void> {
  for (const id of await findGatedServers({ ownerId })) await signalServer(id, gateChangedSignal);
}
