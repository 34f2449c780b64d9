// Prometheus metrics: request latency measured as requests are served, and ledger-derived gauges
// (server statuses, build outcomes, push retries, credential health) read from Postgres at scrape
// time, so every API replica reports the same totals. Read with an admin or viewer token (api/app.ts);
// registry events count only the platform's own, never those posted through the API.
import type { MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Sql } from '../lib/db.js';
import { countByStatus, latestCredentialExpiry, registryEventCounts, type StatusTable } from '../lib/ledger/stats.js';

export function createMetrics(sql: Sql) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mcp_host_' });

  const requestSeconds = new Histogram({
    name: 'mcp_host_http_request_duration_seconds',
    help: 'API request latency by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'mcp_host_http_requests_total',
    help: 'API requests',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });

  // Ledger rows by status: workflow outcomes as Postgres records them.
  const byStatus = (name: string, help: string, table: StatusTable) =>
    new Gauge({
      name,
      help,
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const r of await countByStatus(sql, table)) this.set({ status: r.status }, r.n);
      },
    });
  byStatus('mcp_host_servers', 'Servers by status', 'mcp_servers');
  byStatus('mcp_host_build_runs', 'Build runs (buildAndPublish outcomes) by status', 'build_artifact_runs');
  byStatus(
    'mcp_host_governance_runs',
    'Governance runs (governanceRun outcomes) by status',
    'governance_workflow_runs',
  );
  byStatus('mcp_host_promotions', 'Promotions (promotion outcomes) by status', 'artifact_promotions');
  byStatus('mcp_host_certifications', 'Certifications by status', 'evaluation_certifications');
  new Gauge({
    name: 'mcp_host_registry_events',
    help: 'Registry telemetry events by type and reason (push_retry reasons, push_failed kinds, auth_*)',
    labelNames: ['event_type', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await registryEventCounts(sql);
      for (const r of rows) this.set({ event_type: r.event_type, reason: r.reason ?? '' }, r.n);
    },
  });
  new Gauge({
    name: 'mcp_host_registry_credential_seconds_until_expiry',
    help: 'Seconds until the registry credentials expire, as last checked (negative once expired)',
    labelNames: ['registry', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await latestCredentialExpiry(sql);
      for (const r of rows) if (r.seconds !== null) this.set({ registry: r.registry, status: r.status }, r.seconds);
    },
  });

  /** Times every request; the route label is the matched pattern, never the raw path (bounded cardinality). */
  const middleware: MiddlewareHandler = async (c, next) => {
    const end = requestSeconds.startTimer();
    await next();
    // The endpoint's own pattern: the last matched route that is not a middleware (`*`).
    const route = c.req.matchedRoutes.filter((r) => r.method !== 'ALL').at(-1)?.path ?? 'unmatched';
    const labels = { method: c.req.method, route, status: String(c.res.status) };
    end(labels);
    requests.inc(labels);
  };

  return { registry, middleware };
}
