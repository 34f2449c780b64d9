// mcpctl servers: list, create, get, update, start/stop/redeploy/delete, watch, metrics, webhook-secret,
// and connect/tools/call through the gateway.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { CreateServerBody, ServerStatusSchema, UpdateServerBody, type Server } from '../../lib/schemas/servers.js';
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

/** `KEY=NAME` (a file, KEY_FILE pointing at it) or `KEY=NAME:env` pairs into secret references. */
export function parseSecretPairs(pairs: string[]): Record<string, { secret: string; as?: 'env' }> {
  const refs: Record<string, { secret: string; as?: 'env' }> = {};
  for (const pair of pairs) {
    const m = /^([^=]+)=([^:]+)(:env|:file)?$/.exec(pair);
    if (!m) throw new CliError(`--secret: expected KEY=NAME or KEY=NAME:env, got "${pair}"`);
    refs[m[1]!] = { secret: m[2]!, ...(m[3] === ':env' && { as: 'env' as const }) };
  }
  return refs;
}

export interface CreateOptions {
  type?: string;
  /** A server.json of the official MCP registry (read by the command, sent as a registry source). */
  from?: string;
  package?: string;
  secret?: string[];
  git?: string;
  branch?: string;
  directory?: string;
  dockerfile?: string;
  /** `REGISTRY=SECRET`: a login (`username:password` in the secret) for the registry of the base images. */
  registrySecret?: string[];
  image?: string;
  npm?: string;
  pypi?: string;
  go?: string;
  version?: string;
  arg?: string[];
  env?: string[];
  transport?: string;
  config?: string[];
  gpu?: boolean;
  secretUpdates?: string;
  start: boolean;
}

const createLabels = {
  name: 'NAME',
  server_type: '--type',
  'source.repository': '--git',
  'source.branch': '--branch',
  'source.directory': '--directory',
  'source.dockerfile': '--dockerfile',
  'source.registry_credentials': '--registry-secret',
  'source.image': '--image',
  'source.package': '--npm/--pypi',
  'source.module': '--go',
  'source.version': '--version',
  'source.args': '--arg',
  'source.env': '--env',
  transport: '--transport',
  config: '--config',
  secret_updates: '--secret-updates',
  'source.server': '--from',
};

