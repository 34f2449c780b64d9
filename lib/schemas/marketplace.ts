import { z } from '@hono/zod-openapi';
import { BuildRun } from './builds.js';
import { Timestamp } from './common.js';

export const MarketplacePromotion = z
  .object({
    track_id: z.number().int(),
    track_name: z.string(),
    stage: z.string(),
    status: z.string(),
    updated_at: Timestamp,
    notes: z.array(z.string()),
  })
  .openapi('MarketplacePromotion');

export const MarketplaceEntry = z
  .object({
    run_id: z.number().int(),
    server_id: z.number().int(),
    server_name: z.string(),
    server_type: z.string(),
    manifest_tag: z.string().nullable(),
    manifest_digest: z.string().nullable(),
    registry_image: z.string().nullable(),
    local_image: z.string(),
    status: z.string(),
    last_built_at: Timestamp.nullable(),
    source_repo: z.string().nullable(),
    source_branch: z.string().nullable(),
    source_revision: z.string().nullable(),
    multi_arch: z.boolean(),
    credential_health_status: z.string(),
    tier: z.string(),
    health: z.object({ overall: z.enum(['healthy', 'degraded', 'blocked']), issues: z.array(z.string()) }),
    platforms: z.array(BuildRun.shape.platforms.element.omit({ media_type: true, size: true })),
    promotion: MarketplacePromotion.nullable(),
    promotion_history: z.array(MarketplacePromotion),
  })
  .openapi('MarketplaceEntry');
export type MarketplaceEntry = z.infer<typeof MarketplaceEntry>;

export const MarketplaceQuery = z
  .object({
    server_type: z.string().max(64).optional(),
    status: z.enum(['running', 'succeeded', 'failed', 'cancelled']).optional(),
    tier: z.string().max(100).optional().openapi({ description: 'Derived tier, e.g. gold:Router; case-insensitive' }),
    q: z
      .string()
      .trim()
      .max(200)
      .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters')
      .optional()
      .openapi({
        description: 'Substring of server name, manifest tag or digest, image references or source repository',
      }),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, 'must be an integer between 1 and 200')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 200, 'must be an integer between 1 and 200')
      .optional(),
    cursor: z
      .string()
      .max(200)
      .optional()
      .openapi({ description: 'From the X-Next-Cursor header of the previous page' }),
  })
  .strict();
