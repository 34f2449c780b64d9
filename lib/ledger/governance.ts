// The governance aggregate: workflow definitions (governance_workflows and their steps) and runs
// (governance_workflow_runs, governance_step_runs, governance_audit_logs). The API defines
// workflows and creates runs; every later change to a run is written by its governanceRun
// workflow's activities, in one transaction, idempotent through a transition key
// (`<workflow id>#<sequence>`): a retried activity changes nothing twice and writes one audit row.
import { ApplicationFailure } from '@temporalio/common';
import type postgres from 'postgres';
import { afterCreation, createWithWorkflow } from '../creation-lock.js';
import type { Sql } from '../db.js';
import { ApiError, ErrorType, notFound } from '../errors.js';
import { runEnded, type RunStatus, type StepState, type StepStatus } from '../governance/states.js';
import type { GovernanceRunDetail, GovernanceRunSummary, GovernanceWorkflow } from '../schemas/governance.js';
import type { WorkflowIds } from '../workflow-ids.js';
import { ownedBy, type OwnerScope } from './scope.js';

type Tx = postgres.TransactionSql;

export interface WorkflowRow {
  id: number;
  owner_id: number;
  name: string;
  workflow_type: GovernanceWorkflow['workflow_type'];
  tier: string;
  created_at: Date;
  updated_at: Date;
}

