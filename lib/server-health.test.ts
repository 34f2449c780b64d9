import { describe, expect, it } from 'vitest';
import { judgeProbe, planRestart, type HealthSettings } from './server-health.js';

const s: HealthSettings = {
  probeIntervalMs: 10_000,
  probeTimeoutMs: 5_000,
  degradedLatencyMs: 2_000,
  failureThreshold: 3,
  restartBackoffMs: 5_000,
  restartBackoffMaxMs: 300_000,
  crashloopRestarts: 5,
  crashloopWindowMs: 600_000,
};
const ok = (latencyMs: number) => ({ ok: true, method: 'ping', latencyMs, error: null, exited: false });
const failed = { ok: false, method: 'ping', latencyMs: null, error: 'timeout', exited: false };

describe('judgeProbe', () => {
  it('is running when fast, degraded when slow, and clears the failures either way', () => {
    expect(judgeProbe(s, 2, ok(12))).toEqual({ status: 'running', reason: 'ping answered in 12 ms', failures: 0 });
    expect(judgeProbe(s, 2, ok(2_500))).toMatchObject({ status: 'degraded', failures: 0 });
  });

  it('is degraded while failures stay under the threshold, unhealthy at it', () => {
    expect(judgeProbe(s, 0, failed)).toMatchObject({ status: 'degraded', failures: 1 });
    expect(judgeProbe(s, 1, failed)).toMatchObject({ status: 'degraded', failures: 2 });
    expect(judgeProbe(s, 2, failed)).toEqual({
      status: 'unhealthy',
      reason: '3 probes failed in a row: timeout',
      failures: 3,
    });
  });

  it('is unhealthy at once when the workload exited, with its reason', () => {
    expect(judgeProbe(s, 0, { ...failed, exited: true, error: 'OOMKilled' })).toEqual({
      status: 'unhealthy',
      reason: 'OOMKilled',
      failures: 3,
    });
  });
});

describe('judgeProbe and drift', () => {
  it('is drifted when the tools differ from the certified ones, whatever the latency', () => {
    const drift = { certified: 'sha256:abc', difference: ['added tool shout'] };
    expect(judgeProbe(s, 1, { ...ok(5_000), drift })).toEqual({
      status: 'drifted',
      reason: 'tools differ from those certified for sha256:abc: added tool shout',
      failures: 0,
    });
    expect(judgeProbe(s, 0, { ...ok(5), drift: null }).status).toBe('running');
  });
});

describe('planRestart', () => {
  it('doubles the delay with each restart in the window, up to the maximum', () => {
    const now = 10_000_000;
    expect(planRestart(s, [], now).delayMs).toBe(5_000);
    expect(planRestart(s, [now - 1, now - 2], now).delayMs).toBe(20_000);
    expect(
      planRestart(
        s,
        Array.from({ length: 12 }, (_, i) => now - i),
        now,
      ).delayMs,
    ).toBe(300_000);
  });

  it('forgets restarts older than the window and goes crashloop at M of them', () => {
    const now = 10_000_000;
    const recent = [now - 1, now - 2, now - 3, now - 4, now - 5];
    expect(planRestart(s, [...recent, now - 700_000], now)).toEqual({ recent, delayMs: 160_000, crashloop: true });
    expect(planRestart(s, recent.slice(1), now).crashloop).toBe(false);
  });
});