/** `KEY=VALUE` pairs as strings (a package's environment keeps its values as written). */
function parseEnvPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--env: expected KEY=VALUE, got "${pair}"`);
    const key = pair.slice(0, eq);
    if (Object.hasOwn(env, key)) throw new CliError(`--env: ${key} is given more than once`);
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

/** `REGISTRY=SECRET` pairs into a git source's registry_credentials. */
function parseRegistrySecrets(pairs: string[]): { registry: string; secret: string }[] {
  return pairs.map((pair) => {
    const eq = pair.lastIndexOf('=');
    if (eq <= 0) throw new CliError(`--registry-secret: expected REGISTRY=SECRET, got "${pair}"`);
    return { registry: pair.slice(0, eq), secret: pair.slice(eq + 1) };
  });
}

/** A server.json file as the registry source the API maps (it validates, naming server.json's fields). */
function registrySourceOf(opts: CreateOptions): { type: 'registry'; server: unknown; package?: number } {
  let server: unknown;
  try {
    server = JSON.parse(readFileSync(opts.from!, 'utf8'));
  } catch (err) {
    throw new CliError(
      `--from: ${opts.from} ${(err as NodeJS.ErrnoException).code ? 'cannot be read' : 'is not JSON'}`,
    );
  }
  const index = opts.package === undefined ? undefined : Number(opts.package);
  if (index !== undefined && !Number.isSafeInteger(index))
    throw new CliError('--package: expected an index (0 is the first)');
  return { type: 'registry', server, ...(index !== undefined && { package: index }) };
}

/** server.json's name (`io.github.user/weather`) as a server name: its last part, as a DNS label. */
function nameFromServerJson(server: unknown): string | undefined {
  const full = (server as { name?: unknown } | null)?.name;
  if (typeof full !== 'string') return undefined;
  const label = full
    .slice(full.lastIndexOf('/') + 1)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label || undefined;
}

/** The source the flags name: exactly one of --git, --image, --npm, --pypi, --go, --from. */
function sourceOf(opts: CreateOptions): Record<string, unknown> {
  const given = (['git', 'image', 'npm', 'pypi', 'go', 'from'] as const).filter((k) => opts[k] !== undefined);
  if (given.length !== 1) throw new CliError('--git/--image/--npm/--pypi/--go/--from: give exactly one source');
  if (opts.package !== undefined && given[0] !== 'from') throw new CliError('--package: only applies with --from');
  if (given[0] === 'from') {
    for (const flag of ['branch', 'directory', 'dockerfile', 'version', 'arg', 'env'] as const)
      if (opts[flag] !== undefined) throw new CliError(`--${flag}: does not apply with --from (server.json says it)`);
    return registrySourceOf(opts);
  }
  const kind = given[0]!;
  const only = (flag: string, value: unknown, kinds: readonly string[]) => {
    if (value !== undefined && !kinds.includes(kind))
      throw new CliError(`--${flag}: only applies with ${kinds.map((k) => `--${k}`).join('/')}`);
  };
  only('branch', opts.branch, ['git']);
  only('directory', opts.directory, ['git']);
  only('dockerfile', opts.dockerfile, ['git']);
  only('registry-secret', opts.registrySecret, ['git']);
  only('version', opts.version, ['npm', 'pypi', 'go']);
  only('arg', opts.arg, ['npm', 'pypi', 'go']);
  only('env', opts.env, ['npm', 'pypi', 'go']);
  if (kind === 'git')
    return {
      type: 'git',
      repository: opts.git,
      ...(opts.branch !== undefined && { branch: opts.branch }),
      ...(opts.directory !== undefined && { directory: opts.directory }),
      ...(opts.dockerfile !== undefined && { dockerfile: opts.dockerfile }),
      ...(opts.registrySecret !== undefined && { registry_credentials: parseRegistrySecrets(opts.registrySecret) }),
    };
  if (kind === 'image') return { type: 'image', image: opts.image };
  const pkg = {
    ...(opts.version !== undefined && { version: opts.version }),
    ...(opts.arg !== undefined && { args: opts.arg }),
    ...(opts.env !== undefined && { env: parseEnvPairs(opts.env) }),
  };
  return kind === 'go' ? { type: 'go', module: opts.go, ...pkg } : { type: kind, package: opts[kind], ...pkg };
}

/** The POST /api/servers body, checked against the API's own schema before it is sent. */
export function buildCreateBody(name: string | undefined, opts: CreateOptions): z.input<typeof CreateServerBody> {
  const source = sourceOf(opts);
  const fromServerJson = source.type === 'registry';
  if (!fromServerJson && opts.type === undefined)
    throw new CliError("--type: required option '--type <type>' not specified");
  const config = configOf(opts);
  const body = {
    name: name ?? (fromServerJson ? nameFromServerJson(source.server) : undefined),
    // A server.json says what the server is, not what type of server the platform files it under.
    server_type: opts.type ?? 'MCP',
    source,
    ...(opts.transport !== undefined && { transport: opts.transport }),
    config,
    use_gpu: Boolean(opts.gpu),
    ...(opts.secretUpdates !== undefined && { secret_updates: opts.secretUpdates }),
    start: opts.start,
  };
  checkBody(CreateServerBody, body, createLabels);
  return body as z.input<typeof CreateServerBody>; // unparsed, so the defaults stay the API's to choose
}

export interface UpdateOptions {
  config?: string[];
  secret?: string[];
  clearConfig?: boolean;
  gpu?: boolean;
  secretUpdates?: string;
}

const updateLabels = { config: '--config/--secret', use_gpu: '--gpu/--no-gpu', secret_updates: '--secret-updates' };

/**
 * The PATCH /api/servers/:id body. --config and --secret replace the config as a whole (the API takes
 * it whole, so what is sent is exactly what the server gets); --clear-config sends an empty one.
 */
export function buildUpdateBody(opts: UpdateOptions): z.input<typeof UpdateServerBody> {
  const pairs = [...(opts.config ?? []), ...(opts.secret ?? [])];
  if (opts.clearConfig && pairs.length > 0) throw new CliError('--clear-config: not with --config or --secret');
  const config = opts.clearConfig || pairs.length > 0 ? configOf(opts) : undefined;
  const body = {
    ...(config !== undefined && { config }),
    ...(opts.gpu !== undefined && { use_gpu: opts.gpu }),
    ...(opts.secretUpdates !== undefined && { secret_updates: opts.secretUpdates }),
  };
  if (Object.keys(body).length === 0)
    throw new CliError('give at least one of --config, --secret, --clear-config, --gpu/--no-gpu or --secret-updates');
  checkBody(UpdateServerBody, body, updateLabels);
  return body as z.input<typeof UpdateServerBody>;
}

/** --config settings and --secret references as one config. */
function configOf(opts: { config?: string[]; secret?: string[] }): Record<string, unknown> {
  const config: Record<string, unknown> = { ...parseConfigPairs(opts.config ?? []) };
  for (const [key, ref] of Object.entries(parseSecretPairs(opts.secret ?? []))) {
    if (Object.hasOwn(config, key)) throw new CliError(`--secret: ${key} is also given with --config`);
    config[key] = ref;
  }
  return config;
}

const sourceText = (source: Server['source']) => {
  switch (source.type) {
    case 'git':
      return `${source.repository}@${source.branch}${source.directory ? ` (${source.directory})` : ''}`;
    case 'image':
      return source.image;
    case 'go':
      return `go:${source.module}@${source.version}`;
    default:
      return `${source.type}:${source.package}@${source.version}`;
  }
};

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
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
        .join(', '),
    ],
    ['gpu', s.use_gpu],
    ['secret updates', s.secret_updates],
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
    .argument('[name]', 'server name (lowercase letters, digits, "-"); with --from, server.json\'s by default')
    .option('--type <type>', 'server type (with --from: MCP by default)')
    .option(
      '--from <server.json>',
      'create it from a server.json of the official MCP registry (its npm, pypi or oci package)',
    )
    .option(
      '--package <index>',
      "with --from: which of server.json's packages (default: the first npm, pypi or oci one)",
    )
    .option('--git <url>', 'build from this git repository')
    .option('--branch <branch>', 'git branch (default: main)')
    .option('--directory <path>', 'with --git: the build context inside the repository')
    .option('--dockerfile <path>', 'with --git: the Dockerfile, relative to --directory')
    .option(
      '--registry-secret <REGISTRY=SECRET>',
      "with --git: log in to REGISTRY (host[:port]) for the Dockerfile's FROM images with the secret SECRET (username:password); repeat for more",
      collect,
    )
    .option('--image <ref>', 'run this container image')
    .option('--npm <package>', 'build an image that runs this npm package (stdio by default)')
    .option('--pypi <package>', 'build an image that runs this PyPI package')
    .option('--go <package>', 'build an image that runs this Go package (module path of its main package)')
    .option('--version <version>', 'with --npm/--pypi/--go: the version (npm and Go default: latest)')
    .option('--arg <arg>', 'with a package: an argument to its command; repeat for more', collect)
    .option('--env <KEY=VALUE>', 'with a package: an environment variable of its command; repeat for more', collect)
    .option('--transport <transport>', 'stdio or streamable-http (packages: stdio; git: from the image)')
    .option('--config <KEY=VALUE>', 'a config setting; repeat for more', collect)
    .option(
      '--secret <KEY=NAME[:env]>',
      'a secret reference: the file /run/secrets/NAME with KEY_FILE pointing at it, or KEY itself with :env; repeat for more',
      collect,
    )
    .option(
      '--secret-updates <policy>',
      "a secret's new version: next-start (default) or redeploy (at once, when launched)",
    )
    .option('--gpu', 'give the server a GPU')
    .option('--no-start', 'create it stopped')
    .action(async (name: string | undefined, opts: CreateOptions & { json?: boolean }, cmd: Command) => {
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

  withJson(
    servers
      .command('update')
      .description(
        "change a server's settings: --secret-updates at once; --config/--secret/--gpu at its next launch (redeploy to apply now)",
      ),
  )
    .argument('<id>', 'server id')
    .option('--config <KEY=VALUE>', "a config setting; with --secret, replaces the server's whole config", collect)
    .option('--secret <KEY=NAME[:env]>', 'a secret reference (as with create); part of the new config', collect)
    .option('--clear-config', 'replace the config with an empty one')
    .option('--gpu', 'give the server a GPU')
    .option('--no-gpu', 'take its GPU away')
    .option('--secret-updates <policy>', "a secret's new version: next-start or redeploy")
    .action(async (id: string, opts: UpdateOptions & { json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const body = buildUpdateBody(opts);
      show(opts.json, await clientFrom(cmd).patch<Server>(`/api/servers/${serverId}`, body), detailTable);
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
