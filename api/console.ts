// GET /ui: the web console (ui/, built into ui/dist by npm run ui:build, which setup.sh runs when
// its sources change). Static files, one index.html for every route (the console routes in the URL
// hash), and /ui/config.json: what the console cannot learn from the API's document.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import type { Env } from '../lib/env.js';
import { PROJECT_ROOT } from '../lib/paths.js';
import type { WorkflowIds } from '../lib/workflow-ids.js';
import { errorBody } from './errors.js';

const DIST = join(PROJECT_ROOT, 'ui', 'dist');

/** Mounted at /ui. */
export function consoleRoutes(env: Env, workflowIds: WorkflowIds | undefined) {
  const app = new Hono();
  // serveStatic resolves from the working directory; the API may start from anywhere.
  const root = relative(process.cwd(), DIST) || '.';
  app.get('/config.json', (c) =>
    c.json({
      temporal_ui: env.TEMPORAL_UI_URL ?? null,
      namespace: env.TEMPORAL_NAMESPACE,
      installation: workflowIds?.installation ?? '',
    }),
  );
  app.use('*', async (c, next) => {
    if (!existsSync(join(DIST, 'index.html')))
      return c.json(errorBody('console_not_built', 'the console is not built: run npm run setup'), 503);
    // Hashed asset names never change their content; index.html must be read fresh after a rebuild.
    c.header(
      'cache-control',
      c.req.path.startsWith('/ui/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
    await next();
  });
  app.use('/assets/*', serveStatic({ root, rewriteRequestPath: (path) => path.replace(/^\/ui/, '') }));
  app.get('*', serveStatic({ root, path: 'index.html' }));
  return app;
}
