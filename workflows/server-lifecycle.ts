// Entity workflow per MCP server (`server/<id>`): the only writer of a server's status.
// Operator intents arrive as updates whose validators enforce the state machine; the main loop
// carries them out one at a time, recording every transition through an idempotent activity.
// A build in progress is cancelled (and its daemon builds stopped) by a stop or delete.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  ChildWorkflowCancellationType,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import type { PolicyDecision } from '../lib/policy/decide.js';
import { RevisionKey, ServerIdKey, ServerStatusKey } from '../lib/search-attributes.js';
import { checkIntent, firstStatusFor, type ServerIntent, type ServerStatus } from '../lib/server-status.js';
import { workflowIdsOf } from '../lib/workflow-ids.js';
import { buildAndPublish } from './build-and-publish.js';
import { firstRead } from './first-read.js';
import { gateChangedSignal, redeployRequestedSignal } from './governance.messages.js';
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

// git ls-remote: a wrong URL or branch will not fix itself; network trouble might.
const git = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [ErrorType.GitSourceInvalid] },
});

// Deciding and launching: pulls and starts a container (a side effect that replaces the previous
// one, so safe to retry). Attempts are spaced out (2 s, 4 s, 8 s, …) so a database or daemon that
// is restarting is waited out rather than turning the server to error (found by the chaos suite).
const runtime = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '2s', nonRetryableErrorTypes: [ErrorType.LaunchFailed, ErrorType.ServerNotFound] },
});

// A server needs a moment to answer: keep asking for about half a minute before calling it unhealthy.
const health = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '5s', maximumAttempts: 10, nonRetryableErrorTypes: [ErrorType.WorkloadExited, ErrorType.LaunchFailed] },
});

// Provisioning a VM: the hypervisor boots it and attests it. A refused request or an answer the
// client cannot use will not fix itself; an unreachable hypervisor might.
const vm = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: [ErrorType.HypervisorRejected, ErrorType.HypervisorInvalidResponse, ErrorType.ServerNotFound],
  },
});

/** Workflows started before launching existed replay without it (see README: changing workflows). */
const RUNTIME_PATCH = 'runtime-launch-v1';
/** Launching on the virtual-machine backend (provisionVm instead of launchServer + health check). */
const VM_PATCH = 'runtime-vm-launch-v1';
/** A launch held by a gate waits in pending-governance for gateChanged, then decides again. */
const GATES_PATCH = 'governance-gates-v1';

/** The notes that say what a held launch waits for. */
const waitingFor = (notes: readonly string[]) =>
  notes.filter((n) => /^(evaluation|promotion|governance):/.test(n) && !/certified|satisfied|not-required|provenance|:track:|^evaluation:required$|^governance:required$/.test(n));
/** Launching on the kubernetes backend (a pod, then its status, instead of launchServer + health check). */
const K8S_PATCH = 'runtime-kubernetes-launch-v1';

