// What the aggregated endpoint is built with (gateway/app.ts composes it), and the few rules and
// helpers every part of it shares: its refusal codes, its time limits, how an audit row is emitted.
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { ServerEventRow } from '../../lib/ledger/servers.js';
import type { TableTail } from '../../lib/ledger/table-tail.js';
import type { Logger } from '../../lib/logger.js';
import type { GatewayAuditEntry, GatewayAuthFailure, GatewayParts, GatewayPrincipal } from '../contracts.js';
import type { GatewayMetrics } from '../metrics.js';
import type { SignedIds } from '../sessions.js';

/** The status events the aggregate follows (the ledger's server_events tail). */
export type ServerEventFeed = Pick<TableTail<ServerEventRow>, 'subscribe'>;

export interface AggregateDeps {
  parts: GatewayParts;
  /**
   * Who the bearer token names, for the resource (the canonical URL of /mcp, which an OpenID Connect
   * token's audience must name); a failure is answered 401 pointing at the protected-resource metadata.
   */
  authenticate(authorization: string | undefined, resource: string): Promise<GatewayPrincipal | GatewayAuthFailure>;
  /** Whether a browser's Origin may call the gateway (an absent Origin is a non-browser client). */
  originAllowed(origin: string, requestUrl: string): boolean;
  /** The canonical URL of a gateway path, as clients reach it. */
  publicUrl(path: string, requestUrl: string): string;
  /** Every server in the principal's owner scope (grants are applied here, by `parts.access`). */
  targets(principal: GatewayPrincipal): Promise<ServerRoute[]>;
  serverEvents: ServerEventFeed;
  /** Signs and verifies session ids (a key of the aggregate's own, derived like the relay's). */
  signer: () => Promise<SignedIds>;
  log: Logger;
  /** The gateway's Prometheus metrics: each audited message is counted there too. */
  metrics?: GatewayMetrics;
  /** A session nobody used for this long leaves the cache (its id stays valid: it is rebuilt). */
  idleMs?: number;
  /** Longest wait for an upstream answer; progress notifications restart it. */
  callTimeoutMs?: number;
  maxBodyBytes?: number;
  /** Request headers the upstream transports add (tracing, say); the client's token is never among them. */
  upstreamHeaders?: () => Record<string, string>;
}

export const RUNNING = 'running';

/** The JSON-RPC error codes of the gateway's own refusals (the relay answers with the same). */
export const Refusal = {
  unauthorized: -32002,
  forbidden: -32003,
  rateLimited: -32029,
  sessionNotFound: -32001,
} as const;

/** A server slower than this to answer initialize or a list is left out of that list (the others are not held up by it). */
export const LIST_TIMEOUT_MS = 10_000;
export const DEFAULT_CALL_TIMEOUT_MS = 600_000;

/** An audit row, also counted in the metrics. */
export function emit(deps: Pick<AggregateDeps, 'parts' | 'metrics'>, row: GatewayAuditEntry): void {
  deps.parts.audit.record(row);
  deps.metrics?.observe(row.serverId, row.method, row.outcome, row.durationMs / 1000);
}

/** A JSON-RPC error answer the gateway itself writes (refusals before the SDK sees the request). */
export function rpcError(status: number, code: number, message: string, id: RequestId | null = null, headers = {}) {
  return new Response(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}
