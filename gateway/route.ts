// Whether the gateway may send a request to a server now, decided from the ledger's record of it: the
// one place that reads a server's status for routing (the relay asks it before the hop and again when
// the hop failed).
import type { ServerRoute } from '../lib/ledger/runtime.js';

/** Seconds a client is told to wait before trying a server that is not running again. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Statuses whose endpoint is served: a degraded server still answers (slowly, or failing under the
 * limit), a drifted one serves the sessions it has. Unhealthy, restarting and crashloop servers get a
 * 503 with Retry-After until their supervisor has them running again (the route cache drops a
 * server's route on each of its status events).
 */
const ROUTABLE = new Set(['running', 'degraded', 'drifted']);

export type RouteDecision =
  | { ok: true; endpoint: string; generation: string }
  | { ok: false; status: 503; message: string; retryAfterSeconds: number }
  | { ok: false; status: 403; message: string };

/**
 * Where to send a request for this server, or why not (503 with Retry-After; 403 for a new session on
 * a drifted server whose track does not allow drift: it keeps its sessions, refuses new ones).
 */
export function routeDecision(route: ServerRoute, request: { opensSession?: boolean } = {}): RouteDecision {
  if (route.status === 'drifted' && !route.driftAllowed && request.opensSession) {
    const why = route.statusReason ?? 'its tools differ from those certified';
    return { ok: false, status: 403, message: `server ${route.serverId} refuses new sessions: ${why}` };
  }
  if (ROUTABLE.has(route.status) && route.endpoint !== null && route.generation !== null) {
    return { ok: true, endpoint: route.endpoint, generation: route.generation };
  }
  const message =
    route.transport === 'stdio' && ROUTABLE.has(route.status)
      ? `server ${route.serverId} speaks stdio, which the gateway reaches only through a stdio bridge this server does not have yet`
      : `server ${route.serverId} is not running (status ${route.status})`;
  return { ok: false, status: 503, message, retryAfterSeconds: RETRY_AFTER_SECONDS };
}
