// The promotions aggregate: release-train tracks (promotion_tracks) and stage promotions of a digest
// (artifact_promotions, with their promotion_events). The API defines tracks and schedules
// promotions; every later change of a promotion is written by its `promotion/<id>` workflow's
// activities, in one transaction, idempotent through a transition key.
import { ApplicationFailure } from '@temporalio/common';
import { afterCreation, createWithWorkflow } from '../creation-lock.js';
import { isPgError, PgCode, type Sql } from '../db.js';
import { ApiError, ErrorType, notFound } from '../errors.js';
import type { PromotionStatus, SoakState } from '../governance/states.js';
import type { PromotionRecord, Track } from '../schemas/governance.js';
import type { WorkflowIds } from '../workflow-ids.js';
import { insertRun, recordRunCreated } from './governance.js';
import { ownedBy, type OwnerScope } from './scope.js';

export type TrackRow = Omit<Track, 'created_at' | 'updated_at'> & { created_at: Date; updated_at: Date };
export const toTrack = (r: TrackRow): Track => ({
  ...r,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

export type PromotionRow = Omit<
  PromotionRecord,
  | 'scheduled_at'
  | 'approved_at'
  | 'activated_at'
  | 'rolled_back_at'
  | 'soak_ends_at'
  | 'updated_at'
  | 'created_at'
  | 'temporal_workflow_id'
> & {
  owner_id: number;
  scheduled_at: Date;
  approved_at: Date | null;
  activated_at: Date | null;
  rolled_back_at: Date | null;
  soak_ends_at: Date | null;
  updated_at: Date;
  created_at: Date;
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The response shape of a promotion row (its workflow id is this installation's). */
export const promotionOf =
  (workflowIds: WorkflowIds) =>
  ({ owner_id: _o, ...r }: PromotionRow): PromotionRecord => ({
    ...r,
    temporal_workflow_id: workflowIds.promotion(r.id),
    scheduled_at: r.scheduled_at.toISOString(),
    approved_at: iso(r.approved_at),
    activated_at: iso(r.activated_at),
    rolled_back_at: iso(r.rolled_back_at),
    soak_ends_at: iso(r.soak_ends_at),
    updated_at: r.updated_at.toISOString(),
    created_at: r.created_at.toISOString(),
  });

const promotionSelect = (sql: Sql) => sql`
  select p.*, t.name as track_name, t.tier, t.owner_id
  from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id`;

export function listTracks(sql: Sql, scope: OwnerScope): Promise<TrackRow[]> {
  return sql<TrackRow[]>`select * from promotion_tracks where true ${ownedBy(sql, scope)} order by name, id`;
}

export async function findTrack(sql: Sql, id: number, scope: OwnerScope): Promise<TrackRow> {
  const [row] = await sql<TrackRow[]>`select * from promotion_tracks where id = ${id} ${ownedBy(sql, scope)}`;
  if (!row) throw notFound(`promotion track ${id}`);
  return row;
}

export interface NewTrack {
  ownerId: number;
  name: string;
  tier: string;
  stages: string[];
  description: string | null;
  workflowId: number | null;
  launchStage: string | null;
  requiredCertifications: string[];
  requireDistinctApprover: boolean;
  allowDrift: boolean;
  /** Stage → seconds. */
  soakSeconds: Record<string, number>;
}

/** Creates a track; 409 when the owner has one of that name. */
export async function createTrack(sql: Sql, t: NewTrack): Promise<TrackRow> {
  try {
    const [row] = await sql<TrackRow[]>`
      insert into promotion_tracks (owner_id, name, tier, stages, description, workflow_id, launch_stage, required_certifications,
                                    require_distinct_approver, allow_drift, soak_seconds)
      values (${t.ownerId}, ${t.name}, ${t.tier}, ${t.stages}, ${t.description}, ${t.workflowId}, ${t.launchStage}, ${t.requiredCertifications},
              ${t.requireDistinctApprover}, ${t.allowDrift}, ${sql.json(t.soakSeconds)})
      returning *`;
    return row!;
  } catch (err) {
    if (isPgError(err, PgCode.uniqueViolation))
      throw new ApiError(409, 'name_taken', `you already have a track named "${t.name}"`, 'name');
    throw err;
  }
}

export async function updateTrack(
  sql: Sql,
  id: number,
  t: Omit<NewTrack, 'ownerId' | 'name' | 'tier'>,
): Promise<TrackRow> {
  const [row] = await sql<TrackRow[]>`
    update promotion_tracks set stages = ${t.stages},
      description = ${t.description},
      workflow_id = ${t.workflowId},
      launch_stage = ${t.launchStage},
      required_certifications = ${t.requiredCertifications},
      require_distinct_approver = ${t.requireDistinctApprover},
      allow_drift = ${t.allowDrift},
      soak_seconds = ${sql.json(t.soakSeconds)},
      updated_at = now()
    where id = ${id} returning *`;
  return row!;
}

/** The promotion if its track's owner is in the scope; another owner's is a 404. */
export async function findPromotion(sql: Sql, id: number, scope: OwnerScope): Promise<PromotionRow> {
  const [row] = await sql<
    PromotionRow[]
  >`${promotionSelect(sql)} where p.id = ${id} ${ownedBy(sql, scope, 't.owner_id')}`;
  if (!row) throw notFound(`promotion ${id}`);
  return row;
}

/** Promotions in the scope, newest change first. */
export function promotionHistory(
  sql: Sql,
  scope: OwnerScope,
  q: { track_id?: number; manifest_digest?: string },
): Promise<PromotionRow[]> {
  return sql<PromotionRow[]>`
    ${promotionSelect(sql)}
    where true
      ${ownedBy(sql, scope, 't.owner_id')}
      ${q.track_id === undefined ? sql`` : sql`and p.promotion_track_id = ${q.track_id}`}
      ${q.manifest_digest === undefined ? sql`` : sql`and p.manifest_digest = ${q.manifest_digest}`}
    order by p.updated_at desc, p.id desc limit 500`;
}

export interface NewPromotion {
  track: TrackRow;
  stage: string;
  manifestDigest: string;
  artifactRunId: number;
  scheduledBy: number;
  notes: string[];
  /** The operator promotes a digest whose soak failed on this track, knowingly. */
  repromote: boolean;
}

/**
 * Schedules a promotion (the previous stage must be active and done soaking: 409; one live
 * promotion per stage and digest: 409; a digest whose soak failed on the track only with
 * `repromote`: 409) and starts its workflow; the promotion's id.
 */
export async function schedulePromotion(
  sql: Sql,
  p: NewPromotion,
  start: (promotionId: number) => Promise<unknown>,
): Promise<number> {
  const index = p.track.stages.indexOf(p.stage);
  try {
    const row = await createWithWorkflow<{ id: number }>(sql, 'artifact_promotions', {
      insert: async (tx) => {
        // The track row lock serializes schedules on it: the predecessor check cannot race.
        await tx`select 1 from promotion_tracks where id = ${p.track.id} for update`;
        if (index > 0) {
          const previous = p.track.stages[index - 1]!;
          const [active] = await tx<{ soak_state: SoakState | null; soak_ends_at: Date | null }[]>`
            select soak_state, soak_ends_at from artifact_promotions
            where promotion_track_id = ${p.track.id} and stage = ${previous} and manifest_digest = ${p.manifestDigest} and status = 'active'`;
          if (!active)
            throw new ApiError(
              409,
              'predecessor_not_active',
              `previous stage \`${previous}\` must be active before promoting to \`${p.stage}\``,
              'stage',
            );
          // A stage still soaking has not shown the digest healthy yet: the next stage waits for it.
          if (active.soak_state === 'soaking')
            throw new ApiError(
              409,
              'predecessor_soaking',
              `previous stage \`${previous}\` is soaking until ${active.soak_ends_at?.toISOString() ?? 'its soak ends'}; promote to \`${p.stage}\` once it has passed`,
              'stage',
            );
        }
        // A rollback never loops: a digest whose soak failed here is promoted again only on purpose.
        const [failed] = await tx<{ id: number; stage: string; rollback_reason: string | null }[]>`
          select id, stage, rollback_reason from artifact_promotions
          where promotion_track_id = ${p.track.id} and manifest_digest = ${p.manifestDigest} and soak_state = 'failed'
          order by id desc limit 1`;
        if (failed && !p.repromote)
          throw new ApiError(
            409,
            'digest_rolled_back',
            `${p.manifestDigest} failed its soak at \`${failed.stage}\` and promotion ${failed.id} was rolled back (${failed.rollback_reason ?? 'soak failed'}); give repromote: true to promote it again anyway`,
            'manifest_digest',
          );
        const notes = failed ? [...p.notes, `promotion:repromoted:after:${failed.id}:user:${p.scheduledBy}`] : p.notes;
        const [created] = await tx<{ id: number }[]>`
          insert into artifact_promotions (promotion_track_id, manifest_digest, artifact_run_id, stage, scheduled_by, notes)
          values (${p.track.id}, ${p.manifestDigest}, ${p.artifactRunId}, ${p.stage}, ${p.scheduledBy}, ${notes})
          returning id`;
        return created!;
      },
      start: (created) => start(created.id),
      firstEvent: (tx, created) => tx`
        insert into promotion_events (promotion_id, actor_id, status, note)
        values (${created.id}, ${p.scheduledBy}, 'scheduled', ${`promotion:scheduled:${p.track.name}:${p.stage}`})`,
    });
    return row.id;
  } catch (err) {
    if (isPgError(err, PgCode.uniqueViolation)) {
      throw new ApiError(
        409,
        'promotion_exists',
        `promotion already exists for stage \`${p.stage}\` and digest \`${p.manifestDigest}\`; roll it back to schedule it again`,
        'stage',
      );
    }
    throw err;
  }
}

// Written by the promotion workflow's activities only.

export interface RecordPromotionTransitionInput {
  promotionId: number;
  key: string;
  actorId: number | null;
  status: PromotionStatus;
  note: string;
  /** A rollback because the soak failed: the digest is marked so that it is not promoted again by itself. */
  soakFailed?: boolean;
}

export interface CreatedPromotion {
  status: PromotionStatus;
  manifestDigest: string;
  scheduledBy: number | null;
  ownerId: number;
  governanceWorkflowId: number | null;
  governanceRunId: number | null;
}

/** The promotion once the transaction that created it has ended; undefined when it rolled back. */
export async function readCreatedPromotion(sql: Sql, promotionId: number): Promise<CreatedPromotion | undefined> {
  const [p] = await afterCreation(
    sql,
    'artifact_promotions',
    promotionId,
    (db) => db<
      {
        status: PromotionStatus;
        manifest_digest: string;
        scheduled_by: number | null;
        workflow_run_id: number | null;
        owner_id: number;
        governance_workflow_id: number | null;
      }[]
    >`
      select p.status, p.manifest_digest, p.scheduled_by, p.workflow_run_id, t.owner_id, t.workflow_id as governance_workflow_id
      from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id
      where p.id = ${promotionId}`,
  );
  if (!p) return undefined;
  return {
    status: p.status,
    manifestDigest: p.manifest_digest,
    scheduledBy: p.scheduled_by,
    ownerId: p.owner_id,
    governanceWorkflowId: p.governance_workflow_id,
    governanceRunId: p.workflow_run_id,
  };
}

/**
 * The governance run of a promotion: its row, one step row per workflow step, and a `run_created`
 * audit row, linked to the promotion — once, however often retried.
 */
export function createPromotionRun(
  sql: Sql,
  { promotionId, key }: { promotionId: number; key: string },
): Promise<number> {
  return sql.begin(async (tx) => {
    const [p] = await tx<
      {
        workflow_run_id: number | null;
        manifest_digest: string;
        artifact_run_id: number | null;
        stage: string;
        track_id: number;
        track_name: string;
        workflow_id: number;
        tier: string;
        scheduled_by: number | null;
        notes: string[];
      }[]
    >`
      select p.workflow_run_id, p.manifest_digest, p.artifact_run_id, p.stage, t.id as track_id, t.name as track_name,
             t.workflow_id, w.tier, p.scheduled_by, p.notes
      from artifact_promotions p
      join promotion_tracks t on t.id = p.promotion_track_id
      join governance_workflows w on w.id = t.workflow_id
      where p.id = ${promotionId} for update of p`;
    if (!p)
      throw ApplicationFailure.nonRetryable(
        `promotion ${promotionId} has no governance workflow`,
        ErrorType.PromotionNotFound,
      );
    if (p.workflow_run_id !== null) return p.workflow_run_id;
    const runId = await insertRun(tx, {
      workflowId: p.workflow_id,
      initiatedBy: p.scheduled_by,
      targetArtifactRunId: p.artifact_run_id,
      targetManifestDigest: p.manifest_digest,
      targetTier: p.tier,
      targetServerId: null,
      notes: [...p.notes, `promotion:scheduled:${p.track_name}:${p.stage}`],
      promotion: { trackId: p.track_id, stage: p.stage },
    });
    await recordRunCreated(tx, runId, p.scheduled_by, { promotion_id: promotionId, stage: p.stage }, key);
    await tx`update artifact_promotions set workflow_run_id = ${runId}, updated_at = now() where id = ${promotionId}`;
    return runId;
  }) as Promise<number>;
}

export async function recordPromotionTransition(sql: Sql, input: RecordPromotionTransitionInput): Promise<void> {
  await sql.begin(async (tx) => {
    const [p] = await tx<
      { status: PromotionStatus }[]
    >`select status from artifact_promotions where id = ${input.promotionId} for update`;
    if (!p)
      throw ApplicationFailure.nonRetryable(
        `promotion ${input.promotionId} no longer exists`,
        ErrorType.PromotionNotFound,
      );
    const [done] = await tx`select 1 from promotion_events where transition_key = ${input.key}`;
    if (done) return;
    await tx`
      update artifact_promotions set
        status = ${input.status},
        notes = array_append(notes, ${input.note}::text),
        approved_by = case when ${input.status} = 'approved' then ${input.actorId} else approved_by end,
        approved_at = case when ${input.status} = 'approved' then now() else approved_at end,
        activated_at = case when ${input.status} = 'active' then now() else activated_at end,
        rolled_back_at = case when ${input.status} = 'rolled_back' then now() else rolled_back_at end,
        rollback_reason = case when ${input.status} = 'rolled_back' then ${input.note}::text else rollback_reason end,
        soak_state = case
          when ${input.status} <> 'rolled_back' then soak_state
          when ${input.soakFailed ?? false}::boolean then 'failed'
          when soak_state = 'soaking' then 'cancelled'
          else soak_state end,
        updated_at = now()
      where id = ${input.promotionId}`;
    await tx`
      insert into promotion_events (promotion_id, actor_id, status, note, transition_key)
      values (${input.promotionId}, ${input.actorId}, ${input.status}, ${input.note}, ${input.key})`;
  });
}

// Separation of duties: on a track with `require_distinct_approver`, whoever scheduled a promotion
// neither approves it, nor completes its governance run, nor certifies the digest it promotes.

/**
 * Why `actorId` may not approve the promotion (or complete a step or the status of its governance
 * run), or undefined when they may. An approval is also refused while a certification the track
 * requires was recorded by the scheduler, whoever approves.
 */
export async function distinctApproverRefusal(
  sql: Sql,
  of: { promotionId: number } | { governanceRunId: number },
  actorId: number,
  { approval }: { approval: boolean },
): Promise<string | undefined> {
  const [p] = await sql<
    {
      id: number;
      scheduled_by: number | null;
      manifest_digest: string;
      track_name: string;
      owner_id: number;
      required_certifications: string[];
    }[]
  >`
    select p.id, p.scheduled_by, p.manifest_digest, t.name as track_name, t.owner_id, t.required_certifications
    from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id
    where t.require_distinct_approver
      and ${'promotionId' in of ? sql`p.id = ${of.promotionId}` : sql`p.workflow_run_id = ${of.governanceRunId}`}`;
  if (!p) return undefined;
  const rule = `track \`${p.track_name}\` requires a distinct approver (require_distinct_approver)`;
  if (p.scheduled_by === actorId)
    return `${rule}: user ${actorId} scheduled promotion ${p.id}, so another user must ${approval ? 'approve it' : 'complete its governance run'}`;
  if (!approval || p.scheduled_by === null || p.required_certifications.length === 0) return undefined;
  const [self] = await sql<{ policy_requirement: string }[]>`
    select policy_requirement from evaluation_certifications
    where owner_id = ${p.owner_id} and manifest_digest = ${p.manifest_digest} and status = 'pass'
      and policy_requirement = any(${p.required_certifications}) and certified_by = ${p.scheduled_by}
    order by policy_requirement limit 1`;
  if (self)
    return `${rule}: certification \`${self.policy_requirement}\` of ${p.manifest_digest} was recorded by user ${p.scheduled_by}, who scheduled promotion ${p.id}; another user must certify it`;
  return undefined;
}

/**
 * Why `actorId` may not record a passing manual certification of `requirement` for the digest, or
 * undefined: they scheduled a live promotion of it on a track that requires the requirement and a
 * distinct approver.
 */
export async function distinctCertifierRefusal(
  sql: Sql,
  c: { ownerId: number; manifestDigest: string; requirement: string; actorId: number },
): Promise<string | undefined> {
  const [p] = await sql<{ id: number; track_name: string }[]>`
    select p.id, t.name as track_name
    from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id
    where t.owner_id = ${c.ownerId} and t.require_distinct_approver and p.manifest_digest = ${c.manifestDigest}
      and p.scheduled_by = ${c.actorId} and p.status <> 'rolled_back'
      and ${c.requirement} = any(t.required_certifications)
    order by p.id limit 1`;
  if (!p) return undefined;
  return `track \`${p.track_name}\` requires a distinct approver (require_distinct_approver): user ${c.actorId} scheduled promotion ${p.id} of this digest, so another user must certify \`${c.requirement}\``;
}
