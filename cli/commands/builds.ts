// mcpctl builds: start (and --watch), list, get, watch (the live build log).
import { Command } from 'commander';
import type { BuildRun } from '../../lib/schemas/builds.js';
import { PageQuery } from '../../lib/schemas/builds.js';
import type { IntentAccepted } from '../../lib/schemas/servers.js';
import type { z } from 'zod';
import {
  followBuildLog,
  logLineText,
  runFailure,
  runToWatch,
  startBuildAndFindRun,
  type LogLine,
} from '../build-watch.js';
import { clientFrom, type ApiClient, type GlobalOptions } from '../client.js';
import { CliError } from '../handle-error.js';
import { formatTable, printJson, show, withJson, type Cell } from '../output.js';
import { checkOption, Id, Seconds } from '../validate.js';

/** `--limit` as the API checks it (1-1000). */
export const Limit = PageQuery.shape.limit;

/** The first 12 characters of a commit, as image tags carry it. */
export const shortRevision = (revision: string | null) => (revision ? revision.slice(0, 12) : null);

/** `sha256:0123456789ab`: enough to tell digests apart at a glance. */
export function shortDigest(digest: string | null): string | null {
  if (!digest) return null;
  const colon = digest.indexOf(':');
  return colon === -1 ? digest.slice(0, 12) : `${digest.slice(0, colon)}:${digest.slice(colon + 1, colon + 13)}`;
}

/** Bytes in binary units, one decimal above 1 KiB: "512 B", "1.5 KiB", "12.0 MiB". */
export function formatBytes(bytes: number | null): string | null {
  if (bytes === null) return null;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export const buildListTable = (runs: BuildRun[]): [string[], Cell[][]] => [
  ['id', 'status', 'revision', 'platforms', 'digest', 'started', 'completed', 'failure'],
  runs.map((r) => [
    r.id,
    r.status,
    shortRevision(r.source_revision),
    r.platforms.map((p) => p.platform).join(','),
    shortDigest(r.manifest_digest),
    r.started_at,
    r.completed_at,
    r.failure_reason,
  ]),
];

/** Auth refresh/rotation as one cell: "-", "attempted", "succeeded" or "failed". */
const attempt = (attempted: boolean, succeeded: boolean) => (!attempted ? null : succeeded ? 'succeeded' : 'failed');

export const buildDetailTable = (r: BuildRun): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['id', r.id],
    ['server', r.server_id],
    ['status', r.status],
    ['failure', r.failure_reason],
    ['source', r.source_repo === null ? null : `${r.source_repo}@${r.source_branch ?? '-'}`],
    ['revision', r.source_revision],
    ['registry', r.registry],
    ['local image', r.local_image],
    ['image', r.registry_image],
    ['tag', r.manifest_tag],
    ['digest', r.manifest_digest],
    ['multi-arch', r.multi_arch],
    ['credential health', r.credential_health_status],
    ['auth refresh', attempt(r.auth_refresh_attempted, r.auth_refresh_succeeded)],
    ['auth rotation', attempt(r.auth_rotation_attempted, r.auth_rotation_succeeded)],
    ['workflow', r.workflow_id],
    ['started', r.started_at],
    ['completed', r.completed_at],
  ],
];

export const platformTable = (r: BuildRun): [string[], Cell[][]] => [
  ['platform', 'digest', 'size', 'health', 'tag'],
  r.platforms.map((p) => [p.platform, p.digest, formatBytes(p.size), p.credential_health_status, p.remote_tag]),
];

/** `builds watch` takes a build id or `--server`, never both. */
export function checkWatchTarget(
  buildId: string | undefined,
  server: string | undefined,
): { buildId: number } | { serverId: number } {
  if ((buildId === undefined) === (server === undefined)) throw new CliError('BUILD_ID/--server: give exactly one');
  return buildId !== undefined
    ? { buildId: checkOption('BUILD_ID', Id, buildId) }
    : { serverId: checkOption('--server', Id, server) };
}

const timeoutOf = (cmd: Command) =>
  checkOption('--timeout', Seconds, cmd.optsWithGlobals<GlobalOptions>().timeout ?? '30') * 1000;
const note = (text: string) => process.stderr.write(`mcpctl: ${text}\n`);

