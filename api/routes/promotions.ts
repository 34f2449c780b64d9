// Release trains: tracks with ordered stages (created and updated through the API), and
// stage promotions of a digest, each a `promotion/<id>` workflow that runs the track's governance
// workflow, waits for approval, and ends active or rolled back. Only the track's owner (or an
// admin) approves or rolls back; a rolled-back stage can be scheduled again.
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { checkPromotionTransition, DEFAULT_STAGES } from '../../lib/governance/states.js';
import { ownerArtifact } from '../../lib/ledger/builds.js';
import { ownsWorkflow } from '../../lib/ledger/governance.js';
import {
  createTrack as insertTrack,
  distinctApproverRefusal,
  findPromotion,
  findTrack,
  listTracks as tracksIn,
  promotionHistory,
  promotionOf,
  schedulePromotion,
  toTrack,
  updateTrack as writeTrack,
} from '../../lib/ledger/promotions.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateTrack,
  PromotionDecision,
  PromotionHistoryQuery,
  PromotionRecord,
  SchedulePromotion,
  Track,
  UpdateTrack,
  soakStageRefusal,
} from '../../lib/schemas/governance.js';
import { ManifestDigestKey, StageKey, TierKey } from '../../lib/search-attributes.js';
import { NOT_SOAKING, approveUpdate, rollbackUpdate } from '../../workflows/governance.messages.js';
import type { promotion } from '../../workflows/promotion.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import {
  commonErrors,
  conflictError,
  createRouter,
  json,
  jsonBody,
  notFoundError,
  optionalJsonBody,
  unavailableError,
  defineRoute,
} from '../openapi.js';
import { executeUpdate, rollBackEndedPromotion } from '../workflow-calls.js';

const tags = ['promotions'];

/** A governance workflow given to a track must be the track owner's own. */
async function checkWorkflowOwned(
  sql: ApiDeps['sql'],
  workflowId: number | null | undefined,
  ownerId: number,
): Promise<void> {
  if (workflowId === null || workflowId === undefined) return;
  if (!(await ownsWorkflow(sql, workflowId, ownerId)))
    throw new ApiError(422, 'validation_failed', `governance workflow ${workflowId} not found`, 'workflow_id');
}

