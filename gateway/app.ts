// The MCP gateway as the API mounts it: `/mcp/<server-id>` (the relay, served on node:http before
// Hono sees the request: gateway/http.ts), `/mcp` (every server in one, gateway/aggregate/) and the
// protected-resource metadata clients discover authorization from. This file composes the gateway's
// parts; each part is replaceable without touching the relay.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import { gatewaySecret } from '../lib/ledger/installation.js';
import { serverRoute, serverRoutes, type ServerRoute } from '../lib/ledger/runtime.js';
import type { Logger } from '../lib/logger.js';
import { createAggregate, type ServerEventFeed } from './aggregate/index.js';
import type { GatewayParts } from './contracts.js';
import { createAuditSink } from './audit.js';
import { createGatewayAccess } from './grants.js';
import { createGatewayLimits } from './limits.js';
import { createGatewayMetrics } from './metrics.js';
import { gatewayAuthenticator, type Authenticate } from './principal.js';
import { corsHeaders, preflight } from './cors.js';
import { createRelay, RpcCode, type RelayTracing, type RouteSource } from './relay.js';
import { sessionSigner, signedIds, type SessionSigner, type SignedIds } from './sessions.js';

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
  /** Server status events (the ledger's server_events tail): the aggregate's list_changed notifications. */
  serverEvents?: ServerEventFeed;
}

export interface Gateway {
  /** `/mcp`, and the protected-resource metadata. */
  app: Hono;
  /**
   * Takes the request when it is for `/mcp/<server-id>` (the relay) and answers it on node:http;
   * false for any other path, which goes to Hono (gateway/http.ts puts the two together).
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  parts: GatewayParts;
  /** Writes what the audit holds and stops its timers. */
  close(): Promise<void>;
}

