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
  id: 21,
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
  id: 31,
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

  it('names each gate with the rows it was judged on, met or not, as its notes say', () => {
    const tracks = [
      track({ launchStage: 'staging', requiredCertifications: ['baseline'] }),
      track({ id: 2, name: 'b-train', launchStage: 'candidate' }),
    ];
    const verdict = evaluateGates(
      input({
        tracks,
        certifications: [cert(), cert({ id: 22, policyRequirement: 'extra', status: 'pending' })],
        promotions: [promo({ status: 'approved' }), promo({ id: 32, trackId: 2, stage: 'production' })],
      }),
    );
    expect(verdict.checks).toEqual([
      {
        kind: 'certification',
        met: true,
        state: 'certified',
        note: 'evaluation:certified:gold:Router:baseline',
        tier: 'gold:Router',
        requirement: 'baseline',
        requiredBy: ['router-train'],
        certification: { id: 21, status: 'pass', validUntil: minutes(60), nextRefreshAt: null },
      },
      {
        kind: 'certification',
        met: false,
        state: 'pending',
        note: 'evaluation:pending:gold:Router:extra',
        tier: 'gold:Router',
        requirement: 'extra',
        requiredBy: [],
        certification: { id: 22, status: 'pending', validUntil: minutes(60), nextRefreshAt: null },
      },
      {
        kind: 'promotion',
        met: true,
        state: 'active',
        note: 'governance:satisfied:b-train',
        trackId: 2,
        trackName: 'b-train',
        launchStage: 'candidate',
        promotion: { id: 32, stage: 'production', status: 'active', workflowRunId: 9 },
      },
      {
        kind: 'promotion',
        met: false,
        state: 'not-active',
        note: 'promotion:not-active:router-train:staging',
        trackId: 1,
        trackName: 'router-train',
        launchStage: 'staging',
        promotion: { id: 31, stage: 'staging', status: 'approved', workflowRunId: 9 },
      },
    ]);
    // Every check's note is one of the verdict's own notes: one judgement, two shapes.
    for (const c of verdict.checks) expect(verdict.notes).toContain(c.note);
  });

  it.each([
    ['no manifest', { manifestDigest: null }, 'missing-manifest'],
    ['no tier', { tier: null }, 'missing-tier'],
    ['a pass due for refresh', { certifications: [cert({ nextRefreshAt: minutes(-1) })] }, 'stale'],
    ['an expired pass', { certifications: [cert({ validUntil: minutes(-1) })] }, 'expired'],
    ['a failed one', { certifications: [cert({ status: 'fail' })] }, 'failed'],
    ['none on record', {}, 'missing'],
  ] as const)('a certification gate held by %s says so', (_name, over, state) => {
    const verdict = evaluateGates(input({ tracks: [track({ requiredCertifications: ['baseline'] })], ...over }));
    expect(verdict.checks).toMatchObject([{ kind: 'certification', met: false, state }]);
  });

  it('a promotion gate of a server not built yet is held by the missing manifest', () => {
    const verdict = evaluateGates(input({ manifestDigest: null, tracks: [track({ launchStage: 'staging' })] }));
    expect(verdict.checks).toEqual([
      {
        kind: 'promotion',
        met: false,
        state: 'missing-manifest',
        note: 'governance:missing-manifest',
        trackId: 1,
        trackName: 'router-train',
        launchStage: 'staging',
        promotion: null,
      },
    ]);
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
