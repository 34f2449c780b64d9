-- :runs build runs with 4 platforms each, shaped like the ledger the build activities write:
-- 10 operators, :servers servers of 6 types, tiers and health derived as lib/artifact-health.ts does.
-- psql variables (psql -v runs=100000 -v servers=2000 -f seed.sql); bench/marketplace/seed.ts fills them.
insert into users (email, role, server_quota)
select 'bench-op-' || g || '@example.test', 'operator', 100000 from generate_series(1, 10) g;

insert into mcp_servers (owner_id, name, server_type, source, status)
select (select min(id) from users where role = 'operator') + (g % 10),
       'srv-' || (array['router','postgres','slack','pdf','notion','search'])[1 + g % 6] || '-' || g,
       (array['Router','PostgreSQL','Slack','PDF Parser','Notion','Search'])[1 + g % 6],
       jsonb_build_object('type', 'git', 'repository', 'https://git.example.test/team-' || (g % 50) || '/mcp-' || g || '.git', 'branch', 'main'),
       'ready'
from generate_series(1, :servers) g;

with runs as (
  select g,
         s.id as server_id, s.owner_id, s.name, s.server_type,
         (g % 7 = 0) as failed,
         (g % 3 <> 0) as multi,
         (array['healthy','healthy','healthy','expiring_soon','expired'])[1 + g % 5] as cred,
         encode(sha256(('run-' || g)::bytea), 'hex') as digest_hex,
         now() - (g || ' minutes')::interval as done
  from generate_series(1, :runs) g
  join mcp_servers s on s.id = (select min(id) from mcp_servers) + (g % :servers)
)
insert into build_artifact_runs
  (server_id, workflow_id, workflow_run_id, source_repo, source_branch, source_revision, registry, local_image, registry_image,
   manifest_tag, manifest_digest, started_at, completed_at, status, multi_arch, credential_health_status,
   owner_id, server_name, server_type, tier, health_overall, health_issues, search_text)
select server_id, 'build/' || server_id || '/' || substr(digest_hex, 1, 12), 'run-' || g,
       'https://git.example.test/mcp-' || server_id || '.git', 'main', digest_hex, 'registry.example.test/mcp',
       'mcp-custom-' || server_id,
       case when failed then null else 'registry.example.test/mcp/mcp-custom-' || server_id || ':latest' end,
       case when failed then null else 'latest' end,
       case when failed then null else 'sha256:' || digest_hex end,
       done - interval '2 minutes', done,
       case when failed then 'failed' else 'succeeded' end,
       multi and not failed,
       cred,
       owner_id, name, server_type,
       case
         when not failed and cred = 'healthy' then (case when multi then 'gold:' else 'silver:' end) || server_type
         else (case when multi and not failed then 'watchlist-multi:' else 'watchlist:' end) || server_type
       end,
       case when failed then 'blocked' when cred = 'healthy' then 'healthy' else 'degraded' end,
       array_remove(array[case when failed then 'build_status:failed' end, case when cred <> 'healthy' then 'credential:' || cred end], null),
       lower(concat_ws(' ', name, case when failed then null else 'latest' end, case when failed then null else 'sha256:' || digest_hex end,
             case when failed then null else 'registry.example.test/mcp/mcp-custom-' || server_id || ':latest' end,
             'mcp-custom-' || server_id, 'https://git.example.test/mcp-' || server_id || '.git'))
from runs;

insert into build_artifact_platforms (run_id, platform, remote_image, remote_tag, digest, credential_health_status)
select r.id, p.platform, 'registry.example.test/mcp/mcp-custom-' || r.server_id || ':latest-' || replace(p.platform, '/', '_'),
       'latest-' || replace(p.platform, '/', '_'), 'sha256:' || encode(sha256((r.id || p.platform)::bytea), 'hex'),
       r.credential_health_status
from build_artifact_runs r
cross join (values ('linux/amd64'), ('linux/arm64'), ('linux/arm/v7'), ('linux/s390x')) as p (platform);

