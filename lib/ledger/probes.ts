// The health probes of supervised servers (server_probes): written by the serverLifecycle
// workflow's probe activity, once per probe key, and read by `GET /api/servers/:id` (the last few,
// newest first). Only the latest PROBES_KEPT of a server are kept: the table is a window, not a log
// (every status change a probe causes is a server_events row).
import type { Sql } from '../db.js';
import type { SurfaceTool } from '../runtime/tool-surface.js';

/** How many probes of each server stay in the table. */
export const PROBES_KEPT = 50;

export interface ProbeRecord {
  serverId: number;
  probeKey: string;
  ok: boolean;
  method: 'ping' | 'tools/list' | 'instance state';
  latencyMs: number | null;
  error: string | null;
  toolsDigest: string | null;
}

export interface ProbeRow {
  ok: boolean;
  method: string;
  latency_ms: number | null;
  error: string | null;
  tools_digest: string | null;
  probed_at: Date;
}

/** Records the probe (a retried activity writes it once) and drops the server's older ones. */
export async function recordProbe(sql: Sql, p: ProbeRecord): Promise<void> {
  await sql.begin(async (tx) => {
    const inserted = await tx`
      insert into server_probes (server_id, probe_key, ok, method, latency_ms, error, tools_digest)
      select ${p.serverId}, ${p.probeKey}, ${p.ok}, ${p.method}, ${p.latencyMs}, ${p.error}, ${p.toolsDigest}
      where exists (select 1 from mcp_servers where id = ${p.serverId})
      on conflict (probe_key) do nothing
      returning id`;
    if (inserted.length === 0) return;
    await tx`
      delete from server_probes where server_id = ${p.serverId} and id not in (
        select id from server_probes where server_id = ${p.serverId} order by id desc limit ${PROBES_KEPT})`;
  });
}

/** The server's latest probes, newest first, as the API answers them. */
export async function lastProbes(sql: Sql, serverId: number, limit: number) {
  const rows = await sql<ProbeRow[]>`
    select ok, method, latency_ms, error, tools_digest, probed_at from server_probes
    where server_id = ${serverId} order by id desc limit ${limit}`;
  return rows.map((r) => ({ ...r, probed_at: r.probed_at.toISOString() }));
}

export interface CertifiedSurface {
  certificationId: number;
  manifestDigest: string;
  digest: string;
  tools: SurfaceTool[];
}

/**
 * The tool surface the server was certified with: that of a passing automatic certification of the
 * digest it runs, else of the latest one of any of its artifacts (a rebuild launched without a new
 * certification is compared with what was certified before it). Undefined: never certified.
 */
export async function certifiedSurface(sql: Sql, serverId: number): Promise<CertifiedSurface | undefined> {
  const [row] = await sql<{ id: number; manifest_digest: string; digest: string; tools: SurfaceTool[] }[]>`
    select c.id, c.manifest_digest, c.evidence->>'surface_digest' as digest, c.evidence->'surface' as tools
    from evaluation_certifications c
    join build_artifact_runs r on r.id = c.build_artifact_run_id
    left join server_runtimes rt on rt.server_id = r.server_id
    where r.server_id = ${serverId} and c.status = 'pass' and c.evidence ? 'surface_digest'
    order by (c.manifest_digest = split_part(coalesce(rt.image, ''), '@', 2)) desc, c.updated_at desc, c.id desc
    limit 1`;
  return row && { certificationId: row.id, manifestDigest: row.manifest_digest, digest: row.digest, tools: row.tools };
}
