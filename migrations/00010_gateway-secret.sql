-- The gateway signs its session ids with a key every API replica shares. Set once, by the first
-- gateway that needs it (from a strong random source in the process), when GATEWAY_SESSION_SECRET
-- is not configured; replicas read what the first one wrote.
alter table installation add column gateway_secret bytea;
