// A running server as operators see it: its logs (tail and live), the MCP manifest its health
// check read, and the policy decisions behind each launch. Logs come from the executor the server
// was recorded to run on (server_runtimes), so they work after any restart of the API or the worker.
import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { ApiError } from '../../lib/errors.js';
import { automaticCertificationIds } from '../../lib/ledger/certifications.js';
import { gateArtifactOf, loadGateVerdict } from '../../lib/ledger/decisions.js';
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

const GateFields = {
  met: z.boolean(),
  note: z.string().openapi({ description: "the policy engine's note for this gate, as in the decision's notes" }),
};

const CertificationGate = z
  .object({
    kind: z.literal('certification'),
    ...GateFields,
    state: z
      .enum(['certified', 'missing', 'pending', 'failed', 'expired', 'stale', 'missing-manifest', 'missing-tier'])
      .openapi({ description: '`certified` is met; every other state says why not' }),
    tier: z.string().nullable(),
    requirement: z.string().nullable().openapi({ description: 'null while no manifest or tier lets one be judged' }),
    required_by: z
      .array(z.string())
      .openapi({ description: 'the tracks that require it; empty for one on record that no track asked for' }),
    certification: z
      .object({
        id: z.number().int(),
        status: z.enum(['pending', 'pass', 'fail']),
        valid_until: Timestamp.nullable(),
        next_refresh_at: Timestamp.nullable(),
        workflow_id: z.string().nullable().openapi({ description: "an automatic certification's workflow" }),
      })
      .nullable(),
  })
  .openapi('CertificationGate');

const PromotionGate = z
  .object({
    kind: z.literal('promotion'),
    ...GateFields,
    state: z
      .enum(['active', 'not-active', 'missing', 'missing-manifest'])
      .openapi({ description: '`active` is met; every other state says why not' }),
    track: z.object({ id: z.number().int(), name: z.string(), launch_stage: z.string() }),
    promotion: z
      .object({
        id: z.number().int(),
        stage: z.string(),
        status: z.string(),
        workflow_id: z.string(),
        governance_run_id: z.number().int().nullable(),
        governance_workflow_id: z.string().nullable(),
      })
      .nullable()
      .openapi({ description: 'the promotion that satisfied the track, or came closest to it' }),
  })
  .openapi('PromotionGate');

const ServerGates = z
  .object({
    judged_at: Timestamp,
    decision_id: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'the decision whose artifact is judged; null before the first decision' }),
    artifact_run_id: z.number().int().nullable(),
    manifest_digest: z.string().nullable(),
    tier: z.string().nullable(),
    evaluation_required: z.boolean(),
    governance_required: z.boolean(),
    gates: z.array(z.discriminatedUnion('kind', [CertificationGate, PromotionGate])),
  })
  .openapi('ServerGates');

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
  const { sql, executors, workflowIds } = deps;
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
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
        path: '/{id}/gates',
        operationId: 'getServerGates',
        tags,
        summary: "What the server's launch waits on: each certification and promotion gate, met or not, judged now",
        description:
          "The policy engine's gate judged on the latest decision's artifact against the ledger as it is now: " +
          'the same judgement the next launch decision makes, with the certification and promotion rows it read.',
        request: { params: IdParam },
        responses: { 200: json(ServerGates, 'The gates'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const artifact = await gateArtifactOf(sql, server.id);
        const verdict = await loadGateVerdict(sql, server.owner_id, server.server_type, artifact);
        const automatic = await automaticCertificationIds(
          sql,
          verdict.checks.flatMap((g) => (g.kind === 'certification' && g.certification ? [g.certification.id] : [])),
        );
        const gates = verdict.checks.map((g) =>
          g.kind === 'certification'
            ? {
                kind: g.kind,
                met: g.met,
                note: g.note,
                state: g.state,
                tier: g.tier,
                requirement: g.requirement,
                required_by: g.requiredBy,
                certification: g.certification && {
                  id: g.certification.id,
                  status: g.certification.status as 'pending' | 'pass' | 'fail',
                  valid_until: iso(g.certification.validUntil),
                  next_refresh_at: iso(g.certification.nextRefreshAt),
                  workflow_id: automatic.has(g.certification.id) ? workflowIds.certification(g.certification.id) : null,
                },
              }
            : {
                kind: g.kind,
                met: g.met,
                note: g.note,
                state: g.state,
                track: { id: g.trackId, name: g.trackName, launch_stage: g.launchStage },
                promotion: g.promotion && {
                  id: g.promotion.id,
                  stage: g.promotion.stage,
                  status: g.promotion.status,
                  workflow_id: workflowIds.promotion(g.promotion.id),
                  governance_run_id: g.promotion.workflowRunId,
                  governance_workflow_id:
                    g.promotion.workflowRunId === null ? null : workflowIds.governance(g.promotion.workflowRunId),
                },
              },
        );
        return c.json(
          {
            judged_at: new Date().toISOString(),
            decision_id: artifact.decisionId,
            artifact_run_id: artifact.runId,
            manifest_digest: artifact.manifestDigest,
            tier: artifact.tier,
            evaluation_required: verdict.evaluationRequired,
            governance_required: verdict.governanceRequired,
            gates,
          },
          200,
        );
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