/** `/mcp/<server-id>`, as Hono's `/mcp/:id` matched it (one segment, no trailing slash), query allowed. */
const RELAY_PATH = /^\/mcp\/([^/?#]+)(?:\?|$)/;

const decodePathSegment = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

/** How long a server's route is trusted before the ledger is asked again (a failed hop drops it sooner). */
const ROUTE_CACHE_MS = 2_000;

export function createGateway(deps: GatewayDeps): Gateway {
  const { sql, env, log } = deps;
  const parts: GatewayParts = {
    access: deps.parts?.access ?? createGatewayAccess(),
    audit: deps.parts?.audit ?? createAuditSink(sql, log),
    limits: deps.parts?.limits ?? createGatewayLimits(env, sql, { log }),
  };
  const authenticate = deps.authenticate ?? gatewayAuthenticator(sql, env, undefined, log);
  const originAllowed = originPolicy(env);
  const origins = originCache();
  const publicUrl = (path: string, requestUrl: string) => `${env.PUBLIC_URL ?? origins(requestUrl)}${path}`;
  const secret = gatewayKey(sql, env);
  const metrics = createGatewayMetrics(deps.registry);
  const relay = createRelay({
    parts,
    authenticate,
    routes: deps.routes ?? routeCache(sql, deps.serverEvents),
    sessions: derivedKey(secret, 'mcp-host gateway session v1', sessionSigner),
    originAllowed,
    publicUrl,
    metrics,
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
  const aggregate = createAggregate({
    parts,
    authenticate,
    originAllowed,
    publicUrl,
    targets: (principal) => serverRoutes(sql, principal.scope),
    serverEvents: deps.serverEvents ?? { subscribe: () => () => {} },
    signer: derivedKey(secret, 'mcp-host gateway aggregate session v1', signedIds),
    metrics,
    log,
    maxBodyBytes: env.MAX_BODY_BYTES,
  });
  // Exactly /mcp: the relay's /mcp/<id> never reaches Hono.
  app.options('/mcp', (c) => {
    const answer = preflight(c.req.header('origin'), c.req.header('access-control-request-headers'), (o) =>
      originAllowed(o, c.req.url),
    );
    return new Response(answer.body ?? null, { status: answer.status, headers: answer.headers });
  });
  app.all('/mcp', async (c) => {
    const res = await aggregate.handle(c.req.raw);
    const origin = c.req.header('origin');
    if (origin === undefined || !originAllowed(origin, c.req.url)) return res;
    // An allowed browser origin may read the answer and its session id.
    const out = new Response(res.body, res);
    for (const [name, value] of Object.entries(corsHeaders(origin))) out.headers.set(name, value);
    return out;
  });
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

  const failed = (err: unknown, res: ServerResponse) => {
    log.error({ err, path: '/mcp/:id' }, 'gateway: request failed');
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: null,
      error: { code: RpcCode.unavailable, message: 'the gateway could not serve this request' },
    });
    res.writeHead(503, {
      'content-type': 'application/json',
      'retry-after': '1',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  return {
    app,
    handle(req, res) {
      const match = RELAY_PATH.exec(req.url ?? '');
      if (!match) return false;
      relay(req, res, decodePathSegment(match[1]!)).catch((err: unknown) => failed(err, res));
      return true;
    },
    parts,
    async close() {
      await aggregate.close();
      await parts.limits.close?.();
      await parts.audit.close();
    },
  };
}

/** The origin of a request URL, parsed once per scheme and host (every relayed request names its canonical URL). */
function originCache(): (requestUrl: string) => string {
  const origins = new Map<string, string>();
  return (requestUrl) => {
    const end = requestUrl.indexOf('/', requestUrl.indexOf('//') + 2);
    const prefix = end === -1 ? requestUrl : requestUrl.slice(0, end);
    let origin = origins.get(prefix);
    if (origin === undefined) {
      origin = new URL(requestUrl).origin;
      // The Host header is the client's to choose: the cache stays bounded.
      if (origins.size >= 1_000) origins.clear();
      origins.set(prefix, origin);
    }
    return origin;
  };
}

/** A cached route this close to its time limit is read again in the background, while it still answers. */
const ROUTE_REFRESH_AHEAD_MS = 500;

/**
 * Routes read through a short cache; concurrent misses for one server share one read, and a server in
 * use is read again shortly before its entry runs out, so no request waits for the ledger.
 */
export function routeCache(sql: Sql, serverEvents?: ServerEventFeed): RouteSource {
  const cache = new Map<number, { route: Promise<ServerRoute | undefined>; until: number; refreshing?: boolean }>();
  // A status change (a stop, a redeploy's new launch) drops the server's route at once: the time limit
  // only bounds how stale a route can be when the events feed is down.
  serverEvents?.subscribe(
    () => true,
    (event) => void cache.delete(event.server_id),
  );
  return {
    get(serverId) {
      const now = Date.now();
      const hit = cache.get(serverId);
      if (hit && hit.until > now) {
        if (!hit.refreshing && hit.until - now < ROUTE_REFRESH_AHEAD_MS) {
          hit.refreshing = true;
          const next = serverRoute(sql, serverId);
          next.then(
            // Unless a status change dropped the entry meanwhile: then the next request reads afresh.
            () =>
              cache.get(serverId) === hit && cache.set(serverId, { route: next, until: Date.now() + ROUTE_CACHE_MS }),
            () => (hit.refreshing = false),
          );
        }
        return hit.route;
      }
      const route = serverRoute(sql, serverId);
      cache.set(serverId, { route, until: now + ROUTE_CACHE_MS });
      route.catch(() => cache.delete(serverId));
      return route;
    },
    invalidate: (serverId) => void cache.delete(serverId),
  };
}

/**
 * The secret session ids are signed with: GATEWAY_SESSION_SECRET, or the installation's stored secret
 * (the first replica to need one stores it).
 */
function gatewayKey(sql: Sql, env: Env): () => Promise<Buffer | string> {
  let secret: Promise<Buffer | string> | undefined;
  return () => {
    secret ??= (
      env.GATEWAY_SESSION_SECRET ? Promise.resolve(env.GATEWAY_SESSION_SECRET) : gatewaySecret(sql, randomBytes(32))
    ).catch((err: unknown) => {
      secret = undefined;
      throw err;
    });
    return secret;
  };
}

/**
 * A signer keyed by the secret derived for one purpose (`label`), so the secret itself is never the
 * HMAC key of anything, and an id signed for one endpoint never verifies at another.
 */
function derivedKey<T extends SessionSigner | SignedIds>(
  secret: () => Promise<Buffer | string>,
  label: string,
  build: (key: Buffer) => T,
): () => Promise<T> {
  let signer: Promise<T> | undefined;
  return () => {
    signer ??= secret()
      .then((s) => build(createHash('sha256').update(`${label}\0`).update(s).digest()))
      .catch((err: unknown) => {
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
export function originPolicy(env: Env): (origin: string, requestUrl: string) => boolean {
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
