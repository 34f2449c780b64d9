// The runtime policy engine: which backend runs a server, with which image, and whether a gate
// holds the launch. Pure and deterministic — same inputs, same decision, notes sorted — so it is
// unit-tested table-driven and replayable; one activity loads the inputs and records the result.
import type { HealthOverall } from '../artifact-health.js';
import type { GateVerdict } from '../governance/gate.js';
import { pinToDigest } from '../registry/reference.js';
import type { VmPosture } from '../vm/posture.js';

export const POLICY_VERSION = 'runtime-policy-v1';

export type Backend = 'docker' | 'kubernetes' | 'virtual-machine';
export type Capability = 'gpu' | 'image-build';

export interface ExecutorDescriptor {
  backend: Backend;
  displayName: string;
  capabilities: readonly Capability[];
}

/** The executors each runtime mode registers; GPUs run on either. */
export const EXECUTORS: Record<Backend, ExecutorDescriptor> = {
  docker: { backend: 'docker', displayName: 'Docker containers', capabilities: ['gpu', 'image-build'] },
  kubernetes: { backend: 'kubernetes', displayName: 'Kubernetes clusters', capabilities: ['gpu', 'image-build'] },
  // Runs a given image; builds and GPUs go elsewhere.
  'virtual-machine': { backend: 'virtual-machine', displayName: 'Secure virtual machines', capabilities: [] },
};

export interface ArtifactInput {
  runId: number;
  status: string;
  manifestDigest: string | null;
  registryImage: string | null;
  localImage: string;
  tier: string;
  healthOverall: HealthOverall;
}

/**
 * What an image source's tag named when the launch was decided (a registry HEAD of its manifest):
 * the digest the launch runs, or why none could be read (`not-found`, `unreachable`, `refused`,
 * `registry-error`) — then nothing runs, since a tag read later may name another image.
 */
export type ImageResolution =
  { digest: string } | { problem: 'not-found' | 'unreachable' | 'refused' | 'registry-error' };

export interface PolicyInput {
  serverId: number;
  serverType: string;
  source: { type: 'git' } | { type: 'image'; image: string; resolution: ImageResolution };
  /** `config.runtime` when given: a backend override. */
  runtimeOverride?: string;
  useGpu: boolean;
  defaultBackend: Backend;
  executors: readonly ExecutorDescriptor[];
  /** The latest artifact of the server (for git sources: the build this launch follows). */
  artifact: ArtifactInput | null;
  /**
   * The VM attestation posture (`evaluateVmPosture`) of the server, when the candidate backend is
   * `virtual-machine`; ignored for any other candidate. Its notes join the decision's, its
   * fallback replaces the backend, and its evaluation flag is recorded as `evaluationRequired`.
   */
  vmPosture?: VmPosture;
  /** The evaluation and promotion gates (`evaluateGates`); none: nothing requires them. */
  gate?: GateVerdict;
}

export interface PolicyDecision {
  serverId: number;
  policyVersion: string;
  candidateBackend: Backend;
  backend: Backend;
  executorName: string | null;
  image: string | null;
  requiresBuild: boolean;
  artifactRunId: number | null;
  manifestDigest: string | null;
  tier: string | null;
  healthOverall: HealthOverall | null;
  capabilityRequirements: Capability[];
  capabilitiesSatisfied: boolean;
  evaluationRequired: boolean;
  governanceRequired: boolean;
  /** Launch may proceed: capabilities satisfied, an image to run, no gate holding it. */
  launchable: boolean;
  /** Only a gate holds the launch: the server waits in `pending-governance`, not in `error`. */
  heldByGate: boolean;
  promotion: GateVerdict['promotion'];
  notes: string[];
}

const BACKENDS: readonly Backend[] = ['docker', 'kubernetes', 'virtual-machine'];

/** The backend asked for before any posture or routing: the `config.runtime` override, else the default. */
export function requestedBackend(input: Pick<PolicyInput, 'defaultBackend' | 'runtimeOverride'>): Backend {
  const override = input.runtimeOverride?.trim().toLowerCase();
  return override !== undefined && (BACKENDS as readonly string[]).includes(override)
    ? (override as Backend)
    : input.defaultBackend;
}

