// Release trains: tracks with ordered stages (created and updated through the API), and
// stage promotions of a digest, each a `promotion/<id>` workflow that runs the track's governance
// workflow, waits for approval, and ends active or rolled back. Only the track's owner (or an
// admin) approves or rolls back; a rolled-back stage can be scheduled again.
import { createRoute, z } from '@hono/zod-openapi';
import { holdCreation } from '../../lib/creation-lock.js';
import { isPgError, PgCode, type Sql } from '../../lib/db.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { checkPromotionTransition, DEFAULT_STAGES, type PromotionStatus } from '../../lib/governance/states.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateTrack,
  PromotionDecision,
  PromotionHistoryQuery,
  PromotionRecord,
  SchedulePromotion,
  Track,
  UpdateTrack,
} from '../../lib/schemas/governance.js';
import { ManifestDigestKey, StageKey, TierKey } from '../../lib/search-attributes.js';
import type { WorkflowIds } from '../../lib/workflow-ids.js';
import { approveUpdate, rollbackUpdate } from '../../workflows/governance.messages.js';
import type { promotion } from '../../workflows/promotion.js';
import { requireRole, visibleOwner } from '../auth.js';
import type { ApiDeps, Caller } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody, notFoundError, optionalJsonBody, unavailableError } from '../openapi.js';
import { executeUpdate } from '../workflow-calls.js';

const tags = ['promotions'];
const iso = (d: Date | null) => (d ? d.toISOString() : null);

type TrackRow = Omit<Track, 'created_at' | 'updated_at'> & { created_at: Date; updated_at: Date };
const toTrack = (r: TrackRow): Track => ({ ...r, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() });

type PromotionRow = Omit<PromotionRecord, 'scheduled_at' | 'approved_at' | 'activated_at' | 'rolled_back_at' | 'updated_at' | 'created_at' | 'temporal_workflow_id'> & {
  owner_id: number;
  scheduled_at: Date;
  approved_at: Date | null;
  activated_at: Date | null;
  rolled_back_at: Date | null;
  updated_at: Date;
  created_at: Date;
};

/** The response shape of a promotion row (its workflow id is this installation's). */
const promotionOf =
  (workflowIds: WorkflowIds) =>
  ({ owner_id: _o, ...r }: PromotionRow): PromotionRecord => ({
    ...r,
    id: Number(r.id),
    workflow_run_id: r.workflow_run_id === null ? null : Number(r.workflow_run_id),
    temporal_workflow_id: workflowIds.promotion(Number(r.id)),
    scheduled_at: r.scheduled_at.toISOString(),
    approved_at: iso(r.approved_at),
    activated_at: iso(r.activated_at),
    rolled_back_at: iso(r.rolled_back_at),
    updated_at: r.updated_at.toISOString(),
    created_at: r.created_at.toISOString(),
  });

const PROMOTION_SELECT = (sql: Sql) => sql`
  select p.*, t.name as track_name, t.tier, t.owner_id
  from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id`;

async function findTrack(sql: Sql, id: number, caller: Caller): Promise<TrackRow> {
  const owner = visibleOwner(caller);
  const [row] = await sql<TrackRow[]>`select * from promotion_tracks where id = ${id} ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}`;
  if (!row) throw notFound(`promotion track ${id}`);
  return row;
}

export async function findPromotion(sql: Sql, id: number, caller: Caller): Promise<PromotionRow> {
  const owner = visibleOwner(caller);
  const [row] = await sql<PromotionRow[]>`${PROMOTION_SELECT(sql)} where p.id = ${id} ${owner === undefined ? sql`` : sql`and t.owner_id = ${owner}`}`;
  if (!row) throw notFound(`promotion ${id}`);
  return row;
}

/** A governance workflow given to a track must be the track owner's own. */
async function checkWorkflowOwned(sql: Sql, workflowId: number | null | undefined, ownerId: number): Promise<void> {
  if (workflowId === null || workflowId === undefined) return;
  const [wf] = await sql`select 1 from governance_workflows where id = ${workflowId} and owner_id = ${ownerId}`;
  if (!wf) throw new ApiError(422, 'validation_failed', `governance workflow ${workflowId} not found`, 'workflow_id');
}

