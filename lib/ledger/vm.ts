// A server's VM attestation posture as operators read it: its recent runtime_vm_instances with their
// runtime_vm_events (written by the VM executor's activities).
import type { Sql } from '../db.js';
import type { VmEvent, VmInstance, VmPosture } from '../vm/schemas.js';

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

  const instances = rows.map(
    (r): VmInstance => ({
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
        .map((e): VmEvent => ({ event_type: e.event_type, created_at: e.created_at.toISOString(), ...opt('payload', e.event_payload) })),
    }),
  );
  const newest = rows[0];
  return {
    server_id: serverId,
    ...opt('latest_status', newest?.attestation_status),
    ...opt('last_updated_at', newest?.updated_at.toISOString()),
    ...opt('active_instance_id', rows.find((r) => r.terminated_at === null)?.instance_id),
    instances,
  };
}

