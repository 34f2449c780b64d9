// The Hono application: thin by design — validate, authorize, then read Postgres or talk to a workflow.
import { bodyLimit } from 'hono/body-limit';
import { createGateway } from '../gateway/app.js';
import { requestId } from 'hono/request-id';
import { authenticate, requireRole } from './auth.js';
import type { ApiDeps } from './context.js';
import { consoleRoutes } from './console.js';
import { docsRoutes } from './docs.js';
import { errorBody, handleError } from './errors.js';
import { createMetrics } from './metrics.js';
import { createRouter } from './openapi.js';
import { buildRoutes } from './routes/builds.js';
import { clientConfigRoutes } from './routes/client-config.js';
import { codecRoutes } from './routes/codec.js';
import { evaluationRoutes } from './routes/evaluations.js';
import { gatewayRoutes } from './routes/gateway.js';
import { governanceRoutes } from './routes/governance.js';
import { promotionRoutes } from './routes/promotions.js';
import { healthRoutes } from './routes/health.js';
import { marketplaceRoutes } from './routes/marketplace.js';
import { registryApiRoutes } from './routes/registry-api.js';
import { metricRoutes } from './routes/metrics.js';
import { registryRoutes } from './routes/registry.js';
import { runtimeRoutes } from './routes/runtime.js';
import { vmRoutes } from './routes/vm.js';
import { secretRoutes } from './routes/secrets.js';
import { serverRoutes } from './routes/servers.js';
import { tokenRoutes } from './routes/tokens.js';
import { userRoutes } from './routes/users.js';
import { webhookRoutes, webhookSecretRoutes } from './routes/webhook.js';

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export function createApp(deps: ApiDeps) {
  const app = createRouter();

  const metrics = createMetrics(deps.sql);
  // The MCP gateway first: its hot path has its own metrics, audit and tracing, not the API's middleware.
  const gateway = createGateway({
    sql: deps.sql,
    env: deps.env,
    log: deps.log,
    registry: metrics.registry,
    tracing: deps.gatewayTracing,
    serverEvents: deps.streams.serverEvents,
  });
  app.route('/', gateway.app);
  app.use('*', requestId());
  if (deps.tracing) app.use('*', deps.tracing);
  app.use('*', metrics.middleware);
  // Platform-wide figures: only an admin's or a viewer's token reads them (Prometheus sends it with
  // `authorization: { credentials_file: ... }`); a viewer token is the read-only one to give a scraper.
  app.get('/metrics', authenticate(deps.sql), async (c) => {
    requireRole(c.get('caller'), 'admin', 'viewer');
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    deps.log.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: deps.env.MAX_BODY_BYTES,
      // The rest of the body is never read, so the connection cannot be reused: say so.
      onError: (c) =>
        c.json(errorBody('payload_too_large', `request body exceeds ${deps.env.MAX_BODY_BYTES} bytes`), 413, {
          connection: 'close',
        }),
    }),
  );
  // A body must be JSON; anything else is refused before it reaches a handler.
  app.use('/api/*', async (c, next) => {
    const hasBody =
      c.req.header('content-length') !== undefined
        ? c.req.header('content-length') !== '0'
        : c.req.header('transfer-encoding') !== undefined;
    if (hasBody && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      return c.json(errorBody('unsupported_media_type', 'request bodies must be application/json'), 415);
    }
    await next();
  });
  // The Temporal Web UI's codec server: its own CORS, body limit and authentication (a cookie too).
  app.route('/codec', codecRoutes(deps));
  // Webhooks authenticate by signature: routed before the token check.
  app.route('/api/servers', webhookRoutes(deps));
  app.use('/api/*', authenticate(deps.sql));
  // The MCP registry API answers with the caller's scope, as the marketplace does: a token is needed.
  app.use('/v0/*', authenticate(deps.sql));

  app.route('/', healthRoutes(deps));
  app.route('/api', userRoutes(deps));
  app.route('/api/tokens', tokenRoutes(deps));
  app.route('/api/secrets', secretRoutes(deps));
  app.route('/api/servers', serverRoutes(deps));
  app.route('/api/servers', metricRoutes(deps));
  app.route('/api/servers', runtimeRoutes(deps));
  app.route('/api/servers', webhookSecretRoutes(deps));
  app.route('/api/servers', clientConfigRoutes(deps));
  app.route('/api', buildRoutes(deps));
  app.route('/api', vmRoutes(deps));
  app.route('/api/registry', registryRoutes(deps));
  app.route('/api/marketplace', marketplaceRoutes(deps));
  app.route('/v0', registryApiRoutes(deps));
  app.route('/api', evaluationRoutes(deps));
  app.route('/api/governance', governanceRoutes(deps));
  app.route('/api/promotions', promotionRoutes(deps));
  app.route('/api/gateway', gatewayRoutes(deps));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'mcp-host API',
      version: '0.1.0',
      description:
        'Control plane for hosting MCP servers. Every `/api` route takes `Authorization: Bearer <token>`; ' +
        'errors are `{"error": {"code", "message", "field"?}}`, where `field` names the culprit.',
    },
    // Relative: the document describes whichever host serves it (the console and /docs call it there).
    servers: [{ url: '/', description: 'This installation' }],
    // The default for every operation; the few that take no token declare `security: []`.
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.route('/docs', docsRoutes());
  app.route('/ui', consoleRoutes(deps.env, deps.workflowIds));

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => handleError(err, c, deps.log));
  return Object.assign(app, { gateway });
}

export type App = ReturnType<typeof createApp>;
