import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  ed25519PublicKey,
  rawPublicKeyBase64,
  verifyAttestation,
  type AttestationConfig,
  type AttestationInput,
} from './attestation.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const root = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const ROOT = rawPublicKeyBase64(root.publicKey);

const config: AttestationConfig = {
  allowedMeasurements: ['expected-measurement'],
  trustRoots: [ROOT],
  maxAgeSeconds: 300,
};

const secondsAgo = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

function report(overrides: Record<string, unknown> = {}) {
  return {
    measurement: 'expected-measurement',
    timestamp: secondsAgo(10),
    nonce: 'n-1',
    instance_id: 'vm-123',
    ...overrides,
  };
}

/** Evidence as a hypervisor returns it: the report signed (canonically) by `key`. */
function evidence(rep: Record<string, unknown>, key: KeyObject = root.privateKey, extra: Record<string, unknown> = {}) {
  return {
    quote: { report: rep, signature: sign(null, Buffer.from(canonicalJson(rep)), key).toString('base64'), ...extra },
  };
}

const check = (evidence: unknown, overrides: Partial<AttestationInput> = {}) =>
  verifyAttestation({
    evidence,
    now: NOW,
    config,
    expectedNonce: 'n-1',
    policyVersion: 'runtime-policy-v1',
    ...overrides,
  });

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: [3, { d: null, c: 'x' }] }, '{"a":[3,{"c":"x","d":null}],"b":1}'],
    [{ é: 1, Z: 2, a: 3 }, '{"Z":2,"a":3,"é":1}'],
    [{ a: undefined, b: 'line\nbreak' }, '{"b":"line\\nbreak"}'],
    [[1.5, true, 'q"'], '[1.5,true,"q\\""]'],
    ['plain', '"plain"'],
  ])('%j encodes as %s', (value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });

  it('does not depend on key order', () => {
    expect(canonicalJson({ x: { b: 2, a: 1 }, y: 0 })).toBe(canonicalJson({ y: 0, x: { a: 1, b: 2 } }));
  });
});

