// mcpctl users (admin) and mcpctl whoami.
import { Command } from 'commander';
import { CreateUserBody, type User } from '../../lib/schemas/auth.js';
import { ROLES } from '../../lib/schemas/common.js';
import { clientFrom } from '../client.js';
import { show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption, WholeNumber } from '../validate.js';

const userTable = (users: User[]): [string[], Cell[][]] => [
  ['id', 'email', 'role', 'quota', 'created'],
  users.map((u) => [u.id, u.email, u.role, u.server_quota, u.created_at]),
];

export interface CreateUserOptions {
  email: string;
  role?: string;
  quota?: string;
}

/** The POST /api/users body, checked against the API's schema. */
export function buildUserBody(opts: CreateUserOptions) {
  const body = {
    email: opts.email,
    ...(opts.role !== undefined && { role: opts.role }),
    ...(opts.quota !== undefined && { server_quota: checkOption('--quota', WholeNumber, opts.quota) }),
  };
  checkBody(CreateUserBody, body, { email: '--email', role: '--role', server_quota: '--quota' });
  return body;
}

export function usersCommand(): Command {
  const users = new Command('users').description('manage users (admin only)');

  withJson(users.command('create').description('create a user; then give them a token with `token create --user ID`'))
    .requiredOption('--email <email>', 'their email address')
    .option('--role <role>', `${ROLES.join(', ')} (default: operator)`)
    .option('--quota <n>', 'how many servers they may own (default: the API default)')
    .action(async (opts: CreateUserOptions & { json?: boolean }, cmd: Command) => {
      const body = buildUserBody(opts);
      show(opts.json, await clientFrom(cmd).post<User>('/api/users', body), (u) => userTable([u]));
    });

  withJson(users.command('list').description('list users')).action(async (opts: { json?: boolean }, cmd: Command) => {
    show(opts.json, await clientFrom(cmd).get<User[]>('/api/users'), userTable);
  });

  return users;
}

export function whoamiCommand(): Command {
  return withJson(new Command('whoami').description('show the user the token belongs to')).action(
    async (opts: { json?: boolean }, cmd: Command) => {
      show(opts.json, await clientFrom(cmd).get<User>('/api/me'), (u) => userTable([u]));
    },
  );
}
