import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newDataKey, open, rewrap, seal, SecretKeyUnavailable, unwrapDataKey } from './envelope.js';
import { keyringFrom } from './keys.js';

describe('envelope encryption', () => {
  const kek = randomBytes(32);
  const ring = keyringFrom(kek);
  const value = Buffer.from('marker-value-0123456789');

  it('round-trips, with a fresh data key per seal and no plaintext in what is stored', () => {
    const a = seal(ring, value, 'secret:1:gh:1');
    const b = seal(ring, value, 'secret:1:gh:1');
    expect(open(ring, a, 'secret:1:gh:1')).toEqual(value);
    expect(a.keyId).toBe(ring.current.id);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ciphertext.includes(value)).toBe(false);
    expect(a.wrappedKey.includes(kek)).toBe(false);
  });

  it('fails on another context, a tampered byte, or a KEK that is not configured', () => {
    const s = seal(ring, value, 'secret:1:gh:1');
    expect(() => open(ring, s, 'secret:2:gh:1')).toThrow();
    const tampered = Buffer.from(s.ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => open(ring, { ...s, ciphertext: tampered }, 'secret:1:gh:1')).toThrow();
    expect(() => open(keyringFrom(randomBytes(32)), s, 'secret:1:gh:1')).toThrow(SecretKeyUnavailable);
    // A wrapped key relabelled with another KEK's id does not unwrap under that KEK.
    const other = keyringFrom(randomBytes(32));
    expect(() => open(other, { ...s, keyId: other.current.id }, 'secret:1:gh:1')).toThrow();
  });

  it('rewraps under the next KEK without touching the ciphertext; the old KEK can then retire', () => {
    const s = seal(ring, value, 'ctx');
    const next = randomBytes(32);
    const during = keyringFrom(kek, next);
    const moved = { ...s, ...rewrap(during, s) };
    expect(moved.keyId).toBe(during.next!.id);
    expect(moved.ciphertext).toBe(s.ciphertext);
    const after = keyringFrom(next);
    expect(open(after, moved, 'ctx')).toEqual(value);
    expect(() => open(after, s, 'ctx')).toThrow(SecretKeyUnavailable);
    // While both are configured, new versions are wrapped by the next key.
    expect(seal(during, value, 'ctx').keyId).toBe(during.next!.id);
  });

  it("makes data keys for other uses that unwrap and rewrap like a version's", () => {
    const made = newDataKey(ring);
    expect(made.dataKey).toHaveLength(32);
    expect(made.keyId).toBe(ring.current.id);
    expect(made.wrappedKey.includes(made.dataKey)).toBe(false);
    expect(unwrapDataKey(ring, made)).toEqual(made.dataKey);
    expect(newDataKey(ring).dataKey.equals(made.dataKey)).toBe(false);
    const next = randomBytes(32);
    const moved = rewrap(keyringFrom(kek, next), made);
    expect(unwrapDataKey(keyringFrom(next), moved)).toEqual(made.dataKey);
    expect(() => unwrapDataKey(keyringFrom(next), made)).toThrow(SecretKeyUnavailable);
  });
});
