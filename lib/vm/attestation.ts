// The VM attestation verifier: a signature only counts when one of
// the *configured* trust roots verifies it. A `public_key` carried inside the evidence is never a
// verification key (it would let anyone self-sign); it is ignored and noted. The signature is
// Ed25519 over a canonical JSON encoding of the report, so key order and whitespace cannot change
// what was signed.
//
// Pure: the clock, the configuration and the evidence come in; a verdict with sorted notes comes
// out. Malformed evidence is a verdict (untrusted), never a thrown error.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export type AttestationStatus = 'trusted' | 'untrusted' | 'unknown';

export interface AttestationConfig {
  /** Trusted measurements, lowercased (as VM_ATTESTATION_MEASUREMENTS parses them). */
  allowedMeasurements: readonly string[];
  /** Base64 raw 32-byte Ed25519 public keys (VM_ATTESTATION_TRUST_ROOTS). */
  trustRoots: readonly string[];
  maxAgeSeconds: number;
}

export interface AttestationInput {
  /** What the hypervisor returned as `attestation`; null or undefined when it returned none. */
  evidence: unknown;
  now: Date;
  config: AttestationConfig;
  /** The nonce the launch asked the hypervisor to bind into the report, if any. */
  expectedNonce?: string | null;
  /** Recorded in the success notes: which policy version accepted the evidence. */
  policyVersion: string;
}

export interface AttestationVerdict {
  status: AttestationStatus;
  /** Sorted, de-duplicated. */
  notes: string[];
}

/** Timestamps up to this far ahead of our clock are clock skew, not a forgery. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/** DER prefix of an SPKI Ed25519 public key; the raw 32 key bytes follow it. */
export const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 instant, or undefined; Date alone would roll 2026-02-31 over to March. */
function parseTimestamp(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * JSON with object keys sorted (recursively, by UTF-16 code units) and no whitespace. For the
 * JSON-parsed values attestation reports are, this is RFC 8785 (JCS) output.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot encode a ${typeof value} as JSON`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The key object of a base64 raw 32-byte Ed25519 public key; throws on anything else. */
export function ed25519PublicKey(base64: string): KeyObject {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== base64) {
    throw new TypeError('expected a base64 Ed25519 public key of 32 bytes');
  }
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of an Ed25519 public key object, base64: what a trust root is configured as. */
export function rawPublicKeyBase64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length).toString('base64');
}

const rootKeys = new Map<string, KeyObject>();
/** Trust roots are few and fixed for the process: each is parsed once. */
function rootKey(base64: string): KeyObject {
  let key = rootKeys.get(base64);
  if (!key) {
    key = ed25519PublicKey(base64);
    if (rootKeys.size < 256) rootKeys.set(base64, key);
  }
  return key;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Values from the evidence end up in notes: one line, bounded. */
const clip = (text: string) => {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ');
  return flat.length > 128 ? `${flat.slice(0, 128)}…` : flat;
};

const verdict = (status: AttestationStatus, notes: Iterable<string>): AttestationVerdict => ({
  status,
  notes: [...new Set(notes)].sort(),
});

interface Quote {
  report: Record<string, unknown>;
  signature: Buffer;
  measurement: string;
  timestamp: Date;
  nonce: string | undefined;
  carriesKey: boolean;
}

/** The parts of the evidence the verifier needs, or the name of the first part that is malformed. */
function parseQuote(evidence: Record<string, unknown>): Quote | { malformed: string } {
  const quote = evidence.quote;
  if (!isObject(quote)) return { malformed: 'quote' };
  const report = quote.report;
  if (!isObject(report)) return { malformed: 'report' };
  if (typeof quote.signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(quote.signature))
    return { malformed: 'signature' };
  const signature = Buffer.from(quote.signature, 'base64');
  if (signature.length !== 64) return { malformed: 'signature' };
  if (typeof report.measurement !== 'string' || report.measurement.trim() === '') return { malformed: 'measurement' };
  const timestamp = typeof report.timestamp === 'string' ? parseTimestamp(report.timestamp.trim()) : undefined;
  if (!timestamp) return { malformed: 'timestamp' };
  if (report.nonce !== undefined && report.nonce !== null && typeof report.nonce !== 'string')
    return { malformed: 'nonce' };
  return {
    report,
    signature,
    measurement: report.measurement.trim().toLowerCase(),
    timestamp,
    nonce: typeof report.nonce === 'string' ? report.nonce : undefined,
    carriesKey: quote.public_key !== undefined || evidence.public_key !== undefined,
  };
}

export function verifyAttestation(input: AttestationInput): AttestationVerdict {
  const { evidence, now, config } = input;
  if (evidence === null || evidence === undefined) return verdict('untrusted', ['attestation:missing-evidence']);
  if (!isObject(evidence)) return verdict('untrusted', ['attestation:malformed:evidence']);
  const quote = parseQuote(evidence);
  if ('malformed' in quote) return verdict('untrusted', [`attestation:malformed:${quote.malformed}`]);

  const notes: string[] = [];
  if (quote.carriesKey) notes.push('attestation:evidence-key-ignored');

  // Every failed claim is noted, so one look at the notes says everything that was wrong.
  const failures: string[] = [];
  const ageMs = now.getTime() - quote.timestamp.getTime();
  if (ageMs > config.maxAgeSeconds * 1000) failures.push('attestation:stale');
  if (-ageMs > MAX_CLOCK_SKEW_SECONDS * 1000) failures.push('attestation:future-timestamp');
  if (!config.allowedMeasurements.includes(quote.measurement)) {
    failures.push(`attestation:measurement:untrusted:${clip(quote.measurement)}`);
  }
  const expected = input.expectedNonce ?? undefined;
  if (expected !== undefined && quote.nonce !== expected) {
    failures.push(`attestation:nonce-mismatch:expected:${clip(expected)}:actual:${clip(quote.nonce ?? 'none')}`);
  }

  if (config.trustRoots.length === 0) {
    // Nothing to verify the signature with: the claims may be true, but nobody vouches for them.
    return failures.length > 0
      ? verdict('untrusted', [...notes, ...failures, 'attestation:no-trust-roots'])
      : verdict('unknown', [...notes, 'attestation:no-trust-roots']);
  }
  const signed = Buffer.from(canonicalJson(quote.report), 'utf8');
  const valid = config.trustRoots.some((root) => verify(null, signed, rootKey(root), quote.signature));
  if (!valid) failures.push('attestation:signature-invalid');
  if (failures.length > 0) return verdict('untrusted', [...notes, ...failures]);

  notes.push(
    `attestation:measurement:${clip(quote.measurement)}`,
    `attestation:timestamp:${quote.timestamp.toISOString()}`,
    `attestation:policy:${input.policyVersion}`,
  );
  if (quote.nonce !== undefined) notes.push(`attestation:nonce:${clip(quote.nonce)}`);
  return verdict('trusted', notes);
}
