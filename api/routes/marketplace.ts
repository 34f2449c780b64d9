// The marketplace catalog (lib/ledger/marketplace.ts): browse build artifacts, keyset-paginated.
import { z } from '@hono/zod-openapi';
import { notFound } from '../../lib/errors.js';
import { catalogEntry, catalogPage, toEntries } from '../../lib/ledger/marketplace.js';
import { IdParam } from '../../lib/schemas/common.js';
import { MarketplaceEntry, MarketplaceQuery } from '../../lib/schemas/marketplace.js';
import { visibleScope } from '../auth.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';

const tags = ['marketplace'];

export function marketplaceRoutes({ sql }: ApiDeps) {
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/',
        operationId: 'listMarketplace',
        tags,
        summary: 'Browse build artifacts (operators: their own; admins and viewers: all), newest first',
        request: { query: MarketplaceQuery },
        responses: {
          200: {
            ...json(z.array(MarketplaceEntry), 'Artifacts; `X-Next-Cursor` carries the next page when there is one'),
            headers: {
              'X-Next-Cursor': { schema: { type: 'string' }, description: 'Pass as `cursor` for the next page' },
            },
          },
          ...commonErrors,
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const limit = q.limit ?? 50;
        const rows = await catalogPage(sql, visibleScope(c.get('caller')), {
          server_type: q.server_type,
          status: q.status,
          tier: q.tier,
          q: q.q,
          after: q.cursor ? decodeCursor(q.cursor) : undefined,
          limit,
        });
        const page = rows.slice(0, limit);
        if (rows.length > limit) c.header('X-Next-Cursor', encodeCursor(page.at(-1)!));
        return c.json(await toEntries(sql, page), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/{id}',
        operationId: 'getMarketplaceEntry',
        tags,
        summary: 'One artifact by build run id',
        request: { params: IdParam },
        responses: { 200: json(MarketplaceEntry, 'The artifact'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const entry = await catalogEntry(sql, visibleScope(c.get('caller')), id);
        if (!entry) throw notFound(`artifact ${id}`);
        return c.json(entry, 200);
      },
    );
}
