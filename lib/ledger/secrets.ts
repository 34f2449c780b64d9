// The secret store's ledger: secrets and their encrypted versions (migrations/00013_secrets.sql).
// Values go in and out only through seal/open (lib/secrets/envelope.ts): nothing here stores, returns
// or logs a plaintext except resolveSecretValues, which only the launch activities call.
import type { Sql } from '../db.js';
import { isPgError, PgCode } from '../db.js';
import { ApiError, notFound } from '../errors.js';
import { secretRefs, type ConfigValues, type Secret } from '../schemas/secrets.js';
import { open, rewrap, seal } from '../secrets/envelope.js';
import { SUPERVISED } from '../server-status.js';
import { missingKekError, type Keyring } from '../secrets/keys.js';
import { rewrapCodecKeys } from './payload-codec-keys.js';
import { ownedBy, type OwnerScope } from './scope.js';

interface SecretRow {
  id: number;
  owner_id: number;
  name: string;
  current_version: number;
  created_at: Date;
  updated_at: Date;
  used_by: { id: number; name: string }[];
}

/** Bound to every ciphertext: a version copied to another secret, owner or version does not decrypt. */
const context = (ownerId: number, name: string, version: number) => `mcp-host:secret:${ownerId}:${name}:${version}`;

/**
 * Servers of the secret's owner that reference it: in config (by any key, as a file or as env), or in
 * their source (the repository's credentials, a base image registry's).
 */
const usedBy = (sql: Sql) => sql`
  coalesce((
    select json_agg(json_build_object('id', m.id, 'name', m.name) order by m.id)
    from mcp_servers m
    where m.owner_id = s.owner_id
      and (exists (
            select 1 from jsonb_each(m.config) c
            where jsonb_typeof(c.value) = 'object' and c.value ->> 'secret' = s.name)
        or m.source -> 'credentials' ->> 'secret' = s.name
        or exists (
            select 1 from jsonb_array_elements(
              case when jsonb_typeof(m.source -> 'registry_credentials') = 'array'
                   then m.source -> 'registry_credentials' else '[]'::jsonb end) r
            where r ->> 'secret' = s.name))
  ), '[]'::json) as used_by`;

export function toSecret(row: SecretRow): Secret {
  return {
    name: row.name,
    owner_id: row.owner_id,
    version: row.current_version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    used_by: row.used_by,
  };
}

export function listSecrets(sql: Sql, scope: OwnerScope): Promise<SecretRow[]> {
  return sql<SecretRow[]>`
    select s.*, ${usedBy(sql)} from secrets s
    where true ${ownedBy(sql, scope, 's.owner_id')}
    order by s.owner_id, s.name`;
}

async function findSecret(sql: Sql, ownerId: number, name: string): Promise<SecretRow> {
  const [row] = await sql<SecretRow[]>`
    select s.*, ${usedBy(sql)} from secrets s where s.owner_id = ${ownerId} and s.name = ${name}`;
  if (!row) throw notFound(`secret ${name}`);
  return row;
}

export async function createSecret(
  sql: Sql,
  keyring: Keyring,
  input: { ownerId: number; name: string; value: string },
): Promise<SecretRow> {
  const sealed = seal(keyring, Buffer.from(input.value, 'utf8'), context(input.ownerId, input.name, 1));
  try {
    await sql.begin(async (tx) => {
      const [row] = await tx<{ id: number }[]>`
        insert into secrets (owner_id, name) values (${input.ownerId}, ${input.name}) returning id`;
      await tx`
        insert into secret_versions (secret_id, version, ciphertext, wrapped_key, key_id)
        values (${row!.id}, 1, ${sealed.ciphertext}, ${sealed.wrappedKey}, ${sealed.keyId})`;
    });
  } catch (err) {
    if (isPgError(err, PgCode.uniqueViolation))
      throw new ApiError(409, 'secret_exists', `secret ${input.name} exists; PUT a new version instead`, 'name');
    throw err;
  }
  return findSecret(sql, input.ownerId, input.name);
}

/** A new version, which becomes the current one; earlier versions stay until the secret is deleted. */
export async function updateSecret(
  sql: Sql,
  keyring: Keyring,
  input: { ownerId: number; name: string; value: string },
): Promise<SecretRow> {
  await sql.begin(async (tx) => {
    const [row] = await tx<{ id: number; current_version: number }[]>`
      select id, current_version from secrets where owner_id = ${input.ownerId} and name = ${input.name} for update`;
    if (!row) throw notFound(`secret ${input.name}`);
    const version = row.current_version + 1;
    const sealed = seal(keyring, Buffer.from(input.value, 'utf8'), context(input.ownerId, input.name, version));
    await tx`
      insert into secret_versions (secret_id, version, ciphertext, wrapped_key, key_id)
      values (${row.id}, ${version}, ${sealed.ciphertext}, ${sealed.wrappedKey}, ${sealed.keyId})`;
    await tx`update secrets set current_version = ${version}, updated_at = now() where id = ${row.id}`;
  });
  return findSecret(sql, input.ownerId, input.name);
}

/** Deletes the secret and every version; 409 naming the servers while any references it. */
export async function deleteSecret(sql: Sql, ownerId: number, name: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [locked] = await tx<{ id: number }[]>`
      select id from secrets where owner_id = ${ownerId} and name = ${name} for update`;
    if (!locked) throw notFound(`secret ${name}`);
    const [row] = await tx<SecretRow[]>`select s.*, ${usedBy(sql)} from secrets s where s.id = ${locked.id}`;
    if (!row) throw notFound(`secret ${name}`);
    if (row.used_by.length > 0) {
      const servers = row.used_by.map((s) => `${s.name} (${s.id})`).join(', ');
      throw new ApiError(
        409,
        'secret_in_use',
        `secret ${name} is referenced by server ${servers}; remove the references first`,
      );
    }
    await tx`delete from secrets where id = ${row.id}`;
  });
}

