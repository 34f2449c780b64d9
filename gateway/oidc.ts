// Access tokens of an external OpenID Connect provider: a JWT signed by a key of the issuer's JWKS,
// issued by it, for this gateway resource (its audience is the endpoint's canonical URL, or the
// gateway's `/mcp`), not expired. The token names its mcp-host user by the email claim (the user
// must exist; an unverified email is refused), as gateways that map identity-provider subjects to
// their own accounts do.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Role } from '../lib/schemas/common.js';
import { everyOwner, ownerScope } from '../lib/ledger/scope.js';
import type { GatewayAuthFailure, GatewayPrincipal } from './contracts.js';

export interface OidcOptions {
  issuer: string;
  /** The JWKS; unset: the `jwks_uri` of the issuer's discovery document. */
  jwksUrl?: string;
  /** The claim that holds the user's email. */
  emailClaim: string;
  userByEmail(email: string): Promise<{ id: number; email: string; role: Role } | undefined>;
  /** Fetch for discovery (tests); the global one unless given. */
  fetch?: typeof fetch;
}

export type OidcVerifier = (token: string, resource: string) => Promise<GatewayPrincipal | GatewayAuthFailure>;

/** Signature algorithms accepted: asymmetric only (a shared-secret or unsigned token is never an issuer's). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CACHE_MAX = 10_000;
/** A verified token is trusted this long before its user is read again (never past its expiry). */
const CACHE_MS = 30_000;

const failure = (message: string): GatewayAuthFailure => ({ status: 401, message });

/** What a JWT looks like: three base64url parts. Anything else is an mcp-host token. */
export const looksLikeJwt = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);

/**
 * The audiences a token for `resource` may carry: the endpoint itself (`…/mcp/3`), or the whole
 * gateway (`…/mcp`), whose endpoints share its authorization.
 */
export function acceptedAudiences(resource: string): string[] {
  const gateway = resource.replace(/\/mcp\/[^/]+$/, '/mcp');
  return gateway === resource ? [resource] : [resource, gateway];
}

export function oidcVerifier(options: OidcOptions): OidcVerifier {
  const issuer = options.issuer;
  const doFetch = options.fetch ?? fetch;
  let jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const keys = () => {
    jwks ??= (async () => {
      if (options.jwksUrl) return createRemoteJWKSet(new URL(options.jwksUrl));
      const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const res = await doFetch(url, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`discovery at ${url} answered ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (doc.issuer !== issuer) throw new Error(`discovery at ${url} names another issuer`);
      if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery at ${url} has no jwks_uri`);
      return createRemoteJWKSet(new URL(doc.jwks_uri));
    })().catch((err: unknown) => {
      jwks = undefined;
      throw err;
    });
    return jwks;
  };
  const cache = new Map<string, { principal: GatewayPrincipal; until: number }>();

  return async (token, resource) => {
    const key = `${resource}\u0000${token}`;
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.principal;

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await keys(), {
        issuer,
        audience: acceptedAudiences(resource),
        algorithms: ALGORITHMS,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
        return failure(`the token's audience is not this gateway resource (${resource})`);
      }
      if (err instanceof errors.JWTExpired) return failure('the token has expired');
      if (err instanceof errors.JOSEError) return failure(`the token is not valid for this gateway (${err.code})`);
      return failure('the token could not be verified: the OpenID Connect provider is unreachable');
    }
    const email = payload[options.emailClaim];
    if (typeof email !== 'string' || email === '') {
      return failure(`the token carries no ${options.emailClaim} claim naming an mcp-host user`);
    }
    if (payload.email_verified === false) return failure('the token says its email is not verified');
    const user = await options.userByEmail(email);
    if (!user) return failure('no mcp-host user has the email this token names');
    const principal: GatewayPrincipal = {
      userId: user.id,
      email: user.email,
      role: user.role,
      tokenId: null,
      subject: `oidc:${issuer}#${payload.sub}`,
      scope: user.role === 'operator' ? ownerScope(user.id) : everyOwner,
      grants: null,
    };
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, { principal, until: Math.min(now + CACHE_MS, (payload.exp ?? 0) * 1000) });
    return principal;
  };
}
