// Contract of the buildAndPublish workflow (`build/<server>/<revision>`).

export interface BuildInput {
  serverId: number;
  repository: string;
  branch: string;
  /** The exact commit to build, resolved before the build starts (it is part of the workflow id). */
  revision: string;
}

export interface BuildResult {
  /** build_artifact_runs.id */
  runId: number;
  revision: string;
  localImage: string;
  /** `<registry>/mcp-custom-<id>:latest` (the manifest list), or null without a registry. */
  registryImage: string | null;
  manifestDigest: string | null;
  platforms: string[];
}
