-- Supervision after launch (issue 18): the statuses a supervised server moves through, the probes
-- behind them, and the track settings that decide what a drift or a failed soak does.
alter table mcp_servers drop constraint mcp_servers_status_check;
alter table mcp_servers add constraint mcp_servers_status_check check (status in (
  'creating', 'starting', 'building', 'ready', 'running', 'degraded', 'unhealthy', 'restarting', 'crashloop',
  'drifted', 'stopping', 'stopped', 'redeploying', 'pending-governance', 'error', 'deleting',
  'provisioning', 'pending-attestation', 'blocked'));

-- One row per health probe of a supervised server; only the latest few are kept (lib/ledger/probes.ts).
create table server_probes (
  id             bigserial primary key,
  server_id      integer not null references mcp_servers (id) on delete cascade,
  -- <workflow id>#<sequence>: a retried probe activity writes one row.
  probe_key      text not null unique,
  ok             boolean not null,
  -- `ping`, or `tools/list` for a server that does not answer ping.
  method         text not null,
  latency_ms     integer,
  error          text,
  -- sha-256 of the canonical tools/list (names, descriptions, input schemas); null when it failed.
  tools_digest   text,
  probed_at      timestamptz not null default now()
);
create index server_probes_server_idx on server_probes (server_id, id desc);

-- A track may let the servers it governs keep taking new gateway sessions while their tools differ
-- from the certified ones (drifted).
alter table promotion_tracks add column allow_drift boolean not null default false;
