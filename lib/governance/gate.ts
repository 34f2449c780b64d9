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
  trackId: number;
  stage: string;
  status: string;
  workflowRunId: number | null;
  notes: readonly string[];
  updatedAt: Date;
}

export interface GateCertification {
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

export interface GateVerdict {
  evaluationRequired: boolean;
  governanceRequired: boolean;
  notes: string[];
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

function certificationNotes(input: GateInput, required: readonly string[]): { blocked: boolean; notes: string[] } {
  const notes: string[] = [];
  if (!input.manifestDigest) return { blocked: true, notes: ['evaluation:missing-manifest'] };
  if (!input.tier) return { blocked: true, notes: ['evaluation:missing-tier'] };
  const tier = input.tier;
  const byReq = new Map(input.certifications.map((c) => [c.policyRequirement, c]));
  // Every required requirement, and every other certification on record for this digest and tier:
  // a failing one is not ignored just because no track asked for it.
  const reqs = [...new Set([...required, ...byReq.keys()])].sort();
  let blocked = false;
  for (const req of reqs) {
    const c = byReq.get(req);
    if (!c) {
      blocked = true;
      notes.push(`evaluation:missing-certification:${tier}:${req}`);
      continue;
    }
    const active = certificationActive(c, input.now);
    let stale = false;
    if (c.nextRefreshAt && c.nextRefreshAt.getTime() <= input.now.getTime()) {
      stale = true;
      notes.push(`evaluation:stale:${tier}:${req}:due@${c.nextRefreshAt.toISOString()}`);
    } else if (!c.nextRefreshAt && c.refreshCadenceSeconds) {
      stale = true;
      notes.push(`evaluation:stale:${tier}:${req}:missing-next-refresh`);
    }
    if (c.evidenceSource !== null && c.evidenceSource !== undefined) {
      notes.push(`evaluation:provenance:${tier}:${req}:${canonicalJson(c.evidenceSource)}`);
    }
    if (c.status === 'pass' && active && !stale) notes.push(`evaluation:certified:${tier}:${req}`);
    else {
      blocked = true;
      if (c.status === 'pass' && !active) notes.push(`evaluation:expired:${tier}:${req}`);
      else if (c.status === 'pending')
        notes.push(`evaluation:${active ? 'pending' : 'pending-inactive'}:${tier}:${req}`);
      else if (c.status === 'fail') notes.push(`evaluation:${active ? 'failed' : 'failed-inactive'}:${tier}:${req}`);
    }
  }
  return { blocked, notes };
}

export function evaluateGates(input: GateInput): GateVerdict {
  const tracks = input.tracks
    .filter((t) => trackGoverns(t.tier, input.serverType))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  const required = [...new Set(tracks.flatMap((t) => t.requiredCertifications))].sort();
  const notes: string[] = [];

  let evaluationRequired = false;
  if (required.length === 0) notes.push('evaluation:not-required');
  else {
    const verdict = certificationNotes(input, required);
    evaluationRequired = verdict.blocked;
    notes.push(...verdict.notes, evaluationRequired ? 'evaluation:required' : 'evaluation:satisfied');
  }

  let governanceRequired = false;
  let promotion: GateVerdict['promotion'] = null;
  const gating = tracks.filter((t) => t.launchStage !== null);
  if (gating.length === 0) notes.push('governance:not-required');
  for (const track of gating) {
    const launchStage = track.launchStage!;
    notes.push(`governance:track:${track.name}:launch-stage:${launchStage}`);
    if (!input.manifestDigest) {
      governanceRequired = true;
      notes.push('governance:missing-manifest');
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
    if (satisfying.length > 0) notes.push(`governance:satisfied:${track.name}`);
    else {
      governanceRequired = true;
      notes.push(
        best ? `promotion:not-active:${track.name}:${launchStage}` : `promotion:missing:${track.name}:${launchStage}`,
      );
    }
  }
  if (gating.length > 0) notes.push(governanceRequired ? 'governance:required' : 'governance:satisfied');
  return { evaluationRequired, governanceRequired, notes, promotion };
}
