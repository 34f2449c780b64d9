// The virtual-machine executor's activities: provision → record → verify attestation → start
// only what is trusted; stop, delete and logs of a server's VM instances.
//
// An untrusted instance is torn down and reported as
// `blocked` (a result, not an error, so the workflow records `blocked` and nothing overwrites it);
// the verifier trusts only the configured roots. Every DB write is idempotent per activity retry:
// the instance row is an upsert on (server_id, instance_id), and each event type is written once
// per instance under the instance row's lock. A failure after provisioning tears the instance down
// before it is rethrown, so a retry does not leak a VM.
//
// The functions use no activity Context (no heartbeat), so tests call them directly.
import { ApplicationFailure } from '@temporalio/activity';
import type postgres from 'postgres';
import { isPgError, PgCode, type Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { verifyAttestation, type AttestationConfig } from '../../lib/vm/attestation.js';
import { createHypervisorClient, HypervisorError, type HypervisorClient } from './hypervisor.js';

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

export interface VmLogsInput {
  serverId: number;
  tail?: number;
}

type Tx = postgres.TransactionSql;
type InstanceRow = { id: number; instance_id: string };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Hypervisor errors as ApplicationFailures the workflow's retry policy can tell apart. */
function toFailure(err: unknown): unknown {
  if (!(err instanceof HypervisorError)) return err;
  if (err.kind === 'invalid-response') return ApplicationFailure.create({ message: err.message, type: ErrorType.HypervisorInvalidResponse, nonRetryable: true, cause: err });
  if (err.retryable) return ApplicationFailure.create({ message: err.message, type: ErrorType.HypervisorUnavailable, cause: err });
  return ApplicationFailure.create({ message: err.message, type: ErrorType.HypervisorRejected, nonRetryable: true, cause: err });
}

/** Writes an event once per (instance, type): the instance row lock serializes concurrent attempts. */
async function recordEvent(tx: Tx, instanceRowId: number, type: string, payload: Record<string, unknown>): Promise<void> {
  await tx`select 1 from runtime_vm_instances where id = ${instanceRowId} for update`;
  await tx`
    insert into runtime_vm_events (vm_instance_id, event_type, event_payload)
    select ${instanceRowId}, ${type}, ${tx.json(payload as never)}
    where not exists (select 1 from runtime_vm_events where vm_instance_id = ${instanceRowId} and event_type = ${type})`;
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

  async function newestLiveInstance(serverId: number): Promise<InstanceRow | undefined> {
    const [row] = await sql<InstanceRow[]>`
      select id, instance_id from runtime_vm_instances
      where server_id = ${serverId} and terminated_at is null
      order by created_at desc, id desc limit 1`;
    return row;
  }

  return {
    async provisionVm(input: ProvisionVmInput): Promise<ProvisionVmResult> {
      const config = input.expectedNonce
        ? { ...input.config, attestation: { ...(input.config?.attestation as object | undefined), nonce: input.expectedNonce } }
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
      const evidenceJson = evidence === null ? null : sql.json(evidence as never);
      const capabilityNotes = [...new Set([...(input.notes ?? []), ...(evidence === null ? [] : ['attestation:evidence-present'])])].sort();

      let rowId: number | undefined;
      try {
        rowId = await sql.begin(async (tx) => {
          const [row] = await tx<{ id: number }[]>`
            insert into runtime_vm_instances (server_id, instance_id, isolation_tier, attestation_status, attestation_evidence, policy_version, capability_notes)
            values (${input.serverId}, ${instanceId}, ${isolationTier}, 'pending', ${evidenceJson}, ${input.policyVersion}, ${capabilityNotes}::text[])
            on conflict (server_id, instance_id) do update set updated_at = now()
            returning id`;
          await recordEvent(tx, row!.id, 'provisioned', { instance_id: instanceId, requested_image: input.image, image: provisioned.image });
          // Where the server runs now, with the instance: stop and delete dispatch on it (runtime/workloads.ts).
          await tx`
            insert into server_runtimes (server_id, backend, decision_id, workload, image)
            values (${input.serverId}, 'virtual-machine', ${input.decisionId ?? null}, ${instanceId}, ${input.image})
            on conflict (server_id) do update set backend = 'virtual-machine', decision_id = excluded.decision_id,
              workload = excluded.workload, image = excluded.image, endpoint = null, updated_at = now()`;
          return row!.id;
        });
        const id = rowId;

        const verdict = verifyAttestation({
          evidence,
          now: now(),
          config: deps.attestation,
          expectedNonce: input.expectedNonce ?? null,
          policyVersion: input.policyVersion,
        });
        await sql.begin(async (tx) => {
          await recordEvent(tx, id, 'attestation', { status: verdict.status, notes: verdict.notes });
          await tx`
            update runtime_vm_instances
            set attestation_status = ${verdict.status}, attestation_evidence = ${evidenceJson}, updated_at = now()
            where id = ${id}`;
        });
        const result = { instanceId, isolationTier, notes: verdict.notes };

        if (verdict.status === 'untrusted') {
          const teardown = await tryTeardown(instanceId);
          await sql.begin(async (tx) => {
            await recordEvent(tx, id, 'blocked', { server_id: input.serverId, notes: verdict.notes, torn_down: teardown.tornDown });
            await tx`
              update runtime_vm_instances
              set terminated_at = coalesce(terminated_at, now()), last_error = ${teardown.error}, updated_at = now()
              where id = ${id}`;
          });
          return { status: 'blocked', ...result };
        }
        if (verdict.status === 'unknown') return { status: 'pending-attestation', ...result };

        await hypervisor.start(instanceId);
        await sql.begin(async (tx) => {
          await recordEvent(tx, id, 'ready', { server_id: input.serverId });
          await tx`update runtime_vm_instances set updated_at = now() where id = ${id}`;
        });
        return { status: 'running', ...result };
      } catch (err) {
        // Whatever failed after provisioning: do not leave the VM behind, record why, then fail.
        const teardown = await tryTeardown(instanceId);
        const error = message(err);
        if (rowId !== undefined) {
          const id = rowId;
          await sql
            .begin(async (tx) => {
              await recordEvent(tx, id, 'failed', { error, torn_down: teardown.tornDown });
              await tx`
                update runtime_vm_instances
                set last_error = ${teardown.error ? `${error}; ${teardown.error}` : error},
                    terminated_at = case when ${teardown.tornDown} then coalesce(terminated_at, now()) else terminated_at end,
                    updated_at = now()
                where id = ${id}`;
            })
            .catch(() => {}); // the original error is the one to report
        }
        if (isPgError(err, PgCode.foreignKeyViolation)) {
          throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
        }
        throw toFailure(err);
      }
    },

    /** Stops the server's newest running instance; `instanceId` is null when there was none. */
    async stopVm({ serverId }: { serverId: number }): Promise<{ instanceId: string | null }> {
      const instance = await newestLiveInstance(serverId);
      if (!instance) return { instanceId: null };
      try {
        await hypervisor.stop(instance.instance_id); // already gone (404) counts as stopped
      } catch (err) {
        throw toFailure(err);
      }
      await sql.begin(async (tx) => {
        await recordEvent(tx, instance.id, 'stopped', { server_id: serverId });
        await tx`
          update runtime_vm_instances set terminated_at = coalesce(terminated_at, now()), updated_at = now()
          where id = ${instance.id}`;
      });
      return { instanceId: instance.instance_id };
    },

    /** Tears down every instance of the server the hypervisor may still hold, newest first. */
    async deleteVm({ serverId }: { serverId: number }): Promise<{ deleted: string[] }> {
      const instances = await sql<InstanceRow[]>`
        select i.id, i.instance_id from runtime_vm_instances i
        where i.server_id = ${serverId}
          -- not yet torn down: no 'deleted' event, and no 'blocked'/'failed' one that tore it down
          and not exists (
            select 1 from runtime_vm_events e
            where e.vm_instance_id = i.id
              and (e.event_type = 'deleted' or (e.event_type in ('blocked', 'failed') and e.event_payload->>'torn_down' = 'true')))
        order by i.created_at desc, i.id desc`;
      const deleted: string[] = [];
      for (const instance of instances) {
        try {
          await hypervisor.teardown(instance.instance_id); // already gone (404) counts as deleted
        } catch (err) {
          throw toFailure(err);
        }
        await sql.begin(async (tx) => {
          await recordEvent(tx, instance.id, 'deleted', { server_id: serverId });
          await tx`
            update runtime_vm_instances set terminated_at = coalesce(terminated_at, now()), updated_at = now()
            where id = ${instance.id}`;
        });
        deleted.push(instance.instance_id);
      }
      return { deleted };
    },

    /** The last `tail` lines (default VM_LOG_TAIL_LINES) of the newest running instance; '' without one. */
    async vmLogs({ serverId, tail }: VmLogsInput): Promise<string> {
      const instance = await newestLiveInstance(serverId);
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
