// Liveness and readiness; unauthenticated, for load balancers and orchestrators.
import { z } from '@hono/zod-openapi';
import { ping } from '../../lib/ledger/stats.js';
import { apiBase } from '../../lib/registry/reference.js';
import type { ApiDeps } from '../context.js';
import { createRouter, defineRoute, headersTooLargeError, json } from '../openapi.js';

const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ postgres: z.string(), temporal: z.string() }),
    /** What the API can see of the rest; informational, readiness does not depend on it. */
    info: z.object({ docker: z.string(), registry: z.string() }),
  })
  .openapi('Readiness');

const CHECK_TIMEOUT_MS = 3_000;

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return err instanceof Error && err.message.startsWith('no answer') ? err.message : 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes({ sql, temporal, docker, env }: ApiDeps) {
  return createRouter()
    .openapi(
      defineRoute({
        method: 'get',
        path: '/healthz',
        operationId: 'getHealth',
        tags: ['health'],
        summary: 'The process is up',
        security: [],
        responses: { 200: json(z.object({ status: z.literal('ok') }), 'Alive'), ...headersTooLargeError },
      }),
      (c) => c.json({ status: 'ok' as const }, 200),
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/readyz',
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Postgres and Temporal answer',
        security: [],
        responses: { 200: json(Readiness, 'Ready'), 503: json(Readiness, 'Not ready'), ...headersTooLargeError },
      }),
      async (c) => {
        const [postgres, temporalCheck, dockerCheck, registryCheck] = await Promise.all([
          check(() => ping(sql)),
          check(() => temporal.connection.workflowService.getSystemInfo({})),
          check(() => docker.ping()),
          env.REGISTRY
            ? check(async () => {
                // 200 or 401 both mean a registry answers at /v2/.
                const res = await fetch(`${apiBase(env.REGISTRY!)}/v2/`, {
                  signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
                });
                if (res.status !== 200 && res.status !== 401) throw new Error(`HTTP ${res.status}`);
              })
            : Promise.resolve('not configured'),
        ]);
        const ready = postgres === 'ok' && temporalCheck === 'ok';
        const body = {
          status: ready ? ('ready' as const) : ('not_ready' as const),
          checks: { postgres, temporal: temporalCheck },
          info: { docker: dockerCheck, registry: registryCheck },
        };
        return ready ? c.json(body, 200) : c.json(body, 503);
      },
    );
}
