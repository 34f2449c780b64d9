// The state machines of governance runs, their steps, and promotions: which
// transitions exist, checked by the workflows' update validators (409 otherwise) before anything is
// written. Workflow-safe (no I/O), so the workflows import it directly.

export const RUN_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const STEP_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'blocked'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
export const PROMOTION_STATUSES = ['scheduled', 'in_progress', 'approved', 'active', 'rolled_back'] as const;
export type PromotionStatus = (typeof PROMOTION_STATUSES)[number];
/** Where a promotion's soak stands (null when its stage has none). */
export const SOAK_STATES = ['soaking', 'passed', 'failed', 'cancelled'] as const;
export type SoakState = (typeof SOAK_STATES)[number];
export const WORKFLOW_TYPES = ['promotion', 'rollback', 'credential_rotation'] as const;

const RUN_NEXT: Record<RunStatus, readonly RunStatus[]> = {
  pending: ['in_progress', 'completed', 'failed', 'cancelled'],
  in_progress: ['completed', 'failed', 'cancelled'],
  // Ended runs stay ended: a completed run cannot be reopened.
  completed: [],
  failed: [],
  cancelled: [],
};

export const runEnded = (s: RunStatus) => RUN_NEXT[s].length === 0;

export interface Verdict {
  ok: boolean;
  reason?: string;
}

export function checkRunTransition(from: RunStatus, to: RunStatus): Verdict {
  if (RUN_NEXT[from].includes(to)) return { ok: true };
  if (runEnded(from)) return { ok: false, reason: `run is ${from}; an ended run cannot change status` };
  return { ok: false, reason: `a run cannot go from ${from} to ${to}` };
}

const STEP_NEXT: Record<StepStatus, readonly StepStatus[]> = {
  pending: ['in_progress', 'completed', 'failed', 'blocked'],
  in_progress: ['completed', 'failed', 'blocked'],
  blocked: ['in_progress', 'completed', 'failed'],
  completed: [],
  failed: [],
};

export interface StepState {
  position: number;
  action: string;
  status: StepStatus;
}

/** Steps are ordered: one may start or complete only once every earlier step has completed. */
export function checkStepTransition(
  run: RunStatus,
  steps: readonly StepState[],
  position: number,
  to: StepStatus,
): Verdict {
  if (runEnded(run)) return { ok: false, reason: `run is ${run}; its steps cannot change` };
  const step = steps.find((s) => s.position === position);
  if (!step) return { ok: false, reason: `the run has no step ${position}` };
  if (!STEP_NEXT[step.status].includes(to))
    return { ok: false, reason: `step ${position} (${step.action}) cannot go from ${step.status} to ${to}` };
  if (to === 'in_progress' || to === 'completed') {
    const open = steps.filter((s) => s.position < position && s.status !== 'completed').map((s) => s.position);
    if (open.length > 0)
      return { ok: false, reason: `step ${position} must wait for step(s) ${open.join(', ')} to complete` };
  }
  return { ok: true };
}

const PROMOTION_NEXT: Record<PromotionStatus, readonly PromotionStatus[]> = {
  scheduled: ['in_progress', 'approved', 'rolled_back'],
  in_progress: ['approved', 'active', 'rolled_back'],
  approved: ['active', 'rolled_back'],
  active: ['rolled_back'],
  rolled_back: [],
};

export function checkPromotionTransition(from: PromotionStatus, to: PromotionStatus): Verdict {
  if (PROMOTION_NEXT[from].includes(to)) return { ok: true };
  if (from === to) return { ok: false, reason: `promotion is already ${from}` };
  return { ok: false, reason: `a promotion cannot go from ${from} to ${to}` };
}

/** Stages are stored lower-cased and compared that way; order is the track's. */
export const normaliseStage = (stage: string) => stage.trim().toLowerCase();
export const DEFAULT_STAGES = ['candidate', 'staging', 'production'] as const;
