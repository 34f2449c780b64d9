-- Separation of duties: a track may require that whoever schedules a promotion on it is not the one
-- who approves it, completes its governance run's steps, or certifies its digest.
alter table promotion_tracks add column require_distinct_approver boolean not null default false;

-- Who recorded a manual certification verdict: null for an automatic evaluation (the platform's own)
-- and for verdicts recorded before this column.
alter table evaluation_certifications add column certified_by integer references users (id) on delete set null;

-- Who posted a telemetry event through the API: null for the platform's own events. Platform gauges
-- count only the platform's, so a posted event cannot move them.
alter table usage_metrics add column posted_by integer references users (id) on delete set null;
