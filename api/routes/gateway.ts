// The gateway's audit (lib/ledger/gateway-audit.ts): every JSON-RPC request that reached /mcp,
// newest first in keyset pages, and live over SSE. Operators see the calls to their servers and the
// calls they made; admins and viewers every call.
import { z } from '@hono/zod-openapi';
import {
  admitsAuditRow,
  gatewayAuditAfter,
  gatewayAuditPage,
  toGatewayAuditEntry,
  type GatewayAuditFilter,
  type GatewayAuditRow,
} from '../../lib/ledger/gateway-audit.js';
import { GatewayAuditEntry, GatewayAuditQuery, GatewayAuditStreamQuery } from '../../lib/schemas/gateway.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, defineRoute } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';

const tags = ['gateway'];

/** One audit row as an SSE frame (module-level: the fan-out formats each row once). */
const auditFrame = (row: GatewayAuditRow) => ({ event: 'audit', data: toGatewayAuditEntry(row) });

const filterOf = (q: z.infer<typeof GatewayAuditStreamQuery>): GatewayAuditFilter => ({
  serverId: q.server,
  tokenId: q.token,
  outcome: q.outcome,
  method: q.method,
  since: q.since,
});

export function gatewayRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/audit',
        operationId: 'listGatewayAudit',
        tags,
        summary: 'Calls through the MCP gateway, newest first; `X-Next-Before` carries the next page',
        request: { query: GatewayAuditQuery },
        responses: {
          200: {
            ...json(z.array(GatewayAuditEntry), 'Audit rows'),
            headers: {
              'X-Next-Before': {
                schema: { type: 'string' },
                description: 'Pass as `before` for the next page; absent on the last page',
              },
            },
          },
          ...commonErrors,
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const limit = q.limit ?? 50;
        const rows = await gatewayAuditPage(sql, visibleScope(c.get('caller')), filterOf(q), {
          before: q.before,
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        if (rows.length > limit) c.header('X-Next-Before', String(page.at(-1)!.id));
        return c.json(page.map(toGatewayAuditEntry), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/audit/stream',
        operationId: 'streamGatewayAudit',
        tags,
        summary: 'Live gateway audit (SSE): `event: audit` frames (id = row id); resumes after `Last-Event-ID`',
        request: { query: GatewayAuditStreamQuery },
        responses: {
          200: { description: 'Event stream', content: { 'text/event-stream': { schema: z.string() } } },
          ...commonErrors,
        },
      }),
      async (c) => {
        const scope = visibleScope(c.get('caller'));
        const filter = filterOf(c.req.valid('query'));
        return tailStream(c, lastEventId(c), {
          tail: deps.streams.gatewayAudit,
          accepts: (row) => admitsAuditRow(scope, filter, row),
          replay: (after) => gatewayAuditAfter(sql, scope, filter, after),
          frame: auditFrame,
          keepAliveMs: env.SSE_KEEPALIVE_MS,
        });
      },
    );
}
