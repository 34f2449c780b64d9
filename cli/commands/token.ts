// mcpctl token: create (the secret is shown once; with --gateway a client token of the MCP gateway,
// scoped to servers, tools, resources and prompts), list, revoke.
import { Command } from 'commander';
import type { z } from 'zod';
import { CreateTokenBody, GatewayGrantsBody, type CreatedToken, type TokenInfo } from '../../lib/schemas/auth.js';
import { clientFrom } from '../client.js';
import { CliError } from '../handle-error.js';
import { printJson, show, withJson, formatTable, type Cell } from '../output.js';
import { checkBody, checkOption, collect, Id, WholeNumber } from '../validate.js';

type Token = z.infer<typeof TokenInfo>;

/** A client token's grants in one cell: `servers 3,4 · tools echo* · resources - · prompts -`. */
export function grantsCell(grants: Token['gateway']): string | null {
  if (!grants) return null;
  const list = (items: (string | number)[] | '*') => (items === '*' ? '*' : items.length ? items.join(',') : '-');
  return [
    `servers ${list(grants.servers)}`,
    `tools ${list(grants.tools)}`,
    `resources ${list(grants.resources)}`,
    `prompts ${list(grants.prompts)}`,
  ].join(' · ');
}

const tokenTable = (tokens: Token[]): [string[], Cell[][]] => [
  ['id', 'name', 'user', 'prefix', 'created', 'expires', 'last used', 'revoked', 'gateway grants'],
  tokens.map((t) => [
    t.id,
    t.name,
    t.user_id,
    t.prefix,
    t.created_at,
    t.expires_at,
    t.last_used_at,
    t.revoked_at,
    grantsCell(t.gateway),
  ]),
];

export interface CreateTokenOptions {
  expiresInDays?: string;
  user?: string;
  gateway?: boolean;
  server?: string[];
  tool?: string[];
  resource?: string[];
  prompt?: string[];
}

/** The grants of `--gateway`: `--server` given (or `*`), each other list as repeated. */
function gatewayGrants(opts: CreateTokenOptions) {
  const granted = opts.gateway || [opts.server, opts.tool, opts.resource, opts.prompt].some((o) => o?.length);
  if (!granted) return undefined;
  const servers = opts.server ?? [];
  if (servers.length === 0) throw new CliError('--server: a gateway token needs at least one --server <id> (or "*")');
  return {
    servers: servers.includes('*') ? ('*' as const) : servers.map((s) => checkOption('--server', Id, s)),
    tools: opts.tool ?? [],
    resources: opts.resource ?? [],
    prompts: opts.prompt ?? [],
  };
}

/** The POST /api/tokens body, checked against the API's schema. */
export function buildTokenBody(name: string, opts: CreateTokenOptions) {
  const gateway = gatewayGrants(opts);
  const body = {
    name,
    ...(opts.expiresInDays !== undefined && {
      expires_in_days: checkOption('--expires-in-days', WholeNumber, opts.expiresInDays),
    }),
    ...(opts.user !== undefined && { user_id: checkOption('--user', Id, opts.user) }),
    ...(gateway !== undefined && { gateway }),
  };
  if (gateway) {
    checkBody(GatewayGrantsBody, gateway, {
      servers: '--server',
      tools: '--tool',
      resources: '--resource',
      prompts: '--prompt',
    });
  }
  checkBody(CreateTokenBody, body, { name: 'NAME', expires_in_days: '--expires-in-days', user_id: '--user' });
  return body;
}

export function tokenCommand(): Command {
  const token = new Command('token').description('manage API tokens');

  withJson(token.command('create').description('create a token; it is shown this once'))
    .argument('<name>', 'what the token is for')
    .option('--expires-in-days <n>', 'expire after this many days (default: never)')
    .option('--user <id>', 'for another user (admin only)')
    .option('--gateway', 'a client token of the MCP gateway: it opens /mcp endpoints only, never the API')
    .option('--server <id>', 'a server the gateway token may open, repeatable ("*": every one of yours)', collect)
    .option('--tool <glob>', 'tools it may list and call, repeatable (e.g. "echo*"; "*" for all)', collect)
    .option('--resource <glob>', 'resource URIs it may list and read, repeatable', collect)
    .option('--prompt <glob>', 'prompts it may list and get, repeatable', collect)
    .action(async (name: string, opts: CreateTokenOptions & { json?: boolean }, cmd: Command) => {
      const body = buildTokenBody(name, opts);
      const created = await clientFrom(cmd).post<z.infer<typeof CreatedToken>>('/api/tokens', body);
      if (opts.json) return printJson(created);
      const { token: secret, ...info } = created;
      process.stdout.write(`${formatTable(...tokenTable([info]))}\n\n`);
      process.stdout.write(`token (shown this once; store it now, it cannot be shown again):\n\n    ${secret}\n\n`);
    });

  withJson(token.command('list').description('list tokens (admins: every token)')).action(
    async (opts: { json?: boolean }, cmd: Command) => {
      show(opts.json, await clientFrom(cmd).get<Token[]>('/api/tokens'), tokenTable);
    },
  );

  withJson(token.command('revoke').description('revoke a token'))
    .argument('<id>', 'token id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const tokenId = checkOption('ID', Id, id);
      show(opts.json, await clientFrom(cmd).delete<Token>(`/api/tokens/${tokenId}`), (t) => tokenTable([t]));
    });

  return token;
}
