// Build runs (the artifact ledger as operators read it), their log lines, and the live log stream.
import { z } from '@hono/zod-openapi';
import {
  findRun,
  logLinesAfter,
  runEnded,
  serverRuns,
  toLogLine,
  withPlatforms,
  type BuildLogRow,
} from '../../lib/ledger/builds.js';
import { findServer } from '../../lib/ledger/servers.js';
import { AfterQuery, BuildLogLine, BuildRun, PageQuery } from '../../lib/schemas/builds.js';
import { IdParam } from '../../lib/schemas/common.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError, defineRoute } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';

const tags = ['builds'];

/** One build log line as an SSE frame (module-level: the fan-out formats each row once). */
const logFrame = (row: BuildLogRow) => ({ event: 'log', data: toLogLine(row) });

export function buildRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/servers/{id}/builds',
        operationId: 'listServerBuilds',
        tags,
        summary: "A server's build runs, newest first (`before` pages back)",
        request: { params: IdParam, query: PageQuery },
        responses: { 200: json(z.array(BuildRun), 'Build runs'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const runs = await serverRuns(sql, server.id, c.req.valid('query'));
        return c.json(await withPlatforms(sql, runs), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/builds/{id}',
        operationId: 'getBuild',
        tags,
        summary: 'One build run with its platforms',
        request: { params: IdParam },
        responses: { 200: json(BuildRun, 'The build run'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json((await withPlatforms(sql, [run]))[0]!, 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/builds/{id}/logs',
        operationId: 'listBuildLogs',
        tags,
        summary: 'Log lines of a build, oldest first (`after` pages on)',
        request: { params: IdParam, query: AfterQuery },
        responses: { 200: json(z.array(BuildLogLine), 'Log lines'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const { after, limit } = c.req.valid('query');
        const rows = await logLinesAfter(sql, run.id, after ?? 0, limit ?? 1000);
        return c.json(rows.map(toLogLine), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/builds/{id}/logs/stream',
        operationId: 'streamBuildLogs',
        tags,
        summary: 'Live build log (SSE): every line so far, then new ones, then `event: end` when the build ends',
        request: { params: IdParam },
        responses: {
          200: {
            description: 'Event stream of `event: log` frames',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return tailStream(c, lastEventId(c), {
          tail: deps.streams.buildLogs,
          accepts: (row) => row.run_id === run.id,
          replayFromStart: true,
          replay: (after) => logLinesAfter(sql, run.id, after, 1000),
          frame: logFrame,
          keepAliveMs: env.SSE_KEEPALIVE_MS,
          finished: () => runEnded(sql, run.id),
        });
      },
    );
}
