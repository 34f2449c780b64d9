// Shapes passed between the buildAndPublish workflow and its activities (recorded in history).
import type { PlatformRecord } from '../../lib/ledger/builds.js';

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

/** One pushed platform, as the ledger records it. */
export type PlatformPush = PlatformRecord;

/** `linux/arm64/v8` → `linux_arm64_v8`, as image tags and local names use it. */
export function platformSlug(platform: string): string {
  return platform.replace(/[/:\\]/g, '_');
}
