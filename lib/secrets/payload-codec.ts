// The Temporal payload codec: every payload a client or worker sends to Temporal is AES-256-GCM-encrypted
// with a codec key, so workflow inputs, results, signals, heartbeats and failures' details are
// ciphertext in history and in the Web UI. A codec key is a random data key of the installation's,
// stored in its database wrapped by the key-encryption key like a secret's data key
// (lib/ledger/payload-codec-keys.ts): a rekey re-wraps it and never changes it, so histories outlive
// every KEK. A payload names the key that sealed it (a fingerprint, not the key). A payload that was
// never encoded is passed through as it is: histories recorded before the codec existed still replay.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { newDataKey, unwrapDataKey, type WrappedKey } from './envelope.js';
import { missingKekError, type Keyring } from './keys.js';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
/** Names the sealed form, so a later format can sit beside this one. */
const FORMAT_METADATA = 'encryption-format';
const FORMAT = 'aes-256-gcm+json-v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = new TextEncoder();
const untext = new TextDecoder();

export interface CodecKey {
  /** Written into every payload the key seals; a fingerprint of the key, safe to show. */
  id: string;
  key: Buffer;
}

/** A codec key from its 32 bytes: its id is a fingerprint, the same wherever the key is loaded. */
export function codecKey(key: Buffer): CodecKey {
  if (key.length !== 32) throw new Error(`the payload codec needs a 32-byte key, got ${key.length} bytes`);
  const id = createHash('sha256').update('mcp-host payload codec key id\0').update(key).digest('hex').slice(0, 16);
  return { id, key };
}

/** Raised for a payload this process cannot open: the message says which key it needs and why it failed. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

// The inner payload is sealed as JSON with base64 bytes: small, and needs no protobuf encoder of our own.
function serialize(payload: Payload): Uint8Array {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  );
  return text.encode(
    JSON.stringify({ metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') }),
  );
}

function deserialize(bytes: Buffer): Payload {
  const inner = JSON.parse(untext.decode(bytes)) as { metadata: Record<string, string>; data: string };
  return {
    metadata: Object.fromEntries(Object.entries(inner.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(inner.data, 'base64'),
  };
}

const metadataText = (payload: Payload, key: string) => {
  const value = payload.metadata?.[key];
  return value ? untext.decode(value) : undefined;
};

export class EncryptionCodec implements PayloadCodec {
  private keys!: readonly CodecKey[];
  private byId!: Map<string, Buffer>;
  /**
   * Asked once before decoding payloads that name a key this codec lacks: a key added since it was
   * loaded (lib/ledger/payload-codec-keys.ts sets it to a reload from the database).
   */
  onUnknownKey: (() => Promise<void>) | undefined;

  /** `keys[0]` seals; every key opens what it sealed. */
  constructor(keys: readonly CodecKey[]) {
    this.replaceKeys(keys);
  }

  /** A newer set of keys (a key was added): the newest seals from now on, every one opens. */
  replaceKeys(keys: readonly CodecKey[]): void {
    if (keys.length === 0) throw new Error('the payload codec needs at least one key');
    this.keys = keys;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The ids of the keys held, the sealing one first. */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  get keyId(): string {
    return this.keys[0]!.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0]!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      // The key id is bound to the ciphertext: a payload relabelled with another id does not open.
      cipher.setAAD(text.encode(id));
      const sealed = Buffer.concat([iv, cipher.update(serialize(payload)), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: text.encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: text.encode(id),
          [FORMAT_METADATA]: text.encode(FORMAT),
        },
        data: sealed,
      };
    });
  }

  /** Whether this codec holds the key a sealed payload names (an unsealed one: true, it opens as it is). */
  holds(payload: Payload): boolean {
    if (metadataText(payload, METADATA_ENCODING_KEY) !== ENCRYPTED_ENCODING) return true;
    const id = metadataText(payload, KEY_ID_METADATA);
    return id !== undefined && this.byId.has(id);
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    if (this.onUnknownKey && !payloads.every((p) => this.holds(p))) await this.onUnknownKey();
    return payloads.map((payload) => this.open(payload));
  }

  /** One payload opened (an unsealed one as it is); synchronous, for tools that walk a history. */
  open(payload: Payload): Payload {
    if (metadataText(payload, METADATA_ENCODING_KEY) !== ENCRYPTED_ENCODING) return payload;
    const id = metadataText(payload, KEY_ID_METADATA);
    const format = metadataText(payload, FORMAT_METADATA);
    if (format !== FORMAT) throw new PayloadDecryptionError(`encrypted payload has an unknown format "${format}"`);
    const key = id ? this.byId.get(id) : undefined;
    if (!key) {
      throw new PayloadDecryptionError(
        `payload was encrypted with codec key ${id ?? '(none)'}, which this process does not hold (it holds ${[...this.byId.keys()].join(', ')}): only the database whose codec key sealed it (another installation's, or an earlier database's) can open it`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(text.encode(id!));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return deserialize(
        Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]),
      );
    } catch {
      throw new PayloadDecryptionError(
        `payload sealed with codec key ${id} does not decrypt: the key is wrong or the payload was altered`,
      );
    }
  }
}

/** JSON form of a payload on the codec endpoint (proto3 JSON: bytes as base64), as the Web UI and CLI send it. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export function payloadFromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(data ?? '', 'base64'),
  };
}

export function payloadToJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
  };
}

/** A codec key as its database stores it: wrapped by a KEK, never in clear. */
export interface StoredCodecKey extends WrappedKey {
  /** The fingerprint of the key (`codecKey(key).id`), checked when it is unwrapped. */
  codecKeyId: string;
}

/** A fresh random codec key, wrapped by the keyring's write key, to be stored. */
export function newStoredCodecKey(keyring: Keyring): StoredCodecKey {
  const { dataKey, ...wrapped } = newDataKey(keyring);
  try {
    return { codecKeyId: codecKey(dataKey).id, ...wrapped };
  } finally {
    dataKey.fill(0); // whoever uses it unwraps it from the stored form, as every other process does
  }
}

/**
 * The codec of the stored keys, newest first: the newest seals, every one opens. A key wrapped by a KEK
 * the keyring does not hold stops the process at start-up (an EnvError, one line), rather than every
 * history it sealed failing to open later.
 */
export function codecFromStored(keyring: Keyring, stored: readonly StoredCodecKey[]): EncryptionCodec {
  return new EncryptionCodec(codecKeysFromStored(keyring, stored));
}

/** The stored keys unwrapped, in their order; the same refusals as codecFromStored. */
export function codecKeysFromStored(keyring: Keyring, stored: readonly StoredCodecKey[]): CodecKey[] {
  const unknown = stored.find((s) => !keyring.byId(s.keyId));
  if (unknown) throw missingKekError('payload codec keys', unknown.keyId, keyring);
  return stored.map((s) => {
    const key = codecKey(unwrapDataKey(keyring, s));
    if (key.id !== s.codecKeyId)
      throw new Error(`payload codec key ${s.codecKeyId} unwraps to another key (${key.id}): the row was altered`);
    return key;
  });
}
