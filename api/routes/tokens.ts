// API tokens: created (shown once), listed (never shown again), revoked.
import { createRoute, z } from '@hono/zod-openapi';
import { ApiError, forbidden, notFound } from '../../lib/errors.js';
import { CreatedToken, CreateTokenBody, TokenInfo } from '../../lib/schemas/auth.js';
import { IdParam } from '../../lib/schemas/common.js';
import { generateToken, hashToken, tokenPrefix } from '../../lib/tokens.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, rateLimitedError, createRouter, json, jsonBody, notFoundError } from '../openapi.js';

interface TokenRow {
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const toInfo = (row: TokenRow): z.infer<typeof TokenInfo> => ({
  id: row.id,
  user_id: row.user_id,
  name: row.name,
  prefix: row.prefix,
  created_at: row.created_at.toISOString(),
  expires_at: iso(row.expires_at),
  last_used_at: iso(row.last_used_at),
  revoked_at: iso(row.revoked_at),
});

const tags = ['tokens'];
const columns = 'id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at';

export function tokenRoutes({ sql, env }: ApiDeps) {
  return createRouter()
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        tags,
        summary: 'Create a token for yourself (admins: for any user). The token is in this response only.',
        request: { body: jsonBody(CreateTokenBody) },
        responses: { 201: json(CreatedToken, 'Created'), ...commonErrors, ...notFoundError, ...rateLimitedError },
      }),
      async (c) => {
        const caller = c.get('caller');
        const body = c.req.valid('json');
        const userId = body.user_id ?? caller.id;
        if (userId !== caller.id && caller.role !== 'admin') throw forbidden('only admins create tokens for other users');
        const [user] = await sql`select id from users where id = ${userId}`;
        if (!user) throw new ApiError(404, 'not_found', `user ${userId} not found`, 'user_id');
        const token = generateToken();
        const expiresAt = body.expires_in_days ? new Date(Date.now() + body.expires_in_days * 86_400_000) : null;
        const row = await sql.begin(async (tx) => {
          // Self-service creation is rate limited per user, counted in the ledger so every API
          // replica agrees; the per-user lock makes concurrent requests count one after another.
          // Admins (who provision other users' tokens) are not limited.
          if (caller.role !== 'admin') {
            await tx`select pg_advisory_xact_lock(hashtext('api_tokens:create'), ${caller.id})`;
            const [recent] = await tx<{ n: number }[]>`
              select count(*)::int as n from api_tokens where user_id = ${caller.id} and created_at > now() - interval '1 minute'`;
            if (recent!.n >= env.TOKEN_CREATE_PER_MINUTE) {
              c.header('Retry-After', '60');
              throw new ApiError(429, 'rate_limited', `at most ${env.TOKEN_CREATE_PER_MINUTE} tokens a minute; try again later`);
            }
          }
          const [inserted] = await tx<TokenRow[]>`
            insert into api_tokens (user_id, name, token_hash, prefix, expires_at)
            values (${userId}, ${body.name}, ${hashToken(token)}, ${tokenPrefix(token)}, ${expiresAt})
            returning ${sql.unsafe(columns)}`;
          return inserted!;
        });
        return c.json({ ...toInfo(row), token }, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'List your tokens (admins: every token)',
        responses: { 200: json(z.array(TokenInfo), 'Tokens, without their secret'), ...commonErrors },
      }),
      async (c) => {
        const caller = c.get('caller');
        const rows = await sql<TokenRow[]>`
          select ${sql.unsafe(columns)} from api_tokens
          ${caller.role === 'admin' ? sql`` : sql`where user_id = ${caller.id}`}
          order by id`;
        return c.json(rows.map(toInfo), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{id}',
        tags,
        summary: 'Revoke a token (your own; admins: any)',
        request: { params: IdParam },
        responses: { 200: json(TokenInfo, 'Revoked'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const caller = c.get('caller');
        const { id } = c.req.valid('param');
        const [row] = await sql<TokenRow[]>`
          update api_tokens set revoked_at = coalesce(revoked_at, now())
          where id = ${id} ${caller.role === 'admin' ? sql`` : sql`and user_id = ${caller.id}`}
          returning ${sql.unsafe(columns)}`;
        if (!row) throw notFound(`token ${id}`);
        return c.json(toInfo(row), 200);
      },
    );
}
