import { describe, expect, it } from 'vitest';
import { decide, EXECUTORS } from '../policy/decide.js';
import {
  evaluateGates,
  trackGoverns,
  type GateCertification,
  type GateInput,
  type GatePromotion,
  type GateTrack,
} from './gate.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const DIGEST = 'sha256:' + 'b'.repeat(64);
const minutes = (m: number) => new Date(NOW.getTime() + m * 60_000);

const track = (over: Partial<GateTrack> = {}): GateTrack => ({
  id: 1,
  name: 'router-train',
  tier: 'Router',
  stages: ['candidate', 'staging', 'production'],
  launchStage: null,
  requiredCertifications: [],
  ...over,
});
const cert = (over: Partial<GateCertification> = {}): GateCertification => ({
  policyRequirement: 'baseline',
  status: 'pass',
  validFrom: minutes(-60),
  validUntil: minutes(60),
  refreshCadenceSeconds: null,
  nextRefreshAt: null,
  evidenceSource: null,
  ...over,
});
const promo = (over: Partial<GatePromotion> = {}): GatePromotion => ({
  trackId: 1,
  stage: 'staging',
  status: 'active',
  workflowRunId: 9,
  notes: [],
  updatedAt: minutes(-5),
  ...over,
});
const input = (over: Partial<GateInput> = {}): GateInput => ({
  serverType: 'Router',
  manifestDigest: DIGEST,
  tier: 'gold:Router',
  tracks: [],
  promotions: [],
  certifications: [],
  now: NOW,
  ...over,
});

describe('trackGoverns: one tier vocabulary', () => {
  it.each([
    ['Router', 'Router', true],
    ['gold:Router', 'router', true],
    ['silver:Router', 'Router', true],
    ['Slack', 'Router', false],
    ['gold:Slack', 'Router', false],
  ])('track tier %s governs type %s: %s', (tier, type, expected) => {
    expect(trackGoverns(tier, type)).toBe(expected);
  });
});

