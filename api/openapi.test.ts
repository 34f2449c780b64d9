// Every route the app serves is in its OpenAPI document (the document is generated from the same
// declarations, so a route added with a plain app.get/post would be the one way to miss it).
import { describe, expect, it } from 'vitest';
import { createDocumentApp } from './document-app.js';

const UNDOCUMENTED = new Set([
  'GET /openapi.json',
  'GET /docs',
  'GET /docs/init.js',
  'GET /docs/:file',
  'GET /metrics',
  // The web console's static files and settings (api/console.ts).
  'GET /ui/config.json',
  'GET /ui/*',
]);
/** The MCP gateway speaks MCP (and serves OAuth metadata), which the REST API's document does not describe. */
const GATEWAY = /^\w+ \/(mcp|\.well-known\/oauth-protected-resource)(\/|$)/;

describe('OpenAPI document', () => {
  it('lists every route the app serves, with a summary and responses', async () => {
    const app = createDocumentApp();
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; responses?: object; operationId?: string }>>;
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
    const operationIds: string[] = [];
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        expect(op.summary).toMatch(/\w/);
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
        // The console's generated client and the reference page name operations by it.
        expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/);
        operationIds.push(op.operationId!);
      }
    }
    expect(new Set(operationIds).size).toBe(operationIds.length);
  });

  it('serves the reference page and its assets from node_modules, nothing from elsewhere', async () => {
    const app = createDocumentApp();
    const page = await app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    // Every asset the page names is served here (no CDN: it must work offline).
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/docs\//);
      const res = await app.request(ref);
      expect(res.status, ref).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect(await (await app.request('/docs/init.js')).text()).toContain("url: '/openapi.json'");
    expect((await app.request('/docs/package.json')).status).toBe(404);
    expect((await app.request('/docs/..%2Fpackage.json')).status).toBe(404);
  });
});
