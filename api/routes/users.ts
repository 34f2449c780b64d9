// Users (admin-managed) and the caller's own identity.
import { createRoute, z } from '@hono/zod-openapi';
import { isPgError, PgCode } from '../../lib/db.js';
import { ApiError } from '../../lib/errors.js';
import { CreateUserBody, User } from '../../lib/schemas/auth.js';
import { requireRole } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody } from '../openapi.js';

interface UserRow {
  id: number;
  email: string;
  role: User['role'];
  server_quota: number;
  created_at: Date;
}

const toUser = (row: UserRow): User => ({ ...row, created_at: row.created_at.toISOString() });
const tags = ['users'];

export function userRoutes({ sql, env }: ApiDeps) {
  return createRouter()
    .openapi(
      createRoute({
        method: 'post',
        path: '/users',
        tags,
        summary: 'Create a user (admin only); give them a token with POST /api/tokens',
        request: { body: jsonBody(CreateUserBody) },
        responses: { 201: json(User, 'Created'), ...commonErrors, ...conflictError },
      }),
      async (c) => {
        requireRole(c.get('caller'), 'admin');
        const body = c.req.valid('json');
        try {
          const [row] = await sql<UserRow[]>`
            insert into users (email, role, server_quota)
            values (${body.email}, ${body.role}, ${body.server_quota ?? env.DEFAULT_SERVER_QUOTA})
            returning id, email, role, server_quota, created_at`;
          return c.json(toUser(row!), 201);
        } catch (err) {
          if (isPgError(err, PgCode.uniqueViolation)) {
            throw new ApiError(409, 'email_taken', `a user with email ${body.email} already exists`, 'email');
          }
          throw err;
        }
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/users',
        tags,
        summary: 'List users (admin only)',
        responses: { 200: json(z.array(User), 'Users'), ...commonErrors },
      }),
      async (c) => {
        requireRole(c.get('caller'), 'admin');
        const rows = await sql<UserRow[]>`select id, email, role, server_quota, created_at from users order by id`;
        return c.json(rows.map(toUser), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/me',
        tags,
        summary: 'The caller',
        responses: { 200: json(User, 'You'), ...commonErrors },
      }),
      async (c) => {
        const [row] = await sql<UserRow[]>`
          select id, email, role, server_quota, created_at from users where id = ${c.get('caller').id}`;
        return c.json(toUser(row!), 200);
      },
    );
}
