// The ledger side of governance runs, promotions and certifications. Each write is one transaction,
// idempotent through a transition key (`<workflow id>#<sequence>`): a retried activity changes
// nothing twice and writes one audit row. Ordering and permissions were checked by the workflow.
import { ApplicationFailure } from '@temporalio/activity';
import { afterCreation } from '../../lib/creation-lock.js';
import type { Sql } from '../../lib/db.js';
import { ErrorType } from '../../lib/errors.js';
import { gatedServers } from '../../lib/governance/gated-servers.js';
import type { PromotionStatus, RunStatus, StepState, StepStatus } from '../../lib/governance/states.js';
import { rowMissing } from './row-missing.js';

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

export interface RecordPromotionTransitionInput {
  promotionId: number;
  key: string;
  actorId: number | null;
  status: PromotionStatus;
  note: string;
}

export function createGovernanceDbActivities(sql: Sql) {
  return {
    /** The run's row and steps, once the transaction that created them has committed. */
    async loadGovernanceRun({ runId }: { runId: number }) {
      const run = await afterCreation(sql, 'governance_workflow_runs', runId, async (tx) => {
        const [row] = await tx<{ status: RunStatus; initiated_by: number | null; target_server_id: number | null; owner_id: number; steps: StepState[] }[]>`
          select r.status, r.initiated_by, r.target_server_id, w.owner_id,
                 coalesce((select json_agg(json_build_object('position', s.position, 'action', s.action, 'status', s.status) order by s.position)
                           from governance_step_runs s where s.workflow_run_id = r.id), '[]') as steps
          from governance_workflow_runs r join governance_workflows w on w.id = r.workflow_id
          where r.id = ${runId}`;
        return row;
      });
      if (!run) throw rowMissing(`governance run ${runId}`);
      return {
        status: run.status,
        initiatedBy: run.initiated_by,
        targetServerId: run.target_server_id,
        ownerId: run.owner_id,
        steps: run.steps.map((s) => ({ position: s.position, action: s.action, status: s.status })),
      };
    },

    async recordGovernanceTransition(input: RecordRunTransitionInput): Promise<void> {
      await sql.begin(async (tx) => {
        const [run] = await tx<{ status: RunStatus }[]>`select status from governance_workflow_runs where id = ${input.runId} for update`;
        if (!run) throw ApplicationFailure.nonRetryable(`governance run ${input.runId} no longer exists`, ErrorType.GovernanceRunNotFound);
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
    },

    /** Servers of this owner waiting in pending-governance: they decide again when told. */
    findGatedServers: ({ ownerId }: { ownerId: number }): Promise<number[]> => gatedServers(sql, ownerId),

    async loadPromotion({ promotionId }: { promotionId: number }) {
      const [p] = await afterCreation(
        sql,
        'artifact_promotions',
        promotionId,
        (tx) => tx<
          { status: PromotionStatus; manifest_digest: string; scheduled_by: number | null; workflow_run_id: string | null; owner_id: number; governance_workflow_id: number | null }[]
        >`
          select p.status, p.manifest_digest, p.scheduled_by, p.workflow_run_id, t.owner_id, t.workflow_id as governance_workflow_id
          from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id
          where p.id = ${promotionId}`,
      );
      if (!p) throw rowMissing(`promotion ${promotionId}`);
      return {
        status: p.status,
        manifestDigest: p.manifest_digest,
        scheduledBy: p.scheduled_by,
        ownerId: p.owner_id,
        governanceWorkflowId: p.governance_workflow_id,
        governanceRunId: p.workflow_run_id === null ? null : Number(p.workflow_run_id),
      };
    },

    /**
     * The governance run of a promotion: its row, one step row per workflow step, and a
     * `run_created` audit row, linked to the promotion — once, however often retried.
     */
    async createPromotionRun({ promotionId, key }: { promotionId: number; key: string }): Promise<number> {
      return sql.begin(async (tx) => {
        const [p] = await tx<
          { workflow_run_id: string | null; manifest_digest: string; artifact_run_id: number | null; stage: string; track_id: number; track_name: string; workflow_id: number; tier: string; scheduled_by: number | null; notes: string[] }[]
        >`
          select p.workflow_run_id, p.manifest_digest, p.artifact_run_id, p.stage, t.id as track_id, t.name as track_name,
                 t.workflow_id, w.tier, p.scheduled_by, p.notes
          from artifact_promotions p
          join promotion_tracks t on t.id = p.promotion_track_id
          join governance_workflows w on w.id = t.workflow_id
          where p.id = ${promotionId} for update of p`;
        if (!p) throw ApplicationFailure.nonRetryable(`promotion ${promotionId} has no governance workflow`, ErrorType.PromotionNotFound);
        if (p.workflow_run_id !== null) return Number(p.workflow_run_id);
        const notes = [...p.notes, `promotion:scheduled:${p.track_name}:${p.stage}`];
        const [run] = await tx<{ id: string }[]>`
          insert into governance_workflow_runs
            (workflow_id, initiated_by, target_artifact_run_id, target_manifest_digest, target_tier, notes, promotion_track_id, promotion_stage)
          values (${p.workflow_id}, ${p.scheduled_by}, ${p.artifact_run_id}, ${p.manifest_digest}, ${p.tier}, ${notes}, ${p.track_id}, ${p.stage})
          returning id`;
        const runId = Number(run!.id);
        await tx`
          insert into governance_step_runs (workflow_run_id, step_id, position, action)
          select ${runId}, id, position, action from governance_workflow_steps where workflow_id = ${p.workflow_id}`;
        await tx`
          insert into governance_audit_logs (workflow_run_id, actor_id, event_type, details, transition_key)
          values (${runId}, ${p.scheduled_by}, 'run_created', ${tx.json({ promotion_id: promotionId, stage: p.stage })}, ${key})`;
        await tx`update artifact_promotions set workflow_run_id = ${runId}, updated_at = now() where id = ${promotionId}`;
        return runId;
      });
    },

    async recordPromotionTransition(input: RecordPromotionTransitionInput): Promise<void> {
      await sql.begin(async (tx) => {
        const [p] = await tx<{ status: PromotionStatus }[]>`select status from artifact_promotions where id = ${input.promotionId} for update`;
        if (!p) throw ApplicationFailure.nonRetryable(`promotion ${input.promotionId} no longer exists`, ErrorType.PromotionNotFound);
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
            updated_at = now()
          where id = ${input.promotionId}`;
        await tx`
          insert into promotion_events (promotion_id, actor_id, status, note, transition_key)
          values (${input.promotionId}, ${input.actorId}, ${input.status}, ${input.note}, ${input.key})`;
      });
    },

    async loadCertificationPlan({ certificationId }: { certificationId: number }) {
      const [c] = await sql<{ status: 'pending' | 'pass' | 'fail'; expected_tools: string[] | null; next_refresh_at: Date | null }[]>`
        select status, expected_tools, next_refresh_at from evaluation_certifications where id = ${certificationId}`;
      if (!c) return null;
      return { status: c.status, automatic: c.expected_tools !== null, nextRefreshAt: c.next_refresh_at?.toISOString() ?? null };
    },
  };
}
