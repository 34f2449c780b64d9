import { describe, expect, it } from 'vitest';
import {
  judgeProbe,
  planRestart,
  podCrashloopReason,
  podRestartsSince,
  podUnwellReason,
  type HealthSettings,
} from './server-health.js';

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

describe('a Kubernetes pod observed', () => {
  const seen = { name: 'mcp-server-1-a', restarts: 2, ready: true };
  const now = (o: Partial<Parameters<typeof podRestartsSince>[1]> = {}) => ({
    pod: 'mcp-server-1-a',
    restarts: 2,
    ready: true,
    reason: 'pod mcp-server-1-a running and ready',
    lastTermination: null,
    ...o,
  });

  it('counts the restarts since it was seen: the container restarted, or the pod replaced', () => {
    expect(podRestartsSince(seen, now())).toBe(0);
    expect(podRestartsSince(seen, now({ restarts: 4 }))).toBe(2);
    // Replaced by its ReplicaSet: one restart, plus the new pod's own.
    expect(podRestartsSince(seen, now({ pod: 'mcp-server-1-b', restarts: 0 }))).toBe(1);
    expect(podRestartsSince(seen, now({ pod: 'mcp-server-1-b', restarts: 1 }))).toBe(2);
    // No pod yet: nothing to count until its replacement is there.
    expect(podRestartsSince(seen, now({ pod: null, restarts: 0 }))).toBe(0);
    // A fresh launch: every restart of its pod is its own.
    expect(podRestartsSince(undefined, now({ restarts: 3 }))).toBe(3);
  });

  it('says why it is unwell: not Ready, restarted by Kubernetes with its last exit', () => {
    const exit = 'exit code 137 (Error): liveness probe failed';
    expect(podUnwellReason(now({ ready: false, reason: 'pod p running: not ready' }), 0)).toBe(
      'pod p running: not ready',
    );
    expect(podUnwellReason(now({ lastTermination: exit }), 1)).toBe(
      `pod mcp-server-1-a restarted by Kubernetes (once), last exit: ${exit}`,
    );
    expect(podUnwellReason(now({ ready: false, reason: 'pod p: CrashLoopBackOff', lastTermination: exit }), 2)).toBe(
      `pod p: CrashLoopBackOff; restarted by Kubernetes (2 times), last exit: ${exit}`,
    );
    expect(podCrashloopReason(s, 5, 'pod p: CrashLoopBackOff')).toBe(
      '5 restarts within 600 s (Kubernetes restarts it, backing off); last failure: pod p: CrashLoopBackOff',
    );
  });
});
