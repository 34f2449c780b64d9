// The tailed tables the API streams from (their row shapes are the ledger's).
import type { Sql } from '../lib/db.js';
import type { BuildLogRow } from '../lib/ledger/builds.js';
import type { GatewayAuditRow } from '../lib/ledger/gateway-audit.js';
import type { GovernanceAuditRow } from '../lib/ledger/governance.js';
import type { MetricRow } from '../lib/ledger/metrics.js';
import type { ServerEventRow } from '../lib/ledger/servers.js';
import { TableTail } from '../lib/ledger/table-tail.js';
import type { Logger } from '../lib/logger.js';

export interface Streams {
  serverEvents: TableTail<ServerEventRow>;
  metrics: TableTail<MetricRow>;
  buildLogs: TableTail<BuildLogRow>;
  governanceAudit: TableTail<GovernanceAuditRow>;
  gatewayAudit: TableTail<GatewayAuditRow>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createStreams(sql: Sql, log: Logger): Streams {
  const serverEvents = new TableTail<ServerEventRow>(sql, log, 'server_events', 'mcp_server_events');
  const metrics = new TableTail<MetricRow>(sql, log, 'usage_metrics');
  const buildLogs = new TableTail<BuildLogRow>(sql, log, 'build_logs');
  const governanceAudit = new TableTail<GovernanceAuditRow>(sql, log, 'governance_audit_logs');
  const gatewayAudit = new TableTail<GatewayAuditRow>(sql, log, 'gateway_audit');
  const all = [serverEvents, metrics, buildLogs, governanceAudit, gatewayAudit];
  return {
    serverEvents,
    metrics,
    buildLogs,
    governanceAudit,
    gatewayAudit,
    start: async () => {
      await Promise.all(all.map((t) => t.start()));
    },
    stop: async () => {
      await Promise.all(all.map((t) => t.stop()));
    },
  };
}
