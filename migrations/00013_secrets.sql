-- The secret store. A secret is a name its owner's servers reference ({"secret": "<name>"} in config);
-- each version holds its value encrypted under a data key of its own (AES-256-GCM), and that data key
-- wrapped by the key-encryption key whose id is recorded (lib/secrets/envelope.ts). No plaintext is
-- ever stored. Old versions stay until the secret is deleted.
create table secrets (
  id               serial primary key,
  owner_id         integer not null references users (id) on delete restrict,
  name             text not null,
  current_version  integer not null default 1 check (current_version >= 1),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (owner_id, name)
);

create table secret_versions (
  secret_id    integer not null references secrets (id) on delete cascade,
  version      integer not null check (version >= 1),
  ciphertext   bytea not null,
  wrapped_key  bytea not null,
  key_id       text not null,
  created_at   timestamptz not null default now(),
  primary key (secret_id, version)
);
-- What a rekey has left to do: the versions not yet wrapped by the new key.
create index secret_versions_key_id_idx on secret_versions (key_id);

-- The key-encryption key the installation's secrets are wrapped by (its id, never the key): a process
-- started with another key stops at start-up instead of failing at each launch. A rekey moves it.
alter table installation add column secrets_key_id text;
