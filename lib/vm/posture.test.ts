import { describe, expect, it } from 'vitest';
import { evaluateVmPosture, staleLimitSeconds, vmFallbackBackend, type PostureInput } from './posture.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);
const UPDATED = ago(30);

const input = (overrides: Partial<PostureInput> = {}): PostureInput => ({
  latest: { attestationStatus: 'trusted', updatedAt: UPDATED, terminatedAt: null },
  now: NOW,
  maxAgeSeconds: 300,
  fallback: 'docker',
  ...overrides,
});
const latest = (attestationStatus: string, updatedAt = UPDATED, terminatedAt: Date | null = null) => ({
  attestationStatus,
  updatedAt,
  terminatedAt,
});

describe('evaluateVmPosture', () => {
  it('keeps a server without any instance on the VM backend', () => {
    expect(evaluateVmPosture(input({ latest: null }))).toEqual({
      state: 'none',
      backend: 'virtual-machine',
      fellBack: false,
      evaluationRequired: false,
      notes: ['vm:attestation:none', 'vm:attestation:verify-on-provision'],
    });
  });

  it.each([
    [
      'trusted',
      latest('trusted'),
      { state: 'trusted', backend: 'virtual-machine', fellBack: false, evaluationRequired: false },
      ['vm:attestation:trusted', 'vm:last-status:trusted', `vm:last-updated:${UPDATED.toISOString()}`],
    ],
    [
      'trusted and terminated',
      latest('trusted', UPDATED, ago(5)),
      { state: 'trusted', backend: 'virtual-machine', fellBack: false, evaluationRequired: false },
      [
        'vm:attestation:trusted',
        'vm:last-status:trusted',
        `vm:last-terminated:${ago(5).toISOString()}`,
        `vm:last-updated:${UPDATED.toISOString()}`,
      ],
    ],
    [
      'untrusted',
      latest('untrusted'),
      { state: 'untrusted', backend: 'docker', fellBack: true, evaluationRequired: true },
      [
        'vm:attestation:blocked',
        'vm:attestation:fallback:docker',
        'vm:attestation:untrusted',
        'vm:last-status:untrusted',
        `vm:last-updated:${UPDATED.toISOString()}`,
      ],
    ],
    [
      'pending within the limit',
      latest('pending'),
      { state: 'pending', backend: 'virtual-machine', fellBack: false, evaluationRequired: true },
      ['vm:attestation:pending:30s', 'vm:last-status:pending', `vm:last-updated:${UPDATED.toISOString()}`],
    ],
    [
      'unknown within the limit',
      latest('unknown', ago(300)),
      { state: 'pending', backend: 'virtual-machine', fellBack: false, evaluationRequired: true },
      ['vm:attestation:pending:300s', 'vm:last-status:unknown', `vm:last-updated:${ago(300).toISOString()}`],
    ],
    [
      'pending and stale (15 min, limit 5 min)',
      latest('pending', ago(900)),
      { state: 'stale', backend: 'docker', fellBack: true, evaluationRequired: true },
      [
        'vm:attestation:fallback:docker',
        'vm:attestation:pending:900s',
        'vm:attestation:stale',
        'vm:last-status:pending',
        `vm:last-updated:${ago(900).toISOString()}`,
      ],
    ],
    [
      'an unknown status',
      latest('quarantined'),
      { state: 'other', backend: 'virtual-machine', fellBack: false, evaluationRequired: false },
      ['vm:attestation:status:quarantined', 'vm:last-status:quarantined', `vm:last-updated:${UPDATED.toISOString()}`],
    ],
  ])('%s', (_what, latestRow, expected, notes) => {
    expect(evaluateVmPosture(input({ latest: latestRow }))).toEqual({ ...expected, notes });
  });

  it('falls back to Kubernetes for GPU servers', () => {
    const posture = evaluateVmPosture(input({ latest: latest('untrusted'), fallback: vmFallbackBackend(true) }));
    expect(posture.backend).toBe('kubernetes');
    expect(posture.notes).toContain('vm:attestation:fallback:kubernetes');
    expect(vmFallbackBackend(false)).toBe('docker');
  });

  it('never lets the stale limit drop below a minute', () => {
    expect(staleLimitSeconds(5)).toBe(60);
    expect(evaluateVmPosture(input({ latest: latest('pending', ago(45)), maxAgeSeconds: 5 })).state).toBe('pending');
    expect(evaluateVmPosture(input({ latest: latest('pending', ago(61)), maxAgeSeconds: 5 })).state).toBe('stale');
  });

  it('counts a clock running behind the row as age 0', () => {
    expect(evaluateVmPosture(input({ latest: latest('pending', ago(-10)) })).notes).toContain(
      'vm:attestation:pending:0s',
    );
  });

  it('is deterministic', () => {
    const a = evaluateVmPosture(input({ latest: latest('untrusted', UPDATED, ago(1)) }));
    const b = evaluateVmPosture(input({ latest: latest('untrusted', UPDATED, ago(1)) }));
    expect(a).toEqual(b);
    expect(a.notes).toEqual([...a.notes].sort());
  });
});
