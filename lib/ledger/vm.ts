// A server's VM instances (runtime_vm_instances) and their events (runtime_vm_events): the VM
// executor's activities write them, operators read the posture. Every write is idempotent per
// activity retry: the instance row is an upsert on (server_id, instance_id), and each event type
// is written once per instance under the instance row's lock.
import type postgres from 'postgres';
import type { Sql } from '../db.js';
import type { LatestVmInstance } from '../vm/posture.js';
import type { VmEvent, VmInstance, VmPosture } from '../vm/schemas.js';

type Tx = postgres.TransactionSql;

const INSTANCE_LIMIT = 10;

interface InstanceRow {
  id: number;
  instance_id: string;
  isolation_tier: string | null;
  attestation_status: VmInstance['attestation_status'];
  attestation_evidence: unknown;
  policy_version: string | null;
  capability_notes: string[];
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  terminated_at: Date | null;
}

interface EventRow {
  vm_instance_id: number;
  event_type: string;
  event_payload: unknown;
  created_at: Date;
}

/** `{key: value}` when value is not null, else `{}`: optional keys are omitted, never null. */
const opt = <K extends string, V>(key: K, value: V | null | undefined) =>
  (value === null || value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** The posture of one server (no owner check: callers have found the server in their scope). */
export async function vmPosture(sql: Sql, serverId: number): Promise<VmPosture> {
  const rows = await sql<InstanceRow[]>`
    select id, instance_id, isolation_tier, attestation_status, attestation_evidence, policy_version, capability_notes,
           last_error, created_at, updated_at, terminated_at
    from runtime_vm_instances where server_id = ${serverId}
    order by created_at desc, id desc limit ${INSTANCE_LIMIT}`;
  const events = rows.length
    ? await sql<EventRow[]>`
        select vm_instance_id, event_type, event_payload, created_at from runtime_vm_events
        where vm_instance_id in ${sql(rows.map((r) => r.id))} order by id`
    : [];

  const instances = rows.map((r): VmInstance => ({
    id: r.id,
    instance_id: r.instance_id,
    ...opt('isolation_tier', r.isolation_tier),
    attestation_status: r.attestation_status,
    ...opt('policy_version', r.policy_version),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    ...opt('terminated_at', r.terminated_at?.toISOString()),
    ...opt('last_error', r.last_error),
    ...opt('attestation_evidence', r.attestation_evidence),
    capability_notes: r.capability_notes,
    events: events
      .filter((e) => e.vm_instance_id === r.id)
      .map((e): VmEvent => ({
        event_type: e.event_type,
        created_at: e.created_at.toISOString(),
        ...opt('payload', e.event_payload),
      })),
  }));
  const newest = rows[0];
  return {
    server_id: serverId,
    ...opt('latest_status', newest?.attestation_status),
    ...opt('last_updated_at', newest?.updated_at.toISOString()),
    ...opt('active_instance_id', rows.find((r) => r.terminated_at === null)?.instance_id),
    instances,
  };
}

/** The server's newest instance, as the launch decision weighs its attestation. */
export async function latestVmInstance(sql: Sql, serverId: number): Promise<LatestVmInstance | undefined> {
  const [latest] = await sql<LatestVmInstance[]>`
    select attestation_status as "attestationStatus", updated_at as "updatedAt", terminated_at as "terminatedAt"
    from runtime_vm_instances where server_id = ${serverId}
    order by created_at desc, id desc limit 1`;
  return latest;
}

/** An instance: its row id and the hypervisor's instance id. */
export interface LiveInstance {
  id: number;
  instance_id: string;
}

/** The server's newest instance not yet terminated. */
export async function newestLiveInstance(sql: Sql, serverId: number): Promise<LiveInstance | undefined> {
  const [row] = await sql<LiveInstance[]>`
    select id, instance_id from runtime_vm_instances
    where server_id = ${serverId} and terminated_at is null
    order by created_at desc, id desc limit 1`;
  return row;
}

/** Every instance of the server the hypervisor may still hold, newest first. */
export function instancesNotTornDown(sql: Sql, serverId: number): Promise<LiveInstance[]> {
  return sql<LiveInstance[]>`
    select i.id, i.instance_id from runtime_vm_instances i
    where i.server_id = ${serverId}
      -- not yet torn down: no 'deleted' event, and no 'blocked'/'failed' one that tore it down
      and not exists (
        select 1 from runtime_vm_events e
        where e.vm_instance_id = i.id
          and (e.event_type = 'deleted' or (e.event_type in ('blocked', 'failed') and e.event_payload->>'torn_down' = 'true')))
    order by i.created_at desc, i.id desc`;
}

/** The recorded state of one instance of the server. */
export async function vmInstanceState(sql: Sql, serverId: number, instanceId: string) {
  const [instance] = await sql<{ attestation_status: string; terminated_at: Date | null }[]>`
    select attestation_status, terminated_at from runtime_vm_instances where server_id = ${serverId} and instance_id = ${instanceId}`;
  return instance;
}

/** Writes an event once per (instance, type): the instance row lock serializes concurrent attempts. */
async function recordEvent(
  tx: Tx,
  instanceRowId: number,
  type: string,
  payload: Record<string, unknown>,
): Promise<void> {
  await tx`select 1 from runtime_vm_instances where id = ${instanceRowId} for update`;
  await tx`
    insert into runtime_vm_events (vm_instance_id, event_type, event_payload)
    select ${instanceRowId}, ${type}, ${tx.json(payload as never)}
    where not exists (select 1 from runtime_vm_events where vm_instance_id = ${instanceRowId} and event_type = ${type})`;
}

export interface ProvisionedInstance {
  serverId: number;
  instanceId: string;
  isolationTier: string | null;
  evidence: unknown;
  policyVersion: string;
  capabilityNotes: string[];
  /** The image asked for, and the one the hypervisor says it runs. */
  requestedImage: string;
  image: string | null;
  decisionId: number | null;
}

/**
 * A provisioned instance (`pending`), its `provisioned` event, and where the server runs now:
 * stop, delete and logs find the instance through server_runtimes. The instance's row id.
 */
export function recordProvisioned(sql: Sql, p: ProvisionedInstance): Promise<number> {
  const evidenceJson = p.evidence === null ? null : sql.json(p.evidence as never);
  return sql.begin(async (tx) => {
    const [row] = await tx<{ id: number }[]>`
      insert into runtime_vm_instances (server_id, instance_id, isolation_tier, attestation_status, attestation_evidence, policy_version, capability_notes)
      values (${p.serverId}, ${p.instanceId}, ${p.isolationTier}, 'pending', ${evidenceJson}, ${p.policyVersion}, ${p.capabilityNotes}::text[])
      on conflict (server_id, instance_id) do update set updated_at = now()
      returning id`;
    await recordEvent(tx, row!.id, 'provisioned', {
      instance_id: p.instanceId,
      requested_image: p.requestedImage,
      image: p.image,
    });
    await tx`
      insert into server_runtimes (server_id, backend, decision_id, workload, image)
      values (${p.serverId}, 'virtual-machine', ${p.decisionId}, ${p.instanceId}, ${p.requestedImage})
      on conflict (server_id) do update set backend = 'virtual-machine', decision_id = excluded.decision_id,
        workload = excluded.workload, image = excluded.image, endpoint = null, updated_at = now()`;
    return row!.id;
  });
}

/** The verifier's verdict on the instance's evidence, with its `attestation` event. */
export async function recordAttestation(
  sql: Sql,
  id: number,
  verdict: { status: string; notes: string[] },
  evidence: unknown,
): Promise<void> {
  const evidenceJson = evidence === null ? null : sql.json(evidence as never);
  await sql.begin(async (tx) => {
    await recordEvent(tx, id, 'attestation', { status: verdict.status, notes: verdict.notes });
    await tx`
      update runtime_vm_instances
      set attestation_status = ${verdict.status}, attestation_evidence = ${evidenceJson}, updated_at = now()
      where id = ${id}`;
  });
}

/** An untrusted instance, terminated (its teardown's error, if any, kept), with its `blocked` event. */
export async function recordBlocked(
  sql: Sql,
  id: number,
  serverId: number,
  notes: string[],
  teardown: { tornDown: boolean; error: string | null },
): Promise<void> {
  await sql.begin(async (tx) => {
    await recordEvent(tx, id, 'blocked', { server_id: serverId, notes, torn_down: teardown.tornDown });
    await tx`
      update runtime_vm_instances
      set terminated_at = coalesce(terminated_at, now()), last_error = ${teardown.error}, updated_at = now()
      where id = ${id}`;
  });
}

/** A trusted instance started, with its `ready` event. */
export async function recordReady(sql: Sql, id: number, serverId: number): Promise<void> {
  await sql.begin(async (tx) => {
    await recordEvent(tx, id, 'ready', { server_id: serverId });
    await tx`update runtime_vm_instances set updated_at = now() where id = ${id}`;
  });
}

/** A launch that failed after provisioning: why, and whether the instance was torn down. */
export async function recordFailed(
  sql: Sql,
  id: number,
  error: string,
  teardown: { tornDown: boolean; error: string | null },
): Promise<void> {
  await sql.begin(async (tx) => {
    await recordEvent(tx, id, 'failed', { error, torn_down: teardown.tornDown });
    await tx`
      update runtime_vm_instances
      set last_error = ${teardown.error ? `${error}; ${teardown.error}` : error},
          terminated_at = case when ${teardown.tornDown} then coalesce(terminated_at, now()) else terminated_at end,
          updated_at = now()
      where id = ${id}`;
  });
}

/** An instance stopped or deleted on the hypervisor: terminated, with its `stopped`/`deleted` event. */
export async function recordTerminated(
  sql: Sql,
  id: number,
  type: 'stopped' | 'deleted',
  serverId: number,
): Promise<void> {
  await sql.begin(async (tx) => {
    await recordEvent(tx, id, type, { server_id: serverId });
    await tx`
      update runtime_vm_instances set terminated_at = coalesce(terminated_at, now()), updated_at = now()
      where id = ${id}`;
  });
}
