-- The gateway's access side: client tokens with grants, the audit of every call that reached it,
-- and the open sessions each token holds (counted across gateway replicas).

-- A token with grants is a client token of the gateway: it opens only the granted servers, tools,
-- resources and prompts at /mcp, and nothing at /api. Null: an API token, as before.
alter table api_tokens add column gateway_grants jsonb
  check (gateway_grants is null or jsonb_typeof(gateway_grants) = 'object');

-- One row per JSON-RPC request that reached the gateway. Server and token ids are kept as plain
-- numbers: the audit outlives a deleted server or a revoked token.
create table gateway_audit (
  id                bigserial primary key,
  at                timestamptz not null,
  owner_id          integer references users (id) on delete set null,
  user_id           integer references users (id) on delete set null,
  subject           text,
  token_id          integer,
  server_id         integer,
  session_id        text,
  method            text not null,
  name              text,
  outcome           text not null check (outcome in ('ok', 'error', 'denied', 'rate-limited', 'unavailable')),
  http_status       integer not null,
  duration_ms       double precision not null,
  request_bytes     integer not null,
  response_bytes    integer not null,
  arguments_digest  text,
  arguments         jsonb,
  error             text,
  recorded_at       timestamptz not null default now()
);
create index gateway_audit_owner_idx on gateway_audit (owner_id, id);
create index gateway_audit_server_idx on gateway_audit (server_id, id);
create index gateway_audit_token_idx on gateway_audit (token_id, id);
-- Tailed by the audit's SSE stream: ids become visible in order (functions of migration 00002).
create trigger gateway_audit_order before insert on gateway_audit for each row execute function order_tailed_row();
create trigger gateway_audit_notify after insert on gateway_audit for each row execute function notify_tailed_row();

-- Sessions a token (or an OpenID Connect subject) holds open, shared by every gateway replica so the
-- maximum per token holds across them; a session idle past the configured time no longer counts.
create table gateway_open_sessions (
  session_id    text primary key,
  holder        text not null,
  opened_at     timestamptz not null default now(),
  last_seen_at  timestamptz not null default now()
);
create index gateway_open_sessions_holder_idx on gateway_open_sessions (holder, last_seen_at);
