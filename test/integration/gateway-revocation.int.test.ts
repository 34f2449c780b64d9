// A revoked token is refused by the gateway at its very next request, in every API process: two
// connection pools stand for two processes, each with its own principal cache, on the test stack's
// Postgres. One caches the token, the other revokes it; the first hears it through LISTEN/NOTIFY.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSql, type Sql } from '../../lib/db.js';
import { createToken, revokeToken } from '../../lib/ledger/tokens.js';
import { createUser } from '../../lib/ledger/users.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { migrate } from '../../lib/migrate.js';
import { generateToken, hashToken, tokenPrefix } from '../../lib/tokens.js';
import { tokenAuthenticator } from '../../gateway/principal.js';

const stack = inject('stack');
let a: Sql;
let b: Sql;

beforeAll(async () => {
  a = createSql(stack.databaseUrl, { max: 2, applicationName: 'revocation-a' });
  b = createSql(stack.databaseUrl, { max: 2, applicationName: 'revocation-b' });
  await migrate(a);
});
afterAll(async () => {
  await Promise.all([a?.end({ timeout: 5 }), b?.end({ timeout: 5 })]);
});

async function newToken() {
  const email = `gwr-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await createUser(a, { email, role: 'operator', serverQuota: 5 });
  const secret = generateToken();
  const row = await createToken(a, {
    userId: user.id,
    name: 'gwr',
    hash: hashToken(secret),
    prefix: tokenPrefix(secret),
    expiresAt: null,
  });
  return { id: row!.id, header: `Bearer ${secret}` };
}

describe('token revocation reaches every gateway process at once', () => {
  it("refuses a revoked token at the next request of another process's cache", async () => {
    const resource = 'http://gateway.test/mcp/1';
    const inA = tokenAuthenticator(a);
    const inB = tokenAuthenticator(b);
    const token = await newToken();
    const other = await newToken();
    // B's first request starts its listen; the next ones are served from its cache.
    await inB(token.header, resource);
    await expect
      .poll(async () => (await inB(token.header, resource)) as { tokenId?: number })
      .toMatchObject({
        tokenId: token.id,
      });
    expect(await inB(other.header, resource)).toMatchObject({ tokenId: other.id });
    expect(await inA(token.header, resource)).toMatchObject({ tokenId: token.id });
    // B does serve from its cache: a revocation written behind the ledger's back (no notification) is
    // not seen by it yet. So what follows is the notification's doing.
    const silent = await newToken();
    await inB(silent.header, resource);
    await a`update api_tokens set revoked_at = now() where id = ${silent.id}`;
    expect(await inB(silent.header, resource)).toMatchObject({ tokenId: silent.id });

    await revokeToken(a, token.id, everyOwner);
    // The revocation committed; B's cache entry is gone by the time a client could ask again.
    await expect
      .poll(() => inB(token.header, resource), { timeout: 1_000, interval: 5 })
      .toMatchObject({
        status: 401,
      });
    expect(await inA(token.header, resource)).toMatchObject({ status: 401 });
    // Only that token: the other stays served (from the cache or the ledger alike).
    expect(await inB(other.header, resource)).toMatchObject({ tokenId: other.id });
  });
});
