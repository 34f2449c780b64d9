// The evaluation and promotion gates of the policy engine, opt-in per release track:
// only a track that governs the server's type holds its launches, and only with the
// gates the track turns on — `launch_stage` (an active promotion at that stage or a later one) and
// `required_certifications` (an active, fresh pass of each). Pure: the decision activity loads the rows.
import { canonicalJson } from '../vm/attestation.js';

export interface GateTrack {
  id: number;
  name: string;
  tier: string;
  stages: readonly string[];
  launchStage: string | null;
  requiredCertifications: readonly string[];
}

export interface GatePromotion {
  /** artifact_promotions.id */
  id: number;
  trackId: number;
  stage: string;
  status: string;
  workflowRunId: number | null;
  notes: readonly string[];
  updatedAt: Date;
}

export interface GateCertification {
  /** evaluation_certifications.id */
  id: number;
  policyRequirement: string;
  status: 'pending' | 'pass' | 'fail';
  validFrom: Date;
  validUntil: Date | null;
  refreshCadenceSeconds: number | null;
  nextRefreshAt: Date | null;
  evidenceSource: unknown;
}

export interface GateInput {
  serverType: string;
  manifestDigest: string | null;
  /** The artifact's derived tier (`gold:Router`): the tier certifications are issued for. */
  tier: string | null;
  tracks: readonly GateTrack[];
  promotions: readonly GatePromotion[];
  certifications: readonly GateCertification[];
  now: Date;
}

/** Why a certification gate is met or not, one word per case the notes tell apart. */
export type CertificationGateState =
  'certified' | 'missing' | 'pending' | 'failed' | 'expired' | 'stale' | 'missing-manifest' | 'missing-tier';

/** Why a promotion gate is met or not. */
export type PromotionGateState = 'active' | 'not-active' | 'missing' | 'missing-manifest';

/**
 * One gate of the verdict, with the rows it was judged on: the same judgement as its note, kept as
 * data so a reader can name (and link) the certification or promotion without parsing notes.
 */
export type GateCheck =
  | {
      kind: 'certification';
      met: boolean;
      state: CertificationGateState;
      /** The note this check produced (`evaluation:pending:gold:Router:baseline`). */
      note: string;
      tier: string | null;
      /** null when no requirement could be judged (no manifest or tier yet). */
      requirement: string | null;
      /** The tracks that require it; empty for a certification on record that no track asked for. */
      requiredBy: string[];
      certification: { id: number; status: string; validUntil: Date | null; nextRefreshAt: Date | null } | null;
    }
  | {
      kind: 'promotion';
      met: boolean;
      state: PromotionGateState;
      note: string;
      trackId: number;
      trackName: string;
      launchStage: string;
      /** The promotion that satisfied the track, or came closest to it. */
      promotion: { id: number; stage: string; status: string; workflowRunId: number | null } | null;
    };

export interface GateVerdict {
  evaluationRequired: boolean;
  governanceRequired: boolean;
  notes: string[];
  /** Every gate the governing tracks turn on, met or not. */
  checks: GateCheck[];
  /** The promotion that satisfied (or came closest to satisfying) the first gating track. */
  promotion: { trackId: number; stage: string; status: string; workflowRunId: number | null; notes: string[] } | null;
}

/**
 * Whether a track governs servers of this type: its tier names the type (`Router`) or a derived
 * tier of it (`gold:Router`). One vocabulary with the marketplace; a health change
 * that moves the artifact from gold to silver does not slip it out from under its track.
 */
export function trackGoverns(trackTier: string, serverType: string): boolean {
  const tier = trackTier.trim().toLowerCase();
  const type = tier.includes(':') ? tier.slice(tier.lastIndexOf(':') + 1) : tier;
  return type === serverType.trim().toLowerCase();
}

const PRIORITY = ['active', 'approved', 'in_progress', 'scheduled'];
const priority = (status: string) => {
  const i = PRIORITY.indexOf(status);
  return i === -1 ? PRIORITY.length : i;
};

/** Active ⇔ valid_from ≤ now ≤ valid_until (open-ended when unset). */
export function certificationActive(c: Pick<GateCertification, 'validFrom' | 'validUntil'>, now: Date): boolean {
  return c.validFrom.getTime() <= now.getTime() && (c.validUntil === null || c.validUntil.getTime() >= now.getTime());
}

