// Contracts of the governance workflows — governanceRun (`governance/<run>`), promotion
// (`promotion/<id>`), certification (`certification/<id>`) — and of the signals they send to
// serverLifecycle. The API imports this.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PromotionStatus, RunStatus, StepState, StepStatus } from '../lib/governance/states.js';

export interface GovernanceRunInput {
  runId: number;
}
export interface GovernanceRunResult {
  status: RunStatus | 'abandoned';
}
export interface RunStatusRequest {
  actorId: number;
  status: RunStatus;
  note?: string;
}
export interface StepRequest {
  actorId: number;
  position: number;
  status: Exclude<StepStatus, 'pending'>;
  note?: string;
}
export interface GovernanceRunState {
  status: RunStatus;
  steps: StepState[];
}
export const setRunStatusUpdate = defineUpdate<GovernanceRunState, [RunStatusRequest]>('setRunStatus');
export const advanceStepUpdate = defineUpdate<GovernanceRunState, [StepRequest]>('advanceStep');
export const governanceRunQuery = defineQuery<GovernanceRunState>('runState');

export interface PromotionInput {
  promotionId: number;
  /**
   * Set when the API starts this run to roll back a promotion whose workflow has ended (it went
   * active): the run records the rollback and ends.
   */
  rollbackEnded?: PromotionRequest;
}
export interface PromotionResult {
  status: PromotionStatus | 'abandoned';
  /** Why a rollbackEnded run recorded nothing (the promotion may not be rolled back). */
  refused?: string;
}
export interface PromotionRequest {
  actorId: number;
  note?: string;
}
export const approveUpdate = defineUpdate<{ status: PromotionStatus }, [PromotionRequest]>('approve');
export const rollbackUpdate = defineUpdate<{ status: PromotionStatus }, [PromotionRequest]>('rollback');
/**
 * Why a rollback update is refused by an active promotion that is not soaking: its workflow is
 * ending, so the API rolls it back with a run of its own instead.
 */
export const NOT_SOAKING = 'promotion is active and not soaking';
export const promotionQuery = defineQuery<{ status: PromotionStatus; governanceRunId: number | null }>(
  'promotionState',
);

export interface CertificationInput {
  certificationId: number;
  /** Evaluate as soon as the run starts (a new automatic certification, or a retry). */
  evaluateNow: boolean;
}
export interface CertificationResult {
  status: 'pass' | 'fail' | 'pending' | 'gone';
}
/** The plan changed (cadence, next refresh): recompute the timer. */
export const planChangedSignal = defineSignal('planChanged');
/** Evaluate again now. */
export const retrySignal = defineSignal('retry');

/** To serverLifecycle: a gate may have opened (a certification passed, a promotion went active). */
export const gateChangedSignal = defineSignal('gateChanged');
/** To serverLifecycle: a completed governance run asks for a redeploy. */
export const redeployRequestedSignal = defineSignal<[{ actorId: number; reason: string }]>('redeployRequested');

export interface RelaunchRequest {
  /** The build artifact to launch; null: decide again on what the server ran (its gate may hold it). */
  artifactRunId: number | null;
  /** Why, for the server's status reason. */
  reason: string;
}
/** To serverLifecycle: a promotion whose soak failed was rolled back; relaunch the stage's last good digest. */
export const relaunchRequestedSignal = defineSignal<[RelaunchRequest]>('relaunchRequested');
