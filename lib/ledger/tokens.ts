// The tokens aggregate: api_tokens, created (their secret shown once, stored hashed), listed,
// revoked, and looked up to authenticate a request.
import type { Sql } from '../db.js';
import type { GatewayGrantsBody } from '../schemas/auth.js';
import type { Role } from '../schemas/common.js';
import { ownedBy, type OwnerScope } from './scope.js';

export interface TokenRow {
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** A client token of the gateway's grants; null for an API token. */
  gateway_grants: GatewayGrantsBody | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const toTokenInfo = (row: TokenRow) => ({
  id: row.id,
  user_id: row.user_id,
  name: row.name,
  prefix: row.prefix,
  created_at: row.created_at.toISOString(),
  expires_at: iso(row.expires_at),
  last_used_at: iso(row.last_used_at),
  revoked_at: iso(row.revoked_at),
  gateway: row.gateway_grants,
});

const columns = 'id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at, gateway_grants';

export interface NewToken {
  userId: number;
  name: string;
  hash: Buffer;
  prefix: string;
  expiresAt: Date | null;
  gatewayGrants?: GatewayGrantsBody | null;
  /** At most this many tokens a minute for the user (self-service); none for admins provisioning. */
  perMinute?: number;
}

/** Stores a token; undefined when the per-minute limit is reached. */
export function createToken(sql: Sql, t: NewToken): Promise<TokenRow | undefined> {
  return sql.begin(async (tx) => {
    // Counted in the ledger so every API replica agrees; the per-user lock makes concurrent
    // requests count one after another.
    if (t.perMinute !== undefined) {
      await tx`select pg_advisory_xact_lock(hashtext('api_tokens:create'), ${t.userId})`;
      const [recent] = await tx<{ n: number }[]>`
        select count(*)::int as n from api_tokens where user_id = ${t.userId} and created_at > now() - interval '1 minute'`;
      if (recent!.n >= t.perMinute) return undefined;
    }
    const [inserted] = await tx<TokenRow[]>`
      insert into api_tokens (user_id, name, token_hash, prefix, expires_at, gateway_grants)
      values (${t.userId}, ${t.name}, ${t.hash}, ${t.prefix}, ${t.expiresAt},
              ${t.gatewayGrants ? tx.json(t.gatewayGrants as never) : null})
      returning ${tx.unsafe(columns)}`;
    return inserted!;
  }) as Promise<TokenRow | undefined>;
}

/** Tokens of the users in the scope, by id. */
export function listTokens(sql: Sql, scope: OwnerScope): Promise<TokenRow[]> {
  return sql<
    TokenRow[]
  >`select ${sql.unsafe(columns)} from api_tokens where true ${ownedBy(sql, scope, 'user_id')} order by id`;
}

/**
 * The NOTIFY channel of changes to who a token names or what it may do (a revocation): the payload is
 * the token's id, or `*` for any. The gateway's principal cache of every API process listens, so a
 * revoked token is refused at its next request, not when its cache entry runs out.
 */
export const TOKEN_CHANGES_CHANNEL = 'mcp_host_token_changes';

/** Revokes a token in the scope (once: a revoked token keeps its time); undefined when there is none. */
export async function revokeToken(sql: Sql, id: number, scope: OwnerScope): Promise<TokenRow | undefined> {
  // One statement: the notification goes out when the update commits, never without it.
  const [row] = await sql<TokenRow[]>`
    with revoked as (
      update api_tokens set revoked_at = coalesce(revoked_at, now())
      where id = ${id} ${ownedBy(sql, scope, 'user_id')}
      returning ${sql.unsafe(columns)})
    select revoked.* from revoked cross join lateral (select pg_notify(${TOKEN_CHANGES_CHANNEL}, revoked.id::text)) n`;
  return row;
}

export interface TokenHolder {
  id: number;
  email: string;
  role: Role;
  token_id: number;
  last_used_at: Date | null;
  /** Set for a client token of the gateway, which /api refuses. */
  gateway_grants: GatewayGrantsBody | null;
}

/** The user holding a live (unrevoked, unexpired) token with this hash. */
export async function tokenHolder(sql: Sql, hash: Buffer): Promise<TokenHolder | undefined> {
  const [row] = await sql<TokenHolder[]>`
    select u.id, u.email, u.role, t.id as token_id, t.last_used_at, t.gateway_grants
    from api_tokens t join users u on u.id = t.user_id
    where t.token_hash = ${hash}
      and t.revoked_at is null and (t.expires_at is null or t.expires_at > now())`;
  return row;
}

/** Records that the token was used (informational; callers refresh it at most once a minute). */
export async function touchToken(sql: Sql, tokenId: number): Promise<void> {
  await sql`update api_tokens set last_used_at = now() where id = ${tokenId}`;
}

/** Which of these server ids are in the scope (a client token's grants may name only those). */
export async function serversInScope(sql: Sql, scope: OwnerScope, ids: number[]): Promise<Set<number>> {
  const rows = await sql<{ id: number }[]>`select id from mcp_servers where id = any(${ids}) ${ownedBy(sql, scope)}`;
  return new Set(rows.map((r) => r.id));
}
