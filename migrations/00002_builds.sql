-- Build and publish: the artifact ledger, per-build log lines and registry telemetry.

alter table mcp_servers drop constraint mcp_servers_status_check;
alter table mcp_servers add constraint mcp_servers_status_check check (status in (
  'creating', 'starting', 'cloning', 'building', 'ready', 'running', 'unhealthy', 'stopping', 'stopped',
  'redeploying', 'pending-governance', 'error', 'deleting'));
-- HMAC key for POST /api/servers/:id/webhook; verifying a signature needs the key itself.
alter table mcp_servers add column webhook_secret text;

create table build_artifact_runs (
  id                        serial primary key,
  server_id                 integer not null references mcp_servers (id) on delete cascade,
  -- One row per workflow run, however often its activities are retried.
  workflow_id               text not null,
  workflow_run_id           text not null,
  source_repo               text,
  source_branch             text,
  source_revision           text,
  registry                  text,
  local_image               text not null,
  registry_image            text,
  manifest_tag              text,
  manifest_digest           text,
  started_at                timestamptz not null default now(),
  completed_at              timestamptz,
  status                    text not null default 'running'
                              check (status in ('running', 'succeeded', 'failed', 'cancelled')),
  failure_reason            text,
  multi_arch                boolean not null default false,
  auth_refresh_attempted    boolean not null default false,
  auth_refresh_succeeded    boolean not null default false,
  auth_rotation_attempted   boolean not null default false,
  auth_rotation_succeeded   boolean not null default false,
  credential_health_status  text not null default 'unknown'
                              check (credential_health_status in ('healthy', 'expiring_soon', 'expired', 'unknown')),
  created_at                timestamptz not null default now(),
  unique (workflow_id, workflow_run_id)
);
create index build_artifact_runs_server_id_idx on build_artifact_runs (server_id, id desc);
create index build_artifact_runs_status_idx on build_artifact_runs (status);
create index build_artifact_runs_manifest_digest_idx on build_artifact_runs (manifest_digest);

create table build_artifact_platforms (
  id                        serial primary key,
  run_id                    integer not null references build_artifact_runs (id) on delete cascade,
  platform                  text not null,
  remote_image              text not null,
  remote_tag                text not null,
  digest                    text,
  media_type                text,
  size                      bigint,
  auth_refresh_attempted    boolean not null default false,
  auth_refresh_succeeded    boolean not null default false,
  auth_rotation_attempted   boolean not null default false,
  auth_rotation_succeeded   boolean not null default false,
  credential_health_status  text not null default 'unknown'
                              check (credential_health_status in ('healthy', 'expiring_soon', 'expired', 'unknown')),
  recorded_at               timestamptz not null default now(),
  unique (run_id, platform)
);
create index build_artifact_platforms_digest_idx on build_artifact_platforms (digest);

-- Build output, one row per line (blank lines dropped), streamed live by the API.
create table build_logs (
  id          bigserial primary key,
  run_id      integer not null references build_artifact_runs (id) on delete cascade,
  platform    text,
  line        text not null,
  created_at  timestamptz not null default now()
);
create index build_logs_run_id_idx on build_logs (run_id, id);

-- Registry and lifecycle telemetry (event names and detail keys as in the seed's catalogue).
create table usage_metrics (
  id          bigserial primary key,
  server_id   integer not null references mcp_servers (id) on delete cascade,
  run_id      integer references build_artifact_runs (id) on delete set null,
  timestamp   timestamptz not null default now(),
  event_type  text not null,
  details     jsonb
);
create index usage_metrics_server_id_idx on usage_metrics (server_id, id desc);

-- Same ordering guarantee as server_events (migration 00001): tailed by id, so ids become visible in order.
create function order_tailed_row() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock(hashtext(tg_table_name));
  new.id := nextval(pg_get_serial_sequence(tg_table_name, 'id'));
  return new;
end $$;

create function notify_tailed_row() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_name, new.id::text);
  return new;
end $$;

create trigger build_logs_order before insert on build_logs for each row execute function order_tailed_row();
create trigger build_logs_notify after insert on build_logs for each row execute function notify_tailed_row();
create trigger usage_metrics_order before insert on usage_metrics for each row execute function order_tailed_row();
create trigger usage_metrics_notify after insert on usage_metrics for each row execute function notify_tailed_row();
