import { describe, expect, it } from 'vitest';
import {
  assessCredentialHealth,
  combineHealth,
  type CredentialHealthInput,
  type CredentialHealthStatus,
} from './credential-health.js';
import type { DockerConfig } from './dockerconfig.js';

const NOW = new Date('2025-01-02T00:00:00.000Z');
const HOUR = 3_600_000;
const withEntry: DockerConfig = { auths: { '127.0.0.1:5000': { auth: Buffer.from('u:p').toString('base64') } } };

function input(overrides: Partial<CredentialHealthInput> = {}): CredentialHealthInput {
  return {
    now: NOW,
    registry: 'http://127.0.0.1:5000/demo',
    dockerconfigPath: '/etc/mcp/dockerconfig.json',
    maxAgeSeconds: 86_400,
    rotateLeadSeconds: 3_600,
    file: { ok: true, mtimeMs: NOW.getTime() - 2 * HOUR, config: withEntry },
    ...overrides,
  };
}

describe('assessCredentialHealth', () => {
  it.each([undefined, '', '   '])('no dockerconfig configured (%j) is unknown, not expired', (path) => {
    expect(assessCredentialHealth(input({ dockerconfigPath: path }))).toEqual({
      status: 'unknown',
      message: 'no registry credentials configured',
      observed_at: '2025-01-02T00:00:00.000Z',
      expires_at: null,
      seconds_until_expiry: null,
      rotation_recommended: false,
      source_path: null,
    });
  });

  it.each([undefined, '', 'registry/org', 'ftp://x.example.com'])(
    'registry host not derivable from %j is unknown',
    (registry) => {
      const h = assessCredentialHealth(input({ registry }));
      expect(h).toMatchObject({
        status: 'unknown',
        message: 'Unable to derive registry host from REGISTRY value',
        rotation_recommended: false,
        source_path: '/etc/mcp/dockerconfig.json',
      });
    },
  );

  it('stat failure is expired', () => {
    const h = assessCredentialHealth(input({ file: { ok: false, error: 'ENOENT: no such file or directory' } }));
    expect(h).toMatchObject({
      status: 'expired',
      message: 'Failed to stat dockerconfig: ENOENT: no such file or directory',
      expires_at: null,
      seconds_until_expiry: null,
      rotation_recommended: true,
    });
  });

  it('an unparsable file is expired with the parse problem', () => {
    const h = assessCredentialHealth(
      input({
        file: { ok: true, mtimeMs: NOW.getTime(), config: undefined, problem: 'x: dockerconfig is not valid JSON' },
      }),
    );
    expect(h).toMatchObject({
      status: 'expired',
      message: 'x: dockerconfig is not valid JSON',
      rotation_recommended: true,
    });
  });

  it('no auth entry for the host is expired', () => {
    const file = {
      ok: true as const,
      mtimeMs: NOW.getTime(),
      config: { auths: { 'other.example.com': { username: 'u', password: 'p' } } },
    };
    expect(assessCredentialHealth(input({ file }))).toMatchObject({
      status: 'expired',
      message: 'No auth entry for 127.0.0.1:5000 in dockerconfig',
      rotation_recommended: true,
    });
  });

  it('max age reached exactly is expired', () => {
    const h = assessCredentialHealth(
      input({ file: { ok: true, mtimeMs: NOW.getTime() - 24 * HOUR, config: withEntry } }),
    );
    expect(h).toMatchObject({
      status: 'expired',
      message: 'Credentials exceeded configured max age',
      expires_at: '2025-01-02T00:00:00.000Z',
      seconds_until_expiry: 0,
      rotation_recommended: true,
    });
  });

  it('past max age is expired with a negative remaining time', () => {
    const h = assessCredentialHealth(
      input({ file: { ok: true, mtimeMs: NOW.getTime() - 30 * HOUR, config: withEntry } }),
    );
    expect(h).toMatchObject({
      status: 'expired',
      expires_at: '2025-01-01T18:00:00.000Z',
      seconds_until_expiry: -21_600,
    });
  });

  it('max age 0 means always expired', () => {
    expect(assessCredentialHealth(input({ maxAgeSeconds: 0 })).status).toBe('expired');
  });

  it('inside the lead window (boundary included) is expiring_soon', () => {
    const atBoundary = assessCredentialHealth(
      input({ file: { ok: true, mtimeMs: NOW.getTime() - 23 * HOUR, config: withEntry } }),
    );
    expect(atBoundary).toMatchObject({
      status: 'expiring_soon',
      message: 'Credentials approaching rotation window',
      expires_at: '2025-01-02T01:00:00.000Z',
      seconds_until_expiry: 3_600,
      rotation_recommended: true,
    });
    const inside = assessCredentialHealth(
      input({ file: { ok: true, mtimeMs: NOW.getTime() - 23.5 * HOUR, config: withEntry } }),
    );
    expect(inside).toMatchObject({ status: 'expiring_soon', seconds_until_expiry: 1_800 });
  });

  it('outside the lead window is healthy', () => {
    const h = assessCredentialHealth(
      input({ file: { ok: true, mtimeMs: NOW.getTime() - 23 * HOUR + 1_000, config: withEntry } }),
    );
    expect(h).toEqual({
      status: 'healthy',
      message: 'Credentials present and within rotation window',
      observed_at: '2025-01-02T00:00:00.000Z',
      expires_at: '2025-01-02T01:00:01.000Z',
      seconds_until_expiry: 3_601,
      rotation_recommended: false,
      source_path: '/etc/mcp/dockerconfig.json',
    });
  });

  it('no modification timestamp is healthy without an expiry', () => {
    const h = assessCredentialHealth(input({ file: { ok: true, mtimeMs: null, config: withEntry } }));
    expect(h).toMatchObject({
      status: 'healthy',
      message: 'Credentials present (no modification timestamp)',
      expires_at: null,
      seconds_until_expiry: null,
      rotation_recommended: false,
    });
  });

  it('checks conditions in table order', () => {
    // Unparsable REGISTRY wins over a missing file; a missing entry wins over age.
    expect(assessCredentialHealth(input({ registry: 'bad host', file: { ok: false, error: 'ENOENT' } })).status).toBe(
      'unknown',
    );
    const old = { ok: true as const, mtimeMs: 0, config: { auths: {} } };
    expect(assessCredentialHealth(input({ file: old })).message).toMatch(/^No auth entry/);
  });
});

describe('combineHealth', () => {
  const order: CredentialHealthStatus[] = ['unknown', 'healthy', 'expiring_soon', 'expired'];
  it.each(order.flatMap((a, i) => order.map((b, j) => [a, b, order[Math.max(i, j)]!] as const)))(
    '%s + %s = %s',
    (a, b, expected) => expect(combineHealth(a, b)).toBe(expected),
  );

  it('starts from unknown when folding', () => {
    expect((['healthy', 'expiring_soon', 'healthy'] as const).reduce(combineHealth, 'unknown')).toBe('expiring_soon');
    expect(([] as CredentialHealthStatus[]).reduce(combineHealth, 'unknown')).toBe('unknown');
  });
});
