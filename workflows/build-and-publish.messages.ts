// Contract of the buildAndPublish workflow (`build/<server>/<revision>`): its input and result, and
// the shapes passed between it and its activities (recorded in history).
import type { ResolvedPackage } from '../lib/build/dockerfile.js';
import type { PlatformRecord } from '../lib/ledger/builds.js';
import type { ServerTransport, SourceCredentials } from '../lib/schemas/servers.js';

export interface BuildInput {
  serverId: number;
  repository: string;
  branch: string;
  /**
   * The exact commit to build, resolved before the build starts (it is part of the workflow id); for a
   * package, a hash of the resolved package and everything that shapes its image.
   */
  revision: string;
  /** A private source's secret reference (never its value). */
  credentials?: SourceCredentials;
  /** A git source's build context inside the repository, and its Dockerfile relative to that. */
  directory?: string;
  dockerfile?: string;
  /** Declared by the server; labelled on the image (io.mcp-host.transport). */
  transport?: ServerTransport;
  /** A package source (npm, PyPI, Go): what was resolved, recorded in the ledger; `repository` is `<type>:<name>`. */
  package?: { resolved: ResolvedPackage; integrity: string | null };
}

export interface BuildResult {
  /** build_artifact_runs.id */
  runId: number;
  revision: string;
  localImage: string;
  /** `<registry>/owner-<owner id>/mcp-custom-<id>:latest` (the manifest list), or null without a registry. */
  registryImage: string | null;
  manifestDigest: string | null;
  platforms: string[];
}

/** The worker's build configuration, captured once per build so retries and replays agree. */
export interface BuildSettings {
  targets: string[];
  parallelism: number;
  /** The REGISTRY value (may carry http://); null = build only, push nothing. */
  registry: string | null;
  cacheFrom: string[];
  noCache: boolean;
  pushRetries: number;
  /**
   * The server's owner: images go to the owner's namespace of the registry (`owner-<id>/`), and a
   * FROM may name no other owner's. Absent in builds recorded before namespaces (they pushed to the
   * registry's top level).
   */
  ownerId?: number;
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
  /** The Dockerfile, relative to contextDir (absent in builds recorded before: `Dockerfile`). */
  dockerfile?: string;
}

export interface PlatformBuild {
  platform: string;
  localImage: string;
  imageId: string;
}

/** One pushed platform, as the ledger records it. */
export type PlatformPush = PlatformRecord;
