// The artifact ledger (lib/ledger/builds.ts) as the buildAndPublish workflow's activities: one
// build_artifact_runs row per build workflow run, opened first and closed last.
import { availableParallelism } from 'node:os';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import {
  completeBuildRun,
  findArtifact,
  openBuildRun,
  type CompleteBuildRunInput,
  type OpenRunInput,
} from '../../lib/ledger/builds.js';
import type { BuildRun, BuildSettings } from '../../workflows/build-and-publish.messages.js';

export type BeginBuildRunInput = Omit<OpenRunInput, 'registry' | 'localImage'>;

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
      const { id: runId, ownerId } = await openBuildRun(sql, { ...input, registry: settings.registry, localImage });
      // The build pushes into its owner's namespace of the registry, and may use no other owner's images.
      return { runId, localImage, settings: { ...settings, ownerId } };
    },

    /** The newest succeeded build of exactly this revision, if there is one (so a start need not rebuild). */
    findArtifact: (input: { serverId: number; revision: string }): Promise<{ runId: number } | null> =>
      findArtifact(sql, input),

    completeBuildRun: (input: CompleteBuildRunInput): Promise<void> => completeBuildRun(sql, input),
  };
}
