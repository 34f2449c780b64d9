// The app built only to read its route declarations (the OpenAPI document, the declared response
// schemas): building it touches no dependency, so none is given. Never serve requests with it.
import { parseEnvironment } from '../lib/env.js';
import { createLogger } from '../lib/logger.js';
import { createApp } from './app.js';
import type { ApiDeps } from './context.js';

export function createDocumentApp() {
  const deps = {
    env: parseEnvironment({}),
    log: createLogger('openapi', 'silent'),
    sql: {},
    temporal: {},
    streams: {},
    docker: {},
  } as unknown as ApiDeps;
  return createApp(deps);
}
