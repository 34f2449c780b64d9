// Telemetry of one server: registry and lifecycle events, newest first, live over SSE, and
// operator-posted events validated against the telemetry contract (422, not 500).
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { Metric, PageQuery, PostMetricBody } from '../../lib/schemas/builds.js';
import { IdParam } from '../../lib/schemas/common.js';
import { missingDetail } from '../../lib/telemetry-contract.js';
import { findServer } from '../../lib/ledger/servers.js';
import { recordMetric, serverMetrics, serverMetricsAfter, toMetric, type MetricRow } from '../../lib/ledger/metrics.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, jsonBody, notFoundError, defineRoute } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';

const tags = ['metrics'];

/** One telemetry row as an SSE frame (module-level: the fan-out formats each row once). */
const metricFrame = (row: MetricRow) => ({ event: 'metric', data: toMetric(row) });

export function metricRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/metrics',
        operationId: 'listServerMetrics',
        tags,
        summary: 'Telemetry events, newest first (`before` pages back)',
        request: { params: IdParam, query: PageQuery },
        responses: { 200: json(z.array(Metric), 'Events'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const rows = await serverMetrics(sql, server.id, c.req.valid('query'));
        return c.json(rows.map(toMetric), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'post',
        path: '/{id}/metrics',
        operationId: 'recordServerMetric',
        tags,
        summary: 'Record an event; registry events must carry the catalogue keys',
        request: { params: IdParam, body: jsonBody(PostMetricBody) },
        responses: { 201: json(Metric, 'Recorded'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const caller = c.get('caller');
        requireRole(caller, 'admin', 'operator');
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(caller));
        const body = c.req.valid('json');
        const missing = missingDetail(body.event_type, body.details);
        if (missing) {
          throw new ApiError(422, 'validation_failed', `${missing}: required for ${body.event_type} events`, missing);
        }
        const row = await recordMetric(sql, {
          serverId: server.id,
          eventType: body.event_type,
          details: body.details as Record<string, unknown> | null,
          postedBy: caller.id,
        });
        return c.json(toMetric(row), 201);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/metrics/stream',
        operationId: 'streamServerMetrics',
        tags,
        summary: 'Live telemetry (SSE): `event: metric` frames; resumes after `Last-Event-ID`',
        request: { params: IdParam },
        responses: {
          200: { description: 'Event stream', content: { 'text/event-stream': { schema: z.string() } } },
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return tailStream(c, lastEventId(c), {
          tail: deps.streams.metrics,
          accepts: (row) => row.server_id === server.id,
          replay: (after) => serverMetricsAfter(sql, server.id, after),
          frame: metricFrame,
          keepAliveMs: env.SSE_KEEPALIVE_MS,
        });
      },
    );
}
