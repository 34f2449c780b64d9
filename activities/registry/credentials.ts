// Registry credentials as the worker sees them: the dockerconfig file (re-read on every use, so an
// outside rotation takes effect at once), its health, and the refresher: run the configured
// REGISTRY_AUTH_REFRESH_COMMAND (when set), then re-read the file.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { childToolEnv, type Env } from '../../lib/env.js';
import { assessCredentialHealth, type CredentialHealth } from '../../lib/registry/credential-health.js';
import { inspectDockerConfig, loadCredentials, type RegistryCredentials } from '../../lib/registry/dockerconfig.js';
import { parseRegistry } from '../../lib/registry/reference.js';

const exec = promisify(execFile);

export interface CredentialSettings {
  registry: string | undefined;
  dockerconfigPath: string | undefined;
  maxAgeSeconds: number;
  rotateLeadSeconds: number;
  refreshCommand: string | undefined;
}

export interface CredentialManager {
  /** A refresh after an auth failure is possible (a dockerconfig to re-read). */
  readonly refreshConfigured: boolean;
  /** Proactive rotation is possible (a refresh command that produces new credentials). */
  readonly rotationConfigured: boolean;
  probe(now?: Date): Promise<CredentialHealth>;
  current(): Promise<RegistryCredentials | undefined>;
  refresh(): Promise<void>;
}

export function createCredentialManager(settings: CredentialSettings): CredentialManager {
  const host = () => parseRegistry(settings.registry ?? '').host;
  const path = settings.dockerconfigPath;
  /** The refresh under way: concurrent callers (platforms failing at once) share one run of the command. */
  let refreshing: Promise<void> | undefined;
  async function refreshNow(): Promise<void> {
    if (!path) throw new Error('no REGISTRY_AUTH_DOCKERCONFIG to refresh');
    if (settings.refreshCommand) {
      try {
        // Output is never logged: refresh commands print tokens.
        await exec('/bin/sh', ['-c', settings.refreshCommand], { timeout: 120_000, env: childToolEnv() });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        throw new Error(`refresh command failed (exit ${String(code ?? 'unknown')})`);
      }
    }
    if (!(await loadCredentials(path, host()))) throw new Error(`no auth entry for ${host()} after refresh`);
  }
  return {
    refreshConfigured: Boolean(path),
    rotationConfigured: Boolean(path && settings.refreshCommand),
    async probe(now = new Date()) {
      return assessCredentialHealth({
        now,
        registry: settings.registry,
        dockerconfigPath: path,
        maxAgeSeconds: settings.maxAgeSeconds,
        rotateLeadSeconds: settings.rotateLeadSeconds,
        file: path ? await inspectDockerConfig(path) : undefined,
      });
    },
    async current() {
      if (!path || !settings.registry) return undefined;
      return loadCredentials(path, host());
    },
    refresh() {
      refreshing ??= refreshNow().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },
  };
}

/** The credential manager of REGISTRY and REGISTRY_AUTH_*; one per process, shared by every activity. */
export function credentialsFromEnv(env: Env): CredentialManager {
  return createCredentialManager({
    registry: env.REGISTRY,
    dockerconfigPath: env.REGISTRY_AUTH_DOCKERCONFIG,
    maxAgeSeconds: env.REGISTRY_AUTH_MAX_AGE_SECONDS,
    rotateLeadSeconds: env.REGISTRY_AUTH_ROTATE_LEAD_SECONDS,
    refreshCommand: env.REGISTRY_AUTH_REFRESH_COMMAND,
  });
}