export interface GovernanceAuditRow {
  id: number;
  workflow_run_id: number;
  actor_id: number | null;
  event_type: string;
  details: Record<string, unknown> | null;
  created_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toAuditEvent(row: GovernanceAuditRow) {
  return {
    id: row.id,
    run_id: row.workflow_run_id,
    event_type: row.event_type,
    actor_id: row.actor_id,
    details: row.details ?? null,
    run_status: typeof row.details?.status === 'string' ? row.details.status : null,
    created_at: row.created_at.toISOString(),
  };
}

/** Definitions with their steps, as the API answers them. */
export async function withSteps(sql: Sql, rows: WorkflowRow[]): Promise<GovernanceWorkflow[]> {
  const ids = rows.map((r) => r.id);
  const steps = ids.length
    ? await sql<{ workflow_id: number; position: number; action: string; config: unknown }[]>`
        select workflow_id, position, action, config from governance_workflow_steps where workflow_id in ${sql(ids)} order by position`
    : [];
  return rows.map((r) => ({
    ...r,
    steps: steps
      .filter((s) => s.workflow_id === r.id)
      .map(({ position, action, config }) => ({ position, action, config })),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  }));
}

export function listWorkflows(sql: Sql, scope: OwnerScope): Promise<WorkflowRow[]> {
  return sql<WorkflowRow[]>`select * from governance_workflows where true ${ownedBy(sql, scope)} order by id`;
}

export async function findWorkflow(sql: Sql, id: number, scope: OwnerScope): Promise<WorkflowRow> {
  const [wf] = await sql<WorkflowRow[]>`select * from governance_workflows where id = ${id} ${ownedBy(sql, scope)}`;
  if (!wf) throw notFound(`governance workflow ${id}`);
  return wf;
}

/** Whether the owner has a governance workflow `id`. */
export async function ownsWorkflow(sql: Sql, id: number, ownerId: number): Promise<boolean> {
  const [wf] = await sql`select 1 from governance_workflows where id = ${id} and owner_id = ${ownerId}`;
  return wf !== undefined;
}

export interface NewWorkflow {
  ownerId: number;
  name: string;
  workflowType: WorkflowRow['workflow_type'];
  tier: string;
  steps: { action: string; config?: unknown }[];
}

/** Defines a workflow with its ordered steps; 409 when the owner has one of that name. */
export function createWorkflow(sql: Sql, input: NewWorkflow): Promise<WorkflowRow> {
  return sql.begin(async (tx) => {
    const [wf] = await tx<WorkflowRow[]>`
      insert into governance_workflows (owner_id, name, workflow_type, tier)
      values (${input.ownerId}, ${input.name}, ${input.workflowType}, ${input.tier})
      on conflict (owner_id, name) do nothing returning *`;
    if (!wf)
      throw new ApiError(409, 'name_taken', `you already have a governance workflow named "${input.name}"`, 'name');
    for (const [i, step] of input.steps.entries()) {
      await tx`insert into governance_workflow_steps (workflow_id, position, action, config)
               values (${wf.id}, ${i + 1}, ${step.action}, ${tx.json((step.config ?? {}) as never)})`;
    }
    return wf;
  }) as Promise<WorkflowRow>;
}

export type RunDetail = GovernanceRunDetail & { owner_id: number };

type RunRow = Omit<
  GovernanceRunDetail,
  'steps' | 'audit_log' | 'created_at' | 'updated_at' | 'temporal_workflow_id'
> & {
  owner_id: number;
  created_at: Date;
  updated_at: Date;
};
type StepRunRow = Omit<GovernanceRunDetail['steps'][number], 'started_at' | 'completed_at'> & {
  started_at: Date | null;
  completed_at: Date | null;
};
type AuditEntryRow = { id: number; event_type: string; details: unknown; created_at: Date; actor_id: number | null };

const RUN_COLUMNS = (sql: Sql | Tx) =>
  sql`id, workflow_id, status, notes, target_manifest_digest, target_artifact_run_id, target_server_id, target_tier,
      promotion_track_id, promotion_stage, initiated_by, created_at, updated_at`;
const STEP_COLUMNS = (sql: Sql | Tx) => sql`id, step_id, position, action, status, started_at, completed_at, error`;
const AUDIT_COLUMNS = (sql: Sql | Tx) => sql`id, event_type, details, created_at, actor_id`;

function toRunDetail(workflowIds: WorkflowIds, run: RunRow, steps: StepRunRow[], audit: AuditEntryRow[]): RunDetail {
  return {
    ...run,
    temporal_workflow_id: workflowIds.governance(run.id),
    created_at: run.created_at.toISOString(),
    updated_at: run.updated_at.toISOString(),
    steps: steps.map((s) => ({ ...s, started_at: iso(s.started_at), completed_at: iso(s.completed_at) })),
    audit_log: audit.map((a) => ({ ...a, details: a.details ?? null, created_at: a.created_at.toISOString() })),
  };
}

/** A run if its workflow's owner is in the scope; another owner's is a 404. */
export async function loadRunDetail(
  sql: Sql,
  workflowIds: WorkflowIds,
  id: number,
  scope: OwnerScope,
): Promise<RunDetail> {
  const [run] = await sql<RunRow[]>`
    select r.id, r.workflow_id, r.status, r.notes, r.target_manifest_digest, r.target_artifact_run_id, r.target_server_id, r.target_tier,
           r.promotion_track_id, r.promotion_stage, r.initiated_by, r.created_at, r.updated_at, w.owner_id
    from governance_workflow_runs r join governance_workflows w on w.id = r.workflow_id
    where r.id = ${id} ${ownedBy(sql, scope, 'w.owner_id')}`;
  if (!run) throw notFound(`governance run ${id}`);
  const steps = await sql<StepRunRow[]>`
    select ${STEP_COLUMNS(sql)} from governance_step_runs where workflow_run_id = ${id} order by position`;
  const audit = await sql<AuditEntryRow[]>`
    select ${AUDIT_COLUMNS(sql)} from governance_audit_logs where workflow_run_id = ${id} order by created_at, id`;
  return toRunDetail(workflowIds, run, steps, audit);
}

/** Runs of the scope's workflows, newest first, `limit` of them with an id below `before` (keyset paging). */
export async function listRuns(
  sql: Sql,
  workflowIds: WorkflowIds,
  scope: OwnerScope,
  page: { before?: number; limit: number },
): Promise<GovernanceRunSummary[]> {
  const runs = await sql<
    (Omit<GovernanceRunSummary, 'steps' | 'created_at' | 'updated_at' | 'temporal_workflow_id'> & {
      created_at: Date;
      updated_at: Date;
    })[]
  >`
    select r.id, r.workflow_id, w.name as workflow_name, r.status, r.target_tier, r.target_manifest_digest,
           r.promotion_track_id, r.promotion_stage, r.initiated_by, r.created_at, r.updated_at
    from governance_workflow_runs r join governance_workflows w on w.id = r.workflow_id
    where true ${page.before === undefined ? sql`` : sql`and r.id < ${page.before}`} ${ownedBy(sql, scope, 'w.owner_id')}
    order by r.id desc limit ${page.limit}`;
  const ids = runs.map((r) => r.id);
  const steps = ids.length
    ? await sql<{ workflow_run_id: number; position: number; action: string; status: StepStatus }[]>`
        select workflow_run_id, position, action, status from governance_step_runs
        where workflow_run_id in ${sql(ids)} order by position`
    : [];
  return runs.map((r) => ({
    ...r,
    temporal_workflow_id: workflowIds.governance(r.id),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    steps: steps
      .filter((s) => s.workflow_run_id === r.id)
      .map(({ position, action, status }) => ({ position, action, status })),
  }));
}

/** A run's audit rows after `after`, oldest first (a stream's replay). */
export function auditAfter(sql: Sql, runId: number, after: number): Promise<GovernanceAuditRow[]> {
  return sql<GovernanceAuditRow[]>`
    select * from governance_audit_logs where workflow_run_id = ${runId} and id > ${after} order by id limit 1000`;
}

/** Whether the run has ended (or is gone). */
export async function runIsOver(sql: Sql, runId: number): Promise<boolean> {
  const [r] = await sql<{ status: RunStatus }[]>`select status from governance_workflow_runs where id = ${runId}`;
  return !r || runEnded(r.status);
}

export interface NewRun {
  workflowId: number;
  initiatedBy: number | null;
  targetArtifactRunId: number | null;
  targetManifestDigest: string | null;
  targetTier: string;
  targetServerId: number | null;
  notes: string[];
  promotion?: { trackId: number; stage: string };
}

/** In `tx`: a run and one step row per step of its workflow, as written. */
async function insertRunRows(tx: Tx, run: NewRun): Promise<{ run: Omit<RunRow, 'owner_id'>; steps: StepRunRow[] }> {
  const [row] = await tx<Omit<RunRow, 'owner_id'>[]>`
    insert into governance_workflow_runs
      (workflow_id, initiated_by, target_artifact_run_id, target_manifest_digest, target_tier, target_server_id, notes,
       promotion_track_id, promotion_stage)
    values (${run.workflowId}, ${run.initiatedBy}, ${run.targetArtifactRunId}, ${run.targetManifestDigest}, ${run.targetTier},
            ${run.targetServerId}, ${run.notes}, ${run.promotion?.trackId ?? null}, ${run.promotion?.stage ?? null})
    returning ${RUN_COLUMNS(tx)}`;
  const steps = await tx<StepRunRow[]>`
    insert into governance_step_runs (workflow_run_id, step_id, position, action)
    select ${row!.id}, id, position, action from governance_workflow_steps where workflow_id = ${run.workflowId}
    returning ${STEP_COLUMNS(tx)}`;
  // insert … returning does not promise the select's order.
  return { run: row!, steps: [...steps].sort((a, b) => a.position - b.position) };
}

/** In `tx`: a run and one step row per step of its workflow; the run's id. */
export async function insertRun(tx: Tx, run: NewRun): Promise<number> {
  return (await insertRunRows(tx, run)).run.id;
}

/** In `tx`, last: the run's `run_created` audit row (it takes the audit log's ordering lock until commit). */
export async function recordRunCreated(
  tx: Tx,
  runId: number,
  actorId: number | null,
  details: Record<string, unknown>,
  key: string | null = null,
): Promise<AuditEntryRow> {
  const [row] = await tx<AuditEntryRow[]>`
    insert into governance_audit_logs (workflow_run_id, actor_id, event_type, details, transition_key)
    values (${runId}, ${actorId}, 'run_created', ${tx.json(details as never)}, ${key})
    returning ${AUDIT_COLUMNS(tx)}`;
  return row!;
}

/**
 * Creates a run (its rows and `run_created` audit row) and starts its workflow; the run as the
 * transaction wrote it, which is what reading it back after the commit would answer (nothing else
 * knows the run's id before then), so the answer costs no further query.
 */
export async function createRun(
  sql: Sql,
  workflowIds: WorkflowIds,
  ownerId: number,
  run: NewRun,
  created: Record<string, unknown>,
  start: (runId: number) => Promise<unknown>,
): Promise<RunDetail> {
  let audit: AuditEntryRow | undefined;
  const rows = await createWithWorkflow(sql, 'governance_workflow_runs', {
    insert: async (tx) => {
      const written = await insertRunRows(tx, run);
      return { id: written.run.id, ...written };
    },
    start: (r) => start(r.id),
    firstEvent: async (tx, r) => {
      audit = await recordRunCreated(tx, r.id, run.initiatedBy, created);
    },
  });
  return toRunDetail(workflowIds, { ...rows.run, owner_id: ownerId }, rows.steps, [audit!]);
}

// Written by the governanceRun workflow's activities only; ordering and permissions were checked by the workflow.

export interface RecordRunTransitionInput {
  runId: number;
  key: string;
  actorId: number;
  /** Audit event type: status_change, step_completed, ... */
  event: string;
  status?: RunStatus;
  step?: { position: number; status: StepStatus };
  note?: string;
}

export interface CreatedRun {
  status: RunStatus;
  initiatedBy: number | null;
  targetServerId: number | null;
  ownerId: number;
  steps: StepState[];
}

/** The run and its steps once the transaction that created them has ended; undefined when it rolled back. */
export async function readCreatedRun(sql: Sql, runId: number): Promise<CreatedRun | undefined> {
  const run = await afterCreation(sql, 'governance_workflow_runs', runId, async (db) => {
    const [row] = await db<
      {
        status: RunStatus;
        initiated_by: number | null;
        target_server_id: number | null;
        owner_id: number;
        steps: StepState[];
      }[]
    >`
      select r.status, r.initiated_by, r.target_server_id, w.owner_id,
             coalesce((select json_agg(json_build_object('position', s.position, 'action', s.action, 'status', s.status) order by s.position)
                       from governance_step_runs s where s.workflow_run_id = r.id), '[]') as steps
      from governance_workflow_runs r join governance_workflows w on w.id = r.workflow_id
      where r.id = ${runId}`;
    return row;
  });
  if (!run) return undefined;
  return {
    status: run.status,
    initiatedBy: run.initiated_by,
    targetServerId: run.target_server_id,
    ownerId: run.owner_id,
    steps: run.steps.map((s) => ({ position: s.position, action: s.action, status: s.status })),
  };
}

export async function recordRunTransition(sql: Sql, input: RecordRunTransitionInput): Promise<void> {
  await sql.begin(async (tx) => {
    const [run] = await tx<
      { status: RunStatus }[]
    >`select status from governance_workflow_runs where id = ${input.runId} for update`;
    if (!run)
      throw ApplicationFailure.nonRetryable(
        `governance run ${input.runId} no longer exists`,
        ErrorType.GovernanceRunNotFound,
      );
    // The row lock serializes this run's transitions, so this check cannot race.
    const [done] = await tx`select 1 from governance_audit_logs where transition_key = ${input.key}`;
    if (done) return;
    if (input.step) {
      const { position, status } = input.step;
      await tx`
        update governance_step_runs set status = ${status},
          started_at = case when ${status} = 'in_progress' then coalesce(started_at, now()) else started_at end,
          completed_at = case when ${status} in ('completed', 'failed') then now() else completed_at end,
          error = case when ${status} in ('failed', 'blocked') then ${input.note ?? null} else error end
        where workflow_run_id = ${input.runId} and position = ${position}`;
    }
    if (input.status && input.status !== run.status) {
      await tx`
        update governance_workflow_runs
        set status = ${input.status}, updated_at = now(),
            notes = case when ${input.note ?? null}::text is null then notes else array_append(notes, ${input.note ?? null}::text) end
        where id = ${input.runId}`;
      // Ending the run settles its steps.
      if (input.status === 'completed') {
        await tx`update governance_step_runs set status = 'completed', completed_at = coalesce(completed_at, now())
                 where workflow_run_id = ${input.runId} and status <> 'completed'`;
      } else if (input.status === 'failed' || input.status === 'cancelled') {
        await tx`update governance_step_runs set status = 'failed', completed_at = coalesce(completed_at, now())
                 where workflow_run_id = ${input.runId} and status not in ('completed', 'failed')`;
      }
    } else {
      await tx`update governance_workflow_runs set updated_at = now() where id = ${input.runId}`;
    }
    const details = {
      ...(input.status && { status: input.status, previous_status: run.status }),
      ...(input.step && { step: input.step.position, step_status: input.step.status }),
      ...(input.note && { note: input.note }),
    };
    await tx`
      insert into governance_audit_logs (workflow_run_id, actor_id, event_type, details, transition_key)
      values (${input.runId}, ${input.actorId}, ${input.event}, ${tx.json(details)}, ${input.key})`;
  });
}