/** Follows the run's log to its end; fails (exit 1) unless the run succeeded. */
async function watchRun(client: ApiClient, run: BuildRun, json: boolean | undefined): Promise<void> {
  note(
    `following build ${run.id} of server ${run.server_id}${run.source_revision ? ` at ${shortRevision(run.source_revision)}` : ''}`,
  );
  const onLine = (line: LogLine) => process.stdout.write(json ? `${JSON.stringify(line)}\n` : `${logLineText(line)}\n`);
  const ended = await followBuildLog(client, run.id, { onLine, onNote: note });
  const failure = runFailure(ended);
  if (failure) throw new CliError(failure);
  if (!json)
    process.stdout.write(
      `build ${ended.id} succeeded${ended.manifest_digest ? `: ${ended.registry_image ?? ended.local_image} ${ended.manifest_digest}` : ''}\n`,
    );
}

export function buildsCommand(): Command {
  const builds = new Command('builds').description('build servers from git and follow their logs');

  withJson(builds.command('start').description("build and publish the head of a server's git branch"))
    .argument('<server_id>', 'server id')
    .option(
      '--watch',
      'follow the build log until the build ends; exit 1 unless it succeeded (--timeout bounds the wait for it to open)',
    )
    .action(async (id: string, opts: { watch?: boolean; json?: boolean }, cmd: Command) => {
      const serverId = checkOption('SERVER_ID', Id, id);
      const client = clientFrom(cmd);
      type Accepted = z.infer<typeof IntentAccepted>;
      const acceptedTable = (a: Accepted): [string[], Cell[][]] => [
        ['server', 'intent', 'status'],
        [[a.server_id, a.intent, a.status]],
      ];
      if (!opts.watch)
        return show(opts.json, await client.post<Accepted>(`/api/servers/${serverId}/builds`), acceptedTable);

      const run = await startBuildAndFindRun(client, serverId, {
        start: async () => {
          const accepted = await client.post<Accepted>(`/api/servers/${serverId}/builds`);
          if (opts.json) process.stdout.write(`${JSON.stringify(accepted)}\n`);
          else process.stdout.write(`${formatTable(...acceptedTable(accepted))}\n`);
        },
        timeoutMs: timeoutOf(cmd),
        onNote: note,
      });
      await watchRun(client, run, opts.json);
    });

  withJson(builds.command('list').description("a server's build runs, newest first"))
    .argument('<server_id>', 'server id')
    .option('--limit <n>', 'at most this many runs (1-1000, default 50)')
    .action(async (id: string, opts: { limit?: string; json?: boolean }, cmd: Command) => {
      const serverId = checkOption('SERVER_ID', Id, id);
      const limit = checkOption('--limit', Limit, opts.limit);
      const query = limit === undefined ? '' : `?limit=${limit}`;
      show(opts.json, await clientFrom(cmd).get<BuildRun[]>(`/api/servers/${serverId}/builds${query}`), buildListTable);
    });

  withJson(builds.command('get').description('one build run with its platforms'))
    .argument('<build_id>', 'build id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const buildId = checkOption('BUILD_ID', Id, id);
      const run = await clientFrom(cmd).get<BuildRun>(`/api/builds/${buildId}`);
      if (opts.json) return printJson(run);
      process.stdout.write(`${formatTable(...buildDetailTable(run))}\n`);
      if (run.platforms.length > 0) process.stdout.write(`\n${formatTable(...platformTable(run))}\n`);
    });

  withJson(builds.command('watch').description('follow a build log until the build ends; exit 1 unless it succeeded'))
    .argument('[build_id]', 'build id')
    .option(
      '--server <id>',
      "instead of a build id: the server's newest run, or the one it is opening (--timeout bounds that wait)",
    )
    .action(async (id: string | undefined, opts: { server?: string; json?: boolean }, cmd: Command) => {
      const target = checkWatchTarget(id, opts.server);
      const client = clientFrom(cmd);
      const run =
        'buildId' in target
          ? await client.get<BuildRun>(`/api/builds/${target.buildId}`)
          : await runToWatch(client, target.serverId, { timeoutMs: timeoutOf(cmd), onNote: note });
      await watchRun(client, run, opts.json);
    });

  return builds;
}
