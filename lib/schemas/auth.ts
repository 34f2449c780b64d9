import { z } from '@hono/zod-openapi';
import { Role, Timestamp } from './common.js';

export const User = z
  .object({
    id: z.number().int(),
    email: z.string(),
    role: Role,
    server_quota: z.number().int(),
    created_at: Timestamp,
  })
  .openapi('User');
export type User = z.infer<typeof User>;

export const CreateUserBody = z
  .object({
    email: z.string().max(254).email('must be an email address'),
    role: Role.default('operator'),
    server_quota: z.number().int().min(0).max(100_000).optional(),
  })
  .strict()
  .openapi('CreateUser');

/** A glob over tool names, resource URIs or prompt names: `*` any run of characters, `?` one. */
const GrantPattern = z
  .string()
  .min(1, 'must not be empty')
  .max(512)
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters');

/**
 * What a client token of the gateway may reach. Tools, resources and prompts left out are not granted
 * (an empty list); `*` grants every one.
 */
export const GatewayGrantsBody = z
  .object({
    servers: z
      .union([z.literal('*'), z.array(z.number().int().positive().max(2_147_483_647)).min(1).max(100)])
      .openapi({ description: 'Server ids the token may open, or "*" for every server of its owner' }),
    tools: z.array(GrantPattern).max(100).default([]).openapi({ description: 'Globs over tool names' }),
    resources: z.array(GrantPattern).max(100).default([]).openapi({ description: 'Globs over resource URIs' }),
    prompts: z.array(GrantPattern).max(100).default([]).openapi({ description: 'Globs over prompt names' }),
  })
  .strict()
  .openapi('GatewayGrants');
export type GatewayGrantsBody = z.infer<typeof GatewayGrantsBody>;

export const CreateTokenBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    gateway: GatewayGrantsBody.optional().openapi({
      description: 'Makes a client token of the MCP gateway: it opens what it grants at /mcp and is refused at /api',
    }),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
    user_id: z
      .number()
      .int()
      .positive()
      .optional()
      .openapi({ description: 'Admins may create a token for another user' }),
  })
  .strict()
  .openapi('CreateToken');

export const TokenInfo = z
  .object({
    id: z.number().int(),
    user_id: z.number().int(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'The first characters of the token, to tell tokens apart' }),
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    last_used_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    gateway: GatewayGrantsBody.nullable().openapi({
      description: 'The grants of a client token of the gateway; null for an API token',
    }),
  })
  .openapi('TokenInfo');

export const CreatedToken = TokenInfo.extend({
  token: z.string().openapi({ description: 'The bearer token; shown this once and never again' }),
}).openapi('CreatedToken');
