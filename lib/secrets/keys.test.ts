import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnvironment } from '../env.js';
import { keyringFrom, loadKeyring } from './keys.js';

const b64 = (b: Buffer) => b.toString('base64');

describe('key-encryption key', () => {
  it('is required, from SECRETS_KEY or SECRETS_KEY_FILE, and says so in one line', () => {
    expect(() => loadKeyring(parseEnvironment({}))).toThrow(
      /^invalid environment: SECRETS_KEY: missing; set SECRETS_KEY \(base64 of 32 bytes/,
    );
    const key = randomBytes(32);
    expect(loadKeyring(parseEnvironment({ SECRETS_KEY: b64(key) })).current.key).toEqual(key);
    const dir = mkdtempSync(join(tmpdir(), 'kek-'));
    writeFileSync(join(dir, 'k'), `${b64(key)}\n`);
    expect(loadKeyring(parseEnvironment({ SECRETS_KEY_FILE: join(dir, 'k') })).current.key).toEqual(key);
  });

  it('refuses a malformed key without echoing it, a missing file, and both forms at once', () => {
    const short = b64(randomBytes(16));
    let message = '';
    try {
      parseEnvironment({ SECRETS_KEY: short });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('invalid environment: SECRETS_KEY: expected base64 of 32 bytes, got 16 bytes');
    expect(message).not.toContain(short);
    expect(() => parseEnvironment({ SECRETS_KEY_NEXT: 'not base64!' })).toThrow(/SECRETS_KEY_NEXT: expected base64/);
    expect(() => loadKeyring(parseEnvironment({ SECRETS_KEY_FILE: '/nonexistent/key' }))).toThrow(
      'invalid environment: SECRETS_KEY_FILE: cannot read /nonexistent/key (ENOENT)',
    );
    const dir = mkdtempSync(join(tmpdir(), 'kek-'));
    writeFileSync(join(dir, 'k'), 'c2hvcnQ=');
    expect(() => loadKeyring(parseEnvironment({ SECRETS_KEY_FILE: join(dir, 'k') }))).toThrow(
      /SECRETS_KEY_FILE: .* expected base64 of 32 bytes, got 5 bytes/,
    );
    const key = b64(randomBytes(32));
    expect(() => loadKeyring(parseEnvironment({ SECRETS_KEY: key, SECRETS_KEY_FILE: join(dir, 'k') }))).toThrow(
      EnvError,
    );
  });

  it('has an id derived from the key, and writes with the next key while one is configured', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const one = keyringFrom(a);
    expect(one.current.id).toMatch(/^[0-9a-f]{16}$/);
    expect(keyringFrom(Buffer.from(a)).current.id).toBe(one.current.id);
    expect(one.write).toBe(one.current);
    const two = keyringFrom(a, b);
    expect(two.write.id).toBe(two.next!.id);
    expect(two.byId(one.current.id)?.key).toEqual(a);
    expect(two.all.map((k) => k.id)).toEqual([two.next!.id, one.current.id]);
    expect(keyringFrom(b).byId(one.current.id)).toBeUndefined();
    expect(() => keyringFrom(a, Buffer.from(a))).toThrow(/SECRETS_KEY_NEXT: is the same key/);
  });

  it('has an id that is the same on every replica and every later version, and is not the key', () => {
    // SHA-256 of HKDF-SHA256(key, empty salt, info "mcp-host:key-id"), first 16 hex digits (computed
    // independently with Python's hmac): pinned, since databases record the id their secrets are wrapped by.
    expect(keyringFrom(Buffer.alloc(32, 7)).current.id).toBe('e05e8c1b52c32d3e');
    expect(() => keyringFrom(randomBytes(16))).toThrow(/32 bytes/);
  });
});
