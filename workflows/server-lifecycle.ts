// Entity workflow per MCP server (`server/<id>`): the only writer of a server's status.
// Operator intents arrive as updates whose validators enforce the state machine; the main loop
// carries them out one at a time, recording every transition through an idempotent activity.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import { ServerStatusKey } from '../lib/search-attributes.js';
import { checkIntent, firstStatusFor, type ServerIntent, type ServerStatus } from '../lib/server-status.js';
import {
  intentUpdates,
  stateQuery,
  type IntentAccepted,
  type IntentRequest,
  type QueuedIntent,
  type ServerLifecycleInput,
  type ServerLifecycleResult,
} from './server-lifecycle.messages.js';

const ledger = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s', nonRetryableErrorTypes: [ErrorType.ServerNotFound] },
});

// The creating transaction commits right after it starts this workflow; allow it ~30 s to become visible.
const awaitRow = proxyActivities<Activities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '3s', maximumAttempts: 15 },
}).awaitServerRow;

/** Where the server ends up once an intent has been carried out, for validating the next one. */
function settledStatus(intent: ServerIntent): ServerStatus {
  return intent === 'stop' ? 'stopped' : intent === 'delete' ? 'deleting' : 'starting';
}

export async function serverLifecycle(input: ServerLifecycleInput): Promise<ServerLifecycleResult> {
  let status = input.status;
  let seq = input.seq;
  const queue: QueuedIntent[] = [...input.pending];
  const workflowId = workflowInfo().workflowId;

  let current: QueuedIntent | undefined; // the intent being carried out right now
  const projected = (): ServerStatus => {
    const last = queue.at(-1) ?? current;
    return last ? settledStatus(last.intent) : status;
  };

  setHandler(stateQuery, () => ({ status, pending: queue.map((q) => q.intent) }));
  for (const [intent, update] of Object.entries(intentUpdates) as [ServerIntent, (typeof intentUpdates)[ServerIntent]][]) {
    setHandler(
      update,
      (request: IntentRequest): IntentAccepted => {
        queue.push({ intent, actorId: request.actorId });
        return { intent, status: firstStatusFor(intent) };
      },
      {
        validator: (request: IntentRequest) => {
          if (!Number.isInteger(request?.actorId)) throw ApplicationFailure.nonRetryable('actorId is required');
          const verdict = checkIntent(projected(), intent);
          if (!verdict.ok) throw ApplicationFailure.nonRetryable(verdict.reason!, ErrorType.InvalidTransition);
        },
      },
    );
  }

  async function transition(to: ServerStatus, reason?: string): Promise<void> {
    seq += 1;
    await ledger.recordServerStatus({ serverId: input.serverId, to, reason, transitionKey: `${workflowId}#${seq}` });
    status = to;
    upsertSearchAttributes([{ key: ServerStatusKey, value: to }]);
  }

  if (input.seq === 0) {
    try {
      await awaitRow({ serverId: input.serverId });
    } catch (err) {
      // The creating transaction rolled back: there is no server to look after.
      if (err instanceof ActivityFailure) return { outcome: 'abandoned' };
      throw err;
    }
    if (queue.length === 0) await transition('stopped', 'created without start');
  }

  for (;;) {
    await condition(() => queue.length > 0 || workflowInfo().continueAsNewSuggested);
    if (queue.length === 0) {
      // Bound history: hand the state to a fresh run once every handler has finished.
      await condition(allHandlersFinished);
      if (queue.length === 0) {
        return await continueAsNew<typeof serverLifecycle>({ ...input, status, seq, pending: [] });
      }
    }
    current = queue.shift()!;
    switch (current.intent) {
      case 'start':
        // Launching through an executor comes with the runtime; until then the server waits here.
        await transition('starting');
        break;
      case 'redeploy':
        await transition('redeploying');
        await transition('starting');
        break;
      case 'stop':
        await transition('stopping');
        await transition('stopped');
        break;
      case 'delete':
        await transition('deleting');
        seq += 1;
        await ledger.removeServer({ serverId: input.serverId, transitionKey: `${workflowId}#${seq}` });
        await condition(allHandlersFinished);
        return { outcome: 'deleted' };
    }
    current = undefined;
  }
}
