// VM attestation posture: whether a server bound for the virtual-machine backend may stay on
// it, judged by its newest recorded VM instance. Pure; notes sorted.
//
// A server that has never run as a VM is NOT sent to the fallback backend (otherwise the VM backend
// could never be chosen for a first launch). Its attestation is verified when the instance is
// provisioned instead: provisionVm starts nothing that is not trusted.

export type FallbackBackend = 'docker' | 'kubernetes';

export interface LatestVmInstance {
  attestationStatus: string;
  updatedAt: Date;
  terminatedAt: Date | null;
}

export interface PostureInput {
  /** The newest runtime_vm_instances row of the server, or null when it has none. */
  latest: LatestVmInstance | null;
  now: Date;
  /** VM_ATTESTATION_MAX_AGE_SECONDS; the stale limit is never below a minute. */
  maxAgeSeconds: number;
  /** Where a server goes when its posture rules the VM backend out (see `vmFallbackBackend`). */
  fallback: FallbackBackend;
}

export type PostureState = 'none' | 'trusted' | 'untrusted' | 'pending' | 'stale' | 'other';

export interface VmPosture {
  state: PostureState;
  backend: 'virtual-machine' | FallbackBackend;
  /** True when the posture moved the server off the VM backend. */
  fellBack: boolean;
  /** The launch waits for attestation to be (re-)evaluated. */
  evaluationRequired: boolean;
  notes: string[];
}

/** The backend a server falls back to from the VM backend: Kubernetes for GPU servers, Docker otherwise. */
export const vmFallbackBackend = (useGpu: boolean): FallbackBackend => (useGpu ? 'kubernetes' : 'docker');

/** Pending evidence older than this is stale: max(VM_ATTESTATION_MAX_AGE_SECONDS, 60) seconds. */
export const staleLimitSeconds = (maxAgeSeconds: number) => Math.max(maxAgeSeconds, 60);

export function evaluateVmPosture(input: PostureInput): VmPosture {
  const { latest, fallback } = input;
  const result = (
    state: PostureState,
    notes: string[],
    opts: { fellBack?: boolean; evaluationRequired?: boolean } = {},
  ): VmPosture => {
    const fellBack = opts.fellBack ?? false;
    return {
      state,
      backend: fellBack ? fallback : 'virtual-machine',
      fellBack,
      evaluationRequired: opts.evaluationRequired ?? false,
      notes: [...new Set(fellBack ? [...notes, `vm:attestation:fallback:${fallback}`] : notes)].sort(),
    };
  };

  if (!latest) return result('none', ['vm:attestation:none', 'vm:attestation:verify-on-provision']);

  const notes = [`vm:last-status:${latest.attestationStatus}`, `vm:last-updated:${latest.updatedAt.toISOString()}`];
  if (latest.terminatedAt) notes.push(`vm:last-terminated:${latest.terminatedAt.toISOString()}`);

  switch (latest.attestationStatus) {
    case 'trusted':
      return result('trusted', [...notes, 'vm:attestation:trusted']);
    case 'untrusted':
      return result('untrusted', [...notes, 'vm:attestation:untrusted', 'vm:attestation:blocked'], {
        fellBack: true,
        evaluationRequired: true,
      });
    case 'pending':
    case 'unknown': {
      const age = Math.max(0, Math.floor((input.now.getTime() - latest.updatedAt.getTime()) / 1000));
      notes.push(`vm:attestation:pending:${age}s`);
      if (age > staleLimitSeconds(input.maxAgeSeconds)) {
        return result('stale', [...notes, 'vm:attestation:stale'], { fellBack: true, evaluationRequired: true });
      }
      return result('pending', notes, { evaluationRequired: true });
    }
    default:
      return result('other', [...notes, `vm:attestation:status:${latest.attestationStatus}`]);
  }
}
