-- Results of the registryCredentials workflow: scheduled health probes and rotations, between builds.
create table registry_credential_checks (
  id                    bigserial primary key,
  registry              text not null,
  trigger               text not null check (trigger in ('schedule', 'manual')),
  status                text not null check (status in ('healthy', 'expiring_soon', 'expired', 'unknown')),
  message               text,
  observed_at           timestamptz not null,
  expires_at            timestamptz,
  seconds_until_expiry  bigint,
  rotation_recommended  boolean not null,
  rotation_configured   boolean not null,
  rotation_attempted    boolean not null default false,
  rotation_succeeded    boolean,
  rotation_error        text,
  workflow_id           text not null,
  workflow_run_id       text not null,
  unique (workflow_id, workflow_run_id)
);
create index registry_credential_checks_registry_idx on registry_credential_checks (registry, id desc);
