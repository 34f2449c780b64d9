// The payload codec's keys (migrations/00016_payload-codec-keys.sql), read by every process that talks to
// Temporal at start-up: the API, the worker, the test harness and the bench. They are the database's, not
// the KEK's: a rekey re-wraps them with the secrets (rekeySecrets) and the codec keeps opening every
// history. Two installations on one Temporal namespace therefore cannot open each other's payloads, and
// neither's codec endpoint decodes the other's for its users: each database's histories are its own.
import type postgres from 'postgres';
import { isPgError, PgCode, type Sql } from '../db.js';
import { rewrap } from '../secrets/envelope.js';
import type { Logger } from '../logger.js';
import type { Keyring } from '../secrets/keys.js';
import {
  codecFromStored,
  codecKeysFromStored,
  newStoredCodecKey,
  type EncryptionCodec,
  type StoredCodecKey,
} from '../secrets/payload-codec.js';

/** The NOTIFY channel a new codec key is announced on (its id as the payload: a fingerprint, safe to send). */
export const CODEC_KEYS_CHANNEL = 'payload_codec_keys';
/**
 * Reloads a decode asks for (a payload naming a key not held) come at most this often: another
 * installation's payloads cannot flood the database.
 */
const RELOAD_ON_MISS_MS = 1_000;

interface CodecKeyRow {
  codec_key_id: string;
  wrapped_key: Buffer;
  key_id: string;
}

const fromRow = (row: CodecKeyRow): StoredCodecKey => ({
  codecKeyId: row.codec_key_id,
  wrappedKey: row.wrapped_key,
  keyId: row.key_id,
});

type Tx = postgres.TransactionSql;

const storedKeys = async (tx: Tx) =>
  (await tx<CodecKeyRow[]>`select codec_key_id, wrapped_key, key_id from payload_codec_keys order by id desc`).map(
    fromRow,
  );

/**
 * The stored codec keys, newest first; the first one created now when there is none. Safe when several
 * processes start at once: creation takes its turn under an advisory lock, and whoever comes second
 * finds the first one's key.
 */
export async function loadCodecKeys(sql: Sql, keyring: Keyring): Promise<StoredCodecKey[]> {
  try {
    return await sql.begin(async (tx) => {
      const stored = await storedKeys(tx);
      if (stored.length > 0) return stored;
      await tx`select pg_advisory_xact_lock(hashtextextended('payload_codec_keys:create', 0))`;
      // A new statement, so a new snapshot: it sees a key another process committed while this one waited.
      const raced = await storedKeys(tx);
      if (raced.length > 0) return raced;
      const key = newStoredCodecKey(keyring);
      await tx`
        insert into payload_codec_keys (codec_key_id, wrapped_key, key_id)
        values (${key.codecKeyId}, ${key.wrappedKey}, ${key.keyId})`;
      return [key];
    });
  } catch (err) {
    if (!isPgError(err, PgCode.undefinedTable)) throw err;
    throw new Error(
      'the database has no payload codec keys table: apply the migrations first (the API does at start, or `mcpctl db migrate`)',
    );
  }
}

/** The payload codec of this database's keys; an EnvError (one line) when a KEK that wraps one is not configured. */
export async function loadPayloadCodec(sql: Sql, keyring: Keyring): Promise<EncryptionCodec> {
  return codecFromStored(keyring, await loadCodecKeys(sql, keyring));
}

/**
 * Re-wraps, within the caller's transaction, every codec key not wrapped by the keyring's write key;
 * how many. The keys themselves stay, so running processes keep sealing and opening as before.
 */
export async function rewrapCodecKeys(tx: Tx, keyring: Keyring): Promise<number> {
  const rows = await tx<(CodecKeyRow & { id: number })[]>`
    select id, codec_key_id, wrapped_key, key_id from payload_codec_keys
    where key_id <> ${keyring.write.id} order by id for update`;
  for (const row of rows) {
    const moved = rewrap(keyring, fromRow(row));
    await tx`
      update payload_codec_keys set wrapped_key = ${moved.wrappedKey}, key_id = ${moved.keyId}
      where id = ${row.id}`;
  }
  return rows.length;
}

/**
 * Adds a fresh random codec key, wrapped by the keyring's write key: it seals from now on, and every
 * older one keeps opening what it sealed. The NOTIFY goes out when the insert commits, so every
 * process following the keys (followCodecKeys) seals with it within moments.
 */
export async function addCodecKey(sql: Sql, keyring: Keyring): Promise<{ codecKeyId: string; keys: number }> {
  const key = newStoredCodecKey(keyring);
  return sql.begin(async (tx) => {
    await tx`
      insert into payload_codec_keys (codec_key_id, wrapped_key, key_id)
      values (${key.codecKeyId}, ${key.wrappedKey}, ${key.keyId})`;
    await tx`select pg_notify(${CODEC_KEYS_CHANNEL}, ${key.codecKeyId})`;
    const [count] = await tx<{ n: number }[]>`select count(*)::int as n from payload_codec_keys`;
    return { codecKeyId: key.codecKeyId, keys: count!.n };
  });
}

export interface CodecKeyFollower {
  /** Reads the stored keys again now (a process that added one needs no NOTIFY to seal with it). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps `codec` on the database's current keys while the process runs: it reloads on the NOTIFY a new
 * key sends (immediate, and no polling), after every (re)connection of the LISTEN (a notification
 * missed while disconnected), and when a payload names a key it lacks (a worker handed a payload an
 * API sealed with a key whose NOTIFY has not arrived yet). A reload that fails (a key wrapped by a KEK
 * this process lacks) is logged and the codec keeps its keys: it still opens everything it did.
 */
export async function followCodecKeys(
  sql: Sql,
  keyring: Keyring,
  codec: EncryptionCodec,
  log: Pick<Logger, 'info' | 'error'>,
): Promise<CodecKeyFollower> {
  const once = async () => {
    try {
      const before = codec.keyId;
      codec.replaceKeys(codecKeysFromStored(keyring, await loadCodecKeys(sql, keyring)));
      if (codec.keyId !== before)
        log.info({ codecKeyId: codec.keyId, keys: codec.keyIds.length }, 'payload codec key added');
    } catch (err) {
      log.error({ err }, 'payload codec keys could not be reloaded; keeping the keys held');
    }
  };
  // One read at a time; a request during one reads again after it (it may have begun before the insert committed).
  let running: Promise<void> | undefined;
  let again = false;
  const reload = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await once();
      } while (again);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  let lastMiss = 0;
  codec.onUnknownKey = async () => {
    if (Date.now() - lastMiss < RELOAD_ON_MISS_MS) return;
    lastMiss = Date.now();
    await reload();
  };
  const { unlisten } = await sql.listen(
    CODEC_KEYS_CHANNEL,
    () => void reload(),
    () => void reload(),
  );
  return {
    reload,
    async stop() {
      codec.onUnknownKey = undefined;
      await unlisten().catch(() => {});
    },
  };
}
