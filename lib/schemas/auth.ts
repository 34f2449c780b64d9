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

export const CreateTokenBody = z
  .object({
    name: z.string().trim().min(1).max(100),
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
  })
  .openapi('TokenInfo');

export const CreatedToken = TokenInfo.extend({
  token: z.string().openapi({ description: 'The bearer token; shown this once and never again' }),
}).openapi('CreatedToken');
