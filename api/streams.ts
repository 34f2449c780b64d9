// The tailed tables the API streams from, with their row shapes.
import type { Sql } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import type { ServerEvent } from '../lib/schemas/servers.js';
import { TableTail } from './table-tail.js';

export interface ServerEventRow {
  id: number;
  server_id: number;
  owner_id: number;
  event_type: 'status' | 'deleted';
  status: string;
  previous_status: string | null;
  reason: string | null;
  created_at: Date;
}

export interface MetricRow {
  id: number;
  server_id: number;
  run_id: number | null;
  timestamp: Date;
  event_type: string;
  details: unknown;
}

export interface BuildLogRow {
  id: number;
  run_id: number;
  platform: string | null;
  line: string;
  created_at: Date;
}

export interface GovernanceAuditRow {
  id: number;
  workflow_run_id: number;
  actor_id: number | null;
  event_type: string;
  details: Record<string, unknown> | null;
  created_at: Date;
}

export function toAuditEvent(row: GovernanceAuditRow) {
  return {
    id: Number(row.id),
    run_id: Number(row.workflow_run_id),
    event_type: row.event_type,
    actor_id: row.actor_id,
    details: row.details ?? null,
    run_status: typeof row.details?.status === 'string' ? row.details.status : null,
    created_at: row.created_at.toISOString(),
  };
}

export function toServerEvent(row: ServerEventRow): ServerEvent {
  return {
    id: row.server_id,
    event_id: Number(row.id),
    status: row.status,
    previous_status: row.previous_status,
    reason: row.reason,
    at: row.created_at.toISOString(),
  };
}

export interface Streams {
  serverEvents: TableTail<ServerEventRow>;
  metrics: TableTail<MetricRow>;
  buildLogs: TableTail<BuildLogRow>;
  governanceAudit: TableTail<GovernanceAuditRow>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createStreams(sql: Sql, log: Logger): Streams {
  const serverEvents = new TableTail<ServerEventRow>(sql, log, 'server_events', 'mcp_server_events');
  const metrics = new TableTail<MetricRow>(sql, log, 'usage_metrics');
  const buildLogs = new TableTail<BuildLogRow>(sql, log, 'build_logs');
  const governanceAudit = new TableTail<GovernanceAuditRow>(sql, log, 'governance_audit_logs');
  const all = [serverEvents, metrics, buildLogs, governanceAudit];
  return {
    serverEvents,
    metrics,
    buildLogs,
    governanceAudit,
    start: async () => {
      await Promise.all(all.map((t) => t.start()));
    },
    stop: async () => {
      await Promise.all(all.map((t) => t.stop()));
    },
  };
}
