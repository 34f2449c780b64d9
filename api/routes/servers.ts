// MCP servers: create, read, list, change settings, the status stream, and intents
// (start/stop/redeploy/delete) that become updates of the server's `server/<id>` workflow — the only
// writer of its status.
import { z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  createServer,
  findServer,
  listServers,
  serverEventsAfter,
  toServer,
  toServerEvent,
  updateServerSettings,
  type ServerEventRow,
} from '../../lib/ledger/servers.js';
import { ApiError } from '../../lib/errors.js';
import { inScope } from '../../lib/ledger/scope.js';
import { missingSecrets, referencedSecretsExist } from '../../lib/ledger/secrets.js';
import { mayNameImage } from '../../lib/registry/namespace.js';
import { resourcesWithinMaximum } from '../../lib/runtime/resources.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  CreateServerBody,
  IntentAccepted,
  ListServersQuery,
  Server,
  UpdateServerBody,
  type ServerSource,
} from '../../lib/schemas/servers.js';
import { ServerIdKey, ServerStatusKey } from '../../lib/search-attributes.js';
import { SERVER_INTENTS, type ServerIntent } from '../../lib/server-status.js';
import type { serverLifecycle } from '../../workflows/server-lifecycle.js';
import { settingsChangedSignal } from '../../workflows/server-lifecycle.messages.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import {
  commonErrors,
  conflictError,
  createRouter,
  json,
  jsonBody,
  notFoundError,
  unavailableError,
  defineRoute,
} from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';
import { sendIntent } from '../workflow-calls.js';

const tags = ['servers'];

/** One status event as an SSE frame (module-level: the fan-out formats each row once). */
const serverEventFrame = (row: ServerEventRow) => ({ event: row.event_type, data: toServerEvent(row) });

const createServerRoute = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'createServer',
  tags,
  summary: 'Create an MCP server (and start it unless `start` is false)',
  request: { body: jsonBody(CreateServerBody) },
  responses: {
    201: json(Server, 'Created; status `creating`'),
    ...commonErrors,
    ...conflictError,
    ...unavailableError,
  },
});

const listServersRoute = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listServers',
  tags,
  summary: 'List servers (operators: their own; admins and viewers: all), by id',
  request: { query: ListServersQuery },
  responses: { 200: json(z.array(Server), 'Servers'), ...commonErrors },
});

const getServerRoute = defineRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getServer',
  tags,
  summary: 'Get one server',
  request: { params: IdParam },
  responses: { 200: json(Server, 'The server'), ...commonErrors, ...notFoundError },
});

const updateServerRoute = defineRoute({
  method: 'patch',
  path: '/{id}',
  operationId: 'updateServer',
  tags,
  summary:
    "Change a server's settings: secret_updates at once; config and use_gpu at its next launch (start, redeploy or a restart)",
  request: { params: IdParam, body: jsonBody(UpdateServerBody) },
  responses: {
    200: json(Server, 'The server with its new settings; a `settings` event records what changed'),
    ...commonErrors,
    ...notFoundError,
    ...conflictError,
  },
});

const streamRoute = defineRoute({
  method: 'get',
  path: '/stream',
  operationId: 'streamServers',
  tags,
  summary: 'Server-sent events of status changes; resumes after `Last-Event-ID`',
  request: {
    query: z
      .object({
        server_id: z
          .string()
          .regex(/^[1-9]\d{0,9}$/, 'must be a server id')
          .transform(Number)
          .optional(),
        last_event_id: z
          .string()
          .regex(/^\d{1,18}$/, 'must be an event id')
          .transform(Number)
          .optional(),
      })
      .strict(),
  },
  responses: {
    200: {
      description:
        'An event stream: `event: status|deleted|settings`, `id: <event id>`, `data: ServerEvent`, keep-alive comments',
      content: { 'text/event-stream': { schema: z.string() } },
    },
    ...commonErrors,
  },
});

