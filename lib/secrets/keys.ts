// The key-encryption key (KEK) of the secret store: it wraps every data key (the secrets' and the
// payload codec's, lib/secrets/envelope.ts) and nothing else.
// One KEK is configured (SECRETS_KEY or SECRETS_KEY_FILE); during a rekey a second, the next one
// (SECRETS_KEY_NEXT or SECRETS_KEY_NEXT_FILE), is configured beside it. Every wrapped data key records
// the id of the KEK that wrapped it, so unwrapping picks the right one and rekey knows what is left.
import { createHash, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EnvError, type Env } from '../env.js';
import { decodeKey, KEY_BYTES } from './key-format.js';

export { KEY_BYTES };

export interface Kek {
  /** Derived from the key itself (never the key): the same key has the same id on every replica. */
  readonly id: string;
  readonly key: Buffer;
}

export interface Keyring {
  /** The KEK new data keys are wrapped with: the next one while a rekey is under way, else the current one. */
  readonly write: Kek;
  /** The configured SECRETS_KEY. */
  readonly current: Kek;
  /** The configured SECRETS_KEY_NEXT, if any. */
  readonly next?: Kek;
  /** Every configured KEK, the write key first. */
  readonly all: readonly Kek[];
  /** The KEK with this id, or undefined when it is not configured (a wrong or retired key). */
  byId(id: string): Kek | undefined;
}

// HKDF-SHA256 of the KEK, the purpose as `info`: what a KEK's id is computed from, so the id reveals
// nothing of the key.
function deriveKey(kek: Buffer, purpose: string): Buffer {
  if (kek.length !== KEY_BYTES) throw new Error(`a key-encryption key has ${KEY_BYTES} bytes, got ${kek.length}`);
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), `mcp-host:${purpose}`, KEY_BYTES));
}

export function kekFromBytes(key: Buffer): Kek {
  const id = createHash('sha256').update(deriveKey(key, 'key-id')).digest('hex').slice(0, 16);
  return { id, key };
}

function readKey(env: Env, name: 'SECRETS_KEY' | 'SECRETS_KEY_NEXT'): Buffer | undefined {
  const inline = env[name];
  const file = env[`${name}_FILE`];
  if (inline && file) throw new EnvError(`invalid environment: ${name}: set ${name} or ${name}_FILE, not both`);
  if (inline) {
    const key = decodeKey(inline);
    if (typeof key === 'string') throw new EnvError(`invalid environment: ${name}: ${key}`);
    return key;
  }
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EnvError(
      `invalid environment: ${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  const key = decodeKey(text);
  if (typeof key === 'string') throw new EnvError(`invalid environment: ${name}_FILE: ${file} ${key}`);
  return key;
}

export function keyringFrom(current: Buffer, next?: Buffer): Keyring {
  const cur = kekFromBytes(current);
  const nxt = next ? kekFromBytes(next) : undefined;
  if (nxt && nxt.id === cur.id)
    throw new EnvError('invalid environment: SECRETS_KEY_NEXT: is the same key as SECRETS_KEY');
  const all = nxt ? [nxt, cur] : [cur];
  return { write: all[0]!, current: cur, next: nxt, all, byId: (id) => all.find((k) => k.id === id) };
}

/** The configured keys; throws EnvError (one line naming the variable) when missing or malformed. */
export function loadKeyring(env: Env): Keyring {
  const current = readKey(env, 'SECRETS_KEY');
  if (!current) {
    throw new EnvError(
      `invalid environment: SECRETS_KEY: missing; set SECRETS_KEY (base64 of ${KEY_BYTES} bytes, e.g. openssl rand -base64 32) or SECRETS_KEY_FILE`,
    );
  }
  return keyringFrom(current, readKey(env, 'SECRETS_KEY_NEXT'));
}

/**
 * What stops a process whose keyring lacks a key something stored is wrapped by (`what`: the
 * database's secrets, its payload codec keys): one line naming the key, at start-up.
 */
export function missingKekError(what: string, keyId: string, keyring: Keyring): EnvError {
  return new EnvError(
    `invalid environment: SECRETS_KEY: this database's ${what} are wrapped by key ${keyId}, which is not the configured key (${keyring.all.map((k) => k.id).join(', ')}); set the installation's key`,
  );
}