export function decide(input: PolicyInput): PolicyDecision {
  const notes: string[] = [];
  const requirements = new Set<Capability>();

  let backend: Backend = input.defaultBackend;
  if (input.useGpu) {
    requirements.add('gpu');
    notes.push('gpu:requested');
  }
  if (input.runtimeOverride !== undefined) {
    const override = input.runtimeOverride.trim().toLowerCase();
    if ((BACKENDS as readonly string[]).includes(override)) {
      if (override !== backend) notes.push(`runtime_override:${override}`);
      backend = override as Backend;
    } else {
      notes.push(`runtime_override:unknown:${input.runtimeOverride}`);
    }
  }

  const requiresBuild = input.source.type === 'git';
  if (requiresBuild) {
    requirements.add('image-build');
    notes.push('build:git-requested');
  }

  const artifact = input.artifact;
  let image: string | null = null;
  // An image source runs the digest its tag named at this decision: the decision, the ledger and the
  // runtime all see the same image, whatever the tag is moved to later.
  const resolvedDigest =
    input.source.type === 'image' && 'digest' in input.source.resolution ? input.source.resolution.digest : null;
  if (input.source.type === 'image') {
    const { resolution } = input.source;
    if ('digest' in resolution) {
      image = pinToDigest(input.source.image, resolution.digest);
      notes.push('image:pinned-by-digest');
    } else notes.push(`image:unresolved:${resolution.problem}`);
  }
  if (artifact) {
    notes.push(`artifact:${artifact.runId}:status:${artifact.status}:health:${artifact.healthOverall}`);
    if (requiresBuild) {
      if (artifact.status !== 'succeeded') notes.push(`artifact:unusable:${artifact.status}`);
      else if (artifact.registryImage) {
        // Pinned by digest: the launch runs exactly the artifact the decision names.
        image = artifact.manifestDigest
          ? pinToDigest(artifact.registryImage, artifact.manifestDigest)
          : artifact.registryImage;
        notes.push('image:registry-promoted');
      } else {
        image = `${artifact.localImage}:latest`;
        notes.push('image:local-build');
      }
    }
  } else if (requiresBuild) {
    notes.push('artifact:none');
  }
  if (image === null) notes.push('image:missing');

  const reqs = [...requirements].sort();
  if (reqs.length > 0) notes.push(`capabilities:requested:${reqs.join(',')}`);

  const candidateBackend = backend;

  // VM attestation posture: only for a server bound for the VM backend.
  const posture = candidateBackend === 'virtual-machine' ? input.vmPosture : undefined;
  if (posture) {
    notes.push(...posture.notes);
    backend = posture.backend;
  }
  const target = backend;

  // A server whose posture ruled the VM backend out is not routed back onto it.
  const registered = [...input.executors]
    .filter((e) => !(posture?.fellBack && e.backend === 'virtual-machine'))
    .sort((a, b) => a.backend.localeCompare(b.backend));
  const supports = (e: ExecutorDescriptor) => reqs.every((r) => e.capabilities.includes(r));
  let chosen = registered.find((e) => e.backend === target);
  let capabilitiesSatisfied = true;
  if (chosen && supports(chosen)) {
    if (reqs.length > 0)
      notes.push(`executor:${chosen.backend}:capabilities-satisfied:${[...chosen.capabilities].sort().join(',')}`);
  } else {
    if (!chosen) notes.push(`executor:unavailable:${target}`);
    const other = registered.find((e) => e.backend !== target && supports(e));
    if (other) {
      notes.push(`capabilities:routed:${target}->${other.backend}:${reqs.join(',')}`);
      chosen = other;
      backend = other.backend;
    } else {
      capabilitiesSatisfied = false;
      notes.push(`capabilities:unsatisfied:${target}:${reqs.join(',')}`);
      chosen = undefined;
    }
  }

  // The gates (opt-in per release track) hold a launch until certifications pass and the promotion
  // is active. A VM posture that wants its attestation (re-)evaluated is recorded, but does not
  // hold the launch: a server staying on the VM backend is verified when its instance is
  // provisioned (nothing untrusted is started), and one that fell back runs on the fallback backend.
  const gate = input.gate ?? {
    evaluationRequired: false,
    governanceRequired: false,
    notes: ['evaluation:not-required', 'governance:not-required'],
    checks: [],
    promotion: null,
  };
  // The attestation's wish replaces the gate's `evaluation:not-required`, so no decision says both.
  notes.push(...gate.notes.filter((n) => !(posture?.evaluationRequired && n === 'evaluation:not-required')));
  if (posture?.evaluationRequired) notes.push('evaluation:required:vm-attestation');
  const evaluationRequired = gate.evaluationRequired || (posture?.evaluationRequired ?? false);
  const governanceRequired = gate.governanceRequired;
  const gated = gate.evaluationRequired || gate.governanceRequired;

  const artifactUsable = !requiresBuild || artifact?.status === 'succeeded';
  return {
    serverId: input.serverId,
    policyVersion: POLICY_VERSION,
    candidateBackend,
    backend,
    executorName: chosen?.displayName ?? null,
    image,
    requiresBuild,
    artifactRunId: artifact?.runId ?? null,
    manifestDigest: artifact?.manifestDigest ?? resolvedDigest,
    tier: artifact?.tier ?? null,
    healthOverall: artifact?.healthOverall ?? null,
    capabilityRequirements: reqs,
    capabilitiesSatisfied,
    evaluationRequired,
    governanceRequired,
    launchable: capabilitiesSatisfied && image !== null && artifactUsable && !gated,
    heldByGate: capabilitiesSatisfied && image !== null && artifactUsable && gated,
    promotion: gate.promotion,
    notes: [...new Set(notes)].sort(),
  };
}
