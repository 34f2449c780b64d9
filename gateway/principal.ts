// Who is calling the gateway: the holder of an mcp-host bearer token, with the owner scope the API
// gives the same token (operators their own servers, admins and viewers all of them).
import type { Sql } from '../lib/db.js';
import { everyOwner, ownerScope } from '../lib/ledger/scope.js';
import { tokenHolder, touchToken } from '../lib/ledger/tokens.js';
import { hashToken } from '../lib/tokens.js';
import type { GatewayAuthFailure, GatewayPrincipal } from './contracts.js';

export type Authenticate = (authorization: string | undefined) => Promise<GatewayPrincipal | GatewayAuthFailure>;

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/=]{16,4096})$/;

/** How long a token, once looked up, is trusted without asking the ledger again (a revocation takes this long). */
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

export const isAuthFailure = (p: GatewayPrincipal | GatewayAuthFailure): p is GatewayAuthFailure =>
  (p as GatewayAuthFailure).status === 401;

const failure = (message: string): GatewayAuthFailure => ({ status: 401, message });

/** Authenticates mcp-host tokens; a short cache keeps the ledger off the hot path of every relayed request. */
export function tokenAuthenticator(sql: Sql): Authenticate {
  const cache = new Map<string, { principal: GatewayPrincipal; until: number }>();
  return async (authorization) => {
    if (!authorization) return failure('missing bearer token (Authorization: Bearer <token>)');
    const match = BEARER.exec(authorization);
    if (!match) return failure('malformed Authorization header; expected "Bearer <token>"');
    const hash = hashToken(match[1]!);
    const key = hash.toString('base64');
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.principal;
    const row = await tokenHolder(sql, hash);
    if (!row) {
      cache.delete(key);
      return failure('invalid, expired or revoked token');
    }
    if (!row.last_used_at || now - row.last_used_at.getTime() > 60_000) touchToken(sql, row.token_id).catch(() => {});
    const principal: GatewayPrincipal = {
      userId: row.id,
      email: row.email,
      role: row.role,
      tokenId: row.token_id,
      subject: `token:${row.token_id}`,
      scope: row.role === 'operator' ? ownerScope(row.id) : everyOwner,
      grants: null,
    };
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, { principal, until: now + CACHE_MS });
    return principal;
  };
}
