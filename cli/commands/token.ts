// mcpctl token: create (the secret is shown once), list, revoke.
import { Command } from 'commander';
import type { z } from 'zod';
import { CreateTokenBody, type CreatedToken, type TokenInfo } from '../../lib/schemas/auth.js';
import { clientFrom } from '../client.js';
import { printJson, show, withJson, formatTable, type Cell } from '../output.js';
import { checkBody, checkOption, Id, WholeNumber } from '../validate.js';

type Token = z.infer<typeof TokenInfo>;

const tokenTable = (tokens: Token[]): [string[], Cell[][]] => [
  ['id', 'name', 'user', 'prefix', 'created', 'expires', 'last used', 'revoked'],
  tokens.map((t) => [t.id, t.name, t.user_id, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at]),
];

export interface CreateTokenOptions {
  expiresInDays?: string;
  user?: string;
}

/** The POST /api/tokens body, checked against the API's schema. */
export function buildTokenBody(name: string, opts: CreateTokenOptions) {
  const body = {
    name,
    ...(opts.expiresInDays !== undefined && {
      expires_in_days: checkOption('--expires-in-days', WholeNumber, opts.expiresInDays),
    }),
    ...(opts.user !== undefined && { user_id: checkOption('--user', Id, opts.user) }),
  };
  checkBody(CreateTokenBody, body, { name: 'NAME', expires_in_days: '--expires-in-days', user_id: '--user' });
  return body;
}

export function tokenCommand(): Command {
  const token = new Command('token').description('manage API tokens');

  withJson(token.command('create').description('create a token; it is shown this once'))
    .argument('<name>', 'what the token is for')
    .option('--expires-in-days <n>', 'expire after this many days (default: never)')
    .option('--user <id>', 'for another user (admin only)')
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
