// Registry side of a build: push one platform image (credential probe first; Temporal retries
// transient faults; an auth failure refreshes credentials once per attempt and retries), then
// publish the manifest list and prune entries for platforms no longer built. Every step emits the
// telemetry events of the catalogue in lib/telemetry-contract.ts, with its names and keys (plus `platform`).
import { ApplicationFailure, Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import { platformSlug } from '../../lib/build/platform.js';
import { readJsonStream } from '../../lib/docker.js';
import { ErrorType } from '../../lib/errors.js';
import { RegistryClient, RegistryError, MediaType } from '../../lib/registry/client.js';
import type { CredentialHealthStatus } from '../../lib/registry/credential-health.js';
import { ownerNamespace } from '../../lib/registry/namespace.js';
import { apiBase, parseRegistry, repoPath, repositoryFor } from '../../lib/registry/reference.js';
import { isTransportFailure } from '../../lib/registry/transport-failure.js';
import type { BuildSettings, PlatformPush } from '../../workflows/build-and-publish.messages.js';
import type { Telemetry } from '../telemetry.js';
import type { CredentialManager } from './credentials.js';

export interface PushPlatformInput {
  runId: number;
  serverId: number;
  platform: string;
  localImage: string;
  settings: BuildSettings;
}

export interface PublishManifestInput {
  runId: number;
  serverId: number;
  revision: string;
  platforms: PlatformPush[];
  settings: BuildSettings;
}

/** Carried across attempts in heartbeat details: what earlier attempts already did. */
interface PushProgress {
  authRefreshAttempted: boolean;
  authRefreshSucceeded: boolean;
  authRotationAttempted: boolean;
  authRotationSucceeded: boolean;
}

type PushErrorKind = 'tag' | 'push' | 'remote' | 'auth_expired';

class PushError extends Error {
  constructor(
    readonly kind: PushErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const HEARTBEAT_MS = 2_000;

/** A server's image name below the registry: in its owner's namespace when the build knows the owner. */
const imageNameOf = ({ settings, serverId }: { settings: BuildSettings; serverId: number }) =>
  settings.ownerId === undefined
    ? `mcp-custom-${serverId}`
    : `${ownerNamespace(settings.ownerId)}/mcp-custom-${serverId}`;
/** `registry_endpoint` as the catalogue defines it: REGISTRY (scheme kept) + image name, no tag. */
const endpointOf = (registry: string, name: string) => `${registry.replace(/\/+$/, '')}/${name}`;

function isAuthFailure(code: number | undefined, message: string): boolean {
  return (
    code === 401 ||
    code === 403 ||
    /authentication required|unauthorized|token has expired|no basic auth credentials/i.test(message)
  );
}

export interface RegistryDeps {
  docker: Docker;
  telemetry: Telemetry;
  credentials: CredentialManager;
}

export function createRegistryActivities({ docker, telemetry, credentials }: RegistryDeps) {
  async function registryClient(registry: string): Promise<RegistryClient> {
    return new RegistryClient({ apiBase: apiBase(registry), credentials: await credentials.current() });
  }

  return {
    async pushPlatformImage(input: PushPlatformInput): Promise<PlatformPush> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const registry = input.settings.registry!;
      const retryLimit = input.settings.pushRetries;
      const location = parseRegistry(registry);
      const name = imageNameOf(input);
      const repository = repositoryFor(location, name);
      const tag = `latest-${platformSlug(input.platform)}`;
      const endpoint = endpointOf(registry, name);
      const log = telemetry.buildLog(input.runId, input.platform);
      const steps = telemetry.steps(input.serverId, input.runId, 'pushPlatformImage', input.platform);
      const metric = (event: string, details: Record<string, unknown>) =>
        telemetry.metric(input.serverId, input.runId, event, { ...details, platform: input.platform });
      const progress: PushProgress = {
        authRefreshAttempted: false,
        authRefreshSucceeded: false,
        authRotationAttempted: false,
        authRotationSucceeded: false,
        ...(ctx.info.heartbeatDetails as PushProgress | undefined),
      };
      const remember = () => ctx.heartbeat(progress);
      // Beat while the daemon is quiet too (a stalled upload, a slow manifest PUT): a dead worker is
      // then noticed within the heartbeat timeout, and a cancellation reaches the push.
      const beat = setInterval(remember, HEARTBEAT_MS);
      const failed = (err: PushError) =>
        metric('push_failed', {
          attempt: err.kind === 'tag' ? 0 : attempt,
          retry_limit: retryLimit,
          registry_endpoint: endpoint,
          error: err.message,
          error_kind: err.kind,
          auth_expired: err.kind === 'auth_expired',
        });

      try {
        // 1. Tag for the registry.
        log.line(`Tagging image as ${repository}:${tag}`);
        await metric('tag_started', { registry_endpoint: endpoint, tag });
        try {
          await steps.time('tag', () => docker.getImage(input.localImage).tag({ repo: repository, tag }));
        } catch (err) {
          const e = new PushError('tag', `docker tag failed: ${(err as Error).message}`);
          log.line(`Failed to tag image for registry push: ${(err as Error).message}`);
          await failed(e);
          throw ApplicationFailure.nonRetryable(e.message, ErrorType.BuildFailed);
        }
        await metric('tag_succeeded', { registry_endpoint: endpoint, tag });

        // 2. Credential health, and proactive rotation inside the lead window.
        const health = await steps.time('credential probe', () => credentials.probe());
        await metric('auth_health_reported', {
          registry_endpoint: endpoint,
          registry,
          status: health.status,
          observed_at: health.observed_at,
          expires_at: health.expires_at,
          seconds_until_expiry: health.seconds_until_expiry,
          rotation_recommended: health.rotation_recommended,
          rotation_configured: credentials.rotationConfigured,
          source_path: health.source_path,
          message: health.message,
        });
        let healthStatus: CredentialHealthStatus = health.status;
        if (health.rotation_recommended && !progress.authRotationAttempted) {
          log.line(`Registry credentials reported status '${health.status}': ${health.message}`);
          // Exactly the catalogue's keys: rotation_recommended & co. belong to auth_health_reported only.
          const rotation = { registry_endpoint: endpoint, registry, status: health.status };
          if (credentials.rotationConfigured) {
            progress.authRotationAttempted = true;
            await metric('auth_rotation_started', { ...rotation, observed_at: health.observed_at });
            try {
              await credentials.refresh();
              progress.authRotationSucceeded = true;
              healthStatus = (await credentials.probe()).status;
              await metric('auth_rotation_succeeded', { ...rotation, observed_at: new Date().toISOString() });
              log.line('Proactively rotated registry credentials');
            } catch (err) {
              await metric('auth_rotation_failed', { ...rotation, error: (err as Error).message });
              log.line(`Proactive registry credential rotation failed: ${(err as Error).message}`);
            }
            remember();
          } else {
            await metric('auth_rotation_skipped', { ...rotation, reason: 'refresher_unavailable' });
            log.line('Registry credentials flagged for rotation but no refresher is configured');
          }
        }

        // 3. Push.
        if (attempt === 1)
          await metric('push_started', { attempt, retry_limit: retryLimit, registry_endpoint: endpoint });
        log.line(`Registry push attempt ${attempt}/${retryLimit} for ${repository}`);
        const creds = await credentials.current();
        let digest: string | undefined;
        try {
          await steps.time('docker push', async () => {
            const stream = (await docker.getImage(repository).push({
              tag,
              ...(creds && {
                authconfig: { username: creds.username, password: creds.password, serveraddress: location.host },
              }),
              abortSignal: ctx.cancellationSignal,
            } as never)) as unknown as NodeJS.ReadableStream;
            let remote: PushError | undefined;
            await readJsonStream(stream, (msg) => {
              if (msg.errorDetail || msg.error) {
                const message = msg.errorDetail?.message ?? msg.error ?? 'Unknown registry error';
                const code = msg.errorDetail?.code;
                if (isAuthFailure(code, message)) {
                  remote = new PushError('auth_expired', `registry authentication expired: ${message}`);
                } else if (isTransportFailure(message)) {
                  remote = new PushError('push', `docker push failed: ${message}`);
                } else {
                  remote = new PushError(
                    'remote',
                    `registry rejected image: ${message}${code ? ` (code ${code})` : ''}`,
                  );
                }
                return;
              }
              if (msg.status) {
                const line = msg.progress ? `${msg.status} ${msg.progress}` : msg.status;
                const found = /digest: (sha256:[0-9a-f]{64})/.exec(line);
                if (found) {
                  digest = found[1];
                  log.line(`Manifest published with digest ${digest}`);
                }
                if (!msg.progress) log.line(line);
              }
              ctx.heartbeat(progress);
            });
            if (remote) throw remote;
          });
        } catch (err) {
          if (err instanceof PushError) throw err;
          // The daemon could not reach the registry, or the stream broke: worth another attempt.
          throw new PushError('push', `docker push failed: ${(err as Error).message}`);
        }
        if (!digest) throw new PushError('remote', 'registry rejected image: no digest reported for the push');

        // 4. What exactly was pushed: media type and size for the manifest list entry.
        const client = await registryClient(registry);
        const pushedDigest = digest;
        const descriptor = await steps.time('HEAD manifest', () =>
          client.headManifest(repoPath(location, name), pushedDigest),
        );
        if (!descriptor) throw new PushError('remote', `registry does not show the pushed manifest ${digest}`);
        await metric('push_succeeded', { attempt, retry_limit: retryLimit, registry_endpoint: endpoint });
        log.line(`Registry push succeeded after ${attempt} attempt(s) for ${repository}`);
        return {
          platform: input.platform,
          remoteImage: `${repository}:${tag}`,
          remoteTag: tag,
          digest,
          mediaType: descriptor.mediaType,
          size: descriptor.size,
          ...progress,
          credentialHealth: healthStatus,
        };
      } catch (err) {
        if (!(err instanceof PushError)) throw err;
        await failed(err);
        const base = { attempt, retry_limit: retryLimit, registry_endpoint: endpoint };
        if (err.kind === 'auth_expired') {
          if (!credentials.refreshConfigured)
            throw ApplicationFailure.nonRetryable(err.message, ErrorType.RegistryAuthExpired);
          progress.authRefreshAttempted = true;
          log.line('Refreshing registry credentials after authentication expiry');
          await metric('auth_refresh_started', base);
          try {
            await credentials.refresh();
          } catch (refreshErr) {
            await metric('auth_refresh_failed', { ...base, error: (refreshErr as Error).message });
            log.line('Registry auth refresh failed; aborting push');
            remember();
            throw ApplicationFailure.nonRetryable(
              `${err.message}; auth refresh failed: ${(refreshErr as Error).message}`,
              ErrorType.RegistryAuthExpired,
            );
          }
          progress.authRefreshSucceeded = true;
          await metric('auth_refresh_succeeded', base);
          remember();
          if (attempt >= retryLimit)
            throw ApplicationFailure.nonRetryable(
              `${err.message} (no attempts left after refresh)`,
              ErrorType.RegistryAuthExpired,
            );
          log.line('Registry credentials refreshed; retrying push');
          await metric('push_retry', { ...base, reason: 'auth_refresh', error: err.message });
          throw ApplicationFailure.retryable(err.message, ErrorType.RegistryAuthRefreshed);
        }
        if (err.kind === 'push') {
          remember();
          if (attempt < retryLimit)
            await metric('push_retry', { ...base, reason: 'retryable_error', error: err.message });
          throw ApplicationFailure.retryable(err.message, ErrorType.RegistryTransport);
        }
        throw ApplicationFailure.nonRetryable(err.message, ErrorType.RegistryRejected);
      } finally {
        clearInterval(beat);
        await Promise.all([log.flush(), steps.flush()]);
      }
    },

    async publishManifestList(input: PublishManifestInput): Promise<{ image: string; digest: string }> {
      const registry = input.settings.registry!;
      const location = parseRegistry(registry);
      const name = imageNameOf(input);
      const repo = repoPath(location, name);
      const endpoint = endpointOf(registry, name);
      const log = telemetry.buildLog(input.runId, null);
      const metric = (event: string, details: Record<string, unknown>) =>
        telemetry.metric(input.serverId, input.runId, event, details);
      const steps = telemetry.steps(input.serverId, input.runId, 'publishManifestList', null);
      try {
        const client = await registryClient(registry);
        const previous = await steps.time('GET previous list', () => client.listIndexPlatforms(repo, 'latest'));
        const entries = input.platforms.map((p) => {
          const [os, architecture, variant] = p.platform.split('/');
          return {
            digest: p.digest,
            size: p.size,
            mediaType: p.mediaType,
            platform: { os: os!, architecture: architecture!, variant },
          };
        });
        // An OCI index when every entry is an OCI manifest, else a Docker manifest list.
        const format = entries.every((e) => e.mediaType === MediaType.OciManifest) ? 'oci' : 'docker';
        log.line(`Publishing manifest list for ${repo}:latest`);
        const revisionTag = input.revision.slice(0, 12);
        // The same list under both tags: two independent PUTs, side by side.
        const [digest] = await steps.time('PUT :latest and :revision', () =>
          Promise.all([
            client.putIndex(repo, 'latest', entries, format),
            client.putIndex(repo, revisionTag, entries, format),
          ]),
        );
        log.line(`Manifest list published for ${repo}:latest and :${revisionTag} with digest ${digest}`);
        await metric('manifest_published', {
          registry_endpoint: endpoint,
          tag: 'latest',
          digest,
          architectures: input.platforms.map((p) => p.platform),
        });

        // Prune per-platform manifests of platforms this build no longer produces.
        const built = new Set(input.platforms.map((p) => p.platform));
        const stale = previous.filter(
          (e) => e.platform !== null && !built.has(e.platform) && !entries.some((n) => n.digest === e.digest),
        );
        for (const entry of stale) {
          const details = {
            registry_endpoint: endpoint,
            manifest_tag: 'latest',
            digest: entry.digest,
            platform: entry.platform,
          };
          await metric('manifest_prune_started', details);
          try {
            const outcome = await client.deleteManifest(repo, entry.digest);
            await metric('manifest_prune_succeeded', { ...details, status: outcome === 'deleted' ? 202 : 404 });
            log.line(`Pruned stale manifest digest ${entry.digest} for platform ${entry.platform}`);
          } catch (err) {
            const status = err instanceof RegistryError ? (err.status ?? null) : null;
            await metric('manifest_prune_failed', { ...details, status, body: (err as Error).message });
            log.line(`Failed to prune stale manifest digest ${entry.digest}: ${(err as Error).message}`);
            throw err;
          }
        }
        if (stale.length > 0) log.line('Completed manifest prune for removed architectures');
        return { image: `${repositoryFor(location, name)}:latest`, digest };
      } catch (err) {
        if (err instanceof RegistryError && (err.kind === 'auth' || err.kind === 'remote')) {
          throw ApplicationFailure.nonRetryable(`manifest publish failed: ${err.message}`, ErrorType.RegistryRejected);
        }
        throw err;
      } finally {
        await Promise.all([log.flush(), steps.flush()]);
      }
    },
  };
}
