import { describe, expect, it } from 'vitest';
import {
  expiryText,
  formatSpan,
  historyTable,
  nextCheckText,
  rotationText,
  summaryTable,
  type CredentialCheck,
  type CredentialsStatus,
} from '../../cli/commands/credentials.js';
import { absoluteUrl, metricDetails, metricLine, metricsTable } from '../../cli/commands/metrics.js';
import { formatTable } from '../../cli/output.js';

describe('metric details', () => {
  it('puts the catalogue keys of the event first, as compact JSON', () => {
    const details = {
      error: 'x',
      platform: 'linux/amd64',
      retry_limit: 3,
      attempt: 1,
      registry_endpoint: 'r/mcp-custom-1',
    };
    expect(metricDetails('push_succeeded', details)).toBe(
      '{"attempt":1,"retry_limit":3,"registry_endpoint":"r/mcp-custom-1","platform":"linux/amd64","error":"x"}',
    );
    expect(metricDetails('server_started', { b: 1, a: 2 })).toBe('{"b":1,"a":2}');
  });

  it('shows missing details as nothing, and other JSON values as they are', () => {
    expect(metricDetails('x', null)).toBeNull();
    expect(metricDetails('x', undefined)).toBeNull();
    expect(metricDetails('x', [1, 2])).toBe('[1,2]');
    expect(metricDetails('x', 'text')).toBe('"text"');
  });

  it('cuts long details to the width, on one line', () => {
    const text = metricDetails('x', { log: 'a\nb'.repeat(100) }, 40)!;
    expect(text).toHaveLength(40);
    expect(text.endsWith('…')).toBe(true);
    expect(text).not.toContain('\n');
  });

  it('tabulates and prints followed events with the same columns', () => {
    const m = {
      id: 5,
      timestamp: '2026-11-25T08:00:00.000Z',
      event_type: 'tag_started',
      details: { tag: 'latest' },
      run_id: 2,
      posted_by: null,
    };
    const lines = formatTable(...metricsTable([m])).split('\n');
    expect(lines[0]).toMatch(/^id\s+time\s+event\s+details$/);
    expect(lines[2]).toBe('5   2026-11-25T08:00:00.000Z  tag_started  {"tag":"latest"}');
    expect(metricLine(m)).toBe('5  2026-11-25T08:00:00.000Z  tag_started  {"tag":"latest"}');
    expect(metricLine({ ...m, details: null })).toBe('5  2026-11-25T08:00:00.000Z  tag_started  -');
  });
});

describe('webhook URL', () => {
  it('joins the path to the API base URL, path prefix included', () => {
    expect(absoluteUrl('http://127.0.0.1:3000', '/api/servers/3/webhook')).toBe(
      'http://127.0.0.1:3000/api/servers/3/webhook',
    );
    expect(absoluteUrl('https://x.example/mcp', '/api/servers/3/webhook')).toBe(
      'https://x.example/mcp/api/servers/3/webhook',
    );
    expect(absoluteUrl('https://x.example', 'https://hooks.example/3')).toBe('https://hooks.example/3');
  });
});

const check = (overrides: Partial<CredentialCheck> = {}): CredentialCheck => ({
  id: 4,
  trigger: 'schedule',
  status: 'expiring_soon',
  message: 'token expires in 2 days',
  observed_at: '2026-11-25T08:00:00.000Z',
  expires_at: '2026-11-27T12:00:00.000Z',
  seconds_until_expiry: 187_200,
  rotation_recommended: true,
  rotation_configured: false,
  rotation_attempted: false,
  rotation_succeeded: null,
  rotation_error: null,
  workflow_id: 'credentials/127.0.0.1:5000',
  ...overrides,
});

