// Governance workflow definitions and runs. A run is a `governance/<run>` workflow: the
// API creates its rows and starts it in one transaction; every later change is an update of that
// workflow (validated: 409 on an invalid transition), and the run's stream follows its audit log.
import { createRoute, z } from '@hono/zod-openapi';
import { holdCreation } from '../../lib/creation-lock.js';
import type { Sql } from '../../lib/db.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { runEnded, type RunStatus } from '../../lib/governance/states.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateGovernanceWorkflow,
  GovernanceRunDetail,
  GovernanceRunStatusChange,
  GovernanceStepChange,
  GovernanceWorkflow,
  StartGovernanceRun,
} from '../../lib/schemas/governance.js';
import { ManifestDigestKey, TierKey } from '../../lib/search-attributes.js';
import type { WorkflowIds } from '../../lib/workflow-ids.js';
import type { governanceRun } from '../../workflows/governance-run.js';
import { advanceStepUpdate, setRunStatusUpdate } from '../../workflows/governance.messages.js';
import { requireRole, visibleOwner } from '../auth.js';
import type { ApiDeps, Caller } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody, notFoundError, unavailableError } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';
import { toAuditEvent, type GovernanceAuditRow } from '../streams.js';
import { executeUpdate } from '../workflow-calls.js';
import { findRun } from './builds.js';
import { findServer } from './servers.js';

const tags = ['governance'];

/** One audit row as an SSE frame (module-level: the fan-out formats each row once). */
const auditFrame = (row: GovernanceAuditRow) => ({ event: 'audit', data: toAuditEvent(row) });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

interface WorkflowRow {
  id: number;
  owner_id: number;
  name: string;
  workflow_type: GovernanceWorkflow['workflow_type'];
  tier: string;
  created_at: Date;
  updated_at: Date;
}

async function withSteps(sql: Sql, rows: WorkflowRow[]): Promise<GovernanceWorkflow[]> {
  const ids = rows.map((r) => r.id);
  const steps = ids.length
    ? await sql<{ workflow_id: number; position: number; action: string; config: unknown }[]>`
        select workflow_id, position, action, config from governance_workflow_steps where workflow_id in ${sql(ids)} order by position`
    : [];
  return rows.map((r) => ({
    ...r,
    steps: steps.filter((s) => s.workflow_id === r.id).map(({ position, action, config }) => ({ position, action, config })),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  }));
}

/** A run if the caller may see it (through its workflow's owner); another owner's is a 404. */
export async function loadRunDetail(sql: Sql, workflowIds: WorkflowIds, id: number, caller: Caller): Promise<GovernanceRunDetail & { owner_id: number }> {
  const owner = visibleOwner(caller);
  const [run] = await sql<
    (Omit<GovernanceRunDetail, 'steps' | 'audit_log' | 'created_at' | 'updated_at' | 'temporal_workflow_id'> & { owner_id: number; created_at: Date; updated_at: Date })[]
  >`
    select r.id, r.workflow_id, r.status, r.notes, r.target_manifest_digest, r.target_artifact_run_id, r.target_server_id, r.target_tier,
           r.promotion_track_id, r.promotion_stage, r.initiated_by, r.created_at, r.updated_at, w.owner_id
    from governance_workflow_runs r join governance_workflows w on w.id = r.workflow_id
    where r.id = ${id} ${owner === undefined ? sql`` : sql`and w.owner_id = ${owner}`}`;
  if (!run) throw notFound(`governance run ${id}`);
  const steps = await sql<{ id: number; step_id: number | null; position: number; action: string; status: GovernanceRunDetail['steps'][number]['status']; started_at: Date | null; completed_at: Date | null; error: string | null }[]>`
    select id, step_id, position, action, status, started_at, completed_at, error from governance_step_runs where workflow_run_id = ${id} order by position`;
  const audit = await sql<{ id: number; event_type: string; details: unknown; created_at: Date; actor_id: number | null }[]>`
    select id, event_type, details, created_at, actor_id from governance_audit_logs where workflow_run_id = ${id} order by created_at, id`;
  return {
    ...run,
    temporal_workflow_id: workflowIds.governance(run.id),
    created_at: run.created_at.toISOString(),
    updated_at: run.updated_at.toISOString(),
    steps: steps.map((s) => ({ ...s, started_at: iso(s.started_at), completed_at: iso(s.completed_at) })),
    audit_log: audit.map((a) => ({ ...a, details: a.details ?? null, created_at: a.created_at.toISOString() })),
  };
}

const runErrors = (run: { id: number; status: string }, what: string) => ({
  ended: { code: 'invalid_transition', message: `run ${run.id} has ended (${run.status})` },
  what,
});

