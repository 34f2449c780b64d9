// The written form of a key-encryption key: base64 of 32 bytes. Apart from keys.ts so that the
// environment schema (lib/env.ts) can check a value without importing the keyring.
export const KEY_BYTES = 32;

/** Decodes a base64 key of exactly 32 bytes, or says why not (never echoing the value). */
export function decodeKey(text: string): Buffer | string {
  const trimmed = text.trim();
  if (!trimmed) return 'is empty';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed))
    return `expected base64 of ${KEY_BYTES} bytes (e.g. openssl rand -base64 32)`;
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) return `expected base64 of ${KEY_BYTES} bytes, got ${key.length} bytes`;
  return key;
}