describe('verifyAttestation', () => {
  it('trusts a report signed by a configured root, with sorted notes', () => {
    const ts = secondsAgo(10);
    expect(check(evidence(report({ timestamp: ts })))).toEqual({
      status: 'trusted',
      notes: [
        'attestation:measurement:expected-measurement',
        'attestation:nonce:n-1',
        'attestation:policy:runtime-policy-v1',
        `attestation:timestamp:${ts}`,
      ],
    });
  });

  it('verifies the canonical encoding whatever the key order of the report as received', () => {
    const rep = report();
    const signed = evidence(rep);
    const reordered = Object.fromEntries(Object.entries(rep).reverse());
    expect(check({ quote: { ...signed.quote, report: reordered } }).status).toBe('trusted');
  });

  it('rejects self-signed evidence that carries its own public key', () => {
    const selfKey = rawPublicKeyBase64(stranger.publicKey);
    for (const carrier of ['quote', 'evidence'] as const) {
      const ev = evidence(report(), stranger.privateKey, carrier === 'quote' ? { public_key: selfKey } : {});
      const withKey = carrier === 'evidence' ? { ...ev, public_key: selfKey } : ev;
      expect(check(withKey)).toEqual({
        status: 'untrusted',
        notes: ['attestation:evidence-key-ignored', 'attestation:signature-invalid'],
      });
    }
  });

  it('ignores an embedded key even when it is a trust root, and still verifies against the roots', () => {
    expect(check(evidence(report(), root.privateKey, { public_key: ROOT })).notes).toContain(
      'attestation:evidence-key-ignored',
    );
    expect(check(evidence(report(), root.privateKey, { public_key: ROOT })).status).toBe('trusted');
  });

  it('accepts a signature by any configured root', () => {
    const both = { ...config, trustRoots: [rawPublicKeyBase64(stranger.publicKey), ROOT] };
    expect(check(evidence(report(), stranger.privateKey), { config: both }).status).toBe('trusted');
    expect(check(evidence(report(), root.privateKey), { config: both }).status).toBe('trusted');
  });

  it('compares measurements trimmed and lowercased', () => {
    expect(check(evidence(report({ measurement: '  Expected-MEASUREMENT ' }))).status).toBe('trusted');
  });

  it('does not require a nonce when none is expected', () => {
    const rep = report({ nonce: undefined });
    expect(check(evidence(rep), { expectedNonce: null }).notes.some((n) => n.startsWith('attestation:nonce'))).toBe(
      false,
    );
    expect(check(evidence(rep), { expectedNonce: null }).status).toBe('trusted');
  });

  it.each<[string, unknown, Partial<AttestationInput>, string, string[]]>([
    ['no evidence', null, {}, 'untrusted', ['attestation:missing-evidence']],
    ['undefined evidence', undefined, {}, 'untrusted', ['attestation:missing-evidence']],
    ['evidence that is not an object', 'opaque', {}, 'untrusted', ['attestation:malformed:evidence']],
    ['no quote', { report: report() }, {}, 'untrusted', ['attestation:malformed:quote']],
    [
      'a report that is a string',
      { quote: { report: 'x', signature: 'AA==' } },
      {},
      'untrusted',
      ['attestation:malformed:report'],
    ],
    ['no signature', { quote: { report: report() } }, {}, 'untrusted', ['attestation:malformed:signature']],
    [
      'a short signature',
      { quote: { report: report(), signature: 'AAAA' } },
      {},
      'untrusted',
      ['attestation:malformed:signature'],
    ],
    [
      'a non-base64 signature',
      { quote: { report: report(), signature: '!'.repeat(88) } },
      {},
      'untrusted',
      ['attestation:malformed:signature'],
    ],
    [
      'no measurement',
      evidence(report({ measurement: undefined })),
      {},
      'untrusted',
      ['attestation:malformed:measurement'],
    ],
    [
      'a numeric measurement',
      evidence(report({ measurement: 7 })),
      {},
      'untrusted',
      ['attestation:malformed:measurement'],
    ],
    ['no timestamp', evidence(report({ timestamp: undefined })), {}, 'untrusted', ['attestation:malformed:timestamp']],
    [
      'a non-RFC 3339 timestamp',
      evidence(report({ timestamp: 'March 1st' })),
      {},
      'untrusted',
      ['attestation:malformed:timestamp'],
    ],
    [
      'an impossible hour',
      evidence(report({ timestamp: '2026-03-01T25:00:00Z' })),
      {},
      'untrusted',
      ['attestation:malformed:timestamp'],
    ],
    [
      'an impossible day',
      evidence(report({ timestamp: '2026-02-29T11:59:00Z' })),
      {},
      'untrusted',
      ['attestation:malformed:timestamp'],
    ],
    ['a numeric nonce', evidence(report({ nonce: 5 })), {}, 'untrusted', ['attestation:malformed:nonce']],
    ['stale evidence', evidence(report({ timestamp: secondsAgo(301) })), {}, 'untrusted', ['attestation:stale']],
    [
      'a timestamp beyond the skew',
      evidence(report({ timestamp: secondsAgo(-61) })),
      {},
      'untrusted',
      ['attestation:future-timestamp'],
    ],
    [
      'an untrusted measurement',
      evidence(report({ measurement: 'bad-measurement' })),
      {},
      'untrusted',
      ['attestation:measurement:untrusted:bad-measurement'],
    ],
    [
      'a nonce mismatch',
      evidence(report({ nonce: 'n-2' })),
      {},
      'untrusted',
      ['attestation:nonce-mismatch:expected:n-1:actual:n-2'],
    ],
    [
      'a missing nonce',
      evidence(report({ nonce: undefined })),
      {},
      'untrusted',
      ['attestation:nonce-mismatch:expected:n-1:actual:none'],
    ],
    [
      'a signature by an unknown key',
      evidence(report(), stranger.privateKey),
      {},
      'untrusted',
      ['attestation:signature-invalid'],
    ],
    [
      'a report altered after signing',
      {
        quote: {
          ...evidence(report()).quote,
          report: report({ measurement: 'expected-measurement', instance_id: 'vm-999' }),
        },
      },
      {},
      'untrusted',
      ['attestation:signature-invalid'],
    ],
    [
      'no trust roots',
      evidence(report()),
      { config: { ...config, trustRoots: [] } },
      'unknown',
      ['attestation:no-trust-roots'],
    ],
    [
      'no trust roots and a bad claim',
      evidence(report({ timestamp: secondsAgo(900) })),
      { config: { ...config, trustRoots: [] } },
      'untrusted',
      ['attestation:no-trust-roots', 'attestation:stale'],
    ],
    [
      'no allowed measurements at all',
      evidence(report()),
      { config: { ...config, allowedMeasurements: [] } },
      'untrusted',
      ['attestation:measurement:untrusted:expected-measurement'],
    ],
    [
      'several failures at once',
      evidence(report({ measurement: 'bad', nonce: 'x', timestamp: secondsAgo(400) }), stranger.privateKey),
      {},
      'untrusted',
      [
        'attestation:measurement:untrusted:bad',
        'attestation:nonce-mismatch:expected:n-1:actual:x',
        'attestation:signature-invalid',
        'attestation:stale',
      ],
    ],
  ])('%s → %s', (_what, ev, overrides, status, notes) => {
    expect(check(ev, overrides)).toEqual({ status, notes });
  });

  it('reads timestamps with offsets as the instant they name', () => {
    const ts = '2026-03-01T13:59:00+02:00'; // 11:59Z
    expect(check(evidence(report({ timestamp: ts }))).notes).toContain(
      'attestation:timestamp:2026-03-01T11:59:00.000Z',
    );
  });

  it('tolerates clock skew up to 60 s and age up to the limit', () => {
    expect(check(evidence(report({ timestamp: secondsAgo(-59) }))).status).toBe('trusted');
    expect(check(evidence(report({ timestamp: secondsAgo(300) }))).status).toBe('trusted');
  });

  it('keeps values taken from evidence on one bounded line', () => {
    const { notes } = check(evidence(report({ measurement: `bad\n${'m'.repeat(300)}` })));
    expect(notes[0]).toMatch(/^attestation:measurement:untrusted:bad m+…$/);
    expect(notes[0]!.length).toBeLessThan(200);
  });
});

describe('ed25519PublicKey', () => {
  it('round-trips a raw key and refuses other lengths', () => {
    expect(rawPublicKeyBase64(ed25519PublicKey(ROOT))).toBe(ROOT);
    expect(() => ed25519PublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes/);
    expect(() => ed25519PublicKey('not base64!')).toThrow(/32 bytes/);
  });
});
