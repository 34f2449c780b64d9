// The policy engine's one activity: load the decision's inputs (server, artifact, executors), decide
// (pure, lib/policy/decide.ts), and record the decision — once per decision key, however often retried.
import { ApplicationFailure } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import {
  launchArtifact,
  loadGateVerdict,
  launchServer,
  recordDecision,
  type LaunchServerRow,
} from '../../lib/ledger/decisions.js';
import { latestVmInstance } from '../../lib/ledger/vm.js';
import { decide, requestedBackend, type ExecutorDescriptor, type PolicyDecision } from '../../lib/policy/decide.js';
import { resolveImageDigest } from '../../lib/registry/image-digest.js';
import { lendsCredentials } from '../../lib/registry/namespace.js';
import type { ExecutorRegistry } from '../../lib/runtime/executor.js';
import { evaluateVmPosture, vmFallbackBackend, type VmPosture } from '../../lib/vm/posture.js';
import type { CredentialManager } from '../registry/credentials.js';

export interface DecideLaunchInput {
  serverId: number;
  decisionKey: string;
  /** The build this launch follows (git sources); the server's latest run when omitted. */
  artifactRunId?: number;
}

export interface RecordedDecision {
  decisionId: number;
  decision: PolicyDecision;
}

export function createDecisionActivities(
  sql: Sql,
  env: Env,
  executors: ExecutorRegistry,
  credentials?: Pick<CredentialManager, 'current'>,
) {
  /** An image source's tag, read once per decision; the platform's credentials only where a pull would get them. */
  async function resolveSource(server: { owner_id: number; source: LaunchServerRow['source'] }) {
    if (server.source.type !== 'image') return { type: 'git' as const };
    const { image } = server.source;
    const lend = env.REGISTRY !== undefined && lendsCredentials(image, env.REGISTRY, { ownerId: server.owner_id });
    const resolution = await resolveImageDigest(image, {
      ownRegistry: env.REGISTRY,
      credentials: lend ? await credentials?.current() : undefined,
    });
    return { type: 'image' as const, image, resolution };
  }

  return {
    async decideLaunch(input: DecideLaunchInput): Promise<RecordedDecision> {
      const server = await launchServer(sql, input.serverId);
      if (!server)
        throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
      const artifact = await launchArtifact(sql, input.serverId, input.artifactRunId);
      const source = await resolveSource(server);
      const imageDigest = source.type === 'image' && 'digest' in source.resolution ? source.resolution.digest : null;
      // What each executor offers now; CONTAINER_RUNTIME decides which besides docker take launches.
      const offered: ExecutorDescriptor[] = [];
      for (const executor of executors.all()) {
        const descriptor = await executor.describe();
        if (descriptor) offered.push(descriptor);
      }
      const runtime = server.config.runtime;
      const runtimeOverride = typeof runtime === 'string' ? runtime : undefined;
      let vmPosture: VmPosture | undefined;
      if (requestedBackend({ defaultBackend: env.CONTAINER_RUNTIME, runtimeOverride }) === 'virtual-machine') {
        const latest = await latestVmInstance(sql, server.id);
        vmPosture = evaluateVmPosture({
          latest: latest ?? null,
          now: new Date(),
          maxAgeSeconds: env.VM_ATTESTATION_MAX_AGE_SECONDS,
          fallback: vmFallbackBackend(server.use_gpu),
        });
      }
      // An image source has no build: its gates (promotions of its digest) see the digest it resolved to.
      const gate = await loadGateVerdict(
        sql,
        server.owner_id,
        server.server_type,
        artifact ?? (imageDigest ? { manifestDigest: imageDigest, tier: '' } : null),
      );
      const decision = decide({
        serverId: server.id,
        serverType: server.server_type,
        source,
        runtimeOverride,
        useGpu: server.use_gpu,
        defaultBackend: env.CONTAINER_RUNTIME,
        executors: offered,
        artifact: artifact
          ? { ...artifact, healthOverall: artifact.healthOverall ?? 'blocked', tier: artifact.tier ?? '' }
          : null,
        vmPosture,
        gate,
      });
      const decisionId = await recordDecision(sql, {
        serverId: server.id,
        decisionKey: input.decisionKey,
        decision,
        promotionNotes: gate.notes.filter((n) => n.startsWith('promotion:') || n.startsWith('governance:')),
      });
      return { decisionId, decision };
    },
  };
}
