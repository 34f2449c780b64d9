// mcp-host's catalog as the official MCP registry API shows it: each succeeded build of a hosted
// server is one version of it, named and numbered so a registry client can browse, page and fetch
// them; what only mcp-host knows goes under `_meta["dev.mcp-host/catalog"]`. Pure mapping.
import type { MarketplaceEntry } from '../schemas/marketplace.js';
import { MCP_HOST_META_KEY, OFFICIAL_META_KEY, type RegistryServerResponse } from '../schemas/mcp-registry.js';

/** Server names are unique per owner: the owner is the name's namespace. */
export function registryName(ownerId: number, serverName: string): string {
  return `dev.mcp-host.user-${ownerId}/${serverName}`;
}

/** The owner and server name of a registry name this API issued; undefined for any other name. */
export function parseRegistryName(name: string): { ownerId: number; name: string } | undefined {
  const m = /^dev\.mcp-host\.user-(\d{1,10})\/([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/.exec(name);
  return m ? { ownerId: Number(m[1]), name: m[2]! } : undefined;
}

/** A build run as a version: `0.0.<run id>`, which sorts as the builds were made. */
export function registryVersion(runId: number): string {
  return `0.0.${runId}`;
}

/** The build run of a version this API issued. */
export function parseRegistryVersion(version: string): number | undefined {
  const m = /^0\.0\.(\d{1,10})$/.exec(version);
  return m ? Number(m[1]) : undefined;
}

/** The registry's description field holds at most 100 characters. */
function describe(entry: MarketplaceEntry): string {
  const text = `${entry.server_type} MCP server ${entry.server_name}, hosted by mcp-host (${entry.tier})`;
  return text.length <= 100 ? text : `${text.slice(0, 99)}…`;
}

/** A repository URL the registry's `repository` field can hold (http(s) only; a git:// URL is not browsable). */
function repositoryOf(entry: MarketplaceEntry): RegistryServerResponse['server']['repository'] {
  if (!entry.source_repo || !/^https?:\/\//.test(entry.source_repo)) return undefined;
  const host = new URL(entry.source_repo).hostname;
  return { url: entry.source_repo, source: host === 'github.com' ? 'github' : host === 'gitlab.com' ? 'gitlab' : host };
}

export interface RegistryVersion {
  entry: MarketplaceEntry;
  ownerId: number;
  isLatest: boolean;
  startedAt: Date;
  /** The hosted server's status now. */
  serverStatus: string;
}

/**
 * One version as a ServerResponse. Its remote is the server's gateway endpoint (an mcp-host token as
 * the bearer), the way every hosted server is reached; the image behind it is in mcp-host's `_meta`.
 */
export function toServerResponse(v: RegistryVersion, publicUrl: string): RegistryServerResponse {
  const { entry } = v;
  const repository = repositoryOf(entry);
  return {
    server: {
      name: registryName(v.ownerId, entry.server_name),
      description: describe(entry),
      title: entry.server_name,
      version: registryVersion(entry.run_id),
      ...(repository ? { repository } : {}),
      remotes: [
        {
          type: 'streamable-http',
          url: `${publicUrl}/mcp/${entry.server_id}`,
          headers: [
            {
              name: 'Authorization',
              description: 'Bearer <an mcp-host API token>',
              isRequired: true,
              isSecret: true,
            },
          ],
        },
      ],
    },
    _meta: {
      [OFFICIAL_META_KEY]: {
        status: 'active',
        publishedAt: v.startedAt.toISOString(),
        updatedAt: entry.last_built_at ?? v.startedAt.toISOString(),
        isLatest: v.isLatest,
      },
      [MCP_HOST_META_KEY]: {
        serverId: entry.server_id,
        runId: entry.run_id,
        serverType: entry.server_type,
        serverStatus: v.serverStatus,
        tier: entry.tier,
        health: entry.health,
        manifestDigest: entry.manifest_digest,
        manifestTag: entry.manifest_tag,
        registryImage: entry.registry_image,
        multiArch: entry.multi_arch,
        platforms: entry.platforms.map((p) => ({ platform: p.platform, digest: p.digest, image: p.remote_image })),
        source: { repository: entry.source_repo, branch: entry.source_branch, revision: entry.source_revision },
        promotion: entry.promotion,
        promotionHistory: entry.promotion_history,
      },
    },
  };
}
