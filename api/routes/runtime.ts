// A running server as operators see it: its logs (tail and live), the MCP manifest its health
// check read, and the policy decisions behind each launch. Logs come from the executor the server
// was recorded to run on (server_runtimes), so they work after any restart of the API or the worker.
import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { ApiError } from '../../lib/errors.js';
import { policyDecisions, serverManifest } from '../../lib/ledger/runtime.js';
import { lastProbes } from '../../lib/ledger/probes.js';
import { findServer } from '../../lib/ledger/servers.js';
import { LogsUnavailable, NoLogsYet, type ExecutorRegistry } from '../../lib/runtime/executor.js';
import { IdParam, Timestamp } from '../../lib/schemas/common.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';

const tags = ['runtime'];

const Manifest = z
  .object({
    name: z.string().nullable(),
    version: z.string().nullable(),
    protocol_version: z.string().nullable(),
    tools: z.array(z.object({ name: z.string(), description: z.string().nullable(), input_schema: z.unknown() })),
    checked_at: Timestamp,
  })
  .openapi('McpManifest');

const Probe = z
  .object({
    ok: z.boolean(),
    method: z.string().openapi({ description: '`ping`, or `tools/list` for a server without ping' }),
    latency_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    tools_digest: z.string().nullable().openapi({ description: 'digest of the tools/list the probe read' }),
    probed_at: Timestamp,
  })
  .openapi('HealthProbe');

const Decision = z
  .object({
    id: z.number().int(),
    decided_at: Timestamp,
    backend: z.string(),
    candidate_backend: z.string(),
    executor_name: z.string().nullable(),
    image: z.string().nullable(),
    requires_build: z.boolean(),
    artifact_run_id: z.number().int().nullable(),
    manifest_digest: z.string().nullable(),
    policy_version: z.string(),
    tier: z.string().nullable(),
    health_overall: z.string().nullable(),
    capability_requirements: z.array(z.string()),
    capabilities_satisfied: z.boolean(),
    evaluation_required: z.boolean(),
    governance_required: z.boolean(),
    launchable: z.boolean(),
    notes: z.array(z.string()),
  })
  .openapi('PolicyDecision');

const LogsQuery = z
  .object({
    tail: z
      .string()
      .regex(/^\d{1,5}$/, 'must be an integer between 1 and 10000')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 10_000, 'must be an integer between 1 and 10000')
      .optional(),
  })
  .strict();

async function workloadOf(executors: ExecutorRegistry, serverId: number) {
  const found = await executors.find(serverId);
  if (!found) throw new ApiError(409, 'not_launched', `server ${serverId} has not been launched, so it has no logs`);
  return found;
}

/** An executor that could not give the logs: nothing written yet is a 409, a failing executor a 502. */
function logError(err: unknown): unknown {
  if (err instanceof NoLogsYet) return new ApiError(409, 'no_logs', err.message);
  if (err instanceof LogsUnavailable) return new ApiError(502, 'logs_unavailable', err.message);
  return err;
}

export function runtimeRoutes(deps: ApiDeps) {
  const { sql, executors } = deps;
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/logs',
        operationId: 'listServerLogs',
        tags,
        summary: "The last lines of the server's output (stdout and stderr)",
        request: { params: IdParam, query: LogsQuery },
        responses: {
          200: { description: 'Log text', content: { 'text/plain': { schema: z.string() } } },
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const { executor, workload } = await workloadOf(executors, server.id);
        const text = await executor.logs(workload, { tail: c.req.valid('query').tail }).catch((err: unknown) => {
          throw logError(err);
        });
        return c.text(text, 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/logs/stream',
        operationId: 'streamServerLogs',
        tags,
        summary: "Follow the server's output live (SSE `event: log`, one line each)",
        request: { params: IdParam, query: LogsQuery },
        responses: {
          200: { description: 'Event stream', content: { 'text/event-stream': { schema: z.string() } } },
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const { executor, workload } = await workloadOf(executors, server.id);
        const follow = await executor
          .followLogs(workload, { tail: c.req.valid('query').tail })
          .catch((err: unknown) => {
            throw logError(err);
          });
        return streamSSE(c, async (stream) => {
          if (follow) stream.onAbort(() => follow.stop());
          await stream.writeSSE({ event: 'ready', data: JSON.stringify({ workload: workload.workload }) });
          try {
            for await (const line of follow?.lines ?? [])
              await stream.writeSSE({ event: 'log', data: JSON.stringify({ line }) });
          } catch {
            // the client went away, or the workload was removed
          }
          const reason = follow?.endReason ?? 'the workload has no live log';
          await stream.writeSSE({ event: 'end', data: JSON.stringify({ reason }) }).catch(() => {});
        });
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/manifest',
        operationId: 'getServerManifest',
        tags,
        summary: 'What the server said about itself at its last health check: name, version, tools',
        request: { params: IdParam },
        responses: { 200: json(Manifest, 'The MCP manifest'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json(await serverManifest<z.infer<typeof Manifest>>(sql, server.id), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/decisions',
        operationId: 'listServerDecisions',
        tags,
        summary: 'Policy decisions for this server, newest first',
        request: {
          params: IdParam,
          query: z.object({ limit: LogsQuery.shape.tail }).strict(),
        },
        responses: { 200: json(z.array(Decision), 'Decisions'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json(await policyDecisions(sql, server.id, Math.min(c.req.valid('query').limit ?? 20, 200)), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}/probes',
        operationId: 'listServerProbes',
        tags,
        summary: "The supervisor's latest health probes of this server, newest first",
        request: {
          params: IdParam,
          query: z.object({ limit: LogsQuery.shape.tail }).strict(),
        },
        responses: { 200: json(z.array(Probe), 'Probes'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json(await lastProbes(sql, server.id, Math.min(c.req.valid('query').limit ?? 10, 50)), 200);
      },
    );
}