describe('credential formatting', () => {
  it('writes spans with their two largest units', () => {
    expect(formatSpan(187_200)).toBe('2d 4h');
    expect(formatSpan(3 * 3600 + 125)).toBe('3h 2m');
    expect(formatSpan(86_400 + 59)).toBe('1d');
    expect(formatSpan(42)).toBe('42s');
    expect(formatSpan(0)).toBe('0s');
    expect(formatSpan(-7200)).toBe('2h');
  });

  it('says when the credentials expire, or expired', () => {
    expect(expiryText(check())).toBe('2026-11-27T12:00:00.000Z (in 2d 4h)');
    expect(expiryText(check({ seconds_until_expiry: -7200 }))).toBe('2026-11-27T12:00:00.000Z (2h ago)');
    expect(expiryText(check({ seconds_until_expiry: null }))).toBe('2026-11-27T12:00:00.000Z');
    expect(expiryText(check({ expires_at: null, seconds_until_expiry: null }))).toBeNull();
  });

  it('sums the rotation flags up in words', () => {
    expect(rotationText(check())).toBe('recommended, not configured');
    expect(rotationText(check({ rotation_recommended: false, rotation_configured: true }))).toBe(
      'not needed, configured',
    );
    expect(rotationText(check({ rotation_configured: true, rotation_attempted: true, rotation_succeeded: true }))).toBe(
      'recommended, configured, rotated',
    );
    expect(
      rotationText(check({ rotation_configured: true, rotation_attempted: true, rotation_succeeded: false })),
    ).toBe('recommended, configured, rotation failed');
  });

  it('names the next scheduled check', () => {
    expect(nextCheckText(null)).toBe('no schedule');
    expect(nextCheckText({ id: 's', next_runs: ['2026-11-25T09:00:00.000Z'], paused: false })).toBe(
      '2026-11-25T09:00:00.000Z',
    );
    expect(nextCheckText({ id: 's', next_runs: ['2026-11-25T09:00:00.000Z'], paused: true })).toBe(
      '2026-11-25T09:00:00.000Z (paused)',
    );
    expect(nextCheckText({ id: 's', next_runs: [], paused: true })).toBe('none planned (paused)');
  });

  it('summarises the latest check and the schedule', () => {
    const status: CredentialsStatus = {
      registry: 'http://127.0.0.1:5000/mcp',
      configured: true,
      latest: check(),
      history: [check()],
      schedule: { id: 'credentials/127.0.0.1:5000', next_runs: ['2026-11-25T09:00:00.000Z'], paused: false },
    };
    const text = formatTable(...summaryTable(status));
    expect(text).toMatch(/registry\s+http:\/\/127\.0\.0\.1:5000\/mcp/);
    expect(text).toMatch(/configured\s+true/);
    expect(text).toMatch(/status\s+expiring_soon/);
    expect(text).toMatch(/checked\s+2026-11-25T08:00:00\.000Z \(schedule\)/);
    expect(text).toMatch(/expires\s+2026-11-27T12:00:00\.000Z \(in 2d 4h\)/);
    expect(text).toMatch(/rotation recommended\s+true/);
    expect(text).toMatch(/rotation succeeded\s+-/);
    expect(text).toMatch(/next check\s+2026-11-25T09:00:00\.000Z/);
  });

  it('summarises a registry that is not set up or never checked', () => {
    const text = formatTable(
      ...summaryTable({ registry: null, configured: false, latest: null, history: [], schedule: null }),
    );
    expect(text).toMatch(/registry\s+not set \(REGISTRY\)/);
    expect(text).toMatch(/configured\s+false/);
    expect(text).toMatch(/status\s+never checked/);
    expect(text).toMatch(/next check\s+no schedule/);
  });

  it('keeps the history table short, a rotation error before the message', () => {
    const checks = Array.from({ length: 15 }, (_, i) => check({ id: 20 - i }));
    checks[0] = check({
      id: 20,
      rotation_configured: true,
      rotation_attempted: true,
      rotation_succeeded: false,
      rotation_error: 'refresh command exited 1',
    });
    const [headers, rows] = historyTable(checks);
    expect(headers).toEqual(['id', 'checked', 'trigger', 'status', 'expires', 'rotation', 'message']);
    expect(rows).toHaveLength(10);
    expect(rows[0]).toEqual([
      20,
      '2026-11-25T08:00:00.000Z',
      'schedule',
      'expiring_soon',
      '2026-11-27T12:00:00.000Z',
      'recommended, configured, rotation failed',
      'refresh command exited 1',
    ]);
  });
});
