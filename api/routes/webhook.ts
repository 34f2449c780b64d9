// Git push webhooks (GitHub-style `X-Hub-Signature-256: sha256=<hex>` over the raw body, keyed by
// the server's webhook secret, compared in constant time) and the secret's rotation.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { findServer, rotateWebhookSecret, webhookTarget } from '../../lib/ledger/servers.js';
import { IdParam } from '../../lib/schemas/common.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import {
  commonErrors,
  conflictError,
  createRouter,
  json,
  notFoundError,
  unavailableError,
  defineRoute,
} from '../openapi.js';
import { sendIntent } from '../workflow-calls.js';

const tags = ['webhooks'];

export function signatureMatches(secret: string, body: Uint8Array, header: string | undefined): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header ?? '');
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

const WebhookAccepted = z
  .object({
    server_id: z.number().int(),
    intent: z.string().nullable(),
    status: z.string().nullable(),
    ignored: z.string().optional(),
  })
  .openapi('WebhookAccepted');

/** Unauthenticated by token (the signature is the credential): mounted before the auth middleware. */
export function webhookRoutes(deps: ApiDeps) {
  const { sql } = deps;
  return createRouter().openapi(
    defineRoute({
      method: 'post',
      path: '/{id}/webhook',
      operationId: 'receiveWebhook',
      tags,
      summary: 'Push webhook: rebuilds (and redeploys) the server when its branch moves. Signed, no token.',
      request: { params: IdParam },
      security: [],
      responses: {
        202: json(WebhookAccepted, 'Accepted: a build is on its way'),
        200: json(WebhookAccepted, 'Valid but nothing to do (ping, another branch)'),
        401: commonErrors[401],
        ...notFoundError,
        ...conflictError,
        ...unavailableError,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const server = await webhookTarget(sql, id);
      const body = new Uint8Array(await c.req.arrayBuffer());
      // Unknown server, no secret and a bad signature look the same to the caller.
      if (
        !server ||
        !server.webhook_secret ||
        !signatureMatches(server.webhook_secret, body, c.req.header('x-hub-signature-256'))
      ) {
        throw new ApiError(401, 'invalid_signature', 'missing or invalid X-Hub-Signature-256');
      }
      const event = c.req.header('x-github-event') ?? 'push';
      if (event !== 'push')
        return c.json({ server_id: id, intent: null, status: null, ignored: `event ${event}` }, 200);
      if (server.source.type !== 'git')
        return c.json({ server_id: id, intent: null, status: null, ignored: 'not a git server' }, 200);
      let ref: unknown;
      try {
        ref = (JSON.parse(Buffer.from(body).toString('utf8')) as { ref?: unknown }).ref;
      } catch {
        ref = undefined;
      }
      if (typeof ref === 'string' && ref !== `refs/heads/${server.source.branch}`) {
        return c.json({ server_id: id, intent: null, status: null, ignored: `push to ${ref}` }, 200);
      }
      // A live server is redeployed with the new revision; any other is only rebuilt.
      const live = ['running', 'unhealthy', 'starting', 'pending-governance'].includes(server.status);
      const intent = live ? 'redeploy' : 'build';
      const accepted = await sendIntent(deps, id, intent, server.owner_id);
      return c.json(accepted, 202);
    },
  );
}

export function webhookSecretRoutes({ sql }: ApiDeps) {
  return createRouter().openapi(
    defineRoute({
      method: 'post',
      path: '/{id}/webhook-secret',
      operationId: 'rotateWebhookSecret',
      tags,
      summary: 'Create or rotate the webhook secret; shown in this response only',
      request: { params: IdParam },
      responses: {
        201: json(
          z
            .object({ server_id: z.number().int(), webhook_url: z.string(), webhook_secret: z.string() })
            .openapi('WebhookSecret'),
          'The new secret',
        ),
        ...commonErrors,
        ...notFoundError,
      },
    }),
    async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const server = await findServer(sql, c.req.valid('param').id, visibleScope(caller));
      const secret = await rotateWebhookSecret(sql, server.id);
      return c.json(
        { server_id: server.id, webhook_url: `/api/servers/${server.id}/webhook`, webhook_secret: secret },
        201,
      );
    },
  );
}