const listTracks = defineRoute({
  method: 'get',
  path: '/tracks',
  operationId: 'listTracks',
  tags,
  summary: 'Promotion tracks (operators: their own), by name',
  responses: { 200: json(z.array(Track), 'Tracks'), ...commonErrors },
});
const createTrack = defineRoute({
  method: 'post',
  path: '/tracks',
  operationId: 'createTrack',
  tags,
  summary: 'Create a release train: ordered stages, its governance workflow, and the launch gates it turns on',
  request: { body: jsonBody(CreateTrack) },
  responses: { 201: json(Track, 'Created'), ...commonErrors, ...conflictError },
});
const updateTrack = defineRoute({
  method: 'patch',
  path: '/tracks/{id}',
  operationId: 'updateTrack',
  tags,
  summary: 'Change a track: only fields given change, null clears',
  request: { params: IdParam, body: jsonBody(UpdateTrack) },
  responses: { 200: json(Track, 'The track'), ...commonErrors, ...notFoundError },
});
const schedule = defineRoute({
  method: 'post',
  path: '/schedule',
  operationId: 'schedulePromotion',
  tags,
  summary:
    "Schedule a digest's promotion to a stage (the previous stage must be active); starts its `promotion/<id>` workflow",
  request: { body: jsonBody(SchedulePromotion) },
  responses: {
    201: json(PromotionRecord, 'Scheduled'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const getPromotion = defineRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getPromotion',
  tags,
  summary: 'One promotion',
  request: { params: IdParam },
  responses: { 200: json(PromotionRecord, 'The promotion'), ...commonErrors, ...notFoundError },
});
const approve = defineRoute({
  method: 'post',
  path: '/{id}/approve',
  operationId: 'approvePromotion',
  tags,
  summary:
    "Approve a scheduled or in-progress promotion (the track's owner or an admin); it goes active once its governance run completes",
  request: { params: IdParam, body: optionalJsonBody(PromotionDecision) },
  responses: {
    200: json(PromotionRecord, 'The promotion'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const rollback = defineRoute({
  method: 'post',
  path: '/{id}/rollback',
  operationId: 'rollbackPromotion',
  tags,
  summary: 'Roll a promotion back (cancels its governance run); the stage can be scheduled again',
  request: { params: IdParam, body: optionalJsonBody(PromotionDecision) },
  responses: {
    200: json(PromotionRecord, 'The promotion'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
    ...unavailableError,
  },
});
const history = defineRoute({
  method: 'get',
  path: '/history',
  operationId: 'listPromotionHistory',
  tags,
  summary: 'Promotions of the caller-visible tracks, newest change first',
  request: { query: PromotionHistoryQuery },
  responses: { 200: json(z.array(PromotionRecord), 'Promotions'), ...commonErrors },
});

export function promotionRoutes(deps: ApiDeps) {
  const { sql, temporal, env, workflowIds } = deps;
  const toPromotion = promotionOf(workflowIds);

  /** An active promotion's workflow has ended: a run of its own rolls it back. */
  const rollbackActive = (id: number, actorId: number, note: string | undefined) =>
    rollBackEndedPromotion(deps, id, { actorId, note });

  return createRouter()
    .openapi(listTracks, async (c) => {
      const rows = await tracksIn(sql, visibleScope(c.get('caller')));
      return c.json(rows.map(toTrack), 200);
    })
    .openapi(createTrack, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      await checkWorkflowOwned(sql, body.workflow_id, caller.id);
      const row = await insertTrack(sql, {
        ownerId: caller.id,
        name: body.name,
        tier: body.tier,
        stages: body.stages ?? [...DEFAULT_STAGES],
        description: body.description ?? null,
        workflowId: body.workflow_id ?? null,
        launchStage: body.launch_stage ?? null,
        requiredCertifications: [...new Set(body.required_certifications ?? [])].sort(),
        requireDistinctApprover: body.require_distinct_approver ?? false,
        allowDrift: body.allow_drift ?? false,
        soakSeconds: body.soak_seconds ?? {},
      });
      return c.json(toTrack(row), 201);
    })
    .openapi(updateTrack, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const track = await findTrack(sql, c.req.valid('param').id, visibleScope(caller));
      const body = c.req.valid('json');
      await checkWorkflowOwned(sql, body.workflow_id, track.owner_id);
      const stages = body.stages ?? track.stages;
      const launchStage = body.launch_stage === undefined ? track.launch_stage : body.launch_stage;
      if (launchStage && !stages.includes(launchStage)) {
        throw new ApiError(
          422,
          'validation_failed',
          `launch_stage must be one of the stages (${stages.join(', ')})`,
          'launch_stage',
        );
      }
      const soakSeconds = body.soak_seconds === undefined ? track.soak_seconds : (body.soak_seconds ?? {});
      const soakRefused = soakStageRefusal(soakSeconds, stages);
      if (soakRefused) throw new ApiError(422, 'validation_failed', soakRefused, 'soak_seconds');
      const row = await writeTrack(sql, track.id, {
        stages,
        description: body.description === undefined ? track.description : body.description,
        workflowId: body.workflow_id === undefined ? track.workflow_id : body.workflow_id,
        launchStage,
        requiredCertifications:
          body.required_certifications === undefined
            ? track.required_certifications
            : [...new Set(body.required_certifications)].sort(),
        requireDistinctApprover: body.require_distinct_approver ?? track.require_distinct_approver,
        allowDrift: body.allow_drift ?? track.allow_drift,
        soakSeconds,
      });
      return c.json(toTrack(row), 200);
    })
    .openapi(schedule, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      const track = await findTrack(sql, body.track_id, visibleScope(caller));
      const index = track.stages.indexOf(body.stage);
      if (index === -1)
        throw new ApiError(
          400,
          'invalid_stage',
          `stage \`${body.stage}\` is not part of track \`${track.name}\` (${track.stages.join(', ')})`,
          'stage',
        );
      // Only a digest that one of the track owner's build runs published can be promoted.
      const artifact = await ownerArtifact(sql, track.owner_id, body.manifest_digest, body.artifact_run_id);
      if (!artifact) {
        throw new ApiError(
          422,
          'validation_failed',
          `no build run of yours published ${body.manifest_digest}${body.artifact_run_id ? ` as run ${body.artifact_run_id}` : ''}`,
          'manifest_digest',
        );
      }
      const id = await schedulePromotion(
        sql,
        {
          track,
          stage: body.stage,
          manifestDigest: body.manifest_digest,
          artifactRunId: body.artifact_run_id ?? artifact.id,
          scheduledBy: caller.id,
          notes: body.notes,
          repromote: body.repromote,
        },
        (promotionId) =>
          temporal.workflow.start<typeof promotion>('promotion', {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            workflowId: workflowIds.promotion(promotionId),
            args: [{ promotionId }],
            typedSearchAttributes: [
              { key: ManifestDigestKey, value: body.manifest_digest },
              { key: TierKey, value: track.tier },
              { key: StageKey, value: body.stage },
            ],
            memo: { track: track.name, stage: body.stage, scheduledBy: caller.id },
          }),
      );
      return c.json(toPromotion(await findPromotion(sql, id, visibleScope(caller))), 201);
    })
    .openapi(history, async (c) => {
      const rows = await promotionHistory(sql, visibleScope(c.get('caller')), c.req.valid('query'));
      return c.json(rows.map(toPromotion), 200);
    })
    .openapi(getPromotion, async (c) =>
      c.json(toPromotion(await findPromotion(sql, c.req.valid('param').id, visibleScope(c.get('caller')))), 200),
    )
    .openapi(approve, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const p = await findPromotion(sql, c.req.valid('param').id, visibleScope(caller));
      const { note } = c.req.valid('json') ?? {};
      const verdict = checkPromotionTransition(p.status, 'approved');
      if (!verdict.ok) throw new ApiError(409, 'invalid_transition', verdict.reason!);
      const refused = await distinctApproverRefusal(sql, { promotionId: p.id }, caller.id, { approval: true });
      if (refused) throw new ApiError(403, 'distinct_approver_required', refused);
      await executeUpdate(temporal, workflowIds.promotion(p.id), approveUpdate, [{ actorId: caller.id, note }], {
        ended: { code: 'invalid_transition', message: `promotion ${p.id} has ended (${p.status})` },
        what: 'the approval',
      });
      return c.json(toPromotion(await findPromotion(sql, p.id, visibleScope(caller))), 200);
    })
    .openapi(rollback, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const p = await findPromotion(sql, c.req.valid('param').id, visibleScope(caller));
      const { note } = c.req.valid('json') ?? {};
      const verdict = checkPromotionTransition(p.status, 'rolled_back');
      if (!verdict.ok) throw new ApiError(409, 'invalid_transition', verdict.reason!);
      // Its workflow records it while it runs (also while an active promotion soaks); once it has
      // ended (active, done soaking), a run of its own does.
      try {
        await executeUpdate(temporal, workflowIds.promotion(p.id), rollbackUpdate, [{ actorId: caller.id, note }], {
          ended: { code: 'promotion_ended', message: `promotion ${p.id} has ended` },
          what: 'the rollback',
        });
      } catch (err) {
        const ended =
          err instanceof ApiError &&
          (err.code === 'promotion_ended' || (err.code === 'invalid_transition' && err.message === NOT_SOAKING));
        if (!ended) throw err;
        await rollbackActive(p.id, caller.id, note);
      }
      return c.json(toPromotion(await findPromotion(sql, p.id, visibleScope(caller))), 200);
    });
}
