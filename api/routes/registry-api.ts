// The catalog in the official MCP registry's API (`/v0`, lib/schemas/mcp-registry.ts): registry
// clients browse what this installation hosts — each succeeded build one version of its server —
// with the owner scope of the caller's token, as the marketplace (lib/ledger/marketplace.ts) does.
import type { Context } from 'hono';
import { notFound } from '../../lib/errors.js';
import { registryPage, toEntries, type RegistryQuery, type RegistryVersionRow } from '../../lib/ledger/marketplace.js';
import { parseRegistryName, parseRegistryVersion, toServerResponse } from '../../lib/mcp-registry/catalog.js';
import {
  RegistryListQuery,
  RegistryNameParam,
  RegistryServerList,
  RegistryServerResponse,
  RegistryVersionParam,
} from '../../lib/schemas/mcp-registry.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps, AppEnv } from '../context.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';

const tags = ['mcp-registry'];
const DEFAULT_LIMIT = 30;

export function registryApiRoutes({ sql, env }: ApiDeps) {
  /** Rows as ServerResponses, and the cursor of the page after them. */
  async function page(c: Context<AppEnv>, query: Omit<RegistryQuery, 'limit'>, limit: number) {
    const rows = await registryPage(sql, visibleScope(c.get('caller')), { ...query, limit });
    const shown = rows.slice(0, limit);
    const publicUrl = env.PUBLIC_URL ?? new URL(c.req.url).origin;
    const entries = await toEntries(sql, shown);
    const servers = shown.map((row: RegistryVersionRow, i) =>
      toServerResponse(
        {
          entry: entries[i]!,
          ownerId: row.owner_id,
          isLatest: row.is_latest,
          startedAt: row.started_at,
          serverStatus: row.server_status,
        },
        publicUrl,
      ),
    );
    const next = rows.length > limit ? encodeCursor(shown.at(-1)!) : undefined;
    return { servers, next };
  }

  /** The owner and name of a name this API issued; any other name is not here. */
  function serverOf(name: string) {
    const server = parseRegistryName(name);
    if (!server) throw notFound(`server ${name}`);
    return server;
  }

  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/servers',
        operationId: 'listRegistryServers',
        tags,
        summary: 'Hosted servers as the MCP registry lists them: every version, newest first',
        request: { query: RegistryListQuery },
        responses: { 200: json(RegistryServerList, 'One page of server versions'), ...commonErrors },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const limit = q.limit ?? DEFAULT_LIMIT;
        const { servers, next } = await page(
          c,
          {
            search: q.search || undefined,
            updatedSince: q.updated_since,
            latestOnly: q.version === 'latest',
            after: q.cursor ? decodeCursor(q.cursor) : undefined,
          },
          limit,
        );
        return c.json(
          { servers, metadata: { count: servers.length, ...(next ? { nextCursor: next, next_cursor: next } : {}) } },
          200,
        );
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/servers/{name}/versions',
        operationId: 'listRegistryServerVersions',
        tags,
        summary: 'Every version of one server (its succeeded builds), newest first',
        request: { params: RegistryNameParam },
        responses: {
          200: json(RegistryServerList, 'The versions'),
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const { name } = c.req.valid('param');
        // A server's versions come in one answer, as the registry's endpoint has no cursor: its
        // builds are bounded by what the ledger keeps (pruned with the images).
        const { servers } = await page(c, { server: serverOf(name) }, 1000);
        if (servers.length === 0) throw notFound(`server ${name}`);
        return c.json({ servers, metadata: { count: servers.length } }, 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/servers/{name}/versions/{version}',
        operationId: 'getRegistryServerVersion',
        tags,
        summary: 'One version of a server; `latest` is its newest succeeded build',
        request: { params: RegistryVersionParam },
        responses: {
          200: json(RegistryServerResponse, 'The version'),
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const { name, version } = c.req.valid('param');
        const server = serverOf(name);
        const runId = version === 'latest' ? undefined : parseRegistryVersion(version);
        if (version !== 'latest' && runId === undefined) throw notFound(`version ${version} of ${name}`);
        const { servers } = await page(c, { server, runId, latestOnly: version === 'latest' }, 1);
        const found = servers[0];
        if (!found) throw notFound(`version ${version} of ${name}`);
        return c.json(found, 200);
      },
    );
}
