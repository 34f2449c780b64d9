// The secret store: names, versions and who uses each secret; values go in (encrypted at once) and
// never come out of the API. A new version redeploys the launched servers that ask for it
// (`secret_updates: "redeploy"`); the others take it at their next start.
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { addCodecKey } from '../../lib/ledger/payload-codec-keys.js';
import {
  createSecret,
  deleteSecret,
  listSecrets,
  rekeySecrets,
  serversToRedeploy,
  toSecret,
  updateSecret,
} from '../../lib/ledger/secrets.js';
import {
  CodecKeyAdded,
  CreateSecretBody,
  RekeyResult,
  Secret,
  SecretNameParam,
  UpdatedSecret,
  UpdateSecretBody,
} from '../../lib/schemas/secrets.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, conflictError, createRouter, json, jsonBody, notFoundError, defineRoute } from '../openapi.js';
import { sendIntent } from '../workflow-calls.js';

const tags = ['secrets'];

const createSecretRoute = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'createSecret',
  tags,
  summary: 'Create a secret of your own (version 1); its value is never shown again',
  request: { body: jsonBody(CreateSecretBody) },
  responses: { 201: json(Secret, 'Created'), ...commonErrors, ...conflictError },
});

const listSecretsRoute = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listSecrets',
  tags,
  summary: 'List secrets (operators: their own; admins and viewers: all): names, versions, users — never values',
  responses: { 200: json(z.array(Secret), 'Secrets'), ...commonErrors },
});

const updateSecretRoute = defineRoute({
  method: 'put',
  path: '/{name}',
  operationId: 'updateSecret',
  tags,
  summary: 'Store a new version of a secret of your own; servers that asked for it are redeployed',
  request: { params: SecretNameParam, body: jsonBody(UpdateSecretBody) },
  responses: {
    200: json(UpdatedSecret, 'The secret at its new version, and the servers redeployed'),
    ...commonErrors,
    ...notFoundError,
  },
});

const deleteSecretRoute = defineRoute({
  method: 'delete',
  path: '/{name}',
  operationId: 'deleteSecret',
  tags,
  summary: 'Delete a secret of your own with every version; 409 naming the servers while any references it',
  request: { params: SecretNameParam },
  responses: { 204: { description: 'Deleted' }, ...commonErrors, ...notFoundError, ...conflictError },
});

const rekeySecretsRoute = defineRoute({
  method: 'post',
  path: '/rekey',
  operationId: 'rekeySecrets',
  tags,
  summary: 'Re-wrap every data key with SECRETS_KEY_NEXT (admins); servers keep running',
  responses: { 200: json(RekeyResult, 'Every version is wrapped by the next key'), ...commonErrors, ...conflictError },
});

const addCodecKeyRoute = defineRoute({
  method: 'post',
  path: '/codec-keys',
  operationId: 'addCodecKey',
  tags,
  summary:
    'Add a new random payload codec key (admins): new Temporal payloads are sealed with it, older histories still open',
  responses: { 201: json(CodecKeyAdded, 'The new key seals from now on'), ...commonErrors },
});

export function secretRoutes(deps: ApiDeps) {
  const { sql, keyring, log } = deps;
  return createRouter()
    .openapi(createSecretRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const body = c.req.valid('json');
      const row = await createSecret(sql, keyring, { ownerId: caller.id, name: body.name, value: body.value });
      return c.json(toSecret(row), 201);
    })
    .openapi(listSecretsRoute, async (c) => {
      const rows = await listSecrets(sql, visibleScope(c.get('caller')));
      return c.json(rows.map(toSecret), 200);
    })
    .openapi(updateSecretRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const { name } = c.req.valid('param');
      const row = await updateSecret(sql, keyring, { ownerId: caller.id, name, value: c.req.valid('json').value });
      // Servers that asked to follow their secrets are redeployed now; one the workflow refuses
      // (mid-transition, stopped meanwhile) takes the new version at its next start, like every other.
      const reason = `secret ${name} version ${row.current_version}`;
      const redeployed: { id: number; name: string }[] = [];
      for (const server of await serversToRedeploy(sql, caller.id, name)) {
        try {
          await sendIntent(deps, server.id, 'redeploy', caller.id, `redeploy: ${reason}`);
          redeployed.push(server);
        } catch (err) {
          log.info({ serverId: server.id, secret: name, reason: (err as Error).message }, 'secret change: no redeploy');
        }
      }
      return c.json({ ...toSecret(row), redeployed }, 200);
    })
    .openapi(deleteSecretRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      await deleteSecret(sql, caller.id, c.req.valid('param').name);
      return c.body(null, 204);
    })
    .openapi(rekeySecretsRoute, async (c) => {
      requireRole(c.get('caller'), 'admin');
      if (!keyring.next) {
        throw new ApiError(
          409,
          'no_next_key',
          'no next key is configured: set SECRETS_KEY_NEXT (or SECRETS_KEY_NEXT_FILE) on the API and the worker, restart them, then rekey',
        );
      }
      const { codecKeys, ...result } = await rekeySecrets(sql, keyring);
      log.info({ keyId: keyring.write.id, rewrapped: result.rewrapped, codecKeys }, 'secrets rekeyed');
      return c.json({ key_id: keyring.write.id, ...result }, 200);
    })
    .openapi(addCodecKeyRoute, async (c) => {
      requireRole(c.get('caller'), 'admin');
      const added = await addCodecKey(sql, keyring);
      // This process seals with it before answering (and logs it); the others reload on the insert's NOTIFY.
      await deps.codecKeys.reload();
      return c.json({ codec_key_id: added.codecKeyId, key_id: keyring.write.id, keys: added.keys }, 201);
    });
}
