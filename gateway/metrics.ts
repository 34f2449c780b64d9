// The gateway's Prometheus metrics, on the API's registry: requests by server, MCP method and outcome,
// their duration, and the sessions and streams this replica holds. Labels stay bounded: the method
// label is one of the protocol's methods (or `other`), the server label a server id.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AuditOutcome } from './contracts.js';

const KNOWN_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'server/discover',
  'subscriptions/listen',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'response',
  'GET',
  'DELETE',
]);

/** A session counts as open while it was used within this window. */
const SESSION_IDLE_MS = 30 * 60_000;

export interface GatewayMetrics {
  observe(serverId: number | null, method: string, outcome: AuditOutcome, seconds: number): void;
  /** A request carried this gateway session id. */
  sessionUsed(id: string): void;
  sessionClosed(id: string): void;
  streamOpened(): void;
  streamClosed(): void;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const requests = new Counter({
    name: 'mcp_gateway_requests_total',
    help: 'JSON-RPC messages and streams relayed by the gateway, by server, MCP method and outcome',
    labelNames: ['server', 'method', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'mcp_gateway_request_duration_seconds',
    help: 'Time from a request reaching the gateway to its response (the first byte of a stream), by server and MCP method',
    labelNames: ['server', 'method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const sessions = new Map<string, number>();
  new Gauge({
    name: 'mcp_gateway_open_sessions',
    help: `Gateway sessions this replica served within the last ${SESSION_IDLE_MS / 60_000} minutes and not closed`,
    registers: [registry],
    collect() {
      const since = Date.now() - SESSION_IDLE_MS;
      for (const [id, at] of sessions) if (at < since) sessions.delete(id);
      this.set(sessions.size);
    },
  });
  const streams = new Gauge({
    name: 'mcp_gateway_open_streams',
    help: 'Server-sent event streams (GET and POST) this replica is relaying now',
    registers: [registry],
  });
  return {
    observe(serverId, method, outcome, seconds) {
      const labels = {
        server: serverId === null ? '' : String(serverId),
        method: KNOWN_METHODS.has(method) ? method : 'other',
      };
      requests.inc({ ...labels, outcome });
      duration.observe(labels, seconds);
    },
    sessionUsed: (id) => void sessions.set(id, Date.now()),
    sessionClosed: (id) => void sessions.delete(id),
    streamOpened: () => streams.inc(),
    streamClosed: () => streams.dec(),
  };
}
