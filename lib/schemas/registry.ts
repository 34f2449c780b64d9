// Registry credential checks as the API answers them.
import { z } from '@hono/zod-openapi';
import { Timestamp } from './common.js';

export const CredentialCheck = z
  .object({
    id: z.number().int(),
    trigger: z.enum(['schedule', 'manual']),
    status: z.enum(['healthy', 'expiring_soon', 'expired', 'unknown']),
    message: z.string().nullable(),
    observed_at: Timestamp,
    expires_at: Timestamp.nullable(),
    seconds_until_expiry: z.number().int().nullable(),
    rotation_recommended: z.boolean(),
    rotation_configured: z.boolean(),
    rotation_attempted: z.boolean(),
    rotation_succeeded: z.boolean().nullable(),
    rotation_error: z.string().nullable(),
    workflow_id: z.string(),
  })
  .openapi('CredentialCheck');
export type CredentialCheck = z.infer<typeof CredentialCheck>;

export const CredentialsStatus = z
  .object({
    registry: z.string().nullable(),
    configured: z.boolean().openapi({ description: 'REGISTRY and REGISTRY_AUTH_DOCKERCONFIG are both set' }),
    latest: CredentialCheck.nullable(),
    history: z.array(CredentialCheck),
    schedule: z.object({ id: z.string(), next_runs: z.array(Timestamp), paused: z.boolean() }).nullable(),
  })
  .openapi('CredentialsStatus');
export type CredentialsStatus = z.infer<typeof CredentialsStatus>;
