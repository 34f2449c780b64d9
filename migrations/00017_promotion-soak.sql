-- Soak and automatic rollback of promotions: a track may give each stage a soak time; a promotion
-- that goes active there is watched for that long, and one whose servers fail health (or drift)
-- is rolled back by its workflow. The digest it promoted is marked, so it is not promoted again
-- on that track unless an operator asks for it explicitly.

-- Stage → seconds (stages the track does not list are refused by the API).
alter table promotion_tracks add column soak_seconds jsonb not null default '{}'::jsonb;

-- Where the promotion's soak stands: soaking until soak_ends_at, then passed — or failed (rolled
-- back by its workflow), or cancelled (rolled back by an operator while soaking). Null: no soak.
alter table artifact_promotions
  add column soak_state text check (soak_state in ('soaking', 'passed', 'failed', 'cancelled')),
  add column soak_ends_at timestamptz,
  -- Why the promotion was rolled back (the note of its rolled_back event).
  add column rollback_reason text;

update artifact_promotions p set rollback_reason = (
  select e.note from promotion_events e where e.promotion_id = p.id and e.status = 'rolled_back' order by e.id desc limit 1)
where p.status = 'rolled_back';

-- The failed digests of a track, looked up on every schedule.
create index artifact_promotions_soak_failed_idx on artifact_promotions (promotion_track_id, manifest_digest)
  where soak_state = 'failed';