function certificationNotes(
  input: GateInput,
  tracks: readonly GateTrack[],
  required: readonly string[],
): { blocked: boolean; notes: string[]; checks: GateCheck[] } {
  const notes: string[] = [];
  const checks: GateCheck[] = [];
  const unjudged = (state: 'missing-manifest' | 'missing-tier', note: string) => ({
    blocked: true,
    notes: [note],
    checks: [
      {
        kind: 'certification' as const,
        met: false,
        state,
        note,
        tier: input.tier,
        requirement: null,
        requiredBy: tracks.filter((t) => t.requiredCertifications.length > 0).map((t) => t.name),
        certification: null,
      },
    ],
  });
  if (!input.manifestDigest) return unjudged('missing-manifest', 'evaluation:missing-manifest');
  if (!input.tier) return unjudged('missing-tier', 'evaluation:missing-tier');
  const tier = input.tier;
  const byReq = new Map(input.certifications.map((c) => [c.policyRequirement, c]));
  // Every required requirement, and every other certification on record for this digest and tier:
  // a failing one is not ignored just because no track asked for it.
  const reqs = [...new Set([...required, ...byReq.keys()])].sort();
  let blocked = false;
  for (const req of reqs) {
    const c = byReq.get(req);
    const check = (state: CertificationGateState, note: string) =>
      checks.push({
        kind: 'certification',
        met: state === 'certified',
        state,
        note,
        tier,
        requirement: req,
        requiredBy: tracks.filter((t) => t.requiredCertifications.includes(req)).map((t) => t.name),
        certification: c
          ? { id: c.id, status: c.status, validUntil: c.validUntil, nextRefreshAt: c.nextRefreshAt }
          : null,
      });
    if (!c) {
      blocked = true;
      const note = `evaluation:missing-certification:${tier}:${req}`;
      notes.push(note);
      check('missing', note);
      continue;
    }
    const active = certificationActive(c, input.now);
    let stale: string | null = null;
    if (c.nextRefreshAt && c.nextRefreshAt.getTime() <= input.now.getTime()) {
      stale = `evaluation:stale:${tier}:${req}:due@${c.nextRefreshAt.toISOString()}`;
      notes.push(stale);
    } else if (!c.nextRefreshAt && c.refreshCadenceSeconds) {
      stale = `evaluation:stale:${tier}:${req}:missing-next-refresh`;
      notes.push(stale);
    }
    if (c.evidenceSource !== null && c.evidenceSource !== undefined) {
      notes.push(`evaluation:provenance:${tier}:${req}:${canonicalJson(c.evidenceSource)}`);
    }
    if (c.status === 'pass' && active && !stale) {
      const note = `evaluation:certified:${tier}:${req}`;
      notes.push(note);
      check('certified', note);
    } else {
      blocked = true;
      let outcome: [CertificationGateState, string] | null = null;
      if (c.status === 'pass' && !active) outcome = ['expired', `evaluation:expired:${tier}:${req}`];
      else if (c.status === 'pending')
        outcome = ['pending', `evaluation:${active ? 'pending' : 'pending-inactive'}:${tier}:${req}`];
      else if (c.status === 'fail')
        outcome = ['failed', `evaluation:${active ? 'failed' : 'failed-inactive'}:${tier}:${req}`];
      if (outcome) notes.push(outcome[1]);
      // A pass that is active but due for refresh is held by its staleness alone.
      const [state, note] = outcome ?? ['stale', stale!];
      check(state, note);
    }
  }
  return { blocked, notes, checks };
}

export function evaluateGates(input: GateInput): GateVerdict {
  const tracks = input.tracks
    .filter((t) => trackGoverns(t.tier, input.serverType))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  const required = [...new Set(tracks.flatMap((t) => t.requiredCertifications))].sort();
  const notes: string[] = [];
  const checks: GateCheck[] = [];

  let evaluationRequired = false;
  if (required.length === 0) notes.push('evaluation:not-required');
  else {
    const verdict = certificationNotes(input, tracks, required);
    evaluationRequired = verdict.blocked;
    checks.push(...verdict.checks);
    notes.push(...verdict.notes, evaluationRequired ? 'evaluation:required' : 'evaluation:satisfied');
  }

  let governanceRequired = false;
  let promotion: GateVerdict['promotion'] = null;
  const gating = tracks.filter((t) => t.launchStage !== null);
  if (gating.length === 0) notes.push('governance:not-required');
  for (const track of gating) {
    const launchStage = track.launchStage!;
    notes.push(`governance:track:${track.name}:launch-stage:${launchStage}`);
    const gate = { kind: 'promotion' as const, trackId: track.id, trackName: track.name, launchStage };
    if (!input.manifestDigest) {
      governanceRequired = true;
      notes.push('governance:missing-manifest');
      checks.push({
        ...gate,
        met: false,
        state: 'missing-manifest',
        note: 'governance:missing-manifest',
        promotion: null,
      });
      continue;
    }
    const from = track.stages.indexOf(launchStage);
    const mine = input.promotions.filter((p) => p.trackId === track.id);
    // An artifact promoted beyond the launch stage went through it: that counts.
    const satisfying = mine
      .filter((p) => p.status === 'active' && track.stages.indexOf(p.stage) >= from)
      .sort((a, b) => track.stages.indexOf(a.stage) - track.stages.indexOf(b.stage));
    const best =
      satisfying[0] ??
      mine
        .filter((p) => p.stage === launchStage)
        .sort((a, b) => priority(a.status) - priority(b.status) || b.updatedAt.getTime() - a.updatedAt.getTime())[0];
    if (best) {
      notes.push(`promotion:status:${track.name}:${best.stage}:${best.status}`);
      promotion ??= {
        trackId: track.id,
        stage: best.stage,
        status: best.status,
        workflowRunId: best.workflowRunId,
        notes: [...best.notes],
      };
    }
    const closest = best
      ? { id: best.id, stage: best.stage, status: best.status, workflowRunId: best.workflowRunId }
      : null;
    if (satisfying.length > 0) {
      const note = `governance:satisfied:${track.name}`;
      notes.push(note);
      checks.push({ ...gate, met: true, state: 'active', note, promotion: closest });
    } else {
      governanceRequired = true;
      const note = best
        ? `promotion:not-active:${track.name}:${launchStage}`
        : `promotion:missing:${track.name}:${launchStage}`;
      notes.push(note);
      checks.push({ ...gate, met: false, state: best ? 'not-active' : 'missing', note, promotion: closest });
    }
  }
  if (gating.length > 0) notes.push(governanceRequired ? 'governance:required' : 'governance:satisfied');
  return { evaluationRequired, governanceRequired, notes, checks, promotion };
}
