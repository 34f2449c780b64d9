// Schemas shared by the API (validation + OpenAPI) and mcpctl.
import { z } from '@hono/zod-openapi';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      field: z.string().optional().openapi({ description: 'The request field at fault, as a dotted path' }),
    }),
  })
  .openapi('Error');

/** Path ids: positive 32-bit integers, given as decimal digits. */
export const IdParam = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,9}$/, 'must be a positive integer')
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, 'must be a positive 32-bit integer')
    .openapi({ param: { name: 'id', in: 'path' }, example: '12' }),
});

export const Timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-25T08:00:00.000Z' });

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;
