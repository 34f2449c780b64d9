// How an MCP client reaches a server through the gateway: its URL and the blocks to paste into
// Claude, Cursor or VS Code. Any caller who may see the server may ask; the token stays theirs.
import { findServer } from '../../lib/ledger/servers.js';
import { ClientConfig, ClientConfigQuery, clientConfig } from '../../lib/schemas/client-config.js';
import { IdParam } from '../../lib/schemas/common.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';

const clientConfigRoute = defineRoute({
  method: 'get',
  path: '/{id}/client-config',
  operationId: 'getClientConfig',
  tags: ['servers', 'gateway'],
  summary: "How MCP clients reach the server through the gateway, with each client's configuration block",
  request: { params: IdParam, query: ClientConfigQuery },
  responses: { 200: json(ClientConfig, 'The gateway URL and the blocks'), ...commonErrors, ...notFoundError },
});

export function clientConfigRoutes(deps: ApiDeps) {
  return createRouter().openapi(clientConfigRoute, async (c) => {
    const server = await findServer(deps.sql, c.req.valid('param').id, visibleScope(c.get('caller')));
    const base = deps.env.PUBLIC_URL ?? new URL(c.req.url).origin;
    return c.json(clientConfig(server.id, server.name, `${base}/mcp/${server.id}`, c.req.valid('query').client), 200);
  });
}
