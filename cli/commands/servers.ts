// mcpctl servers: list, create, get, start/stop/redeploy/delete, watch, metrics, webhook-secret, and
// connect/tools/call through the gateway.
import { Command } from 'commander';
import { z } from 'zod';
import { CreateServerBody, ServerStatusSchema, type Server } from '../../lib/schemas/servers.js';
import { SERVER_STATUSES } from '../../lib/server-status.js';
import { clientFrom, type ApiClient, type GlobalOptions } from '../client.js';
import { CliError } from '../handle-error.js';
import { plain, show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption, collect, Id, Seconds } from '../validate.js';
import { watchServers } from '../watch.js';
import { addGatewayClientCommands } from './gateway-client.js';
import { addMetricsCommands } from './metrics.js';

type ConfigValue = string | number | boolean;

/**
 * `KEY=VALUE` pairs into config. "true"/"false" become booleans, and a value becomes a number only
 * if it reads back the same ("8080", "-1.5"; not "007", "1.50" or "1e3"), so nothing is silently altered.
 */
export function parseConfigPairs(pairs: string[]): Record<string, ConfigValue> {
  const config: Record<string, ConfigValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--config: expected KEY=VALUE, got "${pair}"`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (Object.hasOwn(config, key)) throw new CliError(`--config: ${key} is given more than once`);
    const num = Number(raw);
    config[key] =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : raw !== '' && Number.isFinite(num) && String(num) === raw
            ? num
            : raw;
  }
  return config;
}

export interface CreateOptions {
  type: string;
  git?: string;
  branch?: string;
  image?: string;
  config?: string[];
  gpu?: boolean;
  start: boolean;
}

const createLabels = {
  name: 'NAME',
  server_type: '--type',
  'source.repository': '--git',
  'source.branch': '--branch',
  'source.image': '--image',
  config: '--config',
};

/** The POST /api/servers body, checked against the API's own schema before it is sent. */
export function buildCreateBody(name: string, opts: CreateOptions): z.input<typeof CreateServerBody> {
  if ((opts.git === undefined) === (opts.image === undefined))
    throw new CliError('--git/--image: give exactly one source');
  if (opts.branch !== undefined && opts.git === undefined) throw new CliError('--branch: only applies with --git');
  const source =
    opts.git !== undefined
      ? { type: 'git' as const, repository: opts.git, ...(opts.branch !== undefined && { branch: opts.branch }) }
      : { type: 'image' as const, image: opts.image! };
  const body = {
    name,
    server_type: opts.type,
    source,
    config: parseConfigPairs(opts.config ?? []),
    use_gpu: Boolean(opts.gpu),
    start: opts.start,
  };
  checkBody(CreateServerBody, body, createLabels);
  return body; // unparsed, so the branch default stays the API's to choose
}

const sourceText = (source: Server['source']) =>
  source.type === 'git' ? `${source.repository}@${source.branch}` : source.image;

const listTable = (servers: Server[]): [string[], Cell[][]] => [
  ['id', 'name', 'type', 'status', 'source', 'owner', 'updated'],
  servers.map((s) => [s.id, s.name, s.server_type, s.status, sourceText(s.source), s.owner_id, s.updated_at]),
];

const detailTable = (s: Server): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['id', s.id],
    ['name', s.name],
    ['type', s.server_type],
    ['status', s.status],
    ['reason', s.status_reason],
    ['source', sourceText(s.source)],
    [
      'config',
      Object.entries(s.config)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    ],
    ['gpu', s.use_gpu],
    ['owner', s.owner_id],
    ['created', s.created_at],
    ['updated', s.updated_at],
  ],
];

interface Probe {
  ok: boolean;
  method: string;
  latency_ms: number | null;
  error: string | null;
  probed_at: string;
}

const probeText = (p: Probe) =>
  `${p.probed_at} ${p.ok ? `ok, ${p.method} in ${p.latency_ms} ms` : `failed: ${p.error ?? 'no answer'}`}`;

const PAGE = 500;

/** Every page, so a long fleet is never silently cut at the API's default page size. */
async function listAll(client: ApiClient, status: string | undefined): Promise<Server[]> {
  const servers: Server[] = [];
  for (;;) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (status) query.set('status', status);
    const last = servers.at(-1);
    if (last) query.set('after', String(last.id));
    const page = await client.get<Server[]>(`/api/servers?${query}`);
    servers.push(...page);
    if (page.length < PAGE) return servers;
  }
}

export function serversCommand(): Command {
  const servers = new Command('servers').description('create, inspect and control MCP servers');

  withJson(servers.command('list').description('list servers'))
    .option('--status <status>', 'only servers with this status')
    .action(async (opts: { status?: string; json?: boolean }, cmd: Command) => {
      const status = checkOption('--status', ServerStatusSchema.optional(), opts.status);
      const list = await listAll(clientFrom(cmd), status);
      show(opts.json, list, listTable);
    });

  withJson(servers.command('create').description('create a server, and start it unless --no-start'))
    .argument('<name>', 'server name (lowercase letters, digits, "-")')
    .requiredOption('--type <type>', 'server type')
    .option('--git <url>', 'build from this git repository')
    .option('--branch <branch>', 'git branch (default: main)')
    .option('--image <ref>', 'run this container image')
    .option('--config <KEY=VALUE>', 'a config setting; repeat for more', collect)
    .option('--gpu', 'give the server a GPU')
    .option('--no-start', 'create it stopped')
    .action(async (name: string, opts: CreateOptions & { json?: boolean }, cmd: Command) => {
      const body = buildCreateBody(name, opts);
      show(opts.json, await clientFrom(cmd).post<Server>('/api/servers', body), detailTable);
    });

  withJson(servers.command('get').description('show one server'))
    .argument('<id>', 'server id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const client = clientFrom(cmd);
      const server = await client.get<Server>(`/api/servers/${serverId}`);
      if (opts.json) return show(true, server, detailTable);
      // The supervisor's latest probes under the server's fields, newest first.
      const probes = await client.get<Probe[]>(`/api/servers/${serverId}/probes?limit=5`);
      show(false, server, (s) => {
        const [headers, rows] = detailTable(s);
        return [headers, [...rows, ...probes.map((p): Cell[] => ['probe', probeText(p)])]];
      });
    });

  for (const intent of ['start', 'stop', 'redeploy', 'delete'] as const) {
    withJson(servers.command(intent).description(`${intent} a server; the status changes asynchronously (see watch)`))
      .argument('<id>', 'server id')
      .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
        const serverId = checkOption('ID', Id, id);
        const client = clientFrom(cmd);
        const path = `/api/servers/${serverId}`;
        type Accepted = { server_id: number; intent: string; status: string };
        const accepted =
          intent === 'delete' ? await client.delete<Accepted>(path) : await client.post<Accepted>(`${path}/${intent}`);
        show(opts.json, accepted, (a) => [['server', 'intent', 'status'], [[a.server_id, a.intent, a.status]]]);
      });
  }

  withJson(servers.command('watch').description('follow status changes of one server, or of all'))
    .argument('[id]', 'server id (default: every server you can see)')
    .option(
      '--until <status>',
      'exit once the server reaches this status ("deleted" counts); --timeout bounds the wait',
    )
    .action(async (id: string | undefined, opts: { until?: string; json?: boolean }, cmd: Command) => {
      const serverId = id === undefined ? undefined : checkOption('ID', Id, id);
      const until = checkOption('--until', z.enum([...SERVER_STATUSES, 'deleted']).optional(), opts.until);
      if (until !== undefined && serverId === undefined) throw new CliError('--until: needs a server ID to watch');
      const timeout = checkOption('--timeout', Seconds, cmd.optsWithGlobals<GlobalOptions>().timeout ?? '30');
      await watchServers(clientFrom(cmd), {
        serverId,
        until,
        timeoutMs: timeout * 1000,
        onEvent: (e) =>
          opts.json
            ? process.stdout.write(`${JSON.stringify(e)}\n`)
            : process.stdout.write(
                `${e.at}  server ${e.id}  ${e.previous_status ?? '-'} -> ${e.status}${e.reason ? `  (${plain(e.reason)})` : ''}\n`,
              ),
        onNote: (note) => process.stderr.write(`mcpctl: ${note}\n`),
      });
    });

  servers
    .command('logs')
    .description("the server's output; -f follows it live")
    .argument('<id>', 'server id')
    .option('--tail <n>', 'lines from the end (default 100; 20 with -f)')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C or the server stops')
    .action(async (id: string, opts: { tail?: string; follow?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const tail =
        opts.tail === undefined
          ? undefined
          : checkOption('--tail', z.coerce.number().int().min(1).max(10_000), opts.tail);
      const client = clientFrom(cmd);
      const query = tail === undefined ? '' : `?tail=${tail}`;
      if (!opts.follow) {
        process.stdout.write(await client.text(`/api/servers/${serverId}/logs${query}`));
        return;
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      for await (const frame of client.stream(`/api/servers/${serverId}/logs/stream${query}`, undefined, stop.signal)) {
        if (frame.event === 'end') return;
        if (frame.event === 'log')
          process.stdout.write(`${plain(String((JSON.parse(frame.data) as { line: unknown }).line))}\n`);
      }
    });

  addMetricsCommands(servers);
  addGatewayClientCommands(servers);
  return servers;
}
