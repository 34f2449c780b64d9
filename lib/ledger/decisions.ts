// The policy engine's ledger: what a launch decision reads (the server, its artifact, the owner's
// promotion tracks with the artifact's promotions and certifications) and the decision it records
// in runtime_policy_decisions, once per decision key.
import type { Sql } from '../db.js';
import {
  evaluateGates,
  type GateCertification,
  type GatePromotion,
  type GateTrack,
  type GateVerdict,
} from '../governance/gate.js';
import type { ArtifactInput, PolicyDecision } from '../policy/decide.js';
import type { ServerSource } from '../schemas/servers.js';

export interface LaunchServerRow {
  id: number;
  owner_id: number;
  server_type: string;
  source: ServerSource;
  config: Record<string, unknown>;
  use_gpu: boolean;
}

/** The server a launch is decided for; undefined once it is deleted. */
export async function launchServer(sql: Sql, serverId: number): Promise<LaunchServerRow | undefined> {
  const [server] = await sql<LaunchServerRow[]>`
    select id, owner_id, server_type, source, config, use_gpu from mcp_servers where id = ${serverId}`;
  return server;
}

/** The build run a launch follows: `runId` when given, else the server's latest run. */
export async function launchArtifact(sql: Sql, serverId: number, runId?: number): Promise<ArtifactInput | undefined> {
  const [artifact] = await sql<ArtifactInput[]>`
    select id as "runId", status, manifest_digest as "manifestDigest", registry_image as "registryImage",
           local_image as "localImage", tier, health_overall as "healthOverall"
    from build_artifact_runs
    where server_id = ${serverId}
      ${runId === undefined ? sql`` : sql`and id = ${runId}`}
    order by id desc limit 1`;
  return artifact;
}

/** The owner's promotion tracks, as the gate reads them. */
export function gateTracks(sql: Sql, ownerId: number): Promise<GateTrack[]> {
  return sql<GateTrack[]>`
    select id, name, tier, stages, launch_stage as "launchStage", required_certifications as "requiredCertifications"
    from promotion_tracks where owner_id = ${ownerId}`;
}

/** The digest's promotions on the given tracks (at least one). */
export async function gatePromotions(sql: Sql, digest: string, trackIds: number[]): Promise<GatePromotion[]> {
  const rows = await sql<(Omit<GatePromotion, 'workflowRunId'> & { workflowRunId: string | null })[]>`
    select id, promotion_track_id as "trackId", stage, status, workflow_run_id as "workflowRunId", notes, updated_at as "updatedAt"
    from artifact_promotions
    where manifest_digest = ${digest} and promotion_track_id in ${sql(trackIds)}`;
  return rows.map((p) => ({ ...p, workflowRunId: p.workflowRunId === null ? null : Number(p.workflowRunId) }));
}

/** The owner's certifications of the digest at the tier. */
export async function gateCertifications(
  sql: Sql,
  ownerId: number,
  digest: string,
  tier: string,
): Promise<GateCertification[]> {
  const rows = await sql<
    (Omit<GateCertification, 'refreshCadenceSeconds'> & { refreshCadenceSeconds: string | null })[]
  >`
    select id, policy_requirement as "policyRequirement", status, valid_from as "validFrom", valid_until as "validUntil",
           refresh_cadence_seconds as "refreshCadenceSeconds", next_refresh_at as "nextRefreshAt", evidence_source as "evidenceSource"
    from evaluation_certifications
    where owner_id = ${ownerId} and manifest_digest = ${digest} and tier = ${tier}`;
  return rows.map((c) => ({
    ...c,
    refreshCadenceSeconds: c.refreshCadenceSeconds === null ? null : Number(c.refreshCadenceSeconds),
  }));
}

/**
 * The gate's inputs — the owner's tracks, the artifact's promotions on them, its certifications —
 * judged now: what the launch decision records, and what the API shows as a server's gates.
 */
export async function loadGateVerdict(
  sql: Sql,
  ownerId: number,
  serverType: string,
  artifact: { manifestDigest: string | null; tier: string | null } | null,
): Promise<GateVerdict> {
  const tracks = await gateTracks(sql, ownerId);
  const digest = artifact?.manifestDigest ?? null;
  const tier = artifact?.tier ?? null;
  const promotions =
    digest && tracks.length
      ? await gatePromotions(
          sql,
          digest,
          tracks.map((t) => t.id),
        )
      : [];
  const certifications = digest && tier ? await gateCertifications(sql, ownerId, digest, tier) : [];
  return evaluateGates({
    serverType,
    manifestDigest: digest,
    tier,
    tracks,
    promotions,
    certifications,
    now: new Date(),
  });
}

export interface NewDecision {
  serverId: number;
  decisionKey: string;
  decision: PolicyDecision;
  /** The gate's promotion and governance notes. */
  promotionNotes: string[];
}

/** Records the decision once per decision key; a retry gets the recorded id. */
export async function recordDecision(
  sql: Sql,
  { serverId, decisionKey, decision, promotionNotes }: NewDecision,
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into runtime_policy_decisions
      (server_id, decision_key, backend, candidate_backend, image, requires_build, artifact_run_id, manifest_digest,
       policy_version, evaluation_required, governance_required, tier, health_overall, notes, capability_requirements,
       capabilities_satisfied, executor_name, launchable, governance_run_id, promotion_track_id, promotion_stage,
       promotion_status, promotion_notes)
    values (${serverId}, ${decisionKey}, ${decision.backend}, ${decision.candidateBackend}, ${decision.image},
            ${decision.requiresBuild}, ${decision.artifactRunId}, ${decision.manifestDigest}, ${decision.policyVersion},
            ${decision.evaluationRequired}, ${decision.governanceRequired}, ${decision.tier}, ${decision.healthOverall},
            ${sql.json(decision.notes)}, ${sql.json(decision.capabilityRequirements)}, ${decision.capabilitiesSatisfied},
            ${decision.executorName}, ${decision.launchable}, ${decision.promotion?.workflowRunId ?? null},
            ${decision.promotion?.trackId ?? null}, ${decision.promotion?.stage ?? null}, ${decision.promotion?.status ?? null},
            ${promotionNotes})
    on conflict (decision_key) do update set decision_key = excluded.decision_key -- a retry: the recorded id
    returning id`;
  return row!.id;
}

/**
 * What the server's gates are judged on: the artifact of its latest decision (an image source's is
 * the digest its tag resolved to then), or its latest build before any decision.
 */
export async function gateArtifactOf(
  sql: Sql,
  serverId: number,
): Promise<{ decisionId: number | null; runId: number | null; manifestDigest: string | null; tier: string | null }> {
  const [decision] = await sql<
    { id: number; artifact_run_id: number | null; manifest_digest: string | null; tier: string | null }[]
  >`
    select id, artifact_run_id, manifest_digest, tier from runtime_policy_decisions
    where server_id = ${serverId} order by id desc limit 1`;
  if (decision)
    return {
      decisionId: decision.id,
      runId: decision.artifact_run_id,
      manifestDigest: decision.manifest_digest,
      tier: decision.tier,
    };
  const artifact = await launchArtifact(sql, serverId);
  return {
    decisionId: null,
    runId: artifact?.runId ?? null,
    manifestDigest: artifact?.manifestDigest ?? null,
    tier: artifact?.tier ?? null,
  };
}
