// Users (admin-managed) and the caller's own identity.
import { z } from '@hono/zod-openapi';
import { createUser, findUser, listUsers, toUser } from '../../lib/ledger/users.js';
import { CreateUserBody, User } from '../../lib/schemas/auth.js';
import { requireRole } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody, defineRoute } from '../openapi.js';

const tags = ['users'];

export function userRoutes({ sql, env }: ApiDeps) {
  return createRouter()
    .openapi(
      defineRoute({
        method: 'post',
        path: '/users',
        operationId: 'createUser',
        tags,
        summary: 'Create a user (admin only); give them a token with POST /api/tokens',
        request: { body: jsonBody(CreateUserBody) },
        responses: { 201: json(User, 'Created'), ...commonErrors, ...conflictError },
      }),
      async (c) => {
        requireRole(c.get('caller'), 'admin');
        const body = c.req.valid('json');
        const row = await createUser(sql, {
          email: body.email,
          role: body.role,
          serverQuota: body.server_quota ?? env.DEFAULT_SERVER_QUOTA,
        });
        return c.json(toUser(row), 201);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/users',
        operationId: 'listUsers',
        tags,
        summary: 'List users (admin only)',
        responses: { 200: json(z.array(User), 'Users'), ...commonErrors },
      }),
      async (c) => {
        requireRole(c.get('caller'), 'admin');
        const rows = await listUsers(sql);
        return c.json(rows.map(toUser), 200);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/me',
        operationId: 'getMe',
        tags,
        summary: 'The caller',
        responses: { 200: json(User, 'You'), ...commonErrors },
      }),
      async (c) => {
        const row = await findUser(sql, c.get('caller').id);
        return c.json(toUser(row!), 200);
      },
    );
}