function intentRoute(intent: ServerIntent) {
  return defineRoute({
    method: intent === 'delete' ? 'delete' : 'post',
    path: intent === 'delete' ? '/{id}' : intent === 'build' ? '/{id}/builds' : `/{id}/${intent}`,
    operationId: `${intent}Server`,
    tags,
    summary:
      intent === 'delete'
        ? 'Delete a server: stops it, removes its row and related rows, ends its workflow'
        : intent === 'build'
          ? "Build and publish the head of the server's git branch (status building → ready or error)"
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

/**
 * A private source's secrets must be the owner's (the repository's, the base images' registries'): its
 * build would fail later for want of them. 422 naming the field of the first one missing.
 */
async function sourceSecretsExist(sql: ApiDeps['sql'], ownerId: number, source: ServerSource): Promise<void> {
  if (source.type !== 'git') return;
  const named: [string, string][] = [
    ...(source.credentials ? [['source.credentials.secret', source.credentials.secret] as [string, string]] : []),
    ...(source.registry_credentials ?? []).map((r, i): [string, string] => [
      `source.registry_credentials.${i}.secret`,
      r.secret,
    ]),
  ];
  const missing = new Set(
    await missingSecrets(
      sql,
      ownerId,
      named.map(([, name]) => name),
    ),
  );
  const first = named.find(([, name]) => missing.has(name));
  if (first) {
    const [field, name] = first;
    throw new ApiError(
      422,
      'validation_failed',
      `${field}: no secret named ${name} (create it with mcpctl secrets set ${name})`,
      field,
    );
  }
}

export function serverRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  const router = createRouter()
    .openapi(createServerRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      resourcesWithinMaximum(body.config, env);
      await referencedSecretsExist(sql, caller.id, body.config);
      await sourceSecretsExist(sql, caller.id, body.source);
      // Another owner's image (their namespace of the registry, a local build's name) is theirs: a 404,
      // as any other tenant's resource. Admins see every owner's resources, and may name them.
      if (body.source.type === 'image' && caller.role !== 'admin') {
        if (!mayNameImage(body.source.image, env.REGISTRY, caller.id))
          throw new ApiError(404, 'not_found', `image ${body.source.image} not found`, 'source.image');
      }
      const row = await createServer(
        sql,
        {
          ownerId: caller.id,
          quotaExempt: caller.role === 'admin',
          name: body.name,
          serverType: body.server_type,
          source: body.source,
          ...(body.transport && { transport: body.transport }),
          config: body.config,
          useGpu: body.use_gpu,
          secretUpdates: body.secret_updates,
        },
        (server) =>
          deps.temporal.workflow.start<typeof serverLifecycle>('serverLifecycle', {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            workflowId: deps.workflowIds.server(server.id),
            args: [
              {
                serverId: server.id,
                ownerId: caller.id,
                source: body.source,
                ...(body.transport && { transport: body.transport }),
                config: body.config,
                useGpu: body.use_gpu,
                status: 'creating',
                seq: 0,
                pending: body.start ? [{ intent: 'start', actorId: caller.id }] : [],
              },
            ],
            typedSearchAttributes: [
              { key: ServerIdKey, value: String(server.id) },
              { key: ServerStatusKey, value: 'creating' },
            ],
            memo: { name: body.name, serverType: body.server_type, ownerId: caller.id },
          }),
      );
      return c.json(toServer(row), 201);
    })
    .openapi(listServersRoute, async (c) => {
      const caller = c.get('caller');
      const query = c.req.valid('query');
      const rows = await listServers(sql, visibleScope(caller), query);
      return c.json(rows.map(toServer), 200);
    })
    .openapi(streamRoute, async (c) => {
      const caller = c.get('caller');
      const query = c.req.valid('query');
      const scope = visibleScope(caller);
      const accepts = (row: ServerEventRow) =>
        inScope(scope, row.owner_id) && (query.server_id === undefined || row.server_id === query.server_id);
      return tailStream(c, lastEventId(c, query.last_event_id), {
        tail: deps.streams.serverEvents,
        accepts,
        replay: (after) => serverEventsAfter(sql, scope, after, query.server_id),
        frame: serverEventFrame,
        keepAliveMs: env.SSE_KEEPALIVE_MS,
      });
    })
    .openapi(getServerRoute, async (c) => {
      const row = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
      return c.json(toServer(row), 200);
    })
    .openapi(updateServerRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const scope = visibleScope(caller);
      const server = await findServer(sql, id, scope);
      if (body.config) {
        resourcesWithinMaximum(body.config, env);
        // The owner's secrets (an admin changing another owner's server names that owner's).
        await referencedSecretsExist(sql, server.owner_id, body.config);
      }
      const row = await updateServerSettings(
        sql,
        id,
        scope,
        {
          ...(body.config && { config: body.config }),
          ...(body.use_gpu !== undefined && { useGpu: body.use_gpu }),
          ...(body.secret_updates && { secretUpdates: body.secret_updates }),
        },
        (updated) =>
          deps.temporal.workflow
            .getHandle(deps.workflowIds.server(id))
            .signal(settingsChangedSignal, { config: updated.config, useGpu: updated.use_gpu })
            .catch((err: unknown) => {
              if (err instanceof WorkflowNotFoundError)
                throw new ApiError(409, 'lifecycle_ended', `server ${id} has no running lifecycle workflow`);
              throw err;
            }),
      );
      return c.json(toServer(row), 200);
    });

  for (const intent of SERVER_INTENTS) {
    router.openapi(intentRoute(intent), async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const server = await findServer(sql, c.req.valid('param').id, visibleScope(caller));
      return c.json(await sendIntent(deps, server.id, intent, caller.id), 202);
    });
  }
  return router;
}
