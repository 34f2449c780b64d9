// MCP servers: create, read, list, the status stream, and intents (start/stop/redeploy/delete) that
// become updates of the server's `server/<id>` workflow — the only writer of its status.
import { createRoute, z } from '@hono/zod-openapi';
import { holdCreation } from '../../lib/creation-lock.js';
import { isPgError, PgCode, type Sql } from '../../lib/db.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateServerBody,
  IntentAccepted,
  ListServersQuery,
  Server,
  type ServerSource,
} from '../../lib/schemas/servers.js';
import { ServerIdKey, ServerStatusKey } from '../../lib/search-attributes.js';
import { SERVER_INTENTS, type ServerIntent, type ServerStatus } from '../../lib/server-status.js';
import type { serverLifecycle } from '../../workflows/server-lifecycle.js';
import { intentUpdates } from '../../workflows/server-lifecycle.messages.js';
import { requireRole, visibleOwner } from '../auth.js';
import type { ApiDeps, Caller } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody, notFoundError, unavailableError } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';
import { newWebhookSecret } from './webhook.js';
import { toServerEvent, type ServerEventRow } from '../streams.js';
import { executeUpdate } from '../workflow-calls.js';

interface ServerRow {
  id: number;
  owner_id: number;
  name: string;
  server_type: string;
  source: ServerSource;
  config: Record<string, string | number | boolean>;
  use_gpu: boolean;
  status: ServerStatus;
  status_reason: string | null;
  webhook_secret?: string | null;
  created_at: Date;
  updated_at: Date;
}

export function toServer(row: ServerRow): Server {
  return {
    id: row.id,
    name: row.name,
    server_type: row.server_type,
    source: row.source,
    config: row.config,
    use_gpu: row.use_gpu,
    owner_id: row.owner_id,
    status: row.status,
    status_reason: row.status_reason,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The server if the caller may see it; another owner's server is indistinguishable from none. */
export async function findServer(sql: Sql, id: number, caller: Caller): Promise<ServerRow> {
  const owner = visibleOwner(caller);
  const [row] = await sql<ServerRow[]>`
    select * from mcp_servers where id = ${id} ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}`;
  if (!row) throw notFound(`server ${id}`);
  return row;
}

const tags = ['servers'];

/** One status event as an SSE frame (module-level: the fan-out formats each row once). */
const serverEventFrame = (row: ServerEventRow) => ({ event: row.event_type, data: toServerEvent(row) });

const createServerRoute = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create an MCP server (and start it unless `start` is false)',
  request: { body: jsonBody(CreateServerBody) },
  responses: { 201: json(Server, 'Created; status `creating`'), ...commonErrors, ...conflictError, ...unavailableError },
});

const listServersRoute = createRoute({
  method: 'get',
  path: '/',
  tags,
  summary: 'List servers (operators: their own; admins and viewers: all), by id',
  request: { query: ListServersQuery },
  responses: { 200: json(z.array(Server), 'Servers'), ...commonErrors },
});

const getServerRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: 'Get one server',
  request: { params: IdParam },
  responses: { 200: json(Server, 'The server'), ...commonErrors, ...notFoundError },
});

const streamRoute = createRoute({
  method: 'get',
  path: '/stream',
  tags,
  summary: 'Server-sent events of status changes; resumes after `Last-Event-ID`',
  request: {
    query: z
      .object({
        server_id: z.string().regex(/^[1-9]\d{0,9}$/, 'must be a server id').transform(Number).optional(),
        last_event_id: z.string().regex(/^\d{1,18}$/, 'must be an event id').transform(Number).optional(),
      })
      .strict(),
  },
  responses: {
    200: {
      description: 'An event stream: `event: status|deleted`, `id: <event id>`, `data: ServerEvent`, keep-alive comments',
      content: { 'text/event-stream': { schema: z.string() } },
    },
    ...commonErrors,
  },
});

function intentRoute(intent: ServerIntent) {
  return createRoute({
    method: intent === 'delete' ? 'delete' : 'post',
    path: intent === 'delete' ? '/{id}' : intent === 'build' ? '/{id}/builds' : `/{id}/${intent}`,
    tags,
    summary:
      intent === 'delete'
        ? 'Delete a server: stops it, removes its row and related rows, ends its workflow'
        : intent === 'build'
          ? 'Build and publish the head of the server\'s git branch (status building → ready or error)'
          : `${intent[0]!.toUpperCase()}${intent.slice(1)} a server`,
    request: { params: IdParam },
    responses: {
      202: json(IntentAccepted, 'Accepted; the status moves on asynchronously (watch the stream)'),
      ...commonErrors,
      ...notFoundError,
      ...conflictError,
      ...unavailableError,
    },
  });
}

