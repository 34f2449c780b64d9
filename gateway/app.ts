// The MCP gateway as the API mounts it: `/mcp/<server-id>` (the relay) and the protected-resource
// metadata clients discover authorization from. This file composes the gateway's parts; each part is
// replaceable without touching the relay.
import { createHash, randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import { gatewaySecret } from '../lib/ledger/installation.js';
import { serverRoute, type ServerRoute } from '../lib/ledger/runtime.js';
import type { Logger } from '../lib/logger.js';
import type { GatewayParts } from './contracts.js';
import { defaultParts } from './defaults.js';
import { createGatewayMetrics } from './metrics.js';
import { tokenAuthenticator, type Authenticate } from './principal.js';
import { createRelay, RpcCode, type RelayTracing, type RouteSource } from './relay.js';
import { sessionSigner, type SessionSigner } from './sessions.js';

export interface GatewayDeps {
  sql: Sql;
  env: Env;
  log: Logger;
  /** The registry the API serves at /metrics. */
  registry: Registry;
  tracing?: RelayTracing;
  /** Replaces parts of the default composition (tests, and the parts still to come). */
  parts?: Partial<GatewayParts>;
  authenticate?: Authenticate;
  /** Where servers run; the ledger's record, through a short cache, unless given. */
  routes?: RouteSource;
}

export interface Gateway {
  app: Hono;
  parts: GatewayParts;
  /** Writes what the audit holds and stops its timers. */
  close(): Promise<void>;
}

/** How long a server's route is trusted before the ledger is asked again (a failed hop drops it sooner). */
const ROUTE_CACHE_MS = 2_000;

export function createGateway(deps: GatewayDeps): Gateway {
  const { sql, env, log } = deps;
  const parts: GatewayParts = { ...defaultParts, ...deps.parts };
  const relay = createRelay({
    parts,
    authenticate: deps.authenticate ?? tokenAuthenticator(sql),
    routes: deps.routes ?? routeCache(sql),
    sessions: sessionKey(sql, env),
    originAllowed: originPolicy(env),
    publicUrl: (path, requestUrl) => `${env.PUBLIC_URL ?? new URL(requestUrl).origin}${path}`,
    metrics: createGatewayMetrics(deps.registry),
    tracing: deps.tracing,
    log,
    maxBodyBytes: env.MAX_BODY_BYTES,
  });

  const app = new Hono();
  const metadata = (c: { req: { url: string } }, path: string) => ({
    resource: `${env.PUBLIC_URL ?? new URL(c.req.url).origin}${path}`,
    authorization_servers: env.GATEWAY_OIDC_ISSUER ? [env.GATEWAY_OIDC_ISSUER] : [],
    bearer_methods_supported: ['header'],
    resource_name: 'mcp-host gateway',
  });
  // RFC 9728: the metadata of a resource lives at the well-known prefix followed by the resource's path.
  app.get('/.well-known/oauth-protected-resource/mcp', (c) => c.json(metadata(c, '/mcp')));
  app.get('/.well-known/oauth-protected-resource/mcp/:id{[0-9]+}', (c) =>
    c.json(metadata(c, `/mcp/${c.req.param('id')}`)),
  );
  app.all('/mcp/:id', relay);
  app.onError((err, c) => {
    log.error({ err, path: c.req.path }, 'gateway: request failed');
    return c.json(
      {
        jsonrpc: '2.0',
        id: null,
        error: { code: RpcCode.unavailable, message: 'the gateway could not serve this request' },
      },
      503,
      { 'retry-after': '1' },
    );
  });

  return {
    app,
    parts,
    async close() {
      await parts.audit.close();
    },
  };
}

/** Routes read through a short cache; concurrent misses for one server share one read. */
function routeCache(sql: Sql): RouteSource {
  const cache = new Map<number, { route: Promise<ServerRoute | undefined>; until: number }>();
  return {
    get(serverId) {
      const now = Date.now();
      const hit = cache.get(serverId);
      if (hit && hit.until > now) return hit.route;
      const route = serverRoute(sql, serverId);
      cache.set(serverId, { route, until: now + ROUTE_CACHE_MS });
      route.catch(() => cache.delete(serverId));
      return route;
    },
    invalidate: (serverId) => void cache.delete(serverId),
  };
}

/**
 * The key signing session ids: from GATEWAY_SESSION_SECRET, or the installation's stored secret (the
 * first replica to need one stores it). Derived, so the secret itself is never the HMAC key of anything else.
 */
function sessionKey(sql: Sql, env: Env): () => Promise<SessionSigner> {
  let signer: Promise<SessionSigner> | undefined;
  const derive = (secret: Buffer | string) =>
    sessionSigner(createHash('sha256').update('mcp-host gateway session v1\0').update(secret).digest());
  return () => {
    signer ??= (
      env.GATEWAY_SESSION_SECRET
        ? Promise.resolve(derive(env.GATEWAY_SESSION_SECRET))
        : gatewaySecret(sql, randomBytes(32)).then(derive)
    ).catch((err: unknown) => {
      signer = undefined;
      throw err;
    });
    return signer;
  };
}

/**
 * Browsers may call the gateway from PUBLIC_URL's origin and GATEWAY_ALLOWED_ORIGINS; without a
 * PUBLIC_URL, from loopback origins on the gateway's own port. Never from the Host the request
 * names: a DNS-rebinding page controls that.
 */
function originPolicy(env: Env): (origin: string, requestUrl: string) => boolean {
  const allowed = new Set(env.GATEWAY_ALLOWED_ORIGINS.map((o) => o.replace(/\/+$/, '')));
  if (env.PUBLIC_URL) allowed.add(new URL(env.PUBLIC_URL).origin);
  return (origin, requestUrl) => {
    if (allowed.has(origin)) return true;
    if (env.PUBLIC_URL) return false;
    const port = new URL(requestUrl).port;
    const suffix = port ? `:${port}` : '';
    return [`http://localhost${suffix}`, `http://127.0.0.1${suffix}`, `http://[::1]${suffix}`].includes(origin);
  };
}
