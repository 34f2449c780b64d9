// The official MCP registry API's shapes (modelcontextprotocol/registry, docs/reference/api/openapi.yaml,
// the 2025-10-17 generation with `/v0` paths), as mcp-host's catalog answers them: a list of
// ServerResponse (`{server, _meta}`) with `metadata`, and mcp-host's own facts under one `_meta` key.
import { z } from '@hono/zod-openapi';
import { MarketplacePromotion } from './marketplace.js';

/** The `_meta` key of mcp-host's facts about a version: reverse DNS of the project, then what it is. */
export const MCP_HOST_META_KEY = 'dev.mcp-host/catalog';
export const OFFICIAL_META_KEY = 'io.modelcontextprotocol.registry/official';

const KeyValueInput = z.object({
  name: z.string(),
  description: z.string().optional(),
  isRequired: z.boolean().optional(),
  isSecret: z.boolean().optional(),
  format: z.string().optional(),
  value: z.string().optional(),
});

export const RegistryRemote = z
  .object({
    type: z.enum(['streamable-http', 'sse']),
    url: z.string(),
    headers: z.array(KeyValueInput).optional(),
  })
  .openapi('RegistryRemote');

export const RegistryServerDetail = z
  .object({
    $schema: z.string().optional(),
    name: z.string().openapi({ description: 'Reverse-DNS name: `dev.mcp-host.user-<owner>/<server name>`' }),
    description: z.string(),
    title: z.string().optional(),
    version: z.string().openapi({ description: 'The version of a build: `0.0.<build run id>`' }),
    repository: z.object({ url: z.string(), source: z.string(), subfolder: z.string().optional() }).optional(),
    remotes: z.array(RegistryRemote).optional(),
  })
  .openapi('RegistryServerDetail');

export const McpHostVersionMeta = z
  .object({
    serverId: z.number().int(),
    runId: z.number().int(),
    serverType: z.string(),
    serverStatus: z.string().openapi({ description: "The hosted server's status now" }),
    tier: z.string(),
    health: z.object({ overall: z.enum(['healthy', 'degraded', 'blocked']), issues: z.array(z.string()) }),
    manifestDigest: z.string().nullable(),
    manifestTag: z.string().nullable(),
    registryImage: z.string().nullable(),
    multiArch: z.boolean(),
    platforms: z.array(z.object({ platform: z.string(), digest: z.string().nullable(), image: z.string() })),
    source: z.object({
      repository: z.string().nullable(),
      branch: z.string().nullable(),
      revision: z.string().nullable(),
    }),
    promotion: MarketplacePromotion.nullable(),
    promotionHistory: z.array(MarketplacePromotion),
  })
  .openapi('McpHostVersionMeta');

export const RegistryServerResponse = z
  .object({
    server: RegistryServerDetail,
    _meta: z.object({
      [OFFICIAL_META_KEY]: z.object({
        status: z.enum(['active', 'deprecated', 'deleted']),
        publishedAt: z.string(),
        updatedAt: z.string(),
        isLatest: z.boolean(),
      }),
      [MCP_HOST_META_KEY]: McpHostVersionMeta,
    }),
  })
  .openapi('RegistryServerResponse');
export type RegistryServerResponse = z.infer<typeof RegistryServerResponse>;

export const RegistryServerList = z
  .object({
    servers: z.array(RegistryServerResponse),
    metadata: z.object({
      // The 2025-10 registry names the cursor `nextCursor`, the generations before it `next_cursor`:
      // both are sent, so clients of either read the next page.
      nextCursor: z.string().optional(),
      next_cursor: z.string().optional(),
      count: z.number().int(),
    }),
  })
  .openapi('RegistryServerList');

const Limit = z
  .string()
  .regex(/^\d{1,3}$/, 'must be an integer between 1 and 100')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 100, 'must be an integer between 1 and 100')
  .optional();

export const RegistryListQuery = z
  .object({
    cursor: z.string().max(200).optional().openapi({ description: 'From `metadata.nextCursor` of the previous page' }),
    limit: Limit.openapi({ description: 'Versions per page (1-100, default 30)' }),
    search: z
      .string()
      .trim()
      .max(200)
      .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters')
      .optional()
      .openapi({ description: "Substring of the server's name" }),
    updated_since: z.iso
      .datetime({ offset: true, message: 'must be an RFC 3339 date-time' })
      .transform((v) => new Date(v))
      .optional()
      .openapi({ description: 'Only versions updated at or after this RFC 3339 date-time' }),
    version: z
      .literal('latest', { message: 'only "latest" is supported' })
      .optional()
      .openapi({ description: '`latest`: only the latest version of each server' }),
  })
  .strict();

export const RegistryNameParam = z.object({
  name: z
    .string()
    .min(3)
    .max(300)
    .openapi({ description: 'URL-encoded server name', example: 'dev.mcp-host.user-2%2Fhello' }),
});

export const RegistryVersionParam = RegistryNameParam.extend({
  version: z.string().min(1).max(100).openapi({ description: 'A version, or `latest`', example: '0.0.1' }),
});
