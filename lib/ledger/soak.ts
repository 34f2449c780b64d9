// The soak of a promotion that went active at a stage with a soak time (promotion_tracks.soak_seconds):
// which servers it watches, whether one of them failed, and what each relaunches when the promotion
// is rolled back. The servers of a stage are the track owner's servers whose type the track governs
// and whose current launch runs the promoted digest (server_runtimes → its policy decision); a server
// fails when, since the promotion went active and since it began running the digest, it went
// unhealthy or crashloop — or drifted, unless the track allows drift. Written by the promotion
// workflow's activities only, each change once per transition key.
import { ApplicationFailure } from '@temporalio/common';
import type { Sql } from '../db.js';
import { ErrorType } from '../errors.js';
import { evaluateGates, trackGoverns } from '../governance/gate.js';
import type { PromotionStatus } from '../governance/states.js';
import { gateCertifications, gatePromotions, gateTracks } from './decisions.js';

/** A server of the soaking stage that failed: the first failing status it recorded. */
export interface SoakFailure {
  serverId: number;
  status: string;
  reason: string | null;
  at: string;
}

export interface SoakPlan {
  /** 0: the stage has no soak. */
  seconds: number;
  stage: string;
}

/** Where a rolled-back stage's server goes: the artifact of the last digest active and certified there. */
export interface RollbackTarget {
  serverId: number;
  /** Null: no earlier digest qualifies, the server decides again (and its gate holds it). */
  artifactRunId: number | null;
  manifestDigest: string | null;
}

/** Statuses that fail a soak. */
const failingStatuses = (allowDrift: boolean) => ['unhealthy', 'crashloop', ...(allowDrift ? [] : ['drifted'])];

async function soakingPromotion(sql: Sql, promotionId: number) {
  const [p] = await sql<
    {
      status: PromotionStatus;
      stage: string;
      manifest_digest: string;
      track_id: number;
      tier: string;
      owner_id: number;
      allow_drift: boolean;
      soak_seconds: Record<string, number>;
      activated_at: Date | null;
    }[]
  >`
    select p.status, p.stage, p.manifest_digest, t.id as track_id, t.tier, t.owner_id, t.allow_drift, t.soak_seconds,
           p.activated_at
    from artifact_promotions p join promotion_tracks t on t.id = p.promotion_track_id
    where p.id = ${promotionId}`;
  if (!p)
    throw ApplicationFailure.nonRetryable(`promotion ${promotionId} no longer exists`, ErrorType.PromotionNotFound);
  return p;
}

/** Appends a promotion event that changes no status (its note joins the promotion's notes); once per key. */
export async function recordPromotionNote(
  sql: Sql,
  { promotionId, key, note }: { promotionId: number; key: string; note: string },
  soak?: { state: 'soaking'; seconds: number } | { state: 'passed' },
): Promise<void> {
  await sql.begin(async (tx) => {
    const [p] = await tx<{ status: PromotionStatus }[]>`
      select status from artifact_promotions where id = ${promotionId} for update`;
    if (!p)
      throw ApplicationFailure.nonRetryable(`promotion ${promotionId} no longer exists`, ErrorType.PromotionNotFound);
    const [done] = await tx`select 1 from promotion_events where transition_key = ${key}`;
    if (done) return;
    await tx`
      update artifact_promotions set notes = array_append(notes, ${note}::text),
        soak_state = coalesce(${soak?.state ?? null}::text, soak_state),
        soak_ends_at = case when ${soak?.state ?? null}::text = 'soaking'
          then now() + make_interval(secs => ${soak?.state === 'soaking' ? soak.seconds : 0}) else soak_ends_at end,
        updated_at = now()
      where id = ${promotionId}`;
    await tx`
      insert into promotion_events (promotion_id, actor_id, status, note, transition_key)
      values (${promotionId}, null, ${p.status}, ${note}, ${key})`;
  });
}

/** The soak of the promotion's stage as its track defines it now. */
export async function soakPlan(sql: Sql, promotionId: number): Promise<SoakPlan> {
  const p = await soakingPromotion(sql, promotionId);
  return { seconds: p.soak_seconds[p.stage] ?? 0, stage: p.stage };
}

interface WatchedServer {
  server_id: number;
  server_type: string;
  status: string;
  failed_status: string | null;
  failed_reason: string | null;
  failed_at: Date | null;
}

