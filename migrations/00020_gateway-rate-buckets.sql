-- The gateway's rate limits (per token, per tool) as token buckets every API replica shares: each
-- replica decides on a local copy and reconciles with these rows in batches (gateway/limits.ts), so a
-- limit holds across replicas instead of per replica. A bucket that has refilled is the same as no
-- row: such rows are deleted.
create table gateway_rate_buckets (
  -- The kind of limit and a digest of what it counts: `token:<sha256>`, `tool:<sha256>`.
  bucket       text primary key,
  -- Below zero when replicas admitted more than the bucket held between two reconciliations: the
  -- debt is paid from what refills next.
  tokens       double precision not null,
  refilled_at  timestamptz not null
);
