// Bearer-token authentication and role checks for every /api route.
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { Sql } from '../lib/db.js';
import { everyOwner, ownerScope, type OwnerScope } from '../lib/ledger/scope.js';
import { tokenHolder, touchToken } from '../lib/ledger/tokens.js';
import { ApiError, forbidden } from '../lib/errors.js';
import type { Role } from '../lib/schemas/common.js';
import { hashToken } from '../lib/tokens.js';
import type { AppEnv, Caller } from './context.js';

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);

/**
 * `cookie`: a cookie that may carry the token instead of the header, for a browser page that cannot
 * set one (the Temporal Web UI calling the codec endpoint with its "include credentials" setting).
 */
export function authenticate(sql: Sql, opts: { cookie?: string } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const fromCookie = opts.cookie ? getCookie(c, opts.cookie) : undefined;
    const header = c.req.header('authorization') ?? (fromCookie && `Bearer ${fromCookie}`);
    if (!header) throw unauthorized('missing bearer token (Authorization: Bearer <token>)');
    const match = /^Bearer ([A-Za-z0-9_\-.~+/=]{16,200})$/.exec(header);
    if (!match) throw unauthorized('malformed Authorization header; expected "Bearer <token>"');
    const row = await tokenHolder(sql, hashToken(match[1]!));
    if (!row) throw unauthorized('invalid, expired or revoked token');
    // A client token carries grants for the gateway only: the token is genuine, so 403, not 401.
    if (row.gateway_grants) {
      throw new ApiError(
        403,
        'gateway_token',
        'this is a client token of the MCP gateway: it opens /mcp endpoints only, never /api',
      );
    }
    // last_used_at is informational: refresh it at most once a minute, off the request path.
    if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
      touchToken(sql, row.token_id).catch(() => {});
    }
    c.set('caller', { id: row.id, email: row.email, role: row.role, tokenId: row.token_id });
    await next();
  });
}

/** Viewers read; operators and admins change things. */
export function requireRole(caller: Caller, ...roles: Role[]): void {
  if (!roles.includes(caller.role))
    throw forbidden(`this needs the ${roles.join(' or ')} role; you are ${caller.role}`);
}

/** Admins and viewers see every owner's resources; operators their own. */
export function visibleScope(caller: Caller): OwnerScope {
  return caller.role === 'operator' ? ownerScope(caller.id) : everyOwner;
}