export async function sendIntent(deps: ApiDeps, serverId: number, intent: ServerIntent, caller: Caller) {
  const accepted = await executeUpdate(deps.temporal, deps.workflowIds.server(serverId), intentUpdates[intent], [{ actorId: caller.id }], {
    ended: { code: 'lifecycle_ended', message: `server ${serverId} has no running lifecycle workflow` },
    what: `the ${intent} request`,
  });
  return { server_id: serverId, intent: accepted.intent, status: accepted.status };
}

export function serverRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  const router = createRouter()
    .openapi(createServerRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      try {
        const row = await sql.begin(async (tx) => {
          // Lock the owner's row: concurrent creates count the quota one after another.
          const [owner] = await tx<{ server_quota: number }[]>`select server_quota from users where id = ${caller.id} for update`;
          const [owned] = await tx<{ count: number }[]>`select count(*)::int as count from mcp_servers where owner_id = ${caller.id}`;
          if (caller.role !== 'admin' && owned!.count >= owner!.server_quota) {
            throw new ApiError(409, 'quota_exceeded', `server quota of ${owner!.server_quota} reached; delete a server or ask an admin`);
          }
          const [server] = await tx<ServerRow[]>`
            insert into mcp_servers (owner_id, name, server_type, source, config, use_gpu, webhook_secret)
            values (${caller.id}, ${body.name}, ${body.server_type}, ${tx.json(body.source)}, ${tx.json(body.config)}, ${body.use_gpu},
                    ${newWebhookSecret()})
            returning *`;
          // Started inside the transaction, whose lock the workflow's first read waits for: if the
          // commit fails, the workflow finds no row and ends.
          await holdCreation(tx, 'mcp_servers', server!.id);
          await deps.temporal.workflow.start<typeof serverLifecycle>('serverLifecycle', {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            workflowId: deps.workflowIds.server(server!.id),
            args: [
              {
                serverId: server!.id,
                ownerId: caller.id,
                source: body.source,
                config: body.config,
                useGpu: body.use_gpu,
                status: 'creating',
                seq: 0,
                pending: body.start ? [{ intent: 'start', actorId: caller.id }] : [],
              },
            ],
            typedSearchAttributes: [
              { key: ServerIdKey, value: String(server!.id) },
              { key: ServerStatusKey, value: 'creating' },
            ],
            memo: { name: body.name, serverType: body.server_type, ownerId: caller.id },
          });
          // Last: the event insert takes the event-ordering lock until commit (see migration 00001).
          await tx`
            insert into server_events (server_id, owner_id, event_type, status)
            values (${server!.id}, ${caller.id}, 'status', 'creating')`;
          return server!;
        });
        return c.json(toServer(row), 201);
      } catch (err) {
        if (isPgError(err, PgCode.uniqueViolation)) {
          throw new ApiError(409, 'name_taken', `you already have a server named "${body.name}"`, 'name');
        }
        throw err;
      }
    })
    .openapi(listServersRoute, async (c) => {
      const caller = c.get('caller');
      const query = c.req.valid('query');
      const owner = visibleOwner(caller);
      const rows = await sql<ServerRow[]>`
        select * from mcp_servers
        where id > ${query.after ?? 0}
          ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}
          ${query.status === undefined ? sql`` : sql`and status = ${query.status}`}
        order by id
        limit ${query.limit ?? 100}`;
      return c.json(rows.map(toServer), 200);
    })
    .openapi(streamRoute, async (c) => {
      const caller = c.get('caller');
      const query = c.req.valid('query');
      const owner = visibleOwner(caller);
      const accepts = (row: ServerEventRow) =>
        (owner === undefined || row.owner_id === owner) && (query.server_id === undefined || row.server_id === query.server_id);
      return tailStream(c, lastEventId(c, query.last_event_id), {
        tail: deps.streams.serverEvents,
        accepts,
        replay: (after) => sql<ServerEventRow[]>`
          select * from server_events
          where id > ${after}
            ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}
            ${query.server_id === undefined ? sql`` : sql`and server_id = ${query.server_id}`}
          order by id
          limit 1000`,
        frame: serverEventFrame,
        keepAliveMs: env.SSE_KEEPALIVE_MS,
      });
    })
    .openapi(getServerRoute, async (c) => {
      const row = await findServer(sql, c.req.valid('param').id, c.get('caller'));
      return c.json(toServer(row), 200);
    });

  for (const intent of SERVER_INTENTS) {
    router.openapi(intentRoute(intent), async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const server = await findServer(sql, c.req.valid('param').id, caller);
      return c.json(await sendIntent(deps, server.id, intent, caller), 202);
    });
  }
  return router;
}
