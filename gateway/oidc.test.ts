import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedAudiences, looksLikeJwt, oidcVerifier, type OidcVerifier } from './oidc.js';

let server: Server;
let issuer: string;
let key: CryptoKey;
let verify: OidcVerifier;
const RESOURCE = 'https://hub.example.test/mcp/3';

const token = (claims: Record<string, unknown>, audience: string | string[] = RESOURCE, signWith = key) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(issuer)
    .setSubject('agent-7')
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signWith);

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  verify = oidcVerifier({
    issuer,
    emailClaim: 'email',
    userByEmail: async (email) => (email === 'ada@example.test' ? { id: 4, email, role: 'operator' } : undefined),
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('OpenID Connect access tokens', () => {
  it('accepts the endpoint or the gateway as audience', () => {
    expect(acceptedAudiences(RESOURCE)).toEqual([RESOURCE, 'https://hub.example.test/mcp']);
    expect(acceptedAudiences('https://hub.example.test/mcp')).toEqual(['https://hub.example.test/mcp']);
    expect(looksLikeJwt('a.b.c')).toBe(true);
    expect(looksLikeJwt('mcph_abc')).toBe(false);
  });

  it("maps a valid token to its user by email, found through the issuer's discovery", async () => {
    expect(await verify(await token({ email: 'ada@example.test' }), RESOURCE)).toMatchObject({
      userId: 4,
      tokenId: null,
      subject: `oidc:${issuer}#agent-7`,
      scope: { kind: 'owner', ownerId: 4 },
      grants: null,
    });
    expect(
      await verify(await token({ email: 'ada@example.test' }, 'https://hub.example.test/mcp'), RESOURCE),
    ).toMatchObject({ userId: 4 });
  });

  it('refuses another audience, another key, no user and an unverified email with 401', async () => {
    const other = await verify(await token({ email: 'ada@example.test' }, 'https://hub.example.test/mcp/4'), RESOURCE);
    expect(other).toEqual({ status: 401, message: expect.stringMatching(/audience/) });
    const stranger = (await generateKeyPair('ES256')).privateKey;
    expect(await verify(await token({ email: 'ada@example.test' }, RESOURCE, stranger), RESOURCE)).toMatchObject({
      status: 401,
    });
    expect(await verify(await token({ email: 'bob@example.test' }), RESOURCE)).toMatchObject({ status: 401 });
    expect(await verify(await token({}), RESOURCE)).toMatchObject({ status: 401, message: /email claim/ });
    expect(await verify(await token({ email: 'ada@example.test', email_verified: false }), RESOURCE)).toMatchObject({
      status: 401,
      message: /not verified/,
    });
  });
});
