// Registry credentials between builds: the latest scheduled checks, and an on-demand rotation.
import { z } from '@hono/zod-openapi';
import { WorkflowFailedError } from '@temporalio/client';
import { ApiError } from '../../lib/errors.js';
import { recentChecks, toCheck } from '../../lib/ledger/registry.js';
import { parseRegistry } from '../../lib/registry/reference.js';
import { CredentialsStatus } from '../../lib/schemas/registry.js';
import type { registryCredentials } from '../../workflows/registry-credentials.js';
import { requireRole } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, defineRoute } from '../openapi.js';

const tags = ['registry'];

export function registryRoutes(deps: ApiDeps) {
  const { sql, env, temporal, workflowIds } = deps;
  const registry = env.REGISTRY ?? null;
  const host = registry ? parseRegistry(registry).host : null;
  const status = async () => {
    const history = registry ? await recentChecks(sql, registry) : [];
    let schedule: z.infer<typeof CredentialsStatus>['schedule'] = null;
    if (host) {
      const described = await temporal.schedule
        .getHandle(workflowIds.credentials(host))
        .describe()
        .catch(() => undefined);
      if (described) {
        schedule = {
          id: described.scheduleId,
          next_runs: described.info.nextActionTimes.map((d) => d.toISOString()),
          paused: described.state.paused,
        };
      }
    }
    return {
      registry,
      configured: Boolean(registry && env.REGISTRY_AUTH_DOCKERCONFIG),
      latest: history[0] ? toCheck(history[0]) : null,
      history: history.map(toCheck),
      schedule,
    };
  };

  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/credentials',
        operationId: 'getRegistryCredentials',
        tags,
        summary: 'Credential health as last checked, recent checks, and the check schedule',
        responses: { 200: json(CredentialsStatus, 'Status'), ...commonErrors },
      }),
      async (c) => c.json(await status(), 200),
    )
    .openapi(
      defineRoute({
        method: 'post',
        path: '/credentials/rotate',
        operationId: 'rotateRegistryCredentials',
        tags,
        summary: 'Rotate the registry credentials now (admin); answers once the rotation has run',
        responses: {
          200: json(CredentialsStatus, 'Rotated; `latest` is this rotation'),
          ...commonErrors,
          409: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'Nothing to rotate'),
          502: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'The rotation failed'),
        },
      }),
      async (c) => {
        requireRole(c.get('caller'), 'admin');
        if (!registry || !host || !env.REGISTRY_AUTH_DOCKERCONFIG) {
          throw new ApiError(
            409,
            'not_configured',
            'REGISTRY and REGISTRY_AUTH_DOCKERCONFIG must be set to rotate credentials',
          );
        }
        try {
          await temporal.withDeadline(Date.now() + 180_000, () =>
            temporal.workflow.execute<typeof registryCredentials>('registryCredentials', {
              workflowId: `${workflowIds.credentials(host)}/manual-${Date.now()}`,
              taskQueue: env.TEMPORAL_TASK_QUEUE,
              args: [{ registry, trigger: 'manual', force: true }],
            }),
          );
        } catch (err) {
          if (err instanceof WorkflowFailedError)
            throw new ApiError(502, 'rotation_failed', 'credential rotation failed; see the latest check');
          throw err;
        }
        return c.json(await status(), 200);
      },
    );
}