const listTracks = createRoute({
  method: 'get',
  path: '/tracks',
  tags,
  summary: 'Promotion tracks (operators: their own), by name',
  responses: { 200: json(z.array(Track), 'Tracks'), ...commonErrors },
});
const createTrack = createRoute({
  method: 'post',
  path: '/tracks',
  tags,
  summary: 'Create a release train: ordered stages, its governance workflow, and the launch gates it turns on',
  request: { body: jsonBody(CreateTrack) },
  responses: { 201: json(Track, 'Created'), ...commonErrors, ...conflictError },
});
const updateTrack = createRoute({
  method: 'patch',
  path: '/tracks/{id}',
  tags,
  summary: 'Change a track: only fields given change, null clears',
  request: { params: IdParam, body: jsonBody(UpdateTrack) },
  responses: { 200: json(Track, 'The track'), ...commonErrors, ...notFoundError },
});
const schedule = createRoute({
  method: 'post',
  path: '/schedule',
  tags,
  summary: "Schedule a digest's promotion to a stage (the previous stage must be active); starts its `promotion/<id>` workflow",
  request: { body: jsonBody(SchedulePromotion) },
  responses: { 201: json(PromotionRecord, 'Scheduled'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const getPromotion = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: 'One promotion',
  request: { params: IdParam },
  responses: { 200: json(PromotionRecord, 'The promotion'), ...commonErrors, ...notFoundError },
});
const approve = createRoute({
  method: 'post',
  path: '/{id}/approve',
  tags,
  summary: "Approve a scheduled or in-progress promotion (the track's owner or an admin); it goes active once its governance run completes",
  request: { params: IdParam, body: optionalJsonBody(PromotionDecision) },
  responses: { 200: json(PromotionRecord, 'The promotion'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const rollback = createRoute({
  method: 'post',
  path: '/{id}/rollback',
  tags,
  summary: 'Roll a promotion back (cancels its governance run); the stage can be scheduled again',
  request: { params: IdParam, body: optionalJsonBody(PromotionDecision) },
  responses: { 200: json(PromotionRecord, 'The promotion'), ...commonErrors, ...notFoundError, ...conflictError, ...unavailableError },
});
const history = createRoute({
  method: 'get',
  path: '/history',
  tags,
  summary: 'Promotions of the caller-visible tracks, newest change first',
  request: { query: PromotionHistoryQuery },
  responses: { 200: json(z.array(PromotionRecord), 'Promotions'), ...commonErrors },
});

export function promotionRoutes(deps: ApiDeps) {
  const { sql, temporal, env, workflowIds } = deps;
  const toPromotion = promotionOf(workflowIds);

  /** An active promotion's workflow has ended: its rollback is one transaction here. */
  async function rollbackActive(id: number, caller: Caller, note: string | undefined): Promise<void> {
    await sql.begin(async (tx) => {
      const [p] = await tx<{ status: PromotionStatus }[]>`select status from artifact_promotions where id = ${id} for update`;
      const verdict = checkPromotionTransition(p!.status, 'rolled_back');
      if (!verdict.ok) throw new ApiError(409, 'invalid_transition', verdict.reason!);
      const text = `promotion:rolled-back:user:${caller.id}${note ? `:${note}` : ''}`;
      await tx`update artifact_promotions set status = 'rolled_back', rolled_back_at = now(), updated_at = now(),
               notes = array_append(notes, ${text}::text) where id = ${id}`;
      await tx`insert into promotion_events (promotion_id, actor_id, status, note) values (${id}, ${caller.id}, 'rolled_back', ${text})`;
    });
  }

  return createRouter()
    .openapi(listTracks, async (c) => {
      const owner = visibleOwner(c.get('caller'));
      const rows = await sql<TrackRow[]>`select * from promotion_tracks ${owner === undefined ? sql`` : sql`where owner_id = ${owner}`} order by name, id`;
      return c.json(rows.map(toTrack), 200);
    })
    .openapi(createTrack, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      await checkWorkflowOwned(sql, body.workflow_id, caller.id);
      try {
        const [row] = await sql<TrackRow[]>`
          insert into promotion_tracks (owner_id, name, tier, stages, description, workflow_id, launch_stage, required_certifications)
          values (${caller.id}, ${body.name}, ${body.tier}, ${body.stages ?? [...DEFAULT_STAGES]}, ${body.description ?? null},
                  ${body.workflow_id ?? null}, ${body.launch_stage ?? null}, ${[...new Set(body.required_certifications ?? [])].sort()})
          returning *`;
        return c.json(toTrack(row!), 201);
      } catch (err) {
        if (isPgError(err, PgCode.uniqueViolation)) throw new ApiError(409, 'name_taken', `you already have a track named "${body.name}"`, 'name');
        throw err;
      }
    })
    .openapi(updateTrack, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const track = await findTrack(sql, c.req.valid('param').id, caller);
      const body = c.req.valid('json');
      await checkWorkflowOwned(sql, body.workflow_id, track.owner_id);
      const stages = body.stages ?? track.stages;
      const launchStage = body.launch_stage === undefined ? track.launch_stage : body.launch_stage;
      if (launchStage && !stages.includes(launchStage)) {
        throw new ApiError(422, 'validation_failed', `launch_stage must be one of the stages (${stages.join(', ')})`, 'launch_stage');
      }
      const [row] = await sql<TrackRow[]>`
        update promotion_tracks set stages = ${stages},
          description = ${body.description === undefined ? track.description : body.description},
          workflow_id = ${body.workflow_id === undefined ? track.workflow_id : body.workflow_id},
          launch_stage = ${launchStage},
          required_certifications = ${body.required_certifications === undefined ? track.required_certifications : [...new Set(body.required_certifications)].sort()},
          updated_at = now()
        where id = ${track.id} returning *`;
      return c.json(toTrack(row!), 200);
    })
    .openapi(schedule, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      const track = await findTrack(sql, body.track_id, caller);
      const index = track.stages.indexOf(body.stage);
      if (index === -1) throw new ApiError(400, 'invalid_stage', `stage \`${body.stage}\` is not part of track \`${track.name}\` (${track.stages.join(', ')})`, 'stage');
      // Only a digest that one of the track owner's build runs published can be promoted.
      const [artifact] = await sql<{ id: number }[]>`
        select r.id from build_artifact_runs r join mcp_servers s on s.id = r.server_id
        where s.owner_id = ${track.owner_id} and r.manifest_digest = ${body.manifest_digest}
          ${body.artifact_run_id === undefined ? sql`` : sql`and r.id = ${body.artifact_run_id}`}
        order by r.id desc limit 1`;
      if (!artifact) {
        throw new ApiError(422, 'validation_failed', `no build run of yours published ${body.manifest_digest}${body.artifact_run_id ? ` as run ${body.artifact_run_id}` : ''}`, 'manifest_digest');
      }
      try {
        const row = await sql.begin(async (tx) => {
          // The track row lock serializes schedules on it: the predecessor check cannot race.
          await tx`select 1 from promotion_tracks where id = ${track.id} for update`;
          if (index > 0) {
            const previous = track.stages[index - 1]!;
            const [active] = await tx`
              select 1 from artifact_promotions
              where promotion_track_id = ${track.id} and stage = ${previous} and manifest_digest = ${body.manifest_digest} and status = 'active'`;
            if (!active) throw new ApiError(409, 'predecessor_not_active', `previous stage \`${previous}\` must be active before promoting to \`${body.stage}\``, 'stage');
          }
          const [p] = await tx<{ id: number }[]>`
            insert into artifact_promotions (promotion_track_id, manifest_digest, artifact_run_id, stage, scheduled_by, notes)
            values (${track.id}, ${body.manifest_digest}, ${body.artifact_run_id ?? artifact.id}, ${body.stage}, ${caller.id}, ${body.notes})
            returning id`;
          await tx`insert into promotion_events (promotion_id, actor_id, status, note)
                   values (${p!.id}, ${caller.id}, 'scheduled', ${`promotion:scheduled:${track.name}:${body.stage}`})`;
          // Started inside the transaction, whose lock the workflow's first read waits for: if the
          // commit fails, the workflow finds no row and ends.
          await holdCreation(tx, 'artifact_promotions', Number(p!.id));
          await temporal.workflow.start<typeof promotion>('promotion', {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            workflowId: workflowIds.promotion(Number(p!.id)),
            args: [{ promotionId: Number(p!.id) }],
            typedSearchAttributes: [
              { key: ManifestDigestKey, value: body.manifest_digest },
              { key: TierKey, value: track.tier },
              { key: StageKey, value: body.stage },
            ],
            memo: { track: track.name, stage: body.stage, scheduledBy: caller.id },
          });
          return Number(p!.id);
        });
        return c.json(toPromotion(await findPromotion(sql, row, caller)), 201);
      } catch (err) {
        if (isPgError(err, PgCode.uniqueViolation)) {
          throw new ApiError(409, 'promotion_exists', `promotion already exists for stage \`${body.stage}\` and digest \`${body.manifest_digest}\`; roll it back to schedule it again`, 'stage');
        }
        throw err;
      }
    })
    .openapi(history, async (c) => {
      const owner = visibleOwner(c.get('caller'));
      const q = c.req.valid('query');
      const rows = await sql<PromotionRow[]>`
        ${PROMOTION_SELECT(sql)}
        where true
          ${owner === undefined ? sql`` : sql`and t.owner_id = ${owner}`}
          ${q.track_id === undefined ? sql`` : sql`and p.promotion_track_id = ${q.track_id}`}
          ${q.manifest_digest === undefined ? sql`` : sql`and p.manifest_digest = ${q.manifest_digest}`}
        order by p.updated_at desc, p.id desc limit 500`;
      return c.json(rows.map(toPromotion), 200);
    })
    .openapi(getPromotion, async (c) => c.json(toPromotion(await findPromotion(sql, c.req.valid('param').id, c.get('caller'))), 200))
    .openapi(approve, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const p = await findPromotion(sql, c.req.valid('param').id, caller);
      const { note } = c.req.valid('json') ?? {};
      const verdict = checkPromotionTransition(p.status, 'approved');
      if (!verdict.ok) throw new ApiError(409, 'invalid_transition', verdict.reason!);
      await executeUpdate(temporal, workflowIds.promotion(Number(p.id)), approveUpdate, [{ actorId: caller.id, note }], {
        ended: { code: 'invalid_transition', message: `promotion ${p.id} has ended (${p.status})` },
        what: 'the approval',
      });
      return c.json(toPromotion(await findPromotion(sql, Number(p.id), caller)), 200);
    })
    .openapi(rollback, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const p = await findPromotion(sql, c.req.valid('param').id, caller);
      const { note } = c.req.valid('json') ?? {};
      const verdict = checkPromotionTransition(p.status, 'rolled_back');
      if (!verdict.ok) throw new ApiError(409, 'invalid_transition', verdict.reason!);
      if (p.status === 'active') await rollbackActive(Number(p.id), caller, note);
      else {
        try {
          await executeUpdate(temporal, workflowIds.promotion(Number(p.id)), rollbackUpdate, [{ actorId: caller.id, note }], {
            ended: { code: 'promotion_ended', message: `promotion ${p.id} has ended` },
            what: 'the rollback',
          });
        } catch (err) {
          // It went active (and its workflow ended) in the meantime: roll the active one back.
          if (!(err instanceof ApiError && err.code === 'promotion_ended')) throw err;
          await rollbackActive(Number(p.id), caller, note);
        }
      }
      return c.json(toPromotion(await findPromotion(sql, Number(p.id), caller)), 200);
    });
}
