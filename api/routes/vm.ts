// A server's VM attestation posture: its recent VM instances with their events.
import { findServer } from '../../lib/ledger/servers.js';
import { vmPosture } from '../../lib/ledger/vm.js';
import { IdParam } from '../../lib/schemas/common.js';
import { VmPosture } from '../../lib/vm/schemas.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';

export function vmRoutes(deps: Pick<ApiDeps, 'sql'>) {
  const { sql } = deps;
  return createRouter().openapi(
    defineRoute({
      method: 'get',
      path: '/servers/{id}/vm',
      operationId: 'getServerVm',
      tags: ['servers'],
      summary: "A server's VM attestation posture: its 10 most recent VM instances (newest first) with their events",
      request: { params: IdParam },
      responses: {
        200: json(VmPosture, 'VM posture; `{server_id, instances: []}` when the server never ran as a VM'),
        ...commonErrors,
        ...notFoundError,
      },
    }),
    async (c) => {
      const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
      return c.json(await vmPosture(sql, server.id), 200);
    },
  );
}
