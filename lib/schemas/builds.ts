import { z } from '@hono/zod-openapi';
import { Timestamp } from './common.js';

const Health = z.enum(['healthy', 'expiring_soon', 'expired', 'unknown']);

export const BuildPlatform = z
  .object({
    platform: z.string(),
    remote_image: z.string(),
    remote_tag: z.string(),
    digest: z.string().nullable(),
    media_type: z.string().nullable(),
    size: z.number().int().nullable(),
    auth_refresh_attempted: z.boolean(),
    auth_refresh_succeeded: z.boolean(),
    auth_rotation_attempted: z.boolean(),
    auth_rotation_succeeded: z.boolean(),
    credential_health_status: Health,
  })
  .openapi('BuildPlatform');

export const BuildRun = z
  .object({
    id: z.number().int(),
    server_id: z.number().int(),
    workflow_id: z.string(),
    source_repo: z.string().nullable(),
    source_branch: z.string().nullable(),
    source_revision: z.string().nullable(),
    registry: z.string().nullable(),
    local_image: z.string(),
    registry_image: z.string().nullable(),
    manifest_tag: z.string().nullable(),
    manifest_digest: z.string().nullable(),
    started_at: Timestamp,
    completed_at: Timestamp.nullable(),
    status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
    failure_reason: z.string().nullable(),
    multi_arch: z.boolean(),
    auth_refresh_attempted: z.boolean(),
    auth_refresh_succeeded: z.boolean(),
    auth_rotation_attempted: z.boolean(),
    auth_rotation_succeeded: z.boolean(),
    credential_health_status: Health,
    package_type: z.enum(['npm', 'pypi', 'go']).nullable().openapi({ description: 'A package source: its type' }),
    package_name: z.string().nullable().openapi({ description: 'The npm or PyPI package, or the Go package path' }),
    package_version: z.string().nullable().openapi({ description: 'The exact version the requested one resolved to' }),
    package_integrity: z
      .string()
      .nullable()
      .openapi({ description: "The registry's integrity hash (npm sha512-…, Go h1:… or sha256: of the module zip)" }),
    platforms: z.array(BuildPlatform),
  })
  .openapi('BuildRun');
export type BuildRun = z.infer<typeof BuildRun>;

export const BuildLogLine = z
  .object({ id: z.number().int(), platform: z.string().nullable(), line: z.string(), at: Timestamp })
  .openapi('BuildLogLine');

export const Metric = z
  .object({
    id: z.number().int(),
    timestamp: Timestamp,
    event_type: z.string(),
    details: z.unknown().openapi({ description: 'The event details as emitted (all keys kept)' }),
    run_id: z.number().int().nullable(),
    posted_by: z.number().int().nullable().openapi({
      description:
        "The user who posted the event through the API; null for the platform's own (only those move /metrics)",
    }),
  })
  .openapi('Metric');

export const PostMetricBody = z
  .object({
    event_type: z
      .string()
      .regex(/^[a-z][a-z0-9_.:-]{0,99}$/, 'must be 1-100 lowercase letters, digits, "_", ".", ":" or "-"'),
    details: z.record(z.string(), z.unknown()).nullable().default(null),
  })
  .strict()
  .openapi('PostMetric');

const digits = (what: string) =>
  z
    .string()
    .regex(/^\d{1,18}$/, `must be ${what}`)
    .transform(Number);
const limit = z
  .string()
  .regex(/^\d{1,4}$/, 'must be an integer between 1 and 1000')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, 'must be an integer between 1 and 1000');

export const PageQuery = z.object({ before: digits('an id').optional(), limit: limit.optional() }).strict();
export const AfterQuery = z.object({ after: digits('an id').optional(), limit: limit.optional() }).strict();
