// Every route the app serves is in its OpenAPI document (the document is generated from the same
// declarations, so a route added with a plain app.get/post would be the one way to miss it).
import { describe, expect, it } from 'vitest';
import { createApp } from './app.js';
import type { ApiDeps } from './context.js';
import { parseEnvironment } from '../lib/env.js';
import { createLogger } from '../lib/logger.js';

// Building the app touches no dependency; none of these is called by this test.
const deps = {
  env: parseEnvironment({}),
  log: createLogger('test', 'silent'),
  sql: {},
  temporal: {},
  streams: {},
  docker: {},
} as unknown as ApiDeps;

const UNDOCUMENTED = new Set(['GET /openapi.json', 'GET /docs', 'GET /metrics']);
/** The MCP gateway speaks MCP (and serves OAuth metadata), which the REST API's document does not describe. */
const GATEWAY = /^\w+ \/(mcp|\.well-known\/oauth-protected-resource)(\/|$)/;

describe('OpenAPI document', () => {
  it('lists every route the app serves, with a summary and responses', async () => {
    const app = createApp(deps);
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; responses?: object }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const served = app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path}`)
      .filter((r) => !UNDOCUMENTED.has(r) && !GATEWAY.test(r));
    expect(served.length).toBeGreaterThan(30);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect([...new Set(served)].sort()).toEqual([...new Set(documented)].sort());
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        expect(op.summary).toMatch(/\w/);
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
      }
    }
  });

  it('serves a reference page that draws itself from the document', async () => {
    const res = await createApp(deps).request('/docs');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("fetch('/openapi.json')");
  });
});
