-- The Temporal payload codec's keys (lib/secrets/payload-codec.ts): random data keys of this
-- installation's, each stored only wrapped by the key-encryption key whose id is recorded, exactly like
-- a secret version's data key. The newest seals what the API and the worker hand Temporal; every one
-- opens what it sealed. A rekey re-wraps them in the same transaction as the secrets' data keys and never
-- changes them, so every history still opens once the old key-encryption key is destroyed. The first
-- process to start creates the first one.
create table payload_codec_keys (
  id            serial primary key,
  -- The fingerprint every payload the key seals carries (never the key).
  codec_key_id  text not null unique,
  wrapped_key   bytea not null,
  key_id        text not null,
  created_at    timestamptz not null default now()
);
