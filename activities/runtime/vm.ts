// The virtual-machine executor: provision → record → verify attestation → start only what is
// trusted; stop, delete and logs of a server's VM instances on the hypervisor. Once started, the
// endpoint the hypervisor reports (if any) is recorded as the server's, so the gateway and the
// supervisor's MCP probes reach it; inspect asks the hypervisor for the instance's state, so an
// instance that died (failed, or stopped by anyone but mcp-host) is seen as exited with its reason.
//
// An untrusted instance is torn down and reported as
// `blocked` (a result, not an error, so the workflow records `blocked` and nothing overwrites it);
// the verifier trusts only the configured roots. Every DB write (lib/ledger/vm.ts) is idempotent
// per activity retry. A failure after provisioning tears the instance down
// before it is rethrown, so a retry does not leak a VM.
//
// The functions use no activity Context (no heartbeat), so tests call them directly.
import { ApplicationFailure } from '@temporalio/activity';
import { isPgError, PgCode, type Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { recordEndpoint } from '../../lib/ledger/runtime.js';
import {
  instancesNotTornDown,
  newestLiveInstance,
  recordAttestation,
  recordBlocked,
  recordFailed,
  recordProvisioned,
  recordReady,
  recordTerminated,
  vmInstanceState,
} from '../../lib/ledger/vm.js';
import { verifyAttestation, type AttestationConfig } from '../../lib/vm/attestation.js';
import { EXECUTORS } from '../../lib/policy/decide.js';
import type { Executor, WorkloadState } from '../../lib/runtime/executor.js';
import { createHypervisorClient, HypervisorError, type HypervisorClient } from '../../lib/vm/hypervisor.js';

export interface VmActivityDeps {
  sql: Sql;
  hypervisor: HypervisorClient;
  attestation: AttestationConfig;
  /** Default `tail` of vmLogs (VM_LOG_TAIL_LINES). */
  logTailLines: number;
  now?: () => Date;
}

/** The dependencies as the worker builds them from its environment. */
export function vmActivityDeps(sql: Sql, env: Env): VmActivityDeps {
  return {
    sql,
    hypervisor: createHypervisorClient({ endpoint: env.VM_HYPERVISOR_ENDPOINT, token: env.VM_HYPERVISOR_TOKEN }),
    attestation: {
      allowedMeasurements: env.VM_ATTESTATION_MEASUREMENTS,
      trustRoots: env.VM_ATTESTATION_TRUST_ROOTS,
      maxAgeSeconds: env.VM_ATTESTATION_MAX_AGE_SECONDS,
    },
    logTailLines: env.VM_LOG_TAIL_LINES,
  };
}

export interface ProvisionVmInput {
  serverId: number;
  image: string;
  policyVersion: string;
  capabilities: string[];
  /** The decision's tier; the instance's isolation tier unless the hypervisor names one. */
  tier?: string | null;
  /** A nonce the hypervisor must bind into the attestation report (sent as config.attestation.nonce). */
  expectedNonce?: string | null;
  /** The decision's notes, kept as the instance's capability notes. */
  notes?: string[];
  /** Extra hypervisor config (a nonce given above is merged in). */
  config?: Record<string, unknown>;
  /** Idempotency-Key for the provisioning request, e.g. the workflow id and launch sequence. */
  provisionKey?: string;
  /** The policy decision this launch follows, recorded with where the server runs. */
  decisionId?: number | null;
}

export type ProvisionVmResult =
  | { status: 'running'; instanceId: string; isolationTier: string | null; notes: string[] }
  | { status: 'pending-attestation'; instanceId: string; isolationTier: string | null; notes: string[] }
  | { status: 'blocked'; instanceId: string; isolationTier: string | null; notes: string[] };

export type RestartVmResult =
  | { status: 'running'; instanceId: string }
  /** The hypervisor no longer holds an instance to start: only a new launch brings the server back. */
  | { status: 'gone'; reason: string };

export interface VmLogsInput {
  serverId: number;
  tail?: number;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Hypervisor errors as ApplicationFailures the workflow's retry policy can tell apart. */
function toFailure(err: unknown): unknown {
  if (!(err instanceof HypervisorError)) return err;
  if (err.kind === 'invalid-response')
    return ApplicationFailure.create({
      message: err.message,
      type: ErrorType.HypervisorInvalidResponse,
      nonRetryable: true,
      cause: err,
    });
  if (err.retryable)
    return ApplicationFailure.create({ message: err.message, type: ErrorType.HypervisorUnavailable, cause: err });
  return ApplicationFailure.create({
    message: err.message,
    type: ErrorType.HypervisorRejected,
    nonRetryable: true,
    cause: err,
  });
}

export function createVmActivities(deps: VmActivityDeps) {
  const { sql, hypervisor } = deps;
  const now = deps.now ?? (() => new Date());

  /** Tears an instance down, reporting (not throwing) a failure: the caller records it. */
  async function tryTeardown(instanceId: string): Promise<{ tornDown: boolean; error: string | null }> {
    try {
      await hypervisor.teardown(instanceId);
      return { tornDown: true, error: null };
    } catch (err) {
      return { tornDown: false, error: `teardown failed: ${message(err)}` };
    }
  }

  /** The endpoint the started instance reports becomes the server's (none reported: none recorded). */
  async function recordReportedEndpoint(serverId: number, instanceId: string): Promise<void> {
    const status = await hypervisor.status(instanceId);
    if (status?.endpoint) await recordEndpoint(sql, serverId, status.endpoint);
  }

  return {
    async provisionVm(input: ProvisionVmInput): Promise<ProvisionVmResult> {
      const config = input.expectedNonce
        ? {
            ...input.config,
            attestation: { ...(input.config?.attestation as object | undefined), nonce: input.expectedNonce },
          }
        : input.config;
      let provisioned;
      try {
        provisioned = await hypervisor.provision({
          serverId: input.serverId,
          image: input.image,
          policyVersion: input.policyVersion,
          capabilities: input.capabilities,
          tier: input.tier,
          config,
          idempotencyKey: input.provisionKey,
        });
      } catch (err) {
        throw toFailure(err);
      }
      const { instanceId, isolationTier, attestation: evidence } = provisioned;
      const capabilityNotes = [
        ...new Set([...(input.notes ?? []), ...(evidence === null ? [] : ['attestation:evidence-present'])]),
      ].sort();

      let rowId: number | undefined;
      try {
        rowId = await recordProvisioned(sql, {
          serverId: input.serverId,
          instanceId,
          isolationTier,
          evidence,
          policyVersion: input.policyVersion,
          capabilityNotes,
          requestedImage: input.image,
          image: provisioned.image,
          decisionId: input.decisionId ?? null,
        });
        const id = rowId;

        const verdict = verifyAttestation({
          evidence,
          now: now(),
          config: deps.attestation,
          expectedNonce: input.expectedNonce ?? null,
          policyVersion: input.policyVersion,
        });
        await recordAttestation(sql, id, verdict, evidence);
        const result = { instanceId, isolationTier, notes: verdict.notes };

        if (verdict.status === 'untrusted') {
          const teardown = await tryTeardown(instanceId);
          await recordBlocked(sql, id, input.serverId, verdict.notes, teardown);
          return { status: 'blocked', ...result };
        }
        if (verdict.status === 'unknown') return { status: 'pending-attestation', ...result };

        await hypervisor.start(instanceId);
        await recordReportedEndpoint(input.serverId, instanceId);
        await recordReady(sql, id, input.serverId);
        return { status: 'running', ...result };
      } catch (err) {
        // Whatever failed after provisioning: do not leave the VM behind, record why, then fail.
        const teardown = await tryTeardown(instanceId);
        const error = message(err);
        if (rowId !== undefined) {
          await recordFailed(sql, rowId, error, teardown).catch(() => {}); // the original error is the one to report
        }
        if (isPgError(err, PgCode.foreignKeyViolation)) {
          throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
        }
        throw toFailure(err);
      }
    },

    /**
     * The supervisor's restart of an instance that died: the same instance started again (its
     * attestation stands), the endpoint it reports then recorded. `gone` when there is none to start.
     */
    async restartVm({ serverId }: { serverId: number }): Promise<RestartVmResult> {
      const instance = await newestLiveInstance(sql, serverId);
      if (!instance) return { status: 'gone', reason: `server ${serverId} has no live virtual machine to start` };
      try {
        await hypervisor.start(instance.instance_id);
        await recordReportedEndpoint(serverId, instance.instance_id);
      } catch (err) {
        if (err instanceof HypervisorError && err.status === 404)
          return {
            status: 'gone',
            reason: `virtual machine ${instance.instance_id} is no longer known to the hypervisor`,
          };
        throw toFailure(err);
      }
      return { status: 'running', instanceId: instance.instance_id };
    },

    /** Stops the server's newest running instance; `instanceId` is null when there was none. */
    async stopVm({ serverId }: { serverId: number }): Promise<{ instanceId: string | null }> {
      const instance = await newestLiveInstance(sql, serverId);
      if (!instance) return { instanceId: null };
      try {
        await hypervisor.stop(instance.instance_id); // already gone (404) counts as stopped
      } catch (err) {
        throw toFailure(err);
      }
      await recordTerminated(sql, instance.id, 'stopped', serverId);
      return { instanceId: instance.instance_id };
    },

    /** Tears down every instance of the server the hypervisor may still hold, newest first. */
    async deleteVm({ serverId }: { serverId: number }): Promise<{ deleted: string[] }> {
      const instances = await instancesNotTornDown(sql, serverId);
      const deleted: string[] = [];
      for (const instance of instances) {
        try {
          await hypervisor.teardown(instance.instance_id); // already gone (404) counts as deleted
        } catch (err) {
          throw toFailure(err);
        }
        await recordTerminated(sql, instance.id, 'deleted', serverId);
        deleted.push(instance.instance_id);
      }
      return { deleted };
    },

    /** The last `tail` lines (default VM_LOG_TAIL_LINES) of the newest running instance; '' without one. */
    async vmLogs({ serverId, tail }: VmLogsInput): Promise<string> {
      const instance = await newestLiveInstance(sql, serverId);
      if (!instance) return '';
      const lines = Math.min(Math.max(Math.floor(tail ?? deps.logTailLines), 1), 100_000);
      try {
        return await hypervisor.logs(instance.instance_id, lines);
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

export type VmActivities = ReturnType<typeof createVmActivities>;

/** `enabled`: CONTAINER_RUNTIME=virtual-machine registers the hypervisor, docker staying as the fallback. */
export function createVmExecutor(deps: VmActivityDeps, enabled: boolean) {
  const vm = createVmActivities(deps);
  const { sql, hypervisor } = deps;
  return {
    backend: 'virtual-machine',
    describe: async () => (enabled ? EXECUTORS['virtual-machine'] : undefined),
    launch: vm.provisionVm,
    restart: vm.restartVm,
    async stop({ serverId }) {
      await vm.stopVm({ serverId });
    },
    async remove({ serverId }) {
      await vm.deleteVm({ serverId });
    },
    // Every instance the hypervisor may still hold (blocked and failed ones are torn down already);
    // no instances, no hypervisor request.
    async removeStray(serverId) {
      await vm.deleteVm({ serverId });
    },
    logs: ({ workload }, { tail }) => hypervisor.logs(workload, tail ?? deps.logTailLines),
    async followLogs({ workload }) {
      const stopped = new AbortController();
      const lines = await hypervisor.streamLogs(workload, { signal: stopped.signal });
      return lines && { lines, stop: () => stopped.abort(), endReason: 'the stream ended' };
    },
    async inspect({ serverId, workload }): Promise<WorkloadState> {
      const instance = await vmInstanceState(sql, serverId, workload);
      if (!instance)
        return { state: 'gone', reason: `virtual machine ${workload} of server ${serverId} is not recorded` };
      if (instance.terminated_at)
        return { state: 'exited', reason: `virtual machine ${workload} was stopped or torn down` };
      if (instance.attestation_status === 'trusted') {
        // Recorded as running: whether it still runs, only the hypervisor knows.
        const status = await hypervisor.status(workload);
        if (!status)
          return { state: 'gone', reason: `virtual machine ${workload} is no longer known to the hypervisor` };
        if (status.state === 'running')
          return { state: 'running', reason: `virtual machine ${workload} attested and running` };
        if (status.state === 'stopped' || status.state === 'failed')
          return {
            state: 'exited',
            reason: `virtual machine ${workload} ${status.state}: ${status.exitReason ?? 'the hypervisor gave no reason'}`,
          };
        return { state: 'starting', reason: `virtual machine ${workload} is ${status.state}` };
      }
      return {
        state: 'starting',
        reason: `virtual machine ${workload} awaits attestation (${instance.attestation_status})`,
      };
    },
  } satisfies Executor<ProvisionVmInput, ProvisionVmResult> & {
    restart(input: { serverId: number }): Promise<RestartVmResult>;
  };
}

export type VmExecutor = ReturnType<typeof createVmExecutor>;
