// Shapes passed between the buildAndPublish workflow and its activities (recorded in history).
import type { CredentialHealthStatus } from '../../lib/registry/credential-health.js';

/** The worker's build configuration, captured once per build so retries and replays agree. */
export interface BuildSettings {
  targets: string[];
  parallelism: number;
  /** The REGISTRY value (may carry http://); null = build only, push nothing. */
  registry: string | null;
  cacheFrom: string[];
  noCache: boolean;
  pushRetries: number;
}

export interface BuildRun {
  runId: number;
  /** `mcp-custom-<server id>` */
  localImage: string;
  settings: BuildSettings;
}

export interface PreparedSource {
  contextDir: string;
  revision: string;
  dockerfileGenerated: boolean;
}

export interface PlatformBuild {
  platform: string;
  localImage: string;
  imageId: string;
}

export interface PlatformPush {
  platform: string;
  /** repository:tag without scheme, e.g. 127.0.0.1:5000/mcp/mcp-custom-3:latest-linux_amd64 */
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

/** `linux/arm64/v8` → `linux_arm64_v8`, as image tags and local names use it. */
export function platformSlug(platform: string): string {
  return platform.replace(/[/:\\]/g, '_');
}