const stripOwner = ({ owner_id: _o, ...detail }: GovernanceRunDetail & { owner_id: number }): GovernanceRunDetail => detail;

const listWorkflows = createRoute({
  method: 'get',
  path: '/workflows',
  tags,
  summary: 'Governance workflow definitions (operators: their own), by id',
  responses: { 200: json(z.array(GovernanceWorkflow), 'Workflows'), ...commonErrors },
});
const createWorkflow = createRoute({
  method: 'post',
  path: '/workflows',
  tags,
  summary: 'Define a governance workflow with ordered steps',
  request: { body: jsonBody(CreateGovernanceWorkflow) },
  responses: { 201: json(GovernanceWorkflow, 'Created'), ...commonErrors, ...conflictError },
});
const startRun = createRoute({
  method: 'post',
  path: '/workflows/{id}/runs',
  tags,
  summary: 'Start a run of a governance workflow (the `governance/<run>` workflow)',
  request: { params: IdParam, body: jsonBody(StartGovernanceRun) },
  responses: { 201: json(GovernanceRunDetail, 'Started'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const getRun = createRoute({
  method: 'get',
  path: '/runs/{id}',
  tags,
  summary: 'A run with its steps and audit log',
  request: { params: IdParam },
  responses: { 200: json(GovernanceRunDetail, 'The run'), ...commonErrors, ...notFoundError },
});
const setStatus = createRoute({
  method: 'post',
  path: '/runs/{id}/status',
  tags,
  summary: 'Move a run to another status (pending → in_progress → completed | failed | cancelled); ended runs stay ended',
  request: { params: IdParam, body: jsonBody(GovernanceRunStatusChange) },
  responses: { 200: json(GovernanceRunDetail, 'The run'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const advanceStep = createRoute({
  method: 'post',
  path: '/runs/{id}/steps/{position}',
  tags,
  summary: 'Move one step on (in order: a step starts or completes once the earlier ones have completed)',
  request: {
    params: IdParam.extend({
      position: z.string().regex(/^[1-9]\d{0,2}$/, 'must be a step position').transform(Number).openapi({ param: { name: 'position', in: 'path' } }),
    }),
    body: jsonBody(GovernanceStepChange),
  },
  responses: { 200: json(GovernanceRunDetail, 'The run'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const streamRun = createRoute({
  method: 'get',
  path: '/runs/{id}/stream',
  tags,
  summary: 'Server-sent events: the run\'s audit log (`event: audit`, each with the run status it led to), live, then `event: end` when the run ends',
  request: { params: IdParam },
  responses: {
    200: { description: 'An event stream: `ready`, `audit` (id = audit id; resumes after Last-Event-ID), `end`', content: { 'text/event-stream': { schema: z.string() } } },
    ...commonErrors,
    ...notFoundError,
  },
});

export function governanceRoutes(deps: ApiDeps) {
  const { sql, temporal, env, workflowIds } = deps;
  return createRouter()
    .openapi(listWorkflows, async (c) => {
      const owner = visibleOwner(c.get('caller'));
      const rows = await sql<WorkflowRow[]>`
        select * from governance_workflows ${owner === undefined ? sql`` : sql`where owner_id = ${owner}`} order by id`;
      return c.json(await withSteps(sql, rows), 200);
    })
    .openapi(createWorkflow, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      const row = await sql.begin(async (tx) => {
        const [wf] = await tx<WorkflowRow[]>`
          insert into governance_workflows (owner_id, name, workflow_type, tier)
          values (${caller.id}, ${body.name}, ${body.workflow_type}, ${body.tier})
          on conflict (owner_id, name) do nothing returning *`;
        if (!wf) throw new ApiError(409, 'name_taken', `you already have a governance workflow named "${body.name}"`, 'name');
        for (const [i, step] of body.steps.entries()) {
          await tx`insert into governance_workflow_steps (workflow_id, position, action, config)
                   values (${wf.id}, ${i + 1}, ${step.action}, ${tx.json((step.config ?? {}) as never)})`;
        }
        return wf;
      });
      return c.json((await withSteps(sql, [row]))[0]!, 201);
    })
    .openapi(startRun, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const owner = visibleOwner(caller);
      const id = c.req.valid('param').id;
      const body = c.req.valid('json');
      const [wf] = await sql<WorkflowRow[]>`
        select * from governance_workflows where id = ${id} ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}`;
      if (!wf) throw notFound(`governance workflow ${id}`);
      // Targets must be the workflow owner's own, and agree with each other.
      let digest = body.target_manifest_digest ?? null;
      if (body.target_artifact_run_id !== undefined) {
        const run = await findRun(sql, body.target_artifact_run_id, { ...caller, role: 'operator', id: wf.owner_id }).catch(() => {
          throw new ApiError(422, 'validation_failed', `build run ${body.target_artifact_run_id} not found`, 'target_artifact_run_id');
        });
        if (digest && run.manifest_digest !== digest) throw new ApiError(422, 'validation_failed', "target_manifest_digest must be the run's own", 'target_manifest_digest');
        digest = run.manifest_digest;
      }
      if (body.target_server_id !== undefined) {
        await findServer(sql, body.target_server_id, { ...caller, role: 'operator', id: wf.owner_id }).catch(() => {
          throw new ApiError(422, 'validation_failed', `server ${body.target_server_id} not found`, 'target_server_id');
        });
      }
      const runId = await sql.begin(async (tx) => {
        const [run] = await tx<{ id: number }[]>`
          insert into governance_workflow_runs (workflow_id, initiated_by, target_artifact_run_id, target_manifest_digest, target_tier, target_server_id, notes)
          values (${wf.id}, ${caller.id}, ${body.target_artifact_run_id ?? null}, ${digest}, ${wf.tier}, ${body.target_server_id ?? null}, ${body.notes})
          returning id`;
        await tx`
          insert into governance_step_runs (workflow_run_id, step_id, position, action)
          select ${run!.id}, id, position, action from governance_workflow_steps where workflow_id = ${wf.id}`;
        // Started inside the transaction, whose lock the workflow's first read waits for: if the
        // commit fails, the workflow finds no row and ends.
        await holdCreation(tx, 'governance_workflow_runs', run!.id);
        await temporal.workflow.start<typeof governanceRun>('governanceRun', {
          taskQueue: env.TEMPORAL_TASK_QUEUE,
          workflowId: workflowIds.governance(run!.id),
          args: [{ runId: run!.id }],
          typedSearchAttributes: [{ key: TierKey, value: wf.tier }, ...(digest ? [{ key: ManifestDigestKey, value: digest }] : [])],
          memo: { workflow: wf.name, workflowType: wf.workflow_type, initiatedBy: caller.id },
        });
        // Last: the audit insert takes the audit log's ordering lock until commit (migration 00002).
        await tx`
          insert into governance_audit_logs (workflow_run_id, actor_id, event_type, details)
          values (${run!.id}, ${caller.id}, 'run_created', ${tx.json({ workflow: wf.name, notes: body.notes })})`;
        return run!.id;
      });
      return c.json(stripOwner(await loadRunDetail(sql, workflowIds, runId, caller)), 201);
    })
    .openapi(getRun, async (c) => c.json(stripOwner(await loadRunDetail(sql, workflowIds, c.req.valid('param').id, c.get('caller'))), 200))
    .openapi(setStatus, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const run = await loadRunDetail(sql, workflowIds, c.req.valid('param').id, caller);
      const body = c.req.valid('json');
      await executeUpdate(temporal, workflowIds.governance(run.id), setRunStatusUpdate, [{ actorId: caller.id, status: body.status, note: body.note }], runErrors(run, 'the status change'));
      return c.json(stripOwner(await loadRunDetail(sql, workflowIds, run.id, caller)), 200);
    })
    .openapi(advanceStep, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const { id, position } = c.req.valid('param');
      const run = await loadRunDetail(sql, workflowIds, id, caller);
      const body = c.req.valid('json');
      await executeUpdate(temporal, workflowIds.governance(run.id), advanceStepUpdate, [{ actorId: caller.id, position, status: body.status, note: body.note }], runErrors(run, 'the step change'));
      return c.json(stripOwner(await loadRunDetail(sql, workflowIds, run.id, caller)), 200);
    })
    .openapi(streamRun, async (c) => {
      const run = await loadRunDetail(sql, workflowIds, c.req.valid('param').id, c.get('caller'));
      return tailStream(c, lastEventId(c), {
        tail: deps.streams.governanceAudit,
        accepts: (row) => Number(row.workflow_run_id) === run.id,
        replay: (after) => sql<GovernanceAuditRow[]>`
          select * from governance_audit_logs where workflow_run_id = ${run.id} and id > ${after} order by id limit 1000`,
        frame: auditFrame,
        keepAliveMs: env.SSE_KEEPALIVE_MS,
        replayFromStart: true,
        finished: async () => {
          const [r] = await sql<{ status: RunStatus }[]>`select status from governance_workflow_runs where id = ${run.id}`;
          return !r || runEnded(r.status);
        },
      });
    });
}
