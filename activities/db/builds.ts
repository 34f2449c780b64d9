// The artifact ledger: one build_artifact_runs row per build workflow run, opened first and closed
// last. Both writes are idempotent, so retried activities never duplicate a run or its platforms.
import { ApplicationFailure } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { catalogSearchText, classifyArtifact } from '../../lib/artifact-health.js';
import { combineHealth, type CredentialHealthStatus } from '../../lib/registry/credential-health.js';
import { availableParallelism } from 'node:os';
import type { BuildRun, BuildSettings, PlatformPush } from '../../workflows/build-and-publish.messages.js';

export interface BeginBuildRunInput {
  serverId: number;
  repository: string;
  branch: string;
  revision: string;
  workflowId: string;
  workflowRunId: string;
}

export interface CompleteBuildRunInput {
  runId: number;
  status: 'succeeded' | 'failed' | 'cancelled';
  failureReason?: string;
  registryImage: string | null;
  manifestDigest: string | null;
  platforms: PlatformPush[];
}

export function buildSettingsFrom(env: Env): BuildSettings {
  const targets = env.REGISTRY_ARCH_TARGETS;
  const parallelism = Math.max(1, Math.min(env.REGISTRY_BUILD_PARALLELISM ?? availableParallelism(), targets.length));
  return {
    targets,
    parallelism,
    registry: env.REGISTRY ?? null,
    cacheFrom: env.REGISTRY_BUILD_CACHE_FROM,
    noCache: env.REGISTRY_BUILD_DISABLE_CACHE,
    pushRetries: env.REGISTRY_PUSH_RETRIES,
  };
}

export function createBuildLedgerActivities(sql: Sql, env: Env) {
  return {
    async beginBuildRun(input: BeginBuildRunInput): Promise<BuildRun> {
      const settings = buildSettingsFrom(env);
      const localImage = `mcp-custom-${input.serverId}`;
      const [server] = await sql<{ owner_id: number; name: string; server_type: string }[]>`
        select owner_id, name, server_type from mcp_servers where id = ${input.serverId}`;
      if (!server) throw ApplicationFailure.nonRetryable(`server ${input.serverId} no longer exists`, ErrorType.ServerNotFound);
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
        localImage,
        sourceRepo: input.repository,
      });
      const [row] = await sql<{ id: number }[]>`
        insert into build_artifact_runs
          (server_id, workflow_id, workflow_run_id, source_repo, source_branch, source_revision, registry, local_image, status,
           owner_id, server_name, server_type, tier, health_overall, health_issues, search_text)
        values (${input.serverId}, ${input.workflowId}, ${input.workflowRunId}, ${input.repository}, ${input.branch},
                ${input.revision}, ${settings.registry}, ${localImage}, 'running', ${server.owner_id}, ${server.name},
                ${server.server_type}, ${classified.tier}, ${classified.overall}, ${classified.issues}, ${searchText})
        on conflict (workflow_id, workflow_run_id) do update set workflow_id = excluded.workflow_id
        returning id`;
      return { runId: row!.id, localImage, settings };
    },

    /** The newest succeeded build of exactly this revision, if there is one (so a start need not rebuild). */
    async findArtifact({ serverId, revision }: { serverId: number; revision: string }): Promise<{ runId: number } | null> {
      const [row] = await sql<{ id: number }[]>`
        select id from build_artifact_runs
        where server_id = ${serverId} and source_revision = ${revision} and status = 'succeeded'
        order by id desc limit 1`;
      return row ? { runId: row.id } : null;
    },

    async completeBuildRun(input: CompleteBuildRunInput): Promise<void> {
      const health = input.platforms.reduce<CredentialHealthStatus>((acc, p) => combineHealth(acc, p.credentialHealth), 'unknown');
      const any = (key: keyof PlatformPush) => input.platforms.some((p) => p[key] === true);
      await sql.begin(async (tx) => {
        const [run] = await tx<{ server_type: string; server_name: string; local_image: string; source_repo: string | null }[]>`
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
    },
  };
}

/** A failure reason as the API shows it: at most 2,000 characters. */
const boundedReason = (text: string) => (text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text);
