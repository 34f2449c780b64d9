// The VM_* group of lib/env.ts.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnvironment } from '../env.js';
import { rawPublicKeyBase64 } from './attestation.js';

const key = () => rawPublicKeyBase64(generateKeyPairSync('ed25519').publicKey);

describe('VM environment', () => {
  it('applies the documented defaults', () => {
    const env = parseEnvironment({});
    expect(env.VM_HYPERVISOR_ENDPOINT).toBe('http://127.0.0.1:8686');
    expect(env.VM_HYPERVISOR_TOKEN).toBeUndefined();
    expect(env.VM_LOG_TAIL_LINES).toBe(500);
    expect(env.VM_ATTESTATION_MEASUREMENTS).toEqual([]);
    expect(env.VM_ATTESTATION_TRUST_ROOTS).toEqual([]);
    expect(env.VM_ATTESTATION_MAX_AGE_SECONDS).toBe(300);
  });

  it('normalises lists: measurements trimmed and lowercased, keys de-duplicated', () => {
    const [a, b] = [key(), key()];
    const env = parseEnvironment({
      VM_ATTESTATION_MEASUREMENTS: ' Sha256:ABC , ,sha256:abc,def',
      VM_ATTESTATION_TRUST_ROOTS: `${a}, ${b},${a}`,
      VM_HYPERVISOR_TOKEN: '  ',
      VM_LOG_TAIL_LINES: '64',
    });
    expect(env.VM_ATTESTATION_MEASUREMENTS).toEqual(['sha256:abc', 'def']);
    expect(env.VM_ATTESTATION_TRUST_ROOTS).toEqual([a, b]);
    expect(env.VM_HYPERVISOR_TOKEN).toBeUndefined();
    expect(env.VM_LOG_TAIL_LINES).toBe(64);
  });

  it.each([
    [
      'VM_ATTESTATION_TRUST_ROOTS',
      'not-a-key',
      /VM_ATTESTATION_TRUST_ROOTS: expected base64 Ed25519 public keys of 32 bytes, entry 1/,
    ],
    [
      'VM_ATTESTATION_TRUST_ROOTS',
      `${key()},${Buffer.alloc(33).toString('base64')}`,
      /VM_ATTESTATION_TRUST_ROOTS: .*entry 2/,
    ],
    ['VM_LOG_TAIL_LINES', '63', /VM_LOG_TAIL_LINES: expected an integer between 64/],
    ['VM_ATTESTATION_MAX_AGE_SECONDS', '0', /VM_ATTESTATION_MAX_AGE_SECONDS: expected an integer between 1/],
    ['VM_HYPERVISOR_ENDPOINT', 'ftp://hv', /VM_HYPERVISOR_ENDPOINT: expected an http:\/\/ or https:\/\/ URL/],
  ])('%s=%j stops start-up with one line naming it', (name, value, message) => {
    let error: unknown;
    try {
      parseEnvironment({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
