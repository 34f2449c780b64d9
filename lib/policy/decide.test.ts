import { describe, expect, it } from 'vitest';
import { evaluateVmPosture, type LatestVmInstance } from '../vm/posture.js';
import { decide, EXECUTORS, requestedBackend, type PolicyInput } from './decide.js';

const artifact = {
  runId: 7,
  status: 'succeeded',
  manifestDigest: 'sha256:' + 'a'.repeat(64),
  registryImage: '127.0.0.1:5000/mcp/mcp-custom-3:latest',
  localImage: 'mcp-custom-3',
  tier: 'gold:Router',
  healthOverall: 'healthy' as const,
};
const base: PolicyInput = {
  serverId: 3,
  serverType: 'Router',
  source: { type: 'git' },
  useGpu: false,
  defaultBackend: 'docker',
  executors: [EXECUTORS.docker],
  artifact,
};

const NOW = new Date('2026-01-01T12:00:00Z');
const posture = (latest: Partial<LatestVmInstance> | null) =>
  evaluateVmPosture({
    latest: latest && {
      attestationStatus: 'trusted',
      updatedAt: new Date(NOW.getTime() - 30_000),
      terminatedAt: null,
      ...latest,
    },
    now: NOW,
    maxAgeSeconds: 300,
    fallback: 'docker',
  });
/** A VM-mode image server: both executors registered, as CONTAINER_RUNTIME=virtual-machine does. */
const DIGEST = `sha256:${'b'.repeat(64)}`;
const vm: Partial<PolicyInput> = {
  source: { type: 'image', image: 'team/router:1', resolution: { digest: DIGEST } },
  artifact: null,
  defaultBackend: 'virtual-machine',
  executors: [EXECUTORS.docker, EXECUTORS['virtual-machine']],
};

