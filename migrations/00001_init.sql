-- Users, API tokens, MCP servers and the server event log that feeds the status stream.
-- Status columns are TEXT with CHECK constraints (never Postgres enums): adding a value is one ALTER.

create table users (
  id            serial primary key,
  email         text not null,
  role          text not null check (role in ('admin', 'operator', 'viewer')),
  server_quota  integer not null default 5 check (server_quota >= 0),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

-- Opaque bearer tokens: only the SHA-256 of the token is kept; the token is shown once.
create table api_tokens (
  id            serial primary key,
  user_id       integer not null references users (id) on delete cascade,
  name          text not null,
  token_hash    bytea not null unique,
  prefix        text not null,
  created_at    timestamptz not null default now(),
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
create index api_tokens_user_id_idx on api_tokens (user_id);

create table mcp_servers (
  id           serial primary key,
  owner_id     integer not null references users (id) on delete restrict,
  name         text not null,
  server_type  text not null,
  source       jsonb not null,
  config       jsonb not null default '{}'::jsonb,
  use_gpu      boolean not null default false,
  status       text not null default 'creating' check (status in (
                 'creating', 'starting', 'cloning', 'building', 'running', 'unhealthy', 'stopping', 'stopped',
                 'redeploying', 'pending-governance', 'error', 'deleting')),
  status_reason text,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  unique (owner_id, name)
);
create index mcp_servers_owner_id_idx on mcp_servers (owner_id);

-- Append-only: one row per status change, written in the same transaction as the change.
-- No foreign key, so the final 'deleted' event outlives its server.
create table server_events (
  id               bigserial primary key,
  server_id        integer not null,
  owner_id         integer not null,
  event_type       text not null check (event_type in ('status', 'deleted')),
  status           text not null,
  previous_status  text,
  reason           text,
  -- <workflow id>#<sequence>: a retried activity cannot write the same transition twice.
  transition_key   text unique,
  created_at       timestamptz not null default now()
);
create index server_events_server_id_idx on server_events (server_id, id);
create index server_events_owner_id_idx on server_events (owner_id, id);

-- Readers tail this table by id (the status stream and its Last-Event-ID replay), so ids must be
-- visible in id order. A sequence alone does not give that: two transactions can commit in the
-- opposite order of their ids. Writers therefore take one transaction-scoped lock and draw the id
-- under it, which makes commit order and id order the same. Each holds it for one short transaction.
create function order_server_event() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock(727003);
  new.id := nextval(pg_get_serial_sequence('server_events', 'id'));
  return new;
end $$;

create trigger server_events_order before insert on server_events
  for each row execute function order_server_event();

create function notify_server_event() returns trigger language plpgsql as $$
begin
  perform pg_notify('mcp_server_events', new.id::text);
  return new;
end $$;

create trigger server_events_notify after insert on server_events
  for each row execute function notify_server_event();
