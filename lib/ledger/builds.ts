// The builds aggregate: build_artifact_runs (one row per build workflow run, opened first and closed
// last), its platforms and its log lines. The buildAndPublish workflow's activities write it, both
// writes idempotent, so retried activities never duplicate a run or its platforms; the API reads.
import { ApplicationFailure } from '@temporalio/common';
import type { ResolvedPackage } from '../build/dockerfile.js';
import { catalogSearchText, classifyArtifact } from '../artifact-health.js';
import type { Sql } from '../db.js';
import { ErrorType, notFound } from '../errors.js';
import { combineHealth, type CredentialHealthStatus } from '../registry/credential-health.js';
import type { BuildRun } from '../schemas/builds.js';
import { ownedBy, type OwnerScope } from './scope.js';

export type RunRow = Omit<BuildRun, 'started_at' | 'completed_at' | 'platforms'> & {
  started_at: Date;
  completed_at: Date | null;
  created_at: Date;
  /** The Temporal run id of the build workflow. */
  workflow_run_id: string;
};
type PlatformRow = BuildRun['platforms'][number] & { run_id: number };

export interface BuildLogRow {
  id: number;
  run_id: number;
  platform: string | null;
  line: string;
  created_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const toLogLine = (r: BuildLogRow) => ({
  id: r.id,
  platform: r.platform,
  line: r.line,
  at: r.created_at.toISOString(),
});

/** Runs with their platforms, in two queries whatever the number of runs. */
export async function withPlatforms(sql: Sql, runs: RunRow[]): Promise<BuildRun[]> {
  const ids = runs.map((r) => r.id);
  const platforms = ids.length
    ? await sql<PlatformRow[]>`select * from build_artifact_platforms where run_id in ${sql(ids)} order by platform`
    : [];
  return runs.map(({ created_at: _c, workflow_run_id: _w, ...run }) => ({
    ...run,
    started_at: run.started_at.toISOString(),
    completed_at: iso(run.completed_at),
    platforms: platforms.filter((p) => p.run_id === run.id).map(({ run_id: _r, ...p }) => p),
  }));
}

/** The run if its server's owner is in the scope; another owner's is a 404. */
export async function findRun(sql: Sql, id: number, scope: OwnerScope): Promise<RunRow> {
  const [run] = await sql<RunRow[]>`
    select r.* from build_artifact_runs r join mcp_servers s on s.id = r.server_id
    where r.id = ${id} ${ownedBy(sql, scope, 's.owner_id')}`;
  if (!run) throw notFound(`build ${id}`);
  return run;
}

/** A server's runs, newest first (`before` pages back). */
export function serverRuns(sql: Sql, serverId: number, page: { before?: number; limit?: number }): Promise<RunRow[]> {
  return sql<RunRow[]>`
    select * from build_artifact_runs
    where server_id = ${serverId} ${page.before === undefined ? sql`` : sql`and id < ${page.before}`}
    order by id desc limit ${page.limit ?? 50}`;
}

/** The newest run of the owner's that published `digest` (and is `runId`, when given). */
export async function ownerArtifact(
  sql: Sql,
  ownerId: number,
  digest: string,
  runId?: number,
): Promise<{ id: number } | undefined> {
  const [artifact] = await sql<{ id: number }[]>`
    select r.id from build_artifact_runs r join mcp_servers s on s.id = r.server_id
    where s.owner_id = ${ownerId} and r.manifest_digest = ${digest}
      ${runId === undefined ? sql`` : sql`and r.id = ${runId}`}
    order by r.id desc limit 1`;
  return artifact;
}

/** A run's log lines after `after`, oldest first. */
export function logLinesAfter(sql: Sql, runId: number, after: number, limit: number): Promise<BuildLogRow[]> {
  return sql<
    BuildLogRow[]
  >`select * from build_logs where run_id = ${runId} and id > ${after} order by id limit ${limit}`;
}

/** Whether the run has ended (or is gone). */
export async function runEnded(sql: Sql, runId: number): Promise<boolean> {
  const [row] = await sql<{ status: string }[]>`select status from build_artifact_runs where id = ${runId}`;
  return !row || row.status !== 'running';
}

// Written by the buildAndPublish workflow's activities only.

export interface OpenRunInput {
  serverId: number;
  repository: string;
  branch: string;
  revision: string;
  workflowId: string;
  workflowRunId: string;
  registry: string | null;
  localImage: string;
  /** A package source's build: what was resolved (type, name, exact version, integrity). */
  package?: { resolved: ResolvedPackage; integrity: string | null };
}

/** Opens the run's row (once per workflow run); its id, and the owner of its server. */
export async function openBuildRun(sql: Sql, input: OpenRunInput): Promise<{ id: number; ownerId: number }> {
  const [server] = await sql<{ owner_id: number; name: string; server_type: string }[]>`
    select owner_id, name, server_type from mcp_servers where id = ${input.serverId}`;
  if (!server)
    throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
  const pkg = input.package?.resolved;
  // A running build, in the catalog's own vocabulary (blocked until it succeeds).
  const classified = classifyArtifact({
    status: 'running',
    credential_health_status: 'unknown',
    multi_arch: false,
    server_type: server.server_type,
    platforms: [],
  });
  const searchText = catalogSearchText({
    serverName: server.name,
    manifestTag: null,
    manifestDigest: null,
    registryImage: null,
    localImage: input.localImage,
    sourceRepo: input.repository,
  });
  const [row] = await sql<{ id: number }[]>`
    insert into build_artifact_runs
      (server_id, workflow_id, workflow_run_id, source_repo, source_branch, source_revision, registry, local_image, status,
       owner_id, server_name, server_type, tier, health_overall, health_issues, search_text,
       package_type, package_name, package_version, package_integrity)
    values (${input.serverId}, ${input.workflowId}, ${input.workflowRunId}, ${input.repository}, ${input.branch},
            ${input.revision}, ${input.registry}, ${input.localImage}, 'running', ${server.owner_id}, ${server.name},
            ${server.server_type}, ${classified.tier}, ${classified.overall}, ${classified.issues}, ${searchText},
            ${pkg?.type ?? null}, ${pkg ? (pkg.type === 'go' ? pkg.module : pkg.name) : null}, ${pkg?.version ?? null},
            ${input.package?.integrity ?? null})
    on conflict (workflow_id, workflow_run_id) do update set workflow_id = excluded.workflow_id
    returning id`;
  return { id: row!.id, ownerId: server.owner_id };
}

/** The newest succeeded build of exactly this revision, if there is one (so a start need not rebuild). */
export async function findArtifact(
  sql: Sql,
  { serverId, revision }: { serverId: number; revision: string },
): Promise<{ runId: number } | null> {
  const [row] = await sql<{ id: number }[]>`
    select id from build_artifact_runs
    where server_id = ${serverId} and source_revision = ${revision} and status = 'succeeded'
    order by id desc limit 1`;
  return row ? { runId: row.id } : null;
}

/** One pushed platform of a run. */
export interface PlatformRecord {
  platform: string;
  /** repository:tag without scheme, e.g. 127.0.0.1:5000/mcp/owner-2/mcp-custom-3:latest-linux_amd64 */
  remoteImage: string;
  remoteTag: string;
  digest: string;
  mediaType: string;
  size: number;
  authRefreshAttempted: boolean;
  authRefreshSucceeded: boolean;
  authRotationAttempted: boolean;
  authRotationSucceeded: boolean;
  credentialHealth: CredentialHealthStatus;
}

export interface CompleteBuildRunInput {
  runId: number;
  status: 'succeeded' | 'failed' | 'cancelled';
  failureReason?: string;
  registryImage: string | null;
  manifestDigest: string | null;
  platforms: PlatformRecord[];
}

/** Closes a running run with its outcome and platforms; a closed run is left as it is. */
export async function completeBuildRun(sql: Sql, input: CompleteBuildRunInput): Promise<void> {
  const health = input.platforms.reduce<CredentialHealthStatus>(
    (acc, p) => combineHealth(acc, p.credentialHealth),
    'unknown',
  );
  const any = (key: keyof PlatformRecord) => input.platforms.some((p) => p[key] === true);
  await sql.begin(async (tx) => {
    const [run] = await tx<
      { server_type: string; server_name: string; local_image: string; source_repo: string | null }[]
    >`
      select server_type, server_name, local_image, source_repo from build_artifact_runs where id = ${input.runId}`;
    const classified = classifyArtifact({
      status: input.status,
      credential_health_status: health,
      multi_arch: input.platforms.length > 1,
      server_type: run?.server_type ?? '',
      platforms: input.platforms.map((p) => ({ platform: p.platform, credential_health_status: p.credentialHealth })),
    });
    const searchText = catalogSearchText({
      serverName: run?.server_name,
      manifestTag: input.registryImage ? 'latest' : null,
      manifestDigest: input.manifestDigest,
      registryImage: input.registryImage,
      localImage: run?.local_image,
      sourceRepo: run?.source_repo,
    });
    // Only a running row is closed: a retried completion finds it closed and changes nothing.
    const updated = await tx`
      update build_artifact_runs set
        status = ${input.status},
        failure_reason = ${input.failureReason === undefined ? null : boundedReason(input.failureReason)},
        completed_at = now(),
        registry_image = ${input.registryImage},
        manifest_tag = ${input.registryImage ? 'latest' : null},
        manifest_digest = ${input.manifestDigest},
        multi_arch = ${input.platforms.length > 1},
        auth_refresh_attempted = ${any('authRefreshAttempted')},
        auth_refresh_succeeded = ${any('authRefreshSucceeded')},
        auth_rotation_attempted = ${any('authRotationAttempted')},
        auth_rotation_succeeded = ${any('authRotationSucceeded')},
        credential_health_status = ${health},
        tier = ${classified.tier},
        health_overall = ${classified.overall},
        health_issues = ${classified.issues},
        search_text = ${searchText}
      where id = ${input.runId} and status = 'running'
      returning id`;
    if (updated.length === 0) return;
    for (const p of input.platforms) {
      await tx`
        insert into build_artifact_platforms
          (run_id, platform, remote_image, remote_tag, digest, media_type, size, auth_refresh_attempted,
           auth_refresh_succeeded, auth_rotation_attempted, auth_rotation_succeeded, credential_health_status)
        values (${input.runId}, ${p.platform}, ${p.remoteImage}, ${p.remoteTag}, ${p.digest}, ${p.mediaType}, ${p.size},
                ${p.authRefreshAttempted}, ${p.authRefreshSucceeded}, ${p.authRotationAttempted}, ${p.authRotationSucceeded},
                ${p.credentialHealth})
        on conflict (run_id, platform) do nothing`;
    }
  });
}

/** Appends log lines of a build (and platform). */
export async function appendLogLines(sql: Sql, runId: number, platform: string | null, lines: string[]): Promise<void> {
  const rows = lines.map((line) => ({ run_id: runId, platform, line }));
  await sql`insert into build_logs ${sql(rows, 'run_id', 'platform', 'line')}`;
}

/** A failure reason as the API shows it: at most 2,000 characters. */
const boundedReason = (text: string) => (text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text);