// Waiting for a pod to become ready: as long as K8S_READY_TIMEOUT_SECONDS (the activity answers
// `timeout` itself); heartbeats carry a stop's cancellation.
const pods = proxyActivities<Activities>({
  startToCloseTimeout: '25h',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** The most useful one-line reason inside a failure chain. */
function reasonOf(err: unknown): string {
  let cur: unknown = err;
  while (cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(err);
}

export async function serverLifecycle(input: ServerLifecycleInput): Promise<ServerLifecycleResult> {
  let status = input.status;
  let seq = input.seq;
  const queue: QueuedIntent[] = [...input.pending];
  const workflowId = workflowInfo().workflowId;
  const workflowIds = workflowIdsOf(workflowId); // its builds' ids are of this installation
  const source = input.source ?? { type: 'image' as const, image: '' };
  const builds = source.type === 'git';

  let current: QueuedIntent | undefined; // the intent being carried out right now
  let currentScope: CancellationScope | undefined;
  let gateSignals = 0; // gateChanged signals received: a held launch decides again on each
  let waitingOnGate = false;

  /** Where the server ends up once an intent has been carried out, for validating the next one. */
  const settledStatus = (intent: ServerIntent): ServerStatus => {
    if (intent === 'stop') return 'stopped';
    if (intent === 'delete') return 'deleting';
    if (intent === 'build') return 'ready';
    return 'running';
  };
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
        // Stopping or deleting supersedes a build under way: cancel it rather than wait for it.
        // Any new intent supersedes a launch waiting on a gate.
        if ((intent === 'stop' || intent === 'delete') && current && current.intent !== 'stop') currentScope?.cancel();
        else if (waitingOnGate) currentScope?.cancel();
        return { intent, status: firstStatusFor(intent) };
      },
      {
        validator: (request: IntentRequest) => {
          if (!Number.isInteger(request?.actorId)) throw ApplicationFailure.nonRetryable('actorId is required');
          if (intent === 'build' && !builds) {
            throw ApplicationFailure.nonRetryable('only servers with a git source are built', ErrorType.InvalidTransition);
          }
          const verdict = checkIntent(projected(), intent);
          if (!verdict.ok) throw ApplicationFailure.nonRetryable(verdict.reason!, ErrorType.InvalidTransition);
        },
      },
    );
  }

  setHandler(gateChangedSignal, () => void (gateSignals += 1));
  // A completed governance run asks for a redeploy; one the state machine refuses now is dropped
  // (a signal has no caller to answer), as a refused intent would be.
  setHandler(redeployRequestedSignal, ({ actorId }) => {
    if (!checkIntent(projected(), 'redeploy').ok) return;
    queue.push({ intent: 'redeploy', actorId });
    if (waitingOnGate) currentScope?.cancel();
  });

  async function transition(to: ServerStatus, reason?: string): Promise<void> {
    seq += 1;
    await ledger.recordServerStatus({ serverId: input.serverId, to, reason, transitionKey: `${workflowId}#${seq}` });
    status = to;
    upsertSearchAttributes([{ key: ServerStatusKey, value: to }]);
  }

  /** Resolves the branch to a commit (unless given), then builds and publishes it as a child workflow. */
  async function build(resolved?: string): Promise<number | undefined> {
    if (source.type !== 'git') return undefined;
    await transition('building');
    const revision = resolved ?? (await git.resolveRevision({ repository: source.repository, branch: source.branch })).revision;
    const result = await executeChild(buildAndPublish, {
      workflowId: workflowIds.build(input.serverId, revision),
      args: [{ serverId: input.serverId, repository: source.repository, branch: source.branch, revision }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: ServerIdKey, value: String(input.serverId) },
        { key: RevisionKey, value: revision },
      ],
    });
    await transition('ready', `built ${revision.slice(0, 12)} as ${result.registryImage ?? result.localImage}`);
    return result.runId;
  }

  /**
   * Decides (after the build it follows), then launches through the chosen executor and checks the
   * server speaks MCP: running, or unhealthy with the reason. A decision that does not allow the
   * launch leaves the server in error with the decision's notes.
   */
  async function launch(artifactRunId: number | undefined): Promise<void> {
    await transition('starting');
    let recorded: { decisionId: number; decision: PolicyDecision };
    for (;;) {
      seq += 1;
      recorded = await runtime.decideLaunch({ serverId: input.serverId, decisionKey: `${workflowId}#${seq}`, artifactRunId });
      const { decisionId, decision } = recorded;
      if (decision.launchable && decision.image) break;
      if (decision.heldByGate && patched(GATES_PATCH)) {
        // Held by a gate: wait for a certification or promotion to change (a signal, no polling),
        // then decide again. Any new intent cancels the wait.
        await transition('pending-governance', `policy decision ${decisionId} waits for: ${waitingFor(decision.notes).join(', ') || 'governance'}`);
        const seen = gateSignals;
        waitingOnGate = true;
        try {
          await condition(() => gateSignals > seen);
        } finally {
          waitingOnGate = false;
        }
        await transition('starting', 'a gate changed: deciding again');
        continue;
      }
      const why = decision.notes.filter((n) => /unsatisfied|unusable|missing|unavailable/.test(n));
      await transition('error', `policy decision ${decisionId} does not allow a launch: ${why.join(', ') || 'see the decision notes'}`);
      return;
    }
    const { decisionId, decision } = recorded;
    if (!decision.image) return; // checked above; narrows the type
    if (decision.backend === 'virtual-machine' && patched(VM_PATCH)) {
      await launchVm(decisionId, decision, decision.image);
      return;
    }
    if (decision.backend === 'kubernetes' && patched(K8S_PATCH)) {
      await launchKubernetes(decisionId, decision.image);
      return;
    }
    await runtime.launchServer({ serverId: input.serverId, decisionId, image: decision.image, useGpu: input.useGpu ?? false, config: input.config ?? {} });
    try {
      const checked = await health.checkMcpHealth({ serverId: input.serverId });
      await transition('running', `MCP server ${checked.name ?? 'unnamed'} with ${checked.tools.length} tool(s)`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      await transition('unhealthy', reasonOf(err));
    }
  }

  /**
   * The VM executor (§9.4): provision, verify the attestation, start only what is trusted. Trusted →
   * running; unknown → pending-attestation; untrusted → blocked (torn down, the verdict's notes as the
   * reason — a result, not an error, so nothing overwrites it). Stop and delete reach the instance
   * through stopServer/removeServerWorkload, which dispatch on the backend provisionVm recorded.
   */
  async function launchVm(decisionId: number, decision: PolicyDecision, image: string): Promise<void> {
    await transition('provisioning', `policy decision ${decisionId}: ${decision.executorName ?? 'virtual machine'}`);
    seq += 1;
    const key = `${workflowId}#${seq}`;
    const result = await vm.provisionVm({
      serverId: input.serverId,
      decisionId,
      image,
      policyVersion: decision.policyVersion,
      capabilities: decision.capabilityRequirements,
      tier: decision.tier,
      expectedNonce: key,
      notes: decision.notes,
      config: input.config ?? {},
      provisionKey: key,
    });
    const notes = result.notes.join(', ');
    switch (result.status) {
      case 'running':
        await transition('running', `virtual machine ${result.instanceId} attested and started`);
        return;
      case 'pending-attestation':
        await transition('pending-attestation', `virtual machine ${result.instanceId} awaits attestation${notes ? `: ${notes}` : ''}`);
        return;
      case 'blocked':
        await transition('blocked', `virtual machine ${result.instanceId} failed attestation and was torn down: ${notes || 'untrusted'}`);
        return;
    }
  }

  /**
   * The Kubernetes executor (§9.3): a pod and a service, then the pod's status decides — Ready →
   * running; an image or spec the node cannot run → error; crash-looping, failed or not ready in
   * time → unhealthy; each with the kubelet's reason (§16 #13: never left in `starting`).
   */
  async function launchKubernetes(decisionId: number, image: string): Promise<void> {
    const launched = await runtime.launchKubernetesServer({ serverId: input.serverId, decisionId, image, useGpu: input.useGpu ?? false, config: input.config ?? {} });
    const verdict = await pods.awaitKubernetesServer({ serverId: input.serverId, workload: launched.workload });
    if (verdict.state === 'running') await transition('running', verdict.reason);
    else if (verdict.state === 'failed' && verdict.fatal) await transition('error', verdict.reason);
    else await transition('unhealthy', verdict.reason);
  }

  async function carryOut(intent: ServerIntent): Promise<void> {
    switch (intent) {
      case 'start':
        if (patched(RUNTIME_PATCH)) {
          // Start resumes: the branch head's artifact when it was built already, otherwise a build.
          // (Redeploy always rebuilds.)
          let runId: number | undefined;
          if (source.type === 'git') {
            const { revision } = await git.resolveRevision({ repository: source.repository, branch: source.branch });
            runId = (await ledger.findArtifact({ serverId: input.serverId, revision }))?.runId ?? (await build(revision));
          }
          await launch(runId);
        } else if (builds) await build();
        else await transition('starting');
        return;
      case 'redeploy':
        await transition('redeploying');
        if (patched(RUNTIME_PATCH)) await launch(await build());
        else if (builds) await build();
        else await transition('starting');
        return;
      case 'build':
        await build();
        return;
      case 'stop':
        await transition('stopping');
        if (patched(RUNTIME_PATCH)) await runtime.stopServer({ serverId: input.serverId });
        await transition('stopped');
        return;
      case 'delete':
        return; // handled by the main loop: it ends the workflow
    }
  }

  if (input.seq === 0) {
    // Missing for good: the creating transaction rolled back, there is no server to look after.
    if (!(await firstRead('awaitServerRow', 'server-lifecycle-local-load-v1', { serverId: input.serverId }))) return { outcome: 'abandoned' };
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
    if (current.intent === 'delete') {
      await transition('deleting');
      if (patched(RUNTIME_PATCH)) await runtime.removeServerWorkload({ serverId: input.serverId });
      seq += 1;
      await ledger.removeServer({ serverId: input.serverId, transitionKey: `${workflowId}#${seq}` });
      await condition(allHandlersFinished);
      return { outcome: 'deleted' };
    }
    const scope = new CancellationScope();
    currentScope = scope;
    try {
      await scope.run(() => carryOut(current!.intent));
    } catch (err) {
      // Cancelled by a stop/delete that is now queued; anything else leaves the server in error.
      if (!isCancellation(err)) await transition('error', reasonOf(err));
    } finally {
      currentScope = undefined;
      current = undefined;
    }
  }
}
