// The VM attestation posture of a server, as the API answers it and mcpctl reads it.
// Optional keys are omitted (not null) when they have no value.
import { z } from '@hono/zod-openapi';
import { Timestamp } from '../schemas/common.js';

export const ATTESTATION_STATUSES = ['pending', 'trusted', 'untrusted', 'unknown'] as const;

export const VmEvent = z
  .object({
    event_type: z.string().openapi({ example: 'attestation' }),
    created_at: Timestamp,
    payload: z.unknown().optional().openapi({ description: 'Event details, e.g. `{status, notes}` for `attestation`' }),
  })
  .openapi('VmEvent');
export type VmEvent = z.infer<typeof VmEvent>;

export const VmInstance = z
  .object({
    id: z.number().int(),
    instance_id: z.string().openapi({ example: 'vm-123' }),
    isolation_tier: z.string().optional(),
    attestation_status: z.enum(ATTESTATION_STATUSES),
    policy_version: z.string().optional(),
    created_at: Timestamp,
    updated_at: Timestamp,
    terminated_at: Timestamp.optional(),
    last_error: z.string().optional(),
    attestation_evidence: z.unknown().optional(),
    capability_notes: z.array(z.string()),
    events: z.array(VmEvent).openapi({ description: 'Oldest first' }),
  })
  .openapi('VmInstance');
export type VmInstance = z.infer<typeof VmInstance>;

export const VmPosture = z
  .object({
    server_id: z.number().int(),
    latest_status: z
      .enum(ATTESTATION_STATUSES)
      .optional()
      .openapi({ description: 'Attestation status of the newest instance' }),
    last_updated_at: Timestamp.optional(),
    active_instance_id: z.string().optional().openapi({ description: 'The newest instance not terminated' }),
    instances: z.array(VmInstance).openapi({ description: 'The 10 most recent instances, newest first' }),
  })
  .openapi('VmPosture');
export type VmPosture = z.infer<typeof VmPosture>;
