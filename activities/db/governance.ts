// The ledger side of governance runs, promotions and certifications (lib/ledger/governance.ts,
// promotions.ts, certifications.ts), as activities of their workflows.
import { setTimeout as delay } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import { certificationPlan } from '../../lib/ledger/certifications.js';
import { readCreatedRun, recordRunTransition, type RecordRunTransitionInput } from '../../lib/ledger/governance.js';
import {
  createPromotionRun,
  readCreatedPromotion,
  recordPromotionTransition,
  type RecordPromotionTransitionInput,
} from '../../lib/ledger/promotions.js';
import { gatedServers } from '../../lib/ledger/servers.js';
import {
  recordPromotionNote,
  rollbackTargets,
  soakFailure,
  soakPlan,
  type RollbackTarget,
  type SoakFailure,
  type SoakPlan,
} from '../../lib/ledger/soak.js';
import { rowMissing } from './row-missing.js';

/** How often a soak looks at its servers' events: a failure is acted on within about a second. */
const SOAK_CHECK_EVERY_MS = 1_000;

export function createGovernanceDbActivities(sql: Sql) {
  return {
    /** The run's row and steps, once the transaction that created them has committed. */
    async loadGovernanceRun({ runId }: { runId: number }) {
      const run = await readCreatedRun(sql, runId);
      if (!run) throw rowMissing(`governance run ${runId}`);
      return run;
    },

    recordGovernanceTransition: (input: RecordRunTransitionInput): Promise<void> => recordRunTransition(sql, input),

    /** Servers of this owner waiting in pending-governance: they decide again when told. */
    findGatedServers: ({ ownerId }: { ownerId: number }): Promise<number[]> => gatedServers(sql, ownerId),

    /** The promotion's row, once the transaction that created it has committed. */
    async loadPromotion({ promotionId }: { promotionId: number }) {
      const p = await readCreatedPromotion(sql, promotionId);
      if (!p) throw rowMissing(`promotion ${promotionId}`);
      return p;
    },

    createPromotionRun: (input: { promotionId: number; key: string }): Promise<number> =>
      createPromotionRun(sql, input),

    recordPromotionTransition: (input: RecordPromotionTransitionInput): Promise<void> =>
      recordPromotionTransition(sql, input),

    /** The soak time of the promotion's stage; when it has one, the soak's start is recorded (once per key). */
    async beginSoak({ promotionId, key }: { promotionId: number; key: string }): Promise<SoakPlan> {
      const plan = await soakPlan(sql, promotionId);
      if (plan.seconds > 0) {
        await recordPromotionNote(
          sql,
          { promotionId, key, note: `promotion:soak:started:${plan.stage}:${plan.seconds}s` },
          { state: 'soaking', seconds: plan.seconds },
        );
      }
      return plan;
    },

    /** The soak ended without a failure. */
    recordSoakPassed: ({ promotionId, key, seconds }: { promotionId: number; key: string; seconds: number }) =>
      recordPromotionNote(sql, { promotionId, key, note: `promotion:soak:passed:${seconds}s` }, { state: 'passed' }),

    /** A note on the promotion that changes no status (what a rollback relaunched). */
    recordPromotionNote: (input: { promotionId: number; key: string; note: string }) => recordPromotionNote(sql, input),

    /**
     * Waits, heartbeating, until a server of the soaking stage fails, and says which and how.
     * Cancelled when the soak ends; after a worker crash it is retried and finds, in the server
     * events, a failure that happened meanwhile at once.
     */
    async awaitSoakFailure({ promotionId }: { promotionId: number }): Promise<SoakFailure> {
      const ctx = Context.current();
      for (;;) {
        const failure = await soakFailure(sql, promotionId);
        if (failure) return failure;
        ctx.heartbeat();
        await Promise.race([delay(SOAK_CHECK_EVERY_MS), ctx.cancelled]);
      }
    },

    /** What each server of a rolled-back stage relaunches. */
    rollbackTargets: ({ promotionId }: { promotionId: number }): Promise<RollbackTarget[]> =>
      rollbackTargets(sql, promotionId),

    loadCertificationPlan: ({ certificationId }: { certificationId: number }) =>
      certificationPlan(sql, certificationId),
  };
}
