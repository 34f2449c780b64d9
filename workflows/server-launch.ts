// Launching a server: decide (waiting while a gate holds the launch), then launch through the
// executor the decision chose and settle the server's status the way that executor reports it.
import { ActivityFailure, ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import { ErrorType } from '../lib/errors.js';
import type { Backend, PolicyDecision } from '../lib/policy/decide.js';
import { refusalReasons, waitingFor } from '../lib/policy/notes.js';
import { reasonOf, type ServerEntity } from './server-entity.js';
import { health, pods, runtime, vm } from './server-profiles.js';

/** A launch held by a gate waits in pending-governance for gateChanged, then decides again. */
const GATES_PATCH = 'governance-gates-v1';
/** Launching on the virtual-machine backend (provisionVm instead of launchServer + health check). */
const VM_PATCH = 'runtime-vm-launch-v1';
/** Launching on the kubernetes backend (a pod, then its status, instead of launchServer + health check). */
const K8S_PATCH = 'runtime-kubernetes-launch-v1';
/** serverLifecycle's supervision (server-lifecycle.ts): a container that exits during its launch is unhealthy. */
const SUPERVISION_PATCH = 'health-supervision-v1';

/** Whether an activity failed because its workload had already exited (it crashed on start). */
const workloadExited = (err: unknown) =>
  err instanceof ActivityFailure &&
  err.cause instanceof ApplicationFailure &&
  err.cause.type === ErrorType.WorkloadExited;

interface Launcher {
  /** Runs started before this launcher existed launch on Docker's instead. */
  patch?: string;
  launch(server: ServerEntity, decisionId: number, decision: PolicyDecision, image: string): Promise<void>;
}

/** Docker: the container, then an MCP health check — running, or unhealthy with the reason. */
const container: Launcher = {
  async launch(server, decisionId, _decision, image) {
    try {
      await runtime.launchServer({
        serverId: server.serverId,
        decisionId,
        image,
        useGpu: server.useGpu,
        config: server.config,
      });
    } catch (err) {
      // A container that exited before it had an address crashed on start: unhealthy with its exit,
      // so its supervisor restarts it (toward crashloop), not an error nobody restarts.
      if (workloadExited(err) && patched(SUPERVISION_PATCH)) {
        await server.transition('unhealthy', reasonOf(err));
        return;
      }
      throw err;
    }
    try {
      const checked = await health.checkMcpHealth({ serverId: server.serverId });
      await server.transition(
        'running',
        `MCP server ${checked.name ?? 'unnamed'} with ${checked.tools.length} tool(s)`,
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      await server.transition('unhealthy', reasonOf(err));
    }
  },
};

/**
 * Kubernetes: a pod and a service, then the pod's status decides — Ready → running; an image or
 * spec the node cannot run → error; crash-looping, failed or not ready in time → unhealthy; each
 * with the kubelet's reason, so a server is never left in `starting`.
 */
const pod: Launcher = {
  patch: K8S_PATCH,
  async launch(server, decisionId, _decision, image) {
    const launched = await runtime.launchKubernetesServer({
      serverId: server.serverId,
      decisionId,
      image,
      useGpu: server.useGpu,
      config: server.config,
    });
    const verdict = await pods.awaitKubernetesServer({ serverId: server.serverId, workload: launched.workload });
    if (verdict.state === 'running') await server.transition('running', verdict.reason);
    else if (verdict.state === 'failed' && verdict.fatal) await server.transition('error', verdict.reason);
    else await server.transition('unhealthy', verdict.reason);
  },
};

/**
 * A virtual machine: provision, verify the attestation, start only what is trusted. Trusted →
 * running; unknown → pending-attestation; untrusted → blocked (torn down, the verdict's notes as
 * the reason — a result, not an error, so nothing overwrites it).
 */
const virtualMachine: Launcher = {
  patch: VM_PATCH,
  async launch(server, decisionId, decision, image) {
    await server.transition(
      'provisioning',
      `policy decision ${decisionId}: ${decision.executorName ?? 'virtual machine'}`,
    );
    const key = server.nextKey();
    const result = await vm.provisionVm({
      serverId: server.serverId,
      decisionId,
      image,
      policyVersion: decision.policyVersion,
      capabilities: decision.capabilityRequirements,
      tier: decision.tier,
      expectedNonce: key,
      notes: decision.notes,
      config: server.config,
      provisionKey: key,
    });
    const notes = result.notes.join(', ');
    switch (result.status) {
      case 'running':
        await server.transition('running', `virtual machine ${result.instanceId} attested and started`);
        return;
      case 'pending-attestation':
        await server.transition(
          'pending-attestation',
          `virtual machine ${result.instanceId} awaits attestation${notes ? `: ${notes}` : ''}`,
        );
        return;
      case 'blocked':
        await server.transition(
          'blocked',
          `virtual machine ${result.instanceId} failed attestation and was torn down: ${notes || 'untrusted'}`,
        );
        return;
    }
  },
};

const launchers: Record<Backend, Launcher> = { docker: container, kubernetes: pod, 'virtual-machine': virtualMachine };

/** The launcher of the decision's backend, where this run knows it. */
function launcherFor(backend: Backend): Launcher {
  const launcher = launchers[backend] ?? container;
  return launcher.patch === undefined || patched(launcher.patch) ? launcher : container;
}

/**
 * Decides (after the build it follows), then launches through the chosen executor. A decision
 * that does not allow the launch leaves the server in error with the decision's notes.
 */
export async function launch(server: ServerEntity, artifactRunId: number | undefined): Promise<void> {
  await server.transition('starting');
  for (;;) {
    const gateChanges = server.gateChanges;
    const { decisionId, decision } = await runtime.decideLaunch({
      serverId: server.serverId,
      decisionKey: server.nextKey(),
      artifactRunId,
    });
    if (decision.launchable && decision.image) {
      // What the supervisor restarts (no command: replays as before).
      server.launched = { backend: decision.backend, ...(artifactRunId !== undefined && { artifactRunId }) };
      await launcherFor(decision.backend).launch(server, decisionId, decision, decision.image);
      return;
    }
    if (decision.heldByGate && patched(GATES_PATCH)) {
      // Held by a gate: wait for a certification or promotion to change (a signal, no polling),
      // then decide again. Any new intent cancels the wait.
      await server.transition(
        'pending-governance',
        `policy decision ${decisionId} waits for: ${waitingFor(decision.notes).join(', ') || 'governance'}`,
      );
      await server.untilGateChanges(gateChanges);
      await server.transition('starting', 'a gate changed: deciding again');
      continue;
    }
    await server.transition(
      'error',
      `policy decision ${decisionId} does not allow a launch: ${refusalReasons(decision.notes).join(', ') || 'see the decision notes'}`,
    );
    return;
  }
}
