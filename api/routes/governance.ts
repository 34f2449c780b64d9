// Governance workflow definitions and runs. A run is a `governance/<run>` workflow: the
// API creates its rows and starts it in one transaction; every later change is an update of that
// workflow (validated: 409 on an invalid transition), and the run's stream follows its audit log.
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { findRun } from '../../lib/ledger/builds.js';
import {
  auditAfter,
  createRun,
  createWorkflow as defineWorkflow,
  findWorkflow,
  listRuns,
  listWorkflows as workflowsIn,
  loadRunDetail,
  runIsOver,
  toAuditEvent,
  withSteps,
  type GovernanceAuditRow,
  type RunDetail,
} from '../../lib/ledger/governance.js';
import { distinctApproverRefusal } from '../../lib/ledger/promotions.js';
import { ownerScope } from '../../lib/ledger/scope.js';
import { findServer } from '../../lib/ledger/servers.js';
import { PageQuery } from '../../lib/schemas/builds.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateGovernanceWorkflow,
  GovernanceRunDetail,
  GovernanceRunStatusChange,
  GovernanceRunSummary,
  GovernanceStepChange,
  GovernanceWorkflow,
  StartGovernanceRun,
} from '../../lib/schemas/governance.js';
import { ManifestDigestKey, TierKey } from '../../lib/search-attributes.js';
import type { governanceRun } from '../../workflows/governance-run.js';
import { advanceStepUpdate, setRunStatusUpdate } from '../../workflows/governance.messages.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import {
  commonErrors,
  conflictError,
  createRouter,
  json,
  jsonBody,
  notFoundError,
  unavailableError,
  defineRoute,
} from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';
import { executeUpdate } from '../workflow-calls.js';

const tags = ['governance'];

/** One audit row as an SSE frame (module-level: the fan-out formats each row once). */
const auditFrame = (row: GovernanceAuditRow) => ({ event: 'audit', data: toAuditEvent(row) });

const runErrors = (run: { id: number; status: string }, what: string) => ({
  ended: { code: 'invalid_transition', message: `run ${run.id} has ended (${run.status})` },
  what,
});

const stripOwner = ({ owner_id: _o, ...detail }: RunDetail): GovernanceRunDetail => detail;