/** The names among `names` the owner has no secret of. */
export async function missingSecrets(sql: Sql, ownerId: number, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await sql<{ name: string }[]>`
    select name from secrets where owner_id = ${ownerId} and name in ${sql(names)}`;
  const found = new Set(rows.map((r) => r.name));
  return [...new Set(names)].filter((n) => !found.has(n));
}

/** A config may reference only secrets its owner has: 422 naming the config key otherwise. */
export async function referencedSecretsExist(sql: Sql, ownerId: number, config: ConfigValues): Promise<void> {
  const refs = secretRefs(config);
  const missing = new Set(
    await missingSecrets(
      sql,
      ownerId,
      refs.map(([, ref]) => ref.secret),
    ),
  );
  const first = refs.find(([, ref]) => missing.has(ref.secret));
  if (first) {
    throw new ApiError(
      422,
      'validation_failed',
      `config.${first[0]}: no secret named ${first[1].secret} (create it with mcpctl secrets set ${first[1].secret})`,
      `config.${first[0]}`,
    );
  }
}

/** The current value of each named secret of the owner, decrypted: for a launch, and nothing else. */
export async function resolveSecretValues(
  sql: Sql,
  keyring: Keyring,
  ownerId: number,
  names: string[],
): Promise<Map<string, { value: Buffer; version: number }>> {
  const resolved = new Map<string, { value: Buffer; version: number }>();
  if (names.length === 0) return resolved;
  const rows = await sql<{ name: string; version: number; ciphertext: Buffer; wrapped_key: Buffer; key_id: string }[]>`
    select s.name, v.version, v.ciphertext, v.wrapped_key, v.key_id
    from secrets s join secret_versions v on v.secret_id = s.id and v.version = s.current_version
    where s.owner_id = ${ownerId} and s.name in ${sql([...new Set(names)])}`;
  for (const row of rows) {
    const value = open(
      keyring,
      { ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id },
      context(ownerId, row.name, row.version),
    );
    resolved.set(row.name, { value, version: row.version });
  }
  return resolved;
}

/**
 * The owner's launched servers (running or supervised since their launch) that reference the secret
 * and asked to be redeployed when it gets a new version.
 */
export function serversToRedeploy(sql: Sql, ownerId: number, name: string): Promise<{ id: number; name: string }[]> {
  return sql<{ id: number; name: string }[]>`
    select m.id, m.name
    from mcp_servers m
    where m.owner_id = ${ownerId}
      and m.secret_updates = 'redeploy'
      and m.status in ${sql([...SUPERVISED])}
      and exists (
        select 1 from jsonb_each(m.config) c
        where jsonb_typeof(c.value) = 'object' and c.value ->> 'secret' = ${name})
    order by m.id`;
}

/**
 * Re-wraps every data key not yet wrapped by the keyring's write key (the next KEK during a rekey),
 * in batches, each its own transaction; the ciphertexts stay as they are, so running servers and
 * concurrent reads are untouched. The payload codec's keys are re-wrapped in the first batch's
 * transaction (a later batch re-wraps any created meanwhile), so once a rekey has returned no codec
 * key needs the old KEK either. Then records the write key as the installation's.
 */
export async function rekeySecrets(
  sql: Sql,
  keyring: Keyring,
): Promise<{ rewrapped: number; already: number; codecKeys: number }> {
  const target = keyring.write.id;
  let rewrapped = 0;
  let codecKeys = 0;
  for (;;) {
    const done = await sql.begin(async (tx) => {
      codecKeys += await rewrapCodecKeys(tx, keyring);
      const rows = await tx<{ secret_id: number; version: number; wrapped_key: Buffer; key_id: string }[]>`
        select secret_id, version, wrapped_key, key_id from secret_versions
        where key_id <> ${target} order by secret_id, version limit 100 for update skip locked`;
      for (const row of rows) {
        const moved = rewrap(keyring, { wrappedKey: row.wrapped_key, keyId: row.key_id });
        await tx`
          update secret_versions set wrapped_key = ${moved.wrappedKey}, key_id = ${moved.keyId}
          where secret_id = ${row.secret_id} and version = ${row.version}`;
      }
      return rows.length;
    });
    rewrapped += done;
    if (done === 0) break;
  }
  await sql`update installation set secrets_key_id = ${target}`;
  const [total] = await sql<{ count: number }[]>`
    select count(*)::int as count from secret_versions where key_id = ${target}`;
  return { rewrapped, already: total!.count - rewrapped, codecKeys };
}

/**
 * Start-up check of the configured keys against the database: the installation's recorded key (set
 * on first start) must be among them, and so must every key a version is wrapped by. A wrong key
 * stops the process with one line rather than failing every launch later.
 */
export async function checkKeyring(sql: Sql, keyring: Keyring): Promise<void> {
  await sql`update installation set secrets_key_id = ${keyring.current.id} where secrets_key_id is null`;
  const [row] = await sql<{ secrets_key_id: string | null }[]>`select secrets_key_id from installation`;
  const wrapping = await sql<{ key_id: string }[]>`select distinct key_id from secret_versions`;
  const unknown = [row?.secrets_key_id, ...wrapping.map((w) => w.key_id)].filter(
    (id): id is string => !!id && !keyring.byId(id),
  );
  if (unknown.length > 0) throw missingKekError('secrets', unknown[0]!, keyring);
}
