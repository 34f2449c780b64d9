// Credential health probe run before each platform push. Pure: the caller passes
// the clock and what it found on disk (`inspectDockerConfig`), so every row is testable.
//
// No dockerconfig configured means we know
// nothing about the credentials (the daemon may have its own), so the status is `unknown`, not
// `expired` — otherwise every build without a dockerconfig would be reported degraded.
import { findCredentials, type DockerConfigFacts } from './dockerconfig.js';
import { parseRegistry } from './reference.js';

export type CredentialHealthStatus = 'unknown' | 'healthy' | 'expiring_soon' | 'expired';

export interface CredentialHealth {
  status: CredentialHealthStatus;
  message: string;
  observed_at: string;
  expires_at: string | null;
  /** expires_at − observed_at in whole seconds (truncated); negative once expired. */
  seconds_until_expiry: number | null;
  rotation_recommended: boolean;
  source_path: string | null;
}

export interface CredentialHealthInput {
  now: Date;
  /** The `REGISTRY` value. */
  registry: string | undefined;
  /** `REGISTRY_AUTH_DOCKERCONFIG`. */
  dockerconfigPath: string | undefined;
  maxAgeSeconds: number;
  rotateLeadSeconds: number;
  /** What `inspectDockerConfig(dockerconfigPath)` found; only read when a path is configured. */
  file?: DockerConfigFacts;
}

export function assessCredentialHealth(input: CredentialHealthInput): CredentialHealth {
  const observedAt = input.now.toISOString();
  const path = input.dockerconfigPath?.trim() || null;
  const report = (
    status: CredentialHealthStatus,
    message: string,
    expiresMs: number | null = null,
  ): CredentialHealth => ({
    status,
    message,
    observed_at: observedAt,
    expires_at: expiresMs === null ? null : new Date(expiresMs).toISOString(),
    seconds_until_expiry: expiresMs === null ? null : Math.trunc((expiresMs - input.now.getTime()) / 1000),
    rotation_recommended: status === 'expired' || status === 'expiring_soon',
    source_path: path,
  });

  if (!path) return report('unknown', 'no registry credentials configured');
  let host: string;
  try {
    host = parseRegistry(input.registry ?? '').host;
  } catch {
    return report('unknown', 'Unable to derive registry host from REGISTRY value');
  }
  const file = input.file;
  if (!file) return report('unknown', 'dockerconfig was not inspected');
  if (!file.ok) return report('expired', `Failed to stat dockerconfig: ${file.error}`);
  if (!file.config) return report('expired', file.problem ?? 'dockerconfig could not be parsed');
  if (!findCredentials(file.config, host)) return report('expired', `No auth entry for ${host} in dockerconfig`);
  if (file.mtimeMs === null) return report('healthy', 'Credentials present (no modification timestamp)');

  const expiresMs = file.mtimeMs + input.maxAgeSeconds * 1000;
  const remainingMs = expiresMs - input.now.getTime();
  if (remainingMs <= 0) return report('expired', 'Credentials exceeded configured max age', expiresMs);
  if (remainingMs <= input.rotateLeadSeconds * 1000) {
    return report('expiring_soon', 'Credentials approaching rotation window', expiresMs);
  }
  return report('healthy', 'Credentials present and within rotation window', expiresMs);
}

/** Higher is worse; aggregation over platforms keeps the worst. */
export const HEALTH_SEVERITY: Record<CredentialHealthStatus, number> = {
  unknown: 0,
  healthy: 1,
  expiring_soon: 2,
  expired: 3,
};

export function combineHealth(a: CredentialHealthStatus, b: CredentialHealthStatus): CredentialHealthStatus {
  return HEALTH_SEVERITY[b] > HEALTH_SEVERITY[a] ? b : a;
}
