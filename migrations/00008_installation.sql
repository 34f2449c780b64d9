-- The installation's id, carried in every workflow id (lib/workflow-ids.ts): a Temporal namespace
-- outlives a database, so a database created anew, or a second installation on the same namespace,
-- must not reuse the ids of workflows Temporal still holds. A database already in use (it has
-- users: the first start creates the admin) keeps the bare ids its running workflows have: ''.
create table installation (
  singleton  boolean primary key default true check (singleton),
  id         text not null check (id ~ '^([0-9a-f]{8})?$'),
  created_at timestamptz not null default now()
);

insert into installation (id)
select case when exists (select 1 from users) then '' else substr(md5(random()::text || clock_timestamp()::text), 1, 8) end;