describe('evaluateGates', () => {
  const cases: [string, Partial<GateInput>, { evaluationRequired: boolean; governanceRequired: boolean }, string[]][] =
    [
      [
        'no track: nothing is required (opt-in)',
        {},
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:not-required', 'governance:not-required'],
      ],
      [
        'a track of another type does not gate',
        { tracks: [track({ tier: 'gold:Slack', launchStage: 'staging', requiredCertifications: ['baseline'] })] },
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:not-required', 'governance:not-required'],
      ],
      [
        'a track without gates does not gate',
        { tracks: [track()], certifications: [cert({ status: 'fail' })] },
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:not-required', 'governance:not-required'],
      ],
      [
        'required certification missing',
        { tracks: [track({ requiredCertifications: ['baseline'] })] },
        { evaluationRequired: true, governanceRequired: false },
        ['evaluation:missing-certification:gold:Router:baseline', 'evaluation:required'],
      ],
      [
        'required certification passes',
        { tracks: [track({ requiredCertifications: ['baseline'] })], certifications: [cert()] },
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:certified:gold:Router:baseline', 'evaluation:satisfied'],
      ],
      [
        'expired pass blocks',
        {
          tracks: [track({ requiredCertifications: ['baseline'] })],
          certifications: [cert({ validFrom: minutes(-120), validUntil: minutes(-1) })],
        },
        { evaluationRequired: true, governanceRequired: false },
        ['evaluation:expired:gold:Router:baseline'],
      ],
      [
        'a pass due for refresh is stale',
        {
          tracks: [track({ requiredCertifications: ['baseline'] })],
          certifications: [cert({ refreshCadenceSeconds: 3600, nextRefreshAt: minutes(-1) })],
        },
        { evaluationRequired: true, governanceRequired: false },
        [`evaluation:stale:gold:Router:baseline:due@${minutes(-1).toISOString()}`],
      ],
      [
        'a pass not yet due is certified',
        {
          tracks: [track({ requiredCertifications: ['baseline'] })],
          certifications: [cert({ refreshCadenceSeconds: 3600, nextRefreshAt: minutes(30) })],
        },
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:certified:gold:Router:baseline'],
      ],
      [
        'cadence without next refresh is stale',
        {
          tracks: [track({ requiredCertifications: ['baseline'] })],
          certifications: [cert({ refreshCadenceSeconds: 60 })],
        },
        { evaluationRequired: true, governanceRequired: false },
        ['evaluation:stale:gold:Router:baseline:missing-next-refresh'],
      ],
      [
        'pending and failed',
        {
          tracks: [track({ requiredCertifications: ['a', 'b'] })],
          certifications: [
            cert({ policyRequirement: 'a', status: 'pending' }),
            cert({ policyRequirement: 'b', status: 'fail' }),
          ],
        },
        { evaluationRequired: true, governanceRequired: false },
        ['evaluation:pending:gold:Router:a', 'evaluation:failed:gold:Router:b'],
      ],
      [
        'an unrequired failing certification still blocks once gated',
        {
          tracks: [track({ requiredCertifications: ['a'] })],
          certifications: [cert({ policyRequirement: 'a' }), cert({ policyRequirement: 'z', status: 'fail' })],
        },
        { evaluationRequired: true, governanceRequired: false },
        ['evaluation:certified:gold:Router:a', 'evaluation:failed:gold:Router:z'],
      ],
      [
        'provenance is a canonical note',
        {
          tracks: [track({ requiredCertifications: ['a'] })],
          certifications: [cert({ policyRequirement: 'a', evidenceSource: { y: 1, x: 'ci' } })],
        },
        { evaluationRequired: false, governanceRequired: false },
        ['evaluation:provenance:gold:Router:a:{"x":"ci","y":1}'],
      ],
      [
        'gated with no digest',
        { manifestDigest: null, tracks: [track({ launchStage: 'staging', requiredCertifications: ['a'] })] },
        { evaluationRequired: true, governanceRequired: true },
        ['evaluation:missing-manifest', 'governance:missing-manifest'],
      ],
      [
        'promotion missing',
        { tracks: [track({ launchStage: 'staging' })] },
        { evaluationRequired: false, governanceRequired: true },
        [
          'governance:track:router-train:launch-stage:staging',
          'promotion:missing:router-train:staging',
          'governance:required',
        ],
      ],
      [
        'promotion scheduled, not active',
        { tracks: [track({ launchStage: 'staging' })], promotions: [promo({ status: 'in_progress' })] },
        { evaluationRequired: false, governanceRequired: true },
        ['promotion:status:router-train:staging:in_progress', 'promotion:not-active:router-train:staging'],
      ],
      [
        'promotion active at the launch stage',
        { tracks: [track({ launchStage: 'staging' })], promotions: [promo()] },
        { evaluationRequired: false, governanceRequired: false },
        ['promotion:status:router-train:staging:active', 'governance:satisfied:router-train', 'governance:satisfied'],
      ],
      [
        'active beyond the launch stage counts',
        { tracks: [track({ launchStage: 'staging' })], promotions: [promo({ stage: 'production' })] },
        { evaluationRequired: false, governanceRequired: false },
        ['promotion:status:router-train:production:active'],
      ],
      [
        'active only before the launch stage does not',
        { tracks: [track({ launchStage: 'production' })], promotions: [promo({ stage: 'staging' })] },
        { evaluationRequired: false, governanceRequired: true },
        ['promotion:missing:router-train:production'],
      ],
      [
        'rolled back does not count',
        { tracks: [track({ launchStage: 'staging' })], promotions: [promo({ status: 'rolled_back' })] },
        { evaluationRequired: false, governanceRequired: true },
        ['promotion:status:router-train:staging:rolled_back', 'promotion:not-active:router-train:staging'],
      ],
      [
        "another track's promotion does not count",
        { tracks: [track({ launchStage: 'staging' })], promotions: [promo({ trackId: 2 })] },
        { evaluationRequired: false, governanceRequired: true },
        ['promotion:missing:router-train:staging'],
      ],
    ];
  it.each(cases)('%s', (_name, over, flags, expectedNotes) => {
    const verdict = evaluateGates(input(over));
    expect(verdict).toMatchObject(flags);
    for (const note of expectedNotes) expect(verdict.notes).toContain(note);
  });

  it('is deterministic: the same rows in another order give the same verdict', () => {
    const tracks = [
      track({ id: 2, name: 'b-train', launchStage: 'candidate', requiredCertifications: ['y', 'x'] }),
      track({ launchStage: 'staging', requiredCertifications: ['x'] }),
    ];
    const certifications = [cert({ policyRequirement: 'y' }), cert({ policyRequirement: 'x', status: 'pending' })];
    const promotions = [promo(), promo({ trackId: 2, stage: 'candidate', status: 'scheduled' })];
    const a = evaluateGates(input({ tracks, certifications, promotions }));
    const b = evaluateGates(
      input({
        tracks: [...tracks].reverse(),
        certifications: [...certifications].reverse(),
        promotions: [...promotions].reverse(),
      }),
    );
    expect(b).toEqual(a);
  });
});

describe('decide with gates', () => {
  const base = {
    serverId: 3,
    serverType: 'Router',
    source: { type: 'git' as const },
    useGpu: false,
    defaultBackend: 'docker' as const,
    executors: [EXECUTORS.docker],
    artifact: {
      runId: 7,
      status: 'succeeded',
      manifestDigest: DIGEST,
      registryImage: 'r/x:latest',
      localImage: 'x',
      tier: 'gold:Router',
      healthOverall: 'healthy' as const,
    },
  };
  it('a held launch waits on the gate (heldByGate), it is not an error', () => {
    const d = decide({ ...base, gate: evaluateGates(input({ tracks: [track({ launchStage: 'staging' })] })) });
    expect(d).toMatchObject({
      launchable: false,
      heldByGate: true,
      governanceRequired: true,
      evaluationRequired: false,
    });
    expect(d.notes).toContain('promotion:missing:router-train:staging');
  });
  it('a satisfied gate launches and names the promotion', () => {
    const d = decide({
      ...base,
      gate: evaluateGates(input({ tracks: [track({ launchStage: 'staging' })], promotions: [promo()] })),
    });
    expect(d).toMatchObject({
      launchable: true,
      heldByGate: false,
      promotion: { trackId: 1, stage: 'staging', status: 'active', workflowRunId: 9 },
    });
  });
  it('an unsatisfiable capability is an error even when gated', () => {
    const d = decide({
      ...base,
      executors: [],
      gate: evaluateGates(input({ tracks: [track({ launchStage: 'staging' })] })),
    });
    expect(d).toMatchObject({ launchable: false, heldByGate: false });
  });
});
