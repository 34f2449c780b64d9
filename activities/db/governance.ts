// The ledger side of governance runs, promotions and certifications (lib/ledger/governance.ts,
// promotions.ts, certifications.ts), as activities of their workflows.
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
import { rowMissing } from './row-missing.js';

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

    loadCertificationPlan: ({ certificationId }: { certificationId: number }) =>
      certificationPlan(sql, certificationId),
  };
}
