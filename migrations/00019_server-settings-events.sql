-- A server's settings change (PATCH /api/servers/:id) is recorded in its event log beside its status
-- changes: event_type 'settings', with the status it had (unchanged) and the changed fields in the
-- reason (setting names, never values).
alter table server_events drop constraint server_events_event_type_check;
alter table server_events
  add constraint server_events_event_type_check check (event_type in ('status', 'deleted', 'settings'));
