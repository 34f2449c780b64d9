// Who is calling the gateway: the holder of an mcp-host bearer token, with the owner scope the API
// gives the same token (operators their own servers, admins and viewers all of them) and, for a
// client token, its grants; or, when an OpenID Connect issuer is configured, the mcp-host user an
// access token of that issuer names (gateway/oidc.ts).
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import { findUserByEmail } from '../lib/ledger/users.js';
import { everyOwner, ownerScope } from '../lib/ledger/scope.js';
import { TOKEN_CHANGES_CHANNEL, tokenHolder, touchToken } from '../lib/ledger/tokens.js';
import type { Logger } from '../lib/logger.js';
import { hashToken } from '../lib/tokens.js';
import type { GatewayAuthFailure, GatewayPrincipal } from './contracts.js';
import { looksLikeJwt, oidcVerifier, type OidcVerifier } from './oidc.js';

/** `resource` is the canonical URL of the endpoint called (`<PUBLIC_URL>/mcp/3`): a token's audience must name it. */
export type Authenticate = (
  authorization: string | undefined,
  resource: string,
) => Promise<GatewayPrincipal | GatewayAuthFailure>;

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/=]{16,4096})$/;

/**
 * How long a token, once looked up, is trusted without asking the ledger again. A revocation clears
 * it at once (TOKEN_CHANGES_CHANNEL); this bounds only what a process that missed the notification
 * (its listening connection was down) may go on trusting: a revoked token is refused at the latest
 * CACHE_MS and one ledger read after its revocation.
 */
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

export const isAuthFailure = (p: GatewayPrincipal | GatewayAuthFailure): p is GatewayAuthFailure =>
  (p as GatewayAuthFailure).status === 401;

const failure = (message: string): GatewayAuthFailure => ({ status: 401, message });

/** A cached token this close to its time limit is looked up again in the background, while it still answers. */
const REFRESH_AHEAD_MS = 1_000;

/**
 * Authenticates mcp-host tokens; a short cache keeps the ledger off the hot path of every relayed
 * request, and every process's cache hears of revocations through Postgres LISTEN/NOTIFY. A token in
 * use never waits for the ledger: it is read again shortly before its entry runs out, and concurrent
 * requests of a token not cached share one read.
 */
export function tokenAuthenticator(sql: Sql, log?: Logger): Authenticate {
  const cache = new Map<string, { principal: GatewayPrincipal; until: number; refreshing: boolean }>();
  const reading = new Map<string, Promise<GatewayPrincipal | GatewayAuthFailure>>();
  let listening: Promise<unknown> | undefined;
  // Nothing is cached until the listen is in place: a revocation before it would go unheard.
  let heard = false;
  // Bumped by every revocation heard: a read that began before one does not cache what it found.
  let revocations = 0;
  const forget = (payload: string) => {
    revocations++;
    // Requests from now on do not share a read that began before the revocation.
    reading.clear();
    if (payload === '*') return cache.clear();
    const tokenId = Number(payload);
    for (const [key, hit] of cache) if (hit.principal.tokenId === tokenId) cache.delete(key);
  };
  const listen = () => {
    listening ??= sql
      .listen(TOKEN_CHANGES_CHANNEL, forget, () => {
        // Also after a reconnect: whatever was revoked meanwhile went unheard.
        revocations++;
        reading.clear();
        cache.clear();
        heard = true;
      })
      .catch((err: unknown) => {
        listening = undefined;
        log?.warn({ err: (err as Error).message }, 'gateway: cannot listen for token revocations; not caching');
      });
  };
  const read = async (hash: Buffer, key: string): Promise<GatewayPrincipal | GatewayAuthFailure> => {
    const since = revocations;
    const row = await tokenHolder(sql, hash);
    if (!row) {
      cache.delete(key);
      return failure('invalid, expired or revoked token');
    }
    const now = Date.now();
    if (!row.last_used_at || now - row.last_used_at.getTime() > 60_000) touchToken(sql, row.token_id).catch(() => {});
    const principal: GatewayPrincipal = {
      userId: row.id,
      email: row.email,
      role: row.role,
      tokenId: row.token_id,
      subject: `token:${row.token_id}`,
      scope: row.role === 'operator' ? ownerScope(row.id) : everyOwner,
      grants: row.gateway_grants,
    };
    if (cache.size >= CACHE_MAX) cache.clear();
    if (heard && since === revocations) cache.set(key, { principal, until: now + CACHE_MS, refreshing: false });
    return principal;
  };
  const lookup = (hash: Buffer, key: string) => {
    let pending = reading.get(key);
    if (!pending) {
      pending = read(hash, key).finally(() => reading.get(key) === pending && reading.delete(key));
      reading.set(key, pending);
    }
    return pending;
  };
  return async (authorization) => {
    listen();
    if (!authorization) return failure('missing bearer token (Authorization: Bearer <token>)');
    const match = BEARER.exec(authorization);
    if (!match) return failure('malformed Authorization header; expected "Bearer <token>"');
    const hash = hashToken(match[1]!);
    const key = hash.toString('base64');
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) {
      if (!hit.refreshing && hit.until - now < REFRESH_AHEAD_MS) {
        hit.refreshing = true;
        lookup(hash, key).catch((err: unknown) => {
          hit.refreshing = false;
          log?.warn({ err: (err as Error).message }, 'gateway: reading a token again failed');
        });
      }
      return hit.principal;
    }
    return lookup(hash, key);
  };
}

/**
 * mcp-host tokens, and access tokens of the OpenID Connect issuer when one is configured: a bearer
 * shaped like a JWT goes to the issuer's verifier, anything else to the ledger.
 */
export function gatewayAuthenticator(sql: Sql, env: Env, oidc?: OidcVerifier, log?: Logger): Authenticate {
  const tokens = tokenAuthenticator(sql, log);
  const verify =
    oidc ??
    (env.GATEWAY_OIDC_ISSUER
      ? oidcVerifier({
          issuer: env.GATEWAY_OIDC_ISSUER,
          jwksUrl: env.GATEWAY_OIDC_JWKS_URL,
          emailClaim: env.GATEWAY_OIDC_EMAIL_CLAIM,
          userByEmail: (email) => findUserByEmail(sql, email),
        })
      : undefined);
  if (!verify) return tokens;
  return (authorization, resource) => {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    return match && looksLikeJwt(match[1]!) ? verify(match[1]!, resource) : tokens(authorization, resource);
  };
}
