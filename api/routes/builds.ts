// Build runs (the artifact ledger as operators read it), their log lines, and the live log stream.
import { createRoute, z } from '@hono/zod-openapi';
import type { Sql } from '../../lib/db.js';
import { notFound } from '../../lib/errors.js';
import { AfterQuery, BuildLogLine, BuildRun, PageQuery } from '../../lib/schemas/builds.js';
import { IdParam } from '../../lib/schemas/common.js';
import { visibleOwner } from '../auth.js';
import type { ApiDeps, Caller } from '../context.js';
import { commonErrors, createRouter, json, notFoundError } from '../openapi.js';
import { lastEventId, tailStream } from '../sse.js';
import type { BuildLogRow } from '../streams.js';
import { findServer } from './servers.js';

const tags = ['builds'];

/** One build log line as an SSE frame (module-level: the fan-out formats each row once). */
const logFrame = (row: BuildLogRow) => ({ event: 'log', data: { id: row.id, platform: row.platform, line: row.line, at: row.created_at.toISOString() } });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

type RunRow = Omit<BuildRun, 'started_at' | 'completed_at' | 'platforms'> & { started_at: Date; completed_at: Date | null; created_at: Date; workflow_run_id: string };
type PlatformRow = BuildRun['platforms'][number] & { run_id: number };

/** Runs with their platforms, in two queries whatever the number of runs. */
async function withPlatforms(sql: Sql, runs: RunRow[]): Promise<BuildRun[]> {
  const ids = runs.map((r) => r.id);
  const platforms = ids.length
    ? await sql<PlatformRow[]>`select * from build_artifact_platforms where run_id in ${sql(ids)} order by platform`
    : [];
  return runs.map(({ created_at: _c, workflow_run_id: _w, ...run }) => ({
    ...run,
    started_at: run.started_at.toISOString(),
    completed_at: iso(run.completed_at),
    platforms: platforms
      .filter((p) => p.run_id === run.id)
      .map(({ run_id: _r, ...p }) => ({ ...p, size: p.size === null ? null : Number(p.size) })),
  }));
}

export async function findRun(sql: Sql, id: number, caller: Caller): Promise<RunRow> {
  const owner = visibleOwner(caller);
  const [run] = await sql<RunRow[]>`
    select r.* from build_artifact_runs r join mcp_servers s on s.id = r.server_id
    where r.id = ${id} ${owner === undefined ? sql`` : sql`and s.owner_id = ${owner}`}`;
  if (!run) throw notFound(`build ${id}`);
  return run;
}

export function buildRoutes(deps: ApiDeps) {
  const { sql, env } = deps;
  return createRouter()
    .openapi(
      createRoute({
        method: 'get',
        path: '/servers/{id}/builds',
        tags,
        summary: "A server's build runs, newest first (`before` pages back)",
        request: { params: IdParam, query: PageQuery },
        responses: { 200: json(z.array(BuildRun), 'Build runs'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, c.get('caller'));
        const { before, limit } = c.req.valid('query');
        const runs = await sql<RunRow[]>`
          select * from build_artifact_runs
          where server_id = ${server.id} ${before === undefined ? sql`` : sql`and id < ${before}`}
          order by id desc limit ${limit ?? 50}`;
        return c.json(await withPlatforms(sql, runs), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/builds/{id}',
        tags,
        summary: 'One build run with its platforms',
        request: { params: IdParam },
        responses: { 200: json(BuildRun, 'The build run'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, c.get('caller'));
        return c.json((await withPlatforms(sql, [run]))[0]!, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/builds/{id}/logs',
        tags,
        summary: 'Log lines of a build, oldest first (`after` pages on)',
        request: { params: IdParam, query: AfterQuery },
        responses: { 200: json(z.array(BuildLogLine), 'Log lines'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, c.get('caller'));
        const { after, limit } = c.req.valid('query');
        const rows = await sql<BuildLogRow[]>`
          select * from build_logs where run_id = ${run.id} and id > ${after ?? 0} order by id limit ${limit ?? 1000}`;
        return c.json(rows.map((r) => ({ id: r.id, platform: r.platform, line: r.line, at: r.created_at.toISOString() })), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/builds/{id}/logs/stream',
        tags,
        summary: 'Live build log (SSE): every line so far, then new ones, then `event: end` when the build ends',
        request: { params: IdParam },
        responses: {
          200: { description: 'Event stream of `event: log` frames', content: { 'text/event-stream': { schema: z.string() } } },
          ...commonErrors,
          ...notFoundError,
        },
      }),
      async (c) => {
        const run = await findRun(sql, c.req.valid('param').id, c.get('caller'));
        return tailStream(c, lastEventId(c), {
          tail: deps.streams.buildLogs,
          accepts: (row) => row.run_id === run.id,
          replayFromStart: true,
          replay: (after) => sql<BuildLogRow[]>`
            select * from build_logs where run_id = ${run.id} and id > ${after} order by id limit 1000`,
          frame: logFrame,
          keepAliveMs: env.SSE_KEEPALIVE_MS,
          finished: async () => {
            const [row] = await sql<{ status: string }[]>`select status from build_artifact_runs where id = ${run.id}`;
            return !row || row.status !== 'running';
          },
        });
      },
    );
}
