-- Evaluations, governance runs and release-train promotions (§3.5–§3.7, §10–§12).
-- Every status is TEXT with a CHECK (weak spot #24); Temporal workflows carry out each process and
-- are the only writers of run and promotion status; these rows are what the API and catalog read.

-- Certifications: one per (owner, digest, tier, requirement). Scoped by owner, so no tenant can
-- certify or overwrite another's digest (weak spot #28); the digest is always the run's own.
create table evaluation_certifications (
  id                      serial primary key,
  owner_id                integer not null references users (id) on delete cascade,
  build_artifact_run_id   integer not null references build_artifact_runs (id) on delete cascade,
  manifest_digest         text not null,
  tier                    text not null,
  policy_requirement      text not null,
  status                  text not null check (status in ('pending', 'pass', 'fail')),
  evidence                jsonb,
  evidence_source         jsonb,
  evidence_lineage        jsonb,
  valid_from              timestamptz not null default now(),
  valid_until             timestamptz,
  refresh_cadence_seconds bigint check (refresh_cadence_seconds > 0),
  next_refresh_at         timestamptz,
  governance_notes        text,
  -- What an automatic evaluation expects the server to list (null: a manual certification).
  expected_tools          jsonb,
  created_at              timestamptz not null default now(),
  updated_at              timestamptz not null default now(),
  check (valid_until is null or valid_until > valid_from),
  unique (owner_id, manifest_digest, tier, policy_requirement)
);
create index evaluation_certifications_run_idx on evaluation_certifications (build_artifact_run_id);
create index evaluation_certifications_digest_idx on evaluation_certifications (manifest_digest, tier);

create table governance_workflows (
  id             serial primary key,
  owner_id       integer not null references users (id) on delete cascade,
  name           text not null,
  workflow_type  text not null check (workflow_type in ('promotion', 'rollback', 'credential_rotation')),
  tier           text not null,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  unique (owner_id, name)
);

create table governance_workflow_steps (
  id           serial primary key,
  workflow_id  integer not null references governance_workflows (id) on delete cascade,
  position     integer not null check (position > 0),
  action       text not null,
  config       jsonb not null default '{}',
  created_at   timestamptz not null default now(),
  unique (workflow_id, position)
);

create table promotion_tracks (
  id           serial primary key,
  owner_id     integer not null references users (id) on delete cascade,
  name         text not null,
  -- The server type the track governs, or a derived tier of it (`gold:Router`): see lib/governance/gate.ts.
  tier         text not null,
  stages       text[] not null check (cardinality(stages) > 0),
  description  text,
  workflow_id  integer references governance_workflows (id) on delete set null,
  -- Opt-in gates (weak spot #2): launches of the governed servers need an active promotion at this
  -- stage (or a later one), and an active pass of each listed certification requirement.
  launch_stage text,
  required_certifications text[] not null default '{}',
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  unique (owner_id, name),
  check (launch_stage is null or launch_stage = any (stages))
);

create table governance_workflow_runs (
  id                      bigserial primary key,
  workflow_id             integer not null references governance_workflows (id) on delete cascade,
  initiated_by            integer references users (id) on delete set null,
  target_artifact_run_id  integer references build_artifact_runs (id) on delete set null,
  target_manifest_digest  text,
  target_tier             text not null,
  -- A server to redeploy when the run completes.
  target_server_id        integer references mcp_servers (id) on delete set null,
  status                  text not null default 'pending'
                          check (status in ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
  notes                   text[] not null default '{}',
  promotion_track_id      integer references promotion_tracks (id) on delete set null,
  promotion_stage         text,
  created_at              timestamptz not null default now(),
  updated_at              timestamptz not null default now()
);
create index governance_workflow_runs_workflow_idx on governance_workflow_runs (workflow_id);
create index governance_workflow_runs_digest_idx on governance_workflow_runs (target_manifest_digest, target_tier);

create table governance_step_runs (
  id               bigserial primary key,
  workflow_run_id  bigint not null references governance_workflow_runs (id) on delete cascade,
  step_id          integer references governance_workflow_steps (id) on delete set null,
  position         integer not null,
  action           text not null,
  status           text not null default 'pending' check (status in ('pending', 'in_progress', 'completed', 'failed', 'blocked')),
  started_at       timestamptz,
  completed_at     timestamptz,
  error            text,
  unique (workflow_run_id, position)
);

create table governance_audit_logs (
  id               bigserial primary key,
  workflow_run_id  bigint not null references governance_workflow_runs (id) on delete cascade,
  actor_id         integer references users (id) on delete set null,
  event_type       text not null,
  details          jsonb,
  -- <workflow id>#<sequence>: a retried transition writes one audit row, not two.
  transition_key   text unique,
  created_at       timestamptz not null default now()
);
create index governance_audit_logs_run_idx on governance_audit_logs (workflow_run_id, id);
-- Tailed by the run's SSE stream: ids become visible in order (functions of migration 00002).
create trigger governance_audit_logs_order before insert on governance_audit_logs for each row execute function order_tailed_row();
create trigger governance_audit_logs_notify after insert on governance_audit_logs for each row execute function notify_tailed_row();

create table artifact_promotions (
  id                  bigserial primary key,
  promotion_track_id  integer not null references promotion_tracks (id) on delete cascade,
  manifest_digest     text not null,
  artifact_run_id     integer references build_artifact_runs (id) on delete set null,
  stage               text not null,
  status              text not null default 'scheduled'
                      check (status in ('scheduled', 'in_progress', 'approved', 'active', 'rolled_back')),
  scheduled_by        integer references users (id) on delete set null,
  approved_by         integer references users (id) on delete set null,
  workflow_run_id     bigint references governance_workflow_runs (id) on delete set null,
  notes               text[] not null default '{}',
  scheduled_at        timestamptz not null default now(),
  approved_at         timestamptz,
  activated_at        timestamptz,
  rolled_back_at      timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
-- One live promotion per (track, stage, digest); a rolled-back one may be scheduled again (weak spot #21).
create unique index artifact_promotions_live_idx on artifact_promotions (promotion_track_id, stage, manifest_digest)
  where status <> 'rolled_back';
create index artifact_promotions_digest_idx on artifact_promotions (manifest_digest);

-- Each promotion-status change and transition key: a retried activity records it once.
create table promotion_events (
  id              bigserial primary key,
  promotion_id    bigint not null references artifact_promotions (id) on delete cascade,
  actor_id        integer references users (id) on delete set null,
  status          text not null,
  note            text,
  transition_key  text unique,
  created_at      timestamptz not null default now()
);
create index promotion_events_promotion_idx on promotion_events (promotion_id, id);

alter table runtime_policy_decisions
  add constraint runtime_policy_decisions_governance_run_fk
    foreign key (governance_run_id) references governance_workflow_runs (id) on delete set null,
  add constraint runtime_policy_decisions_track_fk
    foreign key (promotion_track_id) references promotion_tracks (id) on delete set null;
