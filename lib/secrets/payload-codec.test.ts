import { randomBytes } from 'node:crypto';
import { DefaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EnvError } from '../env.js';
import { rewrap } from './envelope.js';
import { keyringFrom } from './keys.js';
import {
  codecFromStored,
  codecKey,
  codecKeysFromStored,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  newStoredCodecKey,
  PayloadDecryptionError,
  payloadFromJson,
  payloadToJson,
} from './payload-codec.js';

const converter = new DefaultPayloadConverter();
const MARKER = `marker-${randomBytes(8).toString('hex')}`;
const value = { repository: 'https://git.example.com/team/server.git', config: { NOTE: MARKER }, n: 3, none: null };

describe('payload codec', () => {
  it('round-trips a payload, and the sealed form holds none of its bytes', async () => {
    const codec = new EncryptionCodec([codecKey(randomBytes(32))]);
    const plain = converter.toPayload(value);
    const [sealed] = await codec.encode([plain]);
    expect(Buffer.from(sealed!.metadata![METADATA_ENCODING_KEY]!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed!.metadata![KEY_ID_METADATA]!).toString()).toBe(codec.keyId);
    expect(Buffer.from(sealed!.data!).includes(MARKER)).toBe(false);
    expect(JSON.stringify(payloadToJson(sealed!))).not.toContain(Buffer.from(MARKER).toString('base64').slice(0, 12));
    const [opened] = await codec.decode([sealed!]);
    expect(converter.fromPayload(opened!)).toEqual(value);
    // Binary payloads (and empty ones) survive as well.
    const binary = { metadata: { encoding: Buffer.from('binary/plain') }, data: randomBytes(300) };
    const [back] = await codec.decode(await codec.encode([binary]));
    expect(Buffer.from(back!.data!).equals(binary.data)).toBe(true);
    const [empty] = await codec.decode(await codec.encode([{}]));
    expect(empty).toEqual({ metadata: {}, data: Buffer.alloc(0) });
  });

  it('seals each payload with a fresh nonce', async () => {
    const codec = new EncryptionCodec([codecKey(randomBytes(32))]);
    const plain = converter.toPayload(value);
    const [a, b] = await codec.encode([plain, plain]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('fails clearly with the wrong key or an unknown key id, and on an altered payload', async () => {
    const right = codecKey(randomBytes(32));
    const [sealed] = await new EncryptionCodec([right]).encode([converter.toPayload(value)]);

    const other = new EncryptionCodec([codecKey(randomBytes(32))]);
    const unknown = other.decode([sealed!]);
    await expect(unknown).rejects.toBeInstanceOf(PayloadDecryptionError);
    await expect(unknown).rejects.toThrow(`codec key ${right.id}, which this process does not hold`);

    // Same id, different key bytes: the authentication tag refuses it.
    const impostor = new EncryptionCodec([{ id: right.id, key: randomBytes(32) }]);
    await expect(impostor.decode([sealed!])).rejects.toThrow(
      /does not decrypt: the key is wrong or the payload was altered/,
    );

    const altered = Buffer.from(sealed!.data!);
    altered[20]! ^= 1;
    await expect(new EncryptionCodec([right]).decode([{ ...sealed!, data: altered }])).rejects.toThrow(
      /does not decrypt/,
    );
  });

  it('opens payloads sealed under an older key, and seals new ones with the newest', async () => {
    const old = codecKey(randomBytes(32));
    const [before] = await new EncryptionCodec([old]).encode([converter.toPayload(value)]);
    const rekeyed = new EncryptionCodec([codecKey(randomBytes(32)), old]);
    expect(converter.fromPayload((await rekeyed.decode([before!]))[0]!)).toEqual(value);
    const [after] = await rekeyed.encode([converter.toPayload(value)]);
    expect(Buffer.from(after!.metadata![KEY_ID_METADATA]!).toString()).toBe(rekeyed.keyId);
    expect(rekeyed.keyId).not.toBe(old.id);
  });

  it('passes through payloads that were never encoded (histories recorded before the codec)', async () => {
    const codec = new EncryptionCodec([codecKey(randomBytes(32))]);
    const plain = [converter.toPayload(value), converter.toPayload(undefined), converter.toPayload('text')];
    expect(await codec.decode(plain)).toEqual(plain);
  });

  it('reads and writes the JSON form the Web UI and the CLI send to the codec endpoint', async () => {
    const codec = new EncryptionCodec([codecKey(randomBytes(32))]);
    const [sealed] = await codec.encode([converter.toPayload(value)]);
    const json = JSON.parse(JSON.stringify(payloadToJson(sealed!))) as ReturnType<typeof payloadToJson>;
    const [opened] = await codec.decode([payloadFromJson(json)]);
    expect(converter.fromPayload(opened!)).toEqual(value);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => codecKey(randomBytes(16))).toThrow('32-byte key');
  });
});

describe('stored payload codec keys', () => {
  const kek = randomBytes(32);
  const ring = keyringFrom(kek);
  const keyIdOf = (payload: { metadata?: Record<string, Uint8Array | null> | null }) =>
    Buffer.from(payload.metadata![KEY_ID_METADATA]!).toString();

  it('are random data keys wrapped by the KEK, and hold neither the key nor the KEK in clear', async () => {
    const a = newStoredCodecKey(ring);
    const b = newStoredCodecKey(ring);
    expect(a.keyId).toBe(ring.current.id);
    expect(a.codecKeyId).toMatch(/^[0-9a-f]{16}$/);
    expect(a.codecKeyId).not.toBe(b.codecKeyId);
    expect(a.wrappedKey).toHaveLength(12 + 16 + 32);
    expect(a.wrappedKey.includes(kek)).toBe(false);
    const codec = codecFromStored(ring, [a]);
    expect(codec.keyId).toBe(a.codecKeyId);
    const [sealed] = await codec.encode([converter.toPayload(value)]);
    expect(keyIdOf(sealed!)).toBe(a.codecKeyId);
    // Loaded again (another process, the same row): the same key.
    expect(converter.fromPayload((await codecFromStored(ring, [a]).decode([sealed!]))[0]!)).toEqual(value);
    expect(() => codecFromStored(ring, [b]).open(sealed!)).toThrow(PayloadDecryptionError);
  });

  it('open what was sealed before a rekey under the next KEK alone, with the same key id', async () => {
    const stored = newStoredCodecKey(ring);
    const [before] = await codecFromStored(ring, [stored]).encode([converter.toPayload(value)]);
    const next = randomBytes(32);
    const during = keyringFrom(kek, next);
    // While both KEKs are configured, the key opens unwrapped by either.
    expect(codecFromStored(during, [stored]).keyId).toBe(stored.codecKeyId);
    const moved = { ...stored, ...rewrap(during, stored) };
    expect(moved.keyId).toBe(during.next!.id);
    const after = codecFromStored(keyringFrom(next), [moved]);
    expect(after.keyId).toBe(stored.codecKeyId);
    expect(converter.fromPayload((await after.decode([before!]))[0]!)).toEqual(value);
  });

  it('stop the process with one line naming the key when the configured KEK wraps them not', () => {
    const stored = newStoredCodecKey(ring);
    const other = keyringFrom(randomBytes(32));
    let error: unknown;
    try {
      codecFromStored(other, [stored]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvError);
    const message = (error as Error).message;
    expect(message).toBe(
      `invalid environment: SECRETS_KEY: this database's payload codec keys are wrapped by key ${ring.current.id}, which is not the configured key (${other.current.id}); set the installation's key`,
    );
    expect(message).not.toContain(kek.toString('base64'));
    // One stored key of an unknown KEK among known ones is refused too: the histories it sealed would not open.
    expect(() => codecFromStored(ring, [newStoredCodecKey(ring), newStoredCodecKey(other)])).toThrow(EnvError);
  });

  it('seal with the newest (the first) and open with every one', async () => {
    const older = newStoredCodecKey(ring);
    const newer = newStoredCodecKey(ring);
    const [old] = await codecFromStored(ring, [older]).encode([converter.toPayload(value)]);
    const codec = codecFromStored(ring, [newer, older]);
    const [fresh] = await codec.encode([converter.toPayload(value)]);
    expect(keyIdOf(fresh!)).toBe(newer.codecKeyId);
    expect(codec.holds(old!)).toBe(true);
    expect(converter.fromPayload(codec.open(old!))).toEqual(value);
    expect(codecFromStored(ring, [older]).holds(fresh!)).toBe(false);
  });

  it('take a key added later: it seals from then on, and a payload naming a key not held asks for a reload first', async () => {
    const older = newStoredCodecKey(ring);
    const newer = newStoredCodecKey(ring);
    const running = codecFromStored(ring, [older]);
    const [fromOther] = await codecFromStored(ring, [newer, older]).encode([converter.toPayload(value)]);
    let reloads = 0;
    running.onUnknownKey = async () => {
      reloads += 1;
      running.replaceKeys(codecKeysFromStored(ring, [newer, older]));
    };
    const [opened] = await running.decode([fromOther!]);
    expect(converter.fromPayload(opened!)).toEqual(value);
    expect(reloads).toBe(1);
    expect(running.keyIds).toEqual([newer.codecKeyId, older.codecKeyId]);
    const [fresh] = await running.encode([converter.toPayload(value)]);
    expect(keyIdOf(fresh!)).toBe(newer.codecKeyId);
    // Payloads it holds the keys of ask for nothing.
    await running.decode([fresh!]);
    expect(reloads).toBe(1);
  });

  it('refuse a row whose recorded id is not its key', () => {
    const stored = newStoredCodecKey(ring);
    const swapped = { ...newStoredCodecKey(ring), codecKeyId: stored.codecKeyId };
    expect(() => codecFromStored(ring, [swapped])).toThrow(/unwraps to another key/);
  });
});
