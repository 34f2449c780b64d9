-- Marketplace catalog: the run row carries what the catalog filters and sorts on (owner, server
-- name and type, derived tier and health, one search text), so every filter runs in SQL before the
-- limit, on an index, with no per-row queries. Written by the ledger activities with the shared
-- tier vocabulary (lib/artifact-health.ts).
create extension if not exists pg_trgm;

alter table build_artifact_runs
  add column owner_id       integer,
  add column server_name    text,
  add column server_type    text,
  add column tier           text,
  add column health_overall text check (health_overall in ('healthy', 'degraded', 'blocked')),
  add column health_issues  text[] not null default '{}',
  add column search_text    text,
  add column sort_at        timestamptz generated always as (coalesce(completed_at, started_at)) stored;

update build_artifact_runs r set
  owner_id = s.owner_id, server_name = s.name, server_type = s.server_type,
  search_text = lower(concat_ws(' ', s.name, r.manifest_tag, r.manifest_digest, r.registry_image, r.local_image, r.source_repo))
from mcp_servers s where s.id = r.server_id;

create index build_artifact_runs_catalog_idx on build_artifact_runs (sort_at desc, id desc);
create index build_artifact_runs_owner_catalog_idx on build_artifact_runs (owner_id, sort_at desc, id desc);
create index build_artifact_runs_tier_idx on build_artifact_runs (lower(tier), sort_at desc, id desc);
create index build_artifact_runs_type_idx on build_artifact_runs (server_type, sort_at desc, id desc);
create index build_artifact_runs_status_catalog_idx on build_artifact_runs (status, sort_at desc, id desc);
create index build_artifact_runs_search_idx on build_artifact_runs using gin (search_text gin_trgm_ops);
create index build_artifact_platforms_run_id_idx on build_artifact_platforms (run_id);
