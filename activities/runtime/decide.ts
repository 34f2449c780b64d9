// The policy engine's one activity: load the decision's inputs (server, artifact, executors), decide
// (pure, lib/policy/decide.ts), and record the decision — once per decision key, however often retried.
import { ApplicationFailure } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import type { KubeClient } from '../../lib/kubernetes/client.js';
import { ErrorType } from '../../lib/errors.js';
import { evaluateGates, type GateCertification, type GatePromotion, type GateTrack, type GateVerdict } from '../../lib/governance/gate.js';
import { decide, EXECUTORS, requestedBackend, type ArtifactInput, type Capability, type ExecutorDescriptor, type PolicyDecision } from '../../lib/policy/decide.js';
import { evaluateVmPosture, vmFallbackBackend, type LatestVmInstance, type VmPosture } from '../../lib/vm/posture.js';
import type { ServerSource } from '../../lib/schemas/servers.js';

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

/**
 * The Docker executor as the daemon is now: absent when the daemon does not answer (the decision
 * then says `executor:unavailable:docker`), offering GPUs only where it has the NVIDIA runtime.
 */
async function dockerExecutor(docker: Docker): Promise<ExecutorDescriptor | undefined> {
  const info = (await docker.info().catch(() => undefined)) as { Runtimes?: Record<string, unknown> } | undefined;
  if (!info) return undefined;
  const capabilities: Capability[] = ['image-build'];
  if (info.Runtimes && 'nvidia' in info.Runtimes) capabilities.push('gpu');
  return { ...EXECUTORS.docker, capabilities };
}

/** What the daemon offers changes rarely: ask it at most every few seconds, not on every decision. */
const EXECUTOR_TTL_MS = 5_000;

/** The gate's inputs: the owner's tracks, the artifact's promotions on them, its certifications. */
async function loadGate(sql: Sql, ownerId: number, serverType: string, artifact: Pick<ArtifactInput, 'manifestDigest' | 'tier'> | null): Promise<GateVerdict> {
  const tracks = await sql<GateTrack[]>`
    select id, name, tier, stages, launch_stage as "launchStage", required_certifications as "requiredCertifications"
    from promotion_tracks where owner_id = ${ownerId}`;
  const digest = artifact?.manifestDigest ?? null;
  const tier = artifact?.tier ?? null;
  const promotions = digest && tracks.length
    ? (
        await sql<(Omit<GatePromotion, 'workflowRunId'> & { workflowRunId: string | null })[]>`
          select promotion_track_id as "trackId", stage, status, workflow_run_id as "workflowRunId", notes, updated_at as "updatedAt"
          from artifact_promotions
          where manifest_digest = ${digest} and promotion_track_id in ${sql(tracks.map((t) => t.id))}`
      ).map((p) => ({ ...p, workflowRunId: p.workflowRunId === null ? null : Number(p.workflowRunId) }))
    : [];
  const certifications = digest && tier
    ? (
        await sql<(Omit<GateCertification, 'refreshCadenceSeconds'> & { refreshCadenceSeconds: string | null })[]>`
          select policy_requirement as "policyRequirement", status, valid_from as "validFrom", valid_until as "validUntil",
                 refresh_cadence_seconds as "refreshCadenceSeconds", next_refresh_at as "nextRefreshAt", evidence_source as "evidenceSource"
          from evaluation_certifications
          where owner_id = ${ownerId} and manifest_digest = ${digest} and tier = ${tier}`
      ).map((c) => ({ ...c, refreshCadenceSeconds: c.refreshCadenceSeconds === null ? null : Number(c.refreshCadenceSeconds) }))
    : [];
  return evaluateGates({ serverType, manifestDigest: digest, tier, tracks, promotions, certifications, now: new Date() });
}

/** Caches an executor probe for EXECUTOR_TTL_MS. */
function cachedProbe(probe: () => Promise<ExecutorDescriptor | undefined>) {
  let cached: { at: number; executor: ExecutorDescriptor | undefined } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > EXECUTOR_TTL_MS) cached = { at: Date.now(), executor: await probe() };
    return cached.executor;
  };
}

