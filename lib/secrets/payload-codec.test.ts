import { randomBytes } from 'node:crypto';
import { DefaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  codecKey,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
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

  it('opens payloads sealed under the previous key after a rekey, and seals new ones with the new key', async () => {
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
