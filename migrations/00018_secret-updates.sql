-- What a server does when a secret it references gets a new version: take it at its next start
-- (the default) or be redeployed at once. A field of the server rather than a config key, so it is
-- shown and validated as one; a server that asked through config keeps what it asked for.
alter table mcp_servers
  add column secret_updates text not null default 'next-start'
    check (secret_updates in ('next-start', 'redeploy'));

update mcp_servers set secret_updates = 'redeploy' where config ->> 'secrets.on_change' = 'redeploy';