export function createDecisionActivities(sql: Sql, env: Env, docker: Docker, kube?: KubeClient) {
  const currentDockerExecutor = cachedProbe(() => dockerExecutor(docker));
  // CONTAINER_RUNTIME=kubernetes registers the cluster while its API server answers.
  const currentKubernetesExecutor = cachedProbe(async () =>
    env.CONTAINER_RUNTIME === 'kubernetes' && kube && (await kube.reachable()) ? EXECUTORS.kubernetes : undefined,
  );
  return {
    async decideLaunch(input: DecideLaunchInput): Promise<RecordedDecision> {
      const [server] = await sql<{ id: number; owner_id: number; server_type: string; source: ServerSource; config: Record<string, unknown>; use_gpu: boolean }[]>`
        select id, owner_id, server_type, source, config, use_gpu from mcp_servers where id = ${input.serverId}`;
      if (!server) throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
      const [artifact] = await sql<ArtifactInput[]>`
        select id as "runId", status, manifest_digest as "manifestDigest", registry_image as "registryImage",
               local_image as "localImage", tier, health_overall as "healthOverall"
        from build_artifact_runs
        where server_id = ${input.serverId}
          ${input.artifactRunId === undefined ? sql`` : sql`and id = ${input.artifactRunId}`}
        order by id desc limit 1`;
      // CONTAINER_RUNTIME=virtual-machine or kubernetes registers that executor, docker staying as the fallback.
      const executors = [
        await currentDockerExecutor(),
        await currentKubernetesExecutor(),
        env.CONTAINER_RUNTIME === 'virtual-machine' ? EXECUTORS['virtual-machine'] : undefined,
      ].filter(
        (e): e is ExecutorDescriptor => e !== undefined,
      );
      const runtime = server.config.runtime;
      const runtimeOverride = typeof runtime === 'string' ? runtime : undefined;
      let vmPosture: VmPosture | undefined;
      if (requestedBackend({ defaultBackend: env.CONTAINER_RUNTIME, runtimeOverride }) === 'virtual-machine') {
        const [latest] = await sql<LatestVmInstance[]>`
          select attestation_status as "attestationStatus", updated_at as "updatedAt", terminated_at as "terminatedAt"
          from runtime_vm_instances where server_id = ${server.id}
          order by created_at desc, id desc limit 1`;
        vmPosture = evaluateVmPosture({
          latest: latest ?? null,
          now: new Date(),
          maxAgeSeconds: env.VM_ATTESTATION_MAX_AGE_SECONDS,
          fallback: vmFallbackBackend(server.use_gpu),
        });
      }
      const gate = await loadGate(sql, server.owner_id, server.server_type, artifact ?? null);
      const decision = decide({
        serverId: server.id,
        serverType: server.server_type,
        source: server.source.type === 'image' ? { type: 'image', image: server.source.image } : { type: 'git' },
        runtimeOverride,
        useGpu: server.use_gpu,
        defaultBackend: env.CONTAINER_RUNTIME,
        executors,
        artifact: artifact ? { ...artifact, healthOverall: artifact.healthOverall ?? 'blocked', tier: artifact.tier ?? '' } : null,
        vmPosture,
        gate,
      });
      const [row] = await sql<{ id: number }[]>`
        insert into runtime_policy_decisions
          (server_id, decision_key, backend, candidate_backend, image, requires_build, artifact_run_id, manifest_digest,
           policy_version, evaluation_required, governance_required, tier, health_overall, notes, capability_requirements,
           capabilities_satisfied, executor_name, launchable, governance_run_id, promotion_track_id, promotion_stage,
           promotion_status, promotion_notes)
        values (${server.id}, ${input.decisionKey}, ${decision.backend}, ${decision.candidateBackend}, ${decision.image},
                ${decision.requiresBuild}, ${decision.artifactRunId}, ${decision.manifestDigest}, ${decision.policyVersion},
                ${decision.evaluationRequired}, ${decision.governanceRequired}, ${decision.tier}, ${decision.healthOverall},
                ${sql.json(decision.notes)}, ${sql.json(decision.capabilityRequirements)}, ${decision.capabilitiesSatisfied},
                ${decision.executorName}, ${decision.launchable}, ${decision.promotion?.workflowRunId ?? null},
                ${decision.promotion?.trackId ?? null}, ${decision.promotion?.stage ?? null}, ${decision.promotion?.status ?? null},
                ${gate.notes.filter((n) => n.startsWith('promotion:') || n.startsWith('governance:'))})
        on conflict (decision_key) do update set decision_key = excluded.decision_key -- a retry: the recorded id
        returning id`;
      return { decisionId: row!.id, decision };
    },
  };
}
