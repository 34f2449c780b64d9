// Whether the gateway may send a request to a server now, decided from the ledger's record of it: the
// one place that reads a server's status for routing (the relay asks it before the hop and again when
// the hop failed).
import type { ServerRoute } from '../lib/ledger/runtime.js';

/** Seconds a client is told to wait before trying a server that is not running again. */
export const RETRY_AFTER_SECONDS = 5;

/** Statuses whose endpoint is served (an `unhealthy` server still answers some calls). */
const ROUTABLE = new Set(['running', 'unhealthy']);

export type RouteDecision =
  | { ok: true; endpoint: string; generation: string }
  | { ok: false; status: 503; message: string; retryAfterSeconds: number };

/** Where to send a request for this server, or why not (503 with Retry-After). */
export function routeDecision(route: ServerRoute): RouteDecision {
  if (ROUTABLE.has(route.status) && route.endpoint !== null && route.generation !== null) {
    return { ok: true, endpoint: route.endpoint, generation: route.generation };
  }
  const message =
    route.transport === 'stdio' && ROUTABLE.has(route.status)
      ? `server ${route.serverId} speaks stdio, which the gateway reaches only through a stdio bridge this server does not have yet`
      : `server ${route.serverId} is not running (status ${route.status})`;
  return { ok: false, status: 503, message, retryAfterSeconds: RETRY_AFTER_SECONDS };
}
