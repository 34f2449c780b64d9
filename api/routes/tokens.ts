// API tokens: created (shown once), listed (never shown again), revoked.
import { z } from '@hono/zod-openapi';
import { ApiError, forbidden, notFound } from '../../lib/errors.js';
import { everyOwner, ownerScope } from '../../lib/ledger/scope.js';
import { createToken, listTokens, revokeToken, serversInScope, toTokenInfo } from '../../lib/ledger/tokens.js';
import { findUser } from '../../lib/ledger/users.js';
import { CreatedToken, CreateTokenBody, TokenInfo } from '../../lib/schemas/auth.js';
import { IdParam } from '../../lib/schemas/common.js';
import { generateToken, hashToken, tokenPrefix } from '../../lib/tokens.js';
import type { ApiDeps, Caller } from '../context.js';
import {
  commonErrors,
  rateLimitedError,
  createRouter,
  json,
  jsonBody,
  notFoundError,
  defineRoute,
} from '../openapi.js';

const tags = ['tokens'];

/** Admins see and revoke every token; others their own. */
const tokenScope = (caller: Caller) => (caller.role === 'admin' ? everyOwner : ownerScope(caller.id));

export function tokenRoutes({ sql, env }: ApiDeps) {
  return createRouter()
    .openapi(
      defineRoute({
        method: 'post',
        path: '/',
        operationId: 'createToken',
        tags,
        summary: 'Create a token for yourself (admins: for any user). The token is in this response only.',
        request: { body: jsonBody(CreateTokenBody) },
        responses: { 201: json(CreatedToken, 'Created'), ...commonErrors, ...notFoundError, ...rateLimitedError },
      }),
      async (c) => {
        const caller = c.get('caller');
        const body = c.req.valid('json');
        const userId = body.user_id ?? caller.id;
        if (userId !== caller.id && caller.role !== 'admin')
          throw forbidden('only admins create tokens for other users');
        const holder = await findUser(sql, userId);
        if (!holder) throw new ApiError(404, 'not_found', `user ${userId} not found`, 'user_id');
        // A client token reaches only servers its holder could open: each granted id must be one of them.
        const granted = body.gateway?.servers;
        if (Array.isArray(granted)) {
          const known = await serversInScope(
            sql,
            holder.role === 'operator' ? ownerScope(holder.id) : everyOwner,
            granted,
          );
          const index = granted.findIndex((id) => !known.has(id));
          if (index >= 0) {
            throw new ApiError(
              422,
              'validation_failed',
              `gateway.servers.${index}: server ${granted[index]} not found`,
              `gateway.servers.${index}`,
            );
          }
        }
        const token = generateToken();
        const expiresAt = body.expires_in_days ? new Date(Date.now() + body.expires_in_days * 86_400_000) : null;
        // Self-service creation is rate limited per user; admins (who provision other users'
        // tokens) are not limited.
        const row = await createToken(sql, {
          userId,
          name: body.name,
          hash: hashToken(token),
          prefix: tokenPrefix(token),
          expiresAt,
          gatewayGrants: body.gateway ?? null,
          perMinute: caller.role === 'admin' ? undefined : env.TOKEN_CREATE_PER_MINUTE,
        });
        if (!row) {
          c.header('Retry-After', '60');
          throw new ApiError(
            429,
            'rate_limited',
            `at most ${env.TOKEN_CREATE_PER_MINUTE} tokens a minute; try again later`,
          );
        }
        return c.json({ ...toTokenInfo(row), token }, 201);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/',
        operationId: 'listTokens',
        tags,
        summary: 'List your tokens (admins: every token)',
        responses: { 200: json(z.array(TokenInfo), 'Tokens, without their secret'), ...commonErrors },
      }),
      async (c) => {
        const caller = c.get('caller');
        const rows = await listTokens(sql, tokenScope(caller));
        return c.json(rows.map(toTokenInfo), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'delete',
        path: '/{id}',
        operationId: 'revokeToken',
        tags,
        summary: 'Revoke a token (your own; admins: any)',
        request: { params: IdParam },
        responses: { 200: json(TokenInfo, 'Revoked'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const caller = c.get('caller');
        const { id } = c.req.valid('param');
        const row = await revokeToken(sql, id, tokenScope(caller));
        if (!row) throw notFound(`token ${id}`);
        return c.json(toTokenInfo(row), 200);
      },
    );
}