const listWorkflows = defineRoute({
  method: 'get',
  path: '/workflows',
  operationId: 'listGovernanceWorkflows',
  tags,
  summary: 'Governance workflow definitions (operators: their own), by id',
  responses: { 200: json(z.array(GovernanceWorkflow), 'Workflows'), ...commonErrors },
});
const createWorkflow = defineRoute({
  method: 'post',
  path: '/workflows',
  operationId: 'createGovernanceWorkflow',
  tags,
  summary: 'Define a governance workflow with ordered steps',
  request: { body: jsonBody(CreateGovernanceWorkflow) },
  responses: { 201: json(GovernanceWorkflow, 'Created'), ...commonErrors, ...conflictError },
});
const startRun = defineRoute({
  method: 'post',
  path: '/workflows/{id}/runs',
  operationId: 'startGovernanceRun',
  tags,
  summary: 'Start a run of a governance workflow (the `governance/<run>` workflow)',
  request: { params: IdParam, body: jsonBody(StartGovernanceRun) },
  responses: {
    201: json(GovernanceRunDetail, 'Started'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const listRunsRoute = defineRoute({
  method: 'get',
  path: '/runs',
  operationId: 'listGovernanceRuns',
  tags,
  summary: "Runs of the caller-visible workflows, newest first, with their steps' states (keyset: `before` a run id)",
  request: { query: PageQuery },
  responses: { 200: json(z.array(GovernanceRunSummary), 'Runs'), ...commonErrors },
});
const getRun = defineRoute({
  method: 'get',
  path: '/runs/{id}',
  operationId: 'getGovernanceRun',
  tags,
  summary: 'A run with its steps and audit log',
  request: { params: IdParam },
  responses: { 200: json(GovernanceRunDetail, 'The run'), ...commonErrors, ...notFoundError },
});
const setStatus = defineRoute({
  method: 'post',
  path: '/runs/{id}/status',
  operationId: 'setGovernanceRunStatus',
  tags,
  summary:
    'Move a run to another status (pending → in_progress → completed | failed | cancelled); ended runs stay ended',
  request: { params: IdParam, body: jsonBody(GovernanceRunStatusChange) },
  responses: {
    200: json(GovernanceRunDetail, 'The run'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const advanceStep = defineRoute({
  method: 'post',
  path: '/runs/{id}/steps/{position}',
  operationId: 'advanceGovernanceStep',
  tags,
  summary: 'Move one step on (in order: a step starts or completes once the earlier ones have completed)',
  request: {
    params: IdParam.extend({
      position: z
        .string()
        .regex(/^[1-9]\d{0,2}$/, 'must be a step position')
        .transform(Number)
        .openapi({ param: { name: 'position', in: 'path' } }),
    }),
    body: jsonBody(GovernanceStepChange),
  },
  responses: {
    200: json(GovernanceRunDetail, 'The run'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const streamRun = defineRoute({
  method: 'get',
  path: '/runs/{id}/stream',
  operationId: 'streamGovernanceRun',
  tags,
  summary:
    "Server-sent events: the run's audit log (`event: audit`, each with the run status it led to), live, then `event: end` when the run ends",
  request: { params: IdParam },
  responses: {
    200: {
      description: 'An event stream: `ready`, `audit` (id = audit id; resumes after Last-Event-ID), `end`',
      content: { 'text/event-stream': { schema: z.string() } },
    },
    ...commonErrors,
    ...notFoundError,
  },
});

export function governanceRoutes(deps: ApiDeps) {
  const { sql, temporal, env, workflowIds } = deps;
  /** A promotion's governance run is not completed by whoever scheduled it, when its track says so. */
  const refuseSelfCompletion = async (runId: number, actorId: number) => {
    const refused = await distinctApproverRefusal(sql, { governanceRunId: runId }, actorId, { approval: false });
    if (refused) throw new ApiError(403, 'distinct_approver_required', refused);
  };
  return createRouter()
    .openapi(listWorkflows, async (c) =>
      c.json(await withSteps(sql, await workflowsIn(sql, visibleScope(c.get('caller')))), 200),
    )
    .openapi(createWorkflow, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      const row = await defineWorkflow(sql, {
        ownerId: caller.id,
        name: body.name,
        workflowType: body.workflow_type,
        tier: body.tier,
        steps: body.steps,
      });
      return c.json((await withSteps(sql, [row]))[0]!, 201);
    })
    .openapi(startRun, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const wf = await findWorkflow(sql, c.req.valid('param').id, visibleScope(caller));
      const body = c.req.valid('json');
      // Targets must be the workflow owner's own, and agree with each other.
      const owners = ownerScope(wf.owner_id);
      let digest = body.target_manifest_digest ?? null;
      if (body.target_artifact_run_id !== undefined) {
        const run = await findRun(sql, body.target_artifact_run_id, owners).catch(() => {
          throw new ApiError(
            422,
            'validation_failed',
            `build run ${body.target_artifact_run_id} not found`,
            'target_artifact_run_id',
          );
        });
        if (digest && run.manifest_digest !== digest)
          throw new ApiError(
            422,
            'validation_failed',
            "target_manifest_digest must be the run's own",
            'target_manifest_digest',
          );
        digest = run.manifest_digest;
      }
      if (body.target_server_id !== undefined) {
        await findServer(sql, body.target_server_id, owners).catch(() => {
          throw new ApiError(422, 'validation_failed', `server ${body.target_server_id} not found`, 'target_server_id');
        });
      }
      const run = await createRun(
        sql,
        workflowIds,
        wf.owner_id,
        {
          workflowId: wf.id,
          initiatedBy: caller.id,
          targetArtifactRunId: body.target_artifact_run_id ?? null,
          targetManifestDigest: digest,
          targetTier: wf.tier,
          targetServerId: body.target_server_id ?? null,
          notes: body.notes,
        },
        { workflow: wf.name, notes: body.notes },
        (id) =>
          temporal.workflow.start<typeof governanceRun>('governanceRun', {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            workflowId: workflowIds.governance(id),
            args: [{ runId: id }],
            typedSearchAttributes: [
              { key: TierKey, value: wf.tier },
              ...(digest ? [{ key: ManifestDigestKey, value: digest }] : []),
            ],
            memo: { workflow: wf.name, workflowType: wf.workflow_type, initiatedBy: caller.id },
          }),
      );
      return c.json(stripOwner(run), 201);
    })
    .openapi(listRunsRoute, async (c) => {
      const { before, limit } = c.req.valid('query');
      return c.json(
        await listRuns(sql, workflowIds, visibleScope(c.get('caller')), { before, limit: limit ?? 50 }),
        200,
      );
    })
    .openapi(getRun, async (c) =>
      c.json(
        stripOwner(await loadRunDetail(sql, workflowIds, c.req.valid('param').id, visibleScope(c.get('caller')))),
        200,
      ),
    )
    .openapi(setStatus, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const run = await loadRunDetail(sql, workflowIds, c.req.valid('param').id, visibleScope(caller));
      const body = c.req.valid('json');
      if (body.status === 'completed') await refuseSelfCompletion(run.id, caller.id);
      await executeUpdate(
        temporal,
        workflowIds.governance(run.id),
        setRunStatusUpdate,
        [{ actorId: caller.id, status: body.status, note: body.note }],
        runErrors(run, 'the status change'),
      );
      return c.json(stripOwner(await loadRunDetail(sql, workflowIds, run.id, visibleScope(caller))), 200);
    })
    .openapi(advanceStep, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const { id, position } = c.req.valid('param');
      const run = await loadRunDetail(sql, workflowIds, id, visibleScope(caller));
      const body = c.req.valid('json');
      if (body.status === 'completed') await refuseSelfCompletion(run.id, caller.id);
      await executeUpdate(
        temporal,
        workflowIds.governance(run.id),
        advanceStepUpdate,
        [{ actorId: caller.id, position, status: body.status, note: body.note }],
        runErrors(run, 'the step change'),
      );
      return c.json(stripOwner(await loadRunDetail(sql, workflowIds, run.id, visibleScope(caller))), 200);
    })
    .openapi(streamRun, async (c) => {
      const run = await loadRunDetail(sql, workflowIds, c.req.valid('param').id, visibleScope(c.get('caller')));
      return tailStream(c, lastEventId(c), {
        tail: deps.streams.governanceAudit,
        accepts: (row) => row.workflow_run_id === run.id,
        replay: (after) => auditAfter(sql, run.id, after),
        frame: auditFrame,
        keepAliveMs: env.SSE_KEEPALIVE_MS,
        replayFromStart: true,
        finished: () => runIsOver(sql, run.id),
      });
    });
}
