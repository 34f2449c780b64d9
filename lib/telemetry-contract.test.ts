import { describe, expect, it } from 'vitest';
import { missingDetail } from './telemetry-contract.js';

describe('registry telemetry contract', () => {
  const pushFailed = {
    attempt: 2,
    retry_limit: 5,
    registry_endpoint: 'r/mcp-custom-1',
    platform: 'linux/amd64',
    error: 'x',
    error_kind: 'push',
    auth_expired: false,
  };

  it('accepts complete payloads, including null values', () => {
    expect(missingDetail('push_failed', pushFailed)).toBeUndefined();
    expect(
      missingDetail('manifest_published', { registry_endpoint: 'r', tag: 'latest', digest: null, architectures: [] }),
    ).toBeUndefined();
    expect(missingDetail('start', null)).toBeUndefined();
  });

  it('names the first missing key in catalogue order', () => {
    expect(missingDetail('push_failed', { attempt: 1, retry_limit: 3 })).toBe('details.registry_endpoint');
    const { error_kind: _k, ...noKind } = pushFailed;
    expect(missingDetail('push_failed', noKind)).toBe('details.error_kind');
    expect(missingDetail('push_retry', { attempt: 1, retry_limit: 3, registry_endpoint: 'r', platform: 'p' })).toBe(
      'details.reason',
    );
    expect(missingDetail('tag_started', { registry_endpoint: 'r', tag: 'latest' })).toBe('details.platform');
  });

  it('requires a details object for registry events', () => {
    expect(missingDetail('push_started', null)).toBe('details');
    expect(missingDetail('push_started', [1])).toBe('details');
  });
});