/** The servers of the promotion's stage, each with its first failure since it runs the digest under the promotion. */
async function watchedServers(sql: Sql, promotionId: number) {
  const p = await soakingPromotion(sql, promotionId);
  const rows = await sql<WatchedServer[]>`
    select s.id as server_id, s.server_type, s.status, f.status as failed_status, f.reason as failed_reason,
           f.created_at as failed_at
    from mcp_servers s
    join server_runtimes r on r.server_id = s.id
    join runtime_policy_decisions d on d.id = r.decision_id and d.manifest_digest = ${p.manifest_digest}
    -- When the server began running the digest: its first launch of it after its last launch of another.
    cross join lateral (
      select min(x.decided_at) as since from runtime_policy_decisions x
      where x.server_id = s.id and x.launchable and x.manifest_digest = ${p.manifest_digest}
        and x.id > (select coalesce(max(o.id), 0) from runtime_policy_decisions o
                    where o.server_id = s.id and o.launchable and o.manifest_digest is distinct from ${p.manifest_digest})
    ) run
    left join lateral (
      select e.status, e.reason, e.created_at from server_events e
      where e.server_id = s.id and e.event_type = 'status' and e.status = any(${failingStatuses(p.allow_drift)})
        and e.created_at >= ${p.activated_at ?? new Date(0)} and e.created_at >= coalesce(run.since, ${p.activated_at ?? new Date(0)})
      order by e.id limit 1
    ) f on true
    where s.owner_id = ${p.owner_id}
    order by s.id`;
  return { promotion: p, servers: rows.filter((r) => trackGoverns(p.tier, r.server_type)) };
}

/** The first failure among the stage's servers since the promotion went active, or undefined. */
export async function soakFailure(sql: Sql, promotionId: number): Promise<SoakFailure | undefined> {
  const { servers } = await watchedServers(sql, promotionId);
  const failed = servers
    .filter((s) => s.failed_at !== null)
    .sort((a, b) => a.failed_at!.getTime() - b.failed_at!.getTime())[0];
  return (
    failed && {
      serverId: failed.server_id,
      status: failed.failed_status!,
      reason: failed.failed_reason,
      at: failed.failed_at!.toISOString(),
    }
  );
}

/** Statuses of a server no rollback relaunches: it was stopped, or is going away. */
const AT_REST = new Set(['creating', 'ready', 'stopping', 'stopped', 'deleting']);

/**
 * What each server of the rolled-back stage relaunches: its own artifact of the digest most
 * recently made active at the stage (other than the rolled-back one, and not one whose soak failed)
 * that the launch gate would let run now — certified as every governing track requires.
 */
export async function rollbackTargets(sql: Sql, promotionId: number): Promise<RollbackTarget[]> {
  const { promotion: p, servers } = await watchedServers(sql, promotionId);
  const earlier = await sql<{ manifest_digest: string }[]>`
    select manifest_digest from artifact_promotions
    where promotion_track_id = ${p.track_id} and stage = ${p.stage} and status = 'active'
      and manifest_digest <> ${p.manifest_digest} and soak_state is distinct from 'failed'
    order by activated_at desc nulls last, id desc`;
  const tracks = await gateTracks(sql, p.owner_id);
  const targets: RollbackTarget[] = [];
  for (const server of servers.filter((s) => !AT_REST.has(s.status))) {
    let target: RollbackTarget = { serverId: server.server_id, artifactRunId: null, manifestDigest: null };
    for (const { manifest_digest: digest } of earlier) {
      const [run] = await sql<{ id: number; tier: string | null }[]>`
        select id, tier from build_artifact_runs
        where server_id = ${server.server_id} and manifest_digest = ${digest} and status = 'succeeded'
        order by id desc limit 1`;
      if (!run) continue;
      const verdict = evaluateGates({
        serverType: server.server_type,
        manifestDigest: digest,
        tier: run.tier,
        tracks,
        promotions: await gatePromotions(
          sql,
          digest,
          tracks.map((t) => t.id),
        ),
        certifications: run.tier ? await gateCertifications(sql, p.owner_id, digest, run.tier) : [],
        now: new Date(),
      });
      if (verdict.evaluationRequired || verdict.governanceRequired) continue;
      target = { serverId: server.server_id, artifactRunId: run.id, manifestDigest: digest };
      break;
    }
    targets.push(target);
  }
  return targets;
}
