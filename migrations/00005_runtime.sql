-- Runtime: policy decisions (the audit log of every launch decision), where each server runs now,
-- the MCP manifest its health check read, and VM instances with their attestation events.

create table runtime_policy_decisions (
  id                       serial primary key,
  server_id                integer not null references mcp_servers (id) on delete cascade,
  -- <workflow id>#<sequence>: a retried decision activity records one decision, not two.
  decision_key             text not null unique,
  backend                  text not null check (backend in ('docker', 'kubernetes', 'virtual-machine')),
  candidate_backend        text not null check (candidate_backend in ('docker', 'kubernetes', 'virtual-machine')),
  image                    text,
  requires_build           boolean not null,
  artifact_run_id          integer references build_artifact_runs (id) on delete set null,
  manifest_digest          text,
  policy_version           text not null,
  evaluation_required      boolean not null default false,
  governance_required      boolean not null default false,
  governance_run_id        bigint,
  tier                     text,
  health_overall           text,
  notes                    jsonb not null default '[]',
  capability_requirements  jsonb not null default '[]',
  capabilities_satisfied   boolean not null default true,
  executor_name            text,
  launchable               boolean not null,
  promotion_track_id       integer,
  promotion_stage          text,
  promotion_status         text,
  promotion_notes          text[] not null default '{}',
  decided_at               timestamptz not null default now()
);
create index runtime_policy_decisions_server_idx on runtime_policy_decisions (server_id, decided_at desc, id desc);

-- Where a server runs: recorded when it launches, read by stop, delete and logs after any restart.
create table server_runtimes (
  server_id     integer primary key references mcp_servers (id) on delete cascade,
  backend       text not null check (backend in ('docker', 'kubernetes', 'virtual-machine')),
  decision_id   integer references runtime_policy_decisions (id) on delete set null,
  workload      text not null,
  image         text not null,
  endpoint      text,
  transport     text not null default 'streamable-http' check (transport in ('streamable-http', 'stdio')),
  started_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

-- What the MCP health check read: {name, version, protocol_version, tools: [...]}.
alter table mcp_servers add column manifest jsonb;

create table runtime_vm_instances (
  id                   serial primary key,
  server_id            integer not null references mcp_servers (id) on delete cascade,
  instance_id          text not null,
  isolation_tier       text,
  attestation_status   text not null default 'pending' check (attestation_status in ('pending', 'trusted', 'untrusted', 'unknown')),
  attestation_evidence jsonb,
  policy_version       text,
  capability_notes     text[] not null default '{}',
  last_error           text,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  terminated_at        timestamptz,
  unique (server_id, instance_id)
);
create index runtime_vm_instances_server_idx on runtime_vm_instances (server_id, created_at desc);

create table runtime_vm_events (
  id              bigserial primary key,
  vm_instance_id  integer not null references runtime_vm_instances (id) on delete cascade,
  event_type      text not null,
  event_payload   jsonb,
  created_at      timestamptz not null default now()
);
create index runtime_vm_events_instance_idx on runtime_vm_events (vm_instance_id, id);
