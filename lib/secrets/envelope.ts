// Envelope encryption of secret values: each secret version gets a random data key (AES-256-GCM),
// and only that data key, wrapped by the KEK (AES-256-GCM again), is stored beside the ciphertext.
// A rekey re-wraps the data keys and never touches the ciphertexts. The payload codec's keys are data
// keys of the same kind (newDataKey, unwrapDataKey), so one rekey moves both.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KEY_BYTES, type Kek, type Keyring } from './keys.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed {
  /** iv ‖ tag ‖ AES-256-GCM(data key, value), bound to its context (owner, name, version). */
  ciphertext: Buffer;
  /** iv ‖ tag ‖ AES-256-GCM(KEK, data key), bound to the KEK's id. */
  wrappedKey: Buffer;
  /** Which KEK wrapped the data key. */
  keyId: string;
}

export class SecretKeyUnavailable extends Error {
  override readonly name = 'SecretKeyUnavailable';
}

/** AES-256-GCM, laid out as iv ‖ tag ‖ ciphertext. */
export function encrypt(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Throws when the key, the data or its context is not the one it was encrypted with. */
export function decrypt(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('ciphertext is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

const wrapContext = (kek: Kek) => `mcp-host:data-key:${kek.id}`;

export type WrappedKey = Pick<Sealed, 'wrappedKey' | 'keyId'>;

const wrap = (keyring: Keyring, dataKey: Buffer): WrappedKey => ({
  wrappedKey: encrypt(keyring.write.key, dataKey, wrapContext(keyring.write)),
  keyId: keyring.write.id,
});

/** Encrypts under a fresh data key, wrapped by the keyring's write key. `context` is bound as AAD. */
export function seal(keyring: Keyring, value: Buffer, context: string): Sealed {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    return { ciphertext: encrypt(dataKey, value, context), ...wrap(keyring, dataKey) };
  } finally {
    dataKey.fill(0);
  }
}

/** A fresh data key for a use of its own (the payload codec's), and its wrapped form, which is what is stored. */
export function newDataKey(keyring: Keyring): { dataKey: Buffer } & WrappedKey {
  const dataKey = randomBytes(KEY_BYTES);
  return { dataKey, ...wrap(keyring, dataKey) };
}

/** The data key itself; SecretKeyUnavailable when the KEK that wrapped it is not configured. */
export function unwrapDataKey(keyring: Keyring, sealed: WrappedKey): Buffer {
  const kek = keyring.byId(sealed.keyId);
  if (!kek) throw new SecretKeyUnavailable(`the key-encryption key ${sealed.keyId} is not configured`);
  return decrypt(kek.key, sealed.wrappedKey, wrapContext(kek));
}

export function open(keyring: Keyring, sealed: Sealed, context: string): Buffer {
  const dataKey = unwrapDataKey(keyring, sealed);
  try {
    return decrypt(dataKey, sealed.ciphertext, context);
  } finally {
    dataKey.fill(0);
  }
}

/** The same data key wrapped by the keyring's write key (a rekey); the ciphertext stays as it is. */
export function rewrap(keyring: Keyring, sealed: WrappedKey): WrappedKey {
  const dataKey = unwrapDataKey(keyring, sealed);
  try {
    return wrap(keyring, dataKey);
  } finally {
    dataKey.fill(0);
  }
}