describe('runtime policy decisions', () => {
  it('launches a built git server on its own artifact, pinned by digest', () => {
    const d = decide(base);
    expect(d).toMatchObject({
      backend: 'docker',
      candidateBackend: 'docker',
      executorName: 'Docker containers',
      image: `127.0.0.1:5000/mcp/mcp-custom-3@sha256:${'a'.repeat(64)}`,
      requiresBuild: true,
      artifactRunId: 7,
      tier: 'gold:Router',
      capabilityRequirements: ['image-build'],
      capabilitiesSatisfied: true,
      launchable: true,
    });
    expect(d.notes).toEqual([
      'artifact:7:status:succeeded:health:healthy',
      'build:git-requested',
      'capabilities:requested:image-build',
      'evaluation:not-required',
      'executor:docker:capabilities-satisfied:gpu,image-build',
      'governance:not-required',
      'image:registry-promoted',
    ]);
  });

  it.each<[string, Partial<PolicyInput>, Partial<ReturnType<typeof decide>>, string[]]>([
    [
      'image source runs the digest its tag named (#19)',
      { source: { type: 'image', image: 'team/router:1', resolution: { digest: DIGEST } }, artifact: null },
      {
        image: `team/router@${DIGEST}`,
        manifestDigest: DIGEST,
        requiresBuild: false,
        launchable: true,
        capabilityRequirements: [],
      },
      ['image:pinned-by-digest'],
    ],
    [
      'image source already pinned keeps its digest',
      {
        source: { type: 'image', image: `team/router:1@${DIGEST}`, resolution: { digest: DIGEST } },
        artifact: null,
      },
      { image: `team/router@${DIGEST}`, manifestDigest: DIGEST, launchable: true },
      ['image:pinned-by-digest'],
    ],
    [
      'image source whose tag the registry does not know is not launched',
      { source: { type: 'image', image: 'team/router:1', resolution: { problem: 'not-found' } }, artifact: null },
      { image: null, manifestDigest: null, launchable: false, heldByGate: false },
      ['image:unresolved:not-found', 'image:missing'],
    ],
    [
      'no registry: the local build',
      { artifact: { ...artifact, registryImage: null, manifestDigest: null } },
      { image: 'mcp-custom-3:latest', launchable: true },
      ['image:local-build'],
    ],
    [
      'failed build is not launched',
      { artifact: { ...artifact, status: 'failed' } },
      { image: null, launchable: false },
      ['artifact:unusable:failed', 'image:missing'],
    ],
    [
      'git without artifact is not launched',
      { artifact: null },
      { image: null, launchable: false },
      ['artifact:none', 'image:missing'],
    ],
    [
      'GPU on docker stays on docker (#14)',
      { useGpu: true },
      { backend: 'docker', capabilityRequirements: ['gpu', 'image-build'], launchable: true },
      ['gpu:requested', 'capabilities:requested:gpu,image-build'],
    ],
    [
      'override to an unregistered backend routes back',
      { runtimeOverride: 'kubernetes' },
      { candidateBackend: 'kubernetes', backend: 'docker', launchable: true },
      [
        'runtime_override:kubernetes',
        'executor:unavailable:kubernetes',
        'capabilities:routed:kubernetes->docker:image-build',
      ],
    ],
    [
      'unknown override is noted and ignored',
      { runtimeOverride: 'firecracker' },
      { backend: 'docker' },
      ['runtime_override:unknown:firecracker'],
    ],
    ['same override adds no note', { runtimeOverride: 'docker' }, { backend: 'docker' }, []],
    [
      'override honoured when registered',
      { runtimeOverride: 'kubernetes', executors: [EXECUTORS.docker, EXECUTORS.kubernetes] },
      { backend: 'kubernetes', executorName: 'Kubernetes clusters' },
      ['executor:kubernetes:capabilities-satisfied:gpu,image-build'],
    ],
    [
      'no executor can build',
      { executors: [{ backend: 'docker', displayName: 'Docker containers', capabilities: [] }] },
      { capabilitiesSatisfied: false, launchable: false, executorName: null },
      ['capabilities:unsatisfied:docker:image-build'],
    ],
    [
      'VM: trusted posture keeps the VM backend',
      { ...vm, vmPosture: posture({}) },
      {
        candidateBackend: 'virtual-machine',
        backend: 'virtual-machine',
        executorName: 'Secure virtual machines',
        evaluationRequired: false,
        launchable: true,
      },
      ['vm:attestation:trusted', 'vm:last-status:trusted', 'evaluation:not-required'],
    ],
    [
      'VM: untrusted posture falls back to docker',
      { ...vm, vmPosture: posture({ attestationStatus: 'untrusted' }) },
      {
        candidateBackend: 'virtual-machine',
        backend: 'docker',
        executorName: 'Docker containers',
        evaluationRequired: true,
        launchable: true,
      },
      [
        'vm:attestation:untrusted',
        'vm:attestation:blocked',
        'vm:attestation:fallback:docker',
        'evaluation:required:vm-attestation',
      ],
    ],
    [
      'VM: untrusted is not routed back onto the VM',
      { ...vm, executors: [EXECUTORS['virtual-machine']], vmPosture: posture({ attestationStatus: 'untrusted' }) },
      { backend: 'docker', capabilitiesSatisfied: false, launchable: false },
      ['executor:unavailable:docker', 'capabilities:unsatisfied:docker:'],
    ],
    [
      'VM: no instance yet stays on the VM (#15)',
      { ...vm, vmPosture: posture(null) },
      { candidateBackend: 'virtual-machine', backend: 'virtual-machine', evaluationRequired: false, launchable: true },
      ['vm:attestation:none', 'vm:attestation:verify-on-provision'],
    ],
    [
      'VM: pending posture stays, evaluation recorded',
      { ...vm, vmPosture: posture({ attestationStatus: 'pending' }) },
      { backend: 'virtual-machine', evaluationRequired: true, launchable: true },
      ['vm:attestation:pending:30s', 'evaluation:required:vm-attestation'],
    ],
    [
      'VM: stale pending posture falls back',
      { ...vm, vmPosture: posture({ attestationStatus: 'unknown', updatedAt: new Date(NOW.getTime() - 3_600_000) }) },
      { backend: 'docker', evaluationRequired: true },
      ['vm:attestation:stale', 'vm:attestation:fallback:docker'],
    ],
    [
      'VM: override selects the VM backend',
      { ...vm, defaultBackend: 'docker', runtimeOverride: 'virtual-machine', vmPosture: posture(null) },
      { candidateBackend: 'virtual-machine', backend: 'virtual-machine' },
      ['runtime_override:virtual-machine'],
    ],
    [
      'VM: a git build routes to docker (the VM cannot build)',
      { ...vm, source: { type: 'git' }, artifact, vmPosture: posture(null) },
      { backend: 'docker', launchable: true },
      ['capabilities:routed:virtual-machine->docker:image-build'],
    ],
    [
      'VM: posture ignored off the VM backend',
      { ...vm, defaultBackend: 'docker', vmPosture: posture({ attestationStatus: 'untrusted' }) },
      { backend: 'docker', evaluationRequired: false },
      ['evaluation:not-required'],
    ],
  ])('%s', (_name, change, expected, notes) => {
    const d = decide({ ...base, ...change });
    expect(d).toMatchObject(expected);
    for (const note of notes) expect(d.notes).toContain(note);
    expect(d.notes).toEqual([...d.notes].sort());
  });

  it('names the requested backend before posture and routing', () => {
    expect(requestedBackend({ defaultBackend: 'docker', runtimeOverride: ' Virtual-Machine ' })).toBe(
      'virtual-machine',
    );
    expect(requestedBackend({ defaultBackend: 'virtual-machine', runtimeOverride: 'firecracker' })).toBe(
      'virtual-machine',
    );
    expect(requestedBackend({ defaultBackend: 'kubernetes' })).toBe('kubernetes');
  });

  it('is deterministic whatever the executor registration order', () => {
    const a = decide({ ...base, runtimeOverride: 'podman', executors: [EXECUTORS.kubernetes, EXECUTORS.docker] });
    const b = decide({ ...base, runtimeOverride: 'podman', executors: [EXECUTORS.docker, EXECUTORS.kubernetes] });
    expect(a).toEqual(b);
  });
});
