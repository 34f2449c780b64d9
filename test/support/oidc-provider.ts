// A real OpenID Connect provider (the `oidc-provider` package) for gateway tests, in the test process:
// one confidential client that obtains JWT access tokens with client_credentials for a resource
// (RFC 8707 resource indicators), its audience the resource asked for, and an email claim.
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface TestOidcProvider {
  issuer: string;
  /** A JWT access token for `resource` (its `aud`), naming `email`. */
  token(resource: string, email: string): Promise<string>;
  close(): Promise<void>;
}

export async function startOidcProvider(): Promise<TestOidcProvider> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'test-key' };
  // The email each token names: the client asks for one per token through this (test-only) slot.
  let nextEmail = '';
  const { createServer } = await import('node:http');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'agent',
        client_secret: 'agent-secret-for-tests',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [jwk as never] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'mcp',
          audience: resource,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    scopes: ['mcp'],
    ttl: { ClientCredentials: 600 },
    extraTokenClaims: () => ({ email: nextEmail }),
  });
  server.on('request', provider.callback());

  return {
    issuer,
    async token(resource, email) {
      nextEmail = email;
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('agent:agent-secret-for-tests').toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'mcp' }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token)
        throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
