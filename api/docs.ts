// GET /docs: the API reference, drawn by Swagger UI from /openapi.json — schemas, examples and "try it
// out" with a bearer token. Its assets come from the swagger-ui-dist package in node_modules, never a
// CDN: the page must work on a machine with no internet.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';

const ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcp-host API reference</title>
<link rel="icon" href="/docs/favicon-32x32.png"><link rel="stylesheet" href="/docs/swagger-ui.css">
</head><body><main id="reference"></main>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`;

// A file, not an inline script, so the page works under a strict Content-Security-Policy.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json', dom_id: '#reference', deepLinking: true, persistAuthorization: false,
  tryItOutEnabled: false, displayOperationId: true, defaultModelsExpandDepth: 0,
});`;

/** Mounted at /docs. */
export function docsRoutes() {
  const app = new Hono();
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  // Read once, on the first request: a process that never serves /docs never reads 1.5 MB of JavaScript.
  const cache = new Map<string, Buffer>();
  app.get('/', (c) => c.html(PAGE));
  app.get('/init.js', (c) => c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/:file', (c) => {
    const file = c.req.param('file');
    if (!Object.hasOwn(ASSETS, file)) return c.notFound();
    let body = cache.get(file);
    if (!body) cache.set(file, (body = readFileSync(join(root, file))));
    return c.body(new Uint8Array(body), 200, {
      'content-type': ASSETS[file as keyof typeof ASSETS],
      'cache-control': 'public, max-age=3600',
    });
  });
  return app;
}
