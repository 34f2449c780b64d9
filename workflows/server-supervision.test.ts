// The supervisor inside serverLifecycle (server-supervision.ts), the real workflow code on the dev
// server with fake activities: a workload's exit is a restart, failing probes go degraded then
// unhealthy then a restart, a server that keeps failing goes crashloop with growing delays, and an
// intent ends the supervision (and its wait for the exit). Timings are milliseconds here; the
// integration tests (test/integration/supervision.int.test.ts) run the same on Docker.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../lib/errors.js';
import { podChanged, type PodObservation } from '../lib/server-health.js';
import { stateQuery, stopUpdate } from './server-lifecycle.messages.js';
import { relaunchRequestedSignal } from './governance.messages.js';
import {
  fakeServerActivities,
  heldDecision,
  launchableDecision,
  quietSupervision,
} from './test-support/fake-activities.js';
import { startServerLifecycle } from './test-support/starts.js';
import { createWorkflowEnv, eventually, type WorkflowEnv } from './test-support/workflow-env.js';

let env: WorkflowEnv;
beforeAll(async () => {
  env = await createWorkflowEnv();
});
afterAll(() => env?.close());

const fast = {
  ...quietSupervision,
  probeIntervalMs: 100,
  failureThreshold: 2,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 1_000,
  crashloopRestarts: 2,
};

/** Resolves the first wait on the workload after `ms`; later waits block until cancelled. */
function exitOnce(activities: ReturnType<typeof fakeServerActivities>['activities'], reason: string, ms = 200) {
  const blocking = activities.awaitWorkloadExit.getMockImplementation()!;
  activities.awaitWorkloadExit.mockImplementationOnce(async () => {
    await new Promise((r) => setTimeout(r, ms));
    return { reason };
  });
  return blocking;
}

describe.concurrent('serverLifecycle supervision', () => {
  it("a restart the gate holds gives way to a rolled-back promotion's relaunch", async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000 });
    exitOnce(activities, 'container mcp-server-1 is exited (exit code 1)');
    // The first launch runs; the restart is held (its digest's promotion was rolled back meanwhile).
    activities.decideLaunch
      .mockResolvedValueOnce({ decisionId: 1, decision: launchableDecision(serverId) })
      .mockResolvedValueOnce({ decisionId: 2, decision: heldDecision(serverId) });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(ledger.status).toBe('pending-governance'));
      await handle.signal(relaunchRequestedSignal, { artifactRunId: 9, reason: 'promotion 4 rolled back' });
      await eventually(() => expect(ledger.status).toBe('running'));
      expect(ledger.statuses().slice(-5)).toEqual([
        'starting',
        'pending-governance',
        'redeploying',
        'starting',
        'running',
      ]);
      expect(activities.decideLaunch.mock.calls.at(-1)![0]).toMatchObject({ artifactRunId: 9 });
      expect(activities.launchServer).toHaveBeenCalledTimes(2);
    });
  });

  it('restarts a workload that exited, noticed by the wait, not a probe', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000 });
    exitOnce(activities, 'container mcp-server-1 is exited (exit code 137)');
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(activities.launchServer).toHaveBeenCalledTimes(2));
      await eventually(() => expect(ledger.status).toBe('running'));
      expect(ledger.statuses()).toEqual(['starting', 'running', 'unhealthy', 'restarting', 'starting', 'running']);
      expect(ledger.reasonOf('unhealthy')).toBe('container mcp-server-1 is exited (exit code 137)');
      expect(ledger.reasonOf('restarting')).toMatch(/^restart 1 after waiting 100 ms: container mcp-server-1/);
      expect(activities.probeServer).not.toHaveBeenCalled(); // an hour between probes: the wait noticed it
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  });

  it(
    'goes degraded on a failing probe, unhealthy on the next, then restarts; slow answers are degraded',
    { timeout: 60_000 },
    async () => {
      const { activities, ledger, serverId } = fakeServerActivities();
      activities.supervisionSettings.mockResolvedValue(fast);
      const failed = { ok: false, method: 'ping' as const, latencyMs: null, exited: false, toolsDigest: null };
      activities.probeServer
        .mockResolvedValueOnce({ ...failed, error: 'MCP probe failed: timeout' })
        .mockResolvedValueOnce({ ...failed, error: 'MCP probe failed: timeout' })
        .mockResolvedValueOnce({
          ok: true,
          method: 'ping',
          latencyMs: 5_000,
          error: null,
          exited: false,
          toolsDigest: 'x',
        });
      await env.run(activities, async (taskQueue) => {
        await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
        await eventually(
          () =>
            expect(ledger.statuses().slice(0, 9)).toEqual([
              'starting',
              'running',
              'degraded',
              'unhealthy',
              'restarting',
              'starting',
              'running',
              'degraded',
              'running',
            ]),
          40_000,
        );
        expect(ledger.events[2]!.reason).toBe('probe failed (1 of 2): MCP probe failed: timeout');
        expect(ledger.events[3]!.reason).toBe('2 probes failed in a row: MCP probe failed: timeout');
        expect(ledger.events[7]!.reason).toBe('ping answered in 5000 ms, slower than 1000 ms');
        // Each probe has a key of its own (its server_probes row is written once).
        const keys = activities.probeServer.mock.calls.map(([input]) => input.probeKey);
        expect(new Set(keys).size).toBe(keys.length);
      });
    },
  );

  it('goes crashloop after too many restarts, each delay twice the one before', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, restartBackoffMs: 200, restartBackoffMaxMs: 10_000 });
    exitOnce(activities, 'container exited (exit code 1)', 50);
    let launches = 0;
    // The first launch answers; every relaunch exits at once.
    activities.checkMcpHealth.mockImplementation(async () => {
      launches += 1;
      if (launches === 1) return { name: 'echo', tools: ['echo'] };
      throw ApplicationFailure.nonRetryable('container is exited (exit code 1)', ErrorType.WorkloadExited);
    });
    const restartedAt: number[] = [];
    activities.launchServer.mockImplementation(async ({ serverId: id }) => {
      restartedAt.push(Date.now());
      return { workload: `mcp-server-${id}`, endpoint: 'http://127.0.0.1:1/mcp', transport: 'streamable-http' };
    });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(restartedAt.length).toBeGreaterThanOrEqual(5), 40_000);
      expect(ledger.statuses()).toContain('crashloop');
      expect(ledger.reasonOf('crashloop')).toMatch(
        /^\d+ restarts within 600 s; next in \d+ ms; last failure: container/,
      );
      // Delays: 200, 400, 800, 1600 ms (restarts 2..5 after the first relaunch).
      // The durable timers waited 200, 400, 800, 1600 ms: each delay twice the one before.
      const waited = ledger.events
        .filter((e) => e.to === 'restarting')
        .map((e) => Number(/after waiting (\d+) ms/.exec(e.reason!)![1]));
      expect(waited.slice(0, 4)).toEqual([200, 400, 800, 1600]);
      const gaps = restartedAt.slice(1).map((t, i) => t - restartedAt[i]!);
      for (let i = 1; i < 4; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(waited[i]!);
      expect((await handle.query(stateQuery)).status).not.toBe('running');
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);

  it('marks a server drifted when its tools differ from the certified ones, and running once they match again', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue(fast);
    const answered = { ok: true, method: 'ping' as const, latencyMs: 3, error: null, exited: false, toolsDigest: 'b' };
    const drift = { certified: 'sha256:aaa', difference: ['added tool shout'] };
    activities.probeServer.mockResolvedValueOnce({ ...answered, drift }).mockResolvedValueOnce({ ...answered, drift });
    await env.run(activities, async (taskQueue) => {
      await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(ledger.statuses()).toEqual(['starting', 'running', 'drifted', 'running']), 40_000);
      expect(ledger.reasonOf('drifted')).toBe('tools differ from those certified for sha256:aaa: added tool shout');
    });
  }, 60_000);
});

// Apart from the timing-sensitive cases above: run beside them, it made their waits time out on a loaded machine.
describe('serverLifecycle supervision of a Kubernetes server', () => {
  it('counts the restarts a Kubernetes pod shows, noticed by the pod watch; crashloop past the threshold; never relaunches', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000 });
    activities.decideLaunch.mockImplementation(async ({ serverId: id }) => ({
      decisionId: 1,
      decision: launchableDecision(id, { backend: 'kubernetes', executorName: 'kubernetes' }),
    }));
    const pod = `mcp-server-${serverId}-a`;
    const ready = { pod, ready: true, reason: `pod ${pod} running and ready`, lastTermination: null };
    const unready = (restarts: number, reason: string) => ({
      pod,
      restarts,
      ready: false,
      reason,
      lastTermination: 'exit code 137 (Error)',
    });
    const blocking = activities.awaitKubernetesPodChange.getMockImplementation()!;
    const later = (o: object) => async () => {
      await new Promise((r) => setTimeout(r, 100));
      return o as never;
    };
    activities.awaitKubernetesPodChange
      .mockImplementationOnce(async () => ({ ...ready, restarts: 0 }))
      .mockImplementationOnce(later(unready(1, `pod ${pod} running: containers with unready status: [mcp]`)))
      .mockImplementationOnce(later({ ...ready, restarts: 1, lastTermination: 'exit code 137 (Error)' }))
      .mockImplementationOnce(later(unready(2, `pod ${pod}: container mcp CrashLoopBackOff: back-off 10s`)))
      .mockImplementationOnce(later({ ...ready, restarts: 2, lastTermination: 'exit code 137 (Error)' }))
      .mockImplementation(blocking);
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(
        () =>
          expect(ledger.statuses()).toEqual([
            'starting',
            'running',
            'unhealthy',
            'running',
            'unhealthy',
            'crashloop',
            'running',
          ]),
        40_000,
      );
      expect(ledger.events[2]!.reason).toBe(
        `pod ${pod} running: containers with unready status: [mcp]; restarted by Kubernetes (once), last exit: exit code 137 (Error)`,
      );
      expect(ledger.reasonOf('crashloop')).toMatch(
        /^2 restarts within 600 s \(Kubernetes restarts it, backing off\); last failure: pod \S+: container mcp CrashLoopBackOff/,
      );
      // Kubernetes restarted it; the workflow only watched, and probed the Ready pod.
      expect(activities.launchKubernetesServer).toHaveBeenCalledTimes(1);
      expect(activities.awaitWorkloadExit).not.toHaveBeenCalled();
      expect(activities.probeServer).toHaveBeenCalledTimes(3);
      // Each watch but the first asks about a change from what was seen last.
      expect(activities.awaitKubernetesPodChange.mock.calls[1]![0]).toEqual({
        serverId,
        seen: { pod, restarts: 0, ready: true },
      });
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);

  it("looks at the pod when a probe fails: a restart its watch has not reported (the watch's worker died) is counted once, from the pod", async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, failureThreshold: 3, crashloopRestarts: 5 });
    activities.decideLaunch.mockImplementation(async ({ serverId: id }) => ({
      decisionId: 1,
      decision: launchableDecision(id, { backend: 'kubernetes', executorName: 'kubernetes' }),
    }));
    const name = `mcp-server-${serverId}-a`;
    const exit = 'exit code 137 (Error)';
    let pod: PodObservation = {
      pod: name,
      restarts: 0,
      ready: true,
      reason: 'running and ready',
      lastTermination: null,
    };
    let failing = 0;
    activities.probeServer.mockImplementation(async () =>
      failing > 0
        ? ((failing -= 1),
          {
            ok: false,
            method: 'ping' as const,
            latencyMs: null,
            error: pod.reason,
            exited: !pod.ready,
            toolsDigest: null,
          })
        : { ok: true, method: 'ping' as const, latencyMs: 3, error: null, exited: false, toolsDigest: 'sha256:0' },
    );
    const blocking = activities.awaitKubernetesPodChange.getMockImplementation()!;
    activities.awaitKubernetesPodChange.mockImplementation(async (input) => {
      const { seen } = input;
      if (!seen) return pod;
      // The watch from the first observation stands for one whose worker died: it never reports.
      if (seen.restarts === 0) return blocking(input);
      const ctx = Context.current();
      while (!podChanged(seen, pod)) {
        ctx.heartbeat();
        await Promise.race([new Promise((r) => setTimeout(r, 20)), ctx.cancelled]);
      }
      return pod;
    });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(ledger.status).toBe('running'));
      const watching = () => activities.awaitKubernetesPodChange.mock.calls.filter(([i]) => i.seen).length;
      await eventually(() => expect(watching()).toBe(1));
      // Killed and restarted by the kubelet, which backs off: the probes fail, the watch says nothing.
      pod = { pod: name, restarts: 1, ready: false, reason: `pod ${name}: CrashLoopBackOff`, lastTermination: exit };
      failing = 1_000;
      await eventually(() => expect(ledger.status).toBe('unhealthy'));
      pod = { pod: name, restarts: 1, ready: true, reason: 'running and ready', lastTermination: exit };
      failing = 0;
      await eventually(() => expect(ledger.statuses().slice(-1)).toEqual(['running']));
      expect(ledger.statuses()).toEqual(['starting', 'running', 'unhealthy', 'running']);
      expect(ledger.reasonOf('unhealthy')).toBe(
        `pod ${name}: CrashLoopBackOff; restarted by Kubernetes (once), last exit: ${exit}`,
      );
      // A probe that fails while the pod is as it was seen counts as a failed probe.
      failing = 1;
      await eventually(() => expect(ledger.statuses().slice(-2)).toEqual(['degraded', 'running']));
      expect(ledger.reasonOf('degraded')).toBe('probe failed (1 of 3): running and ready');
      const looks = activities.awaitKubernetesPodChange.mock.calls.filter(([i]) => !i.seen);
      // The first watch, then one look per failed probe: the one that found the restart, the last one.
      expect(looks).toHaveLength(3);
      // The stale watch was given up for one from the pod the look found.
      expect(activities.awaitKubernetesPodChange.mock.calls.map(([i]) => i.seen).filter(Boolean)).toEqual([
        { pod: name, restarts: 0, ready: true },
        { pod: name, restarts: 1, ready: false },
        { pod: name, restarts: 1, ready: true },
      ]);
      expect(activities.launchKubernetesServer).toHaveBeenCalledTimes(1);
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);
});

describe('serverLifecycle supervision of a virtual machine', () => {
  const onVm = (activities: ReturnType<typeof fakeServerActivities>['activities']) =>
    activities.decideLaunch.mockImplementation(async ({ serverId: id }) => ({
      decisionId: 1,
      decision: launchableDecision(id, { backend: 'virtual-machine', executorName: 'Secure virtual machines' }),
    }));

  it('starts a VM that died again, once: the same instance, no new launch', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000 });
    onVm(activities);
    exitOnce(activities, `virtual machine vm-${serverId} failed: kernel panic`);
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() =>
        expect(ledger.statuses()).toEqual([
          'starting',
          'provisioning',
          'running',
          'unhealthy',
          'restarting',
          'starting',
          'running',
        ]),
      );
      expect(ledger.reasonOf('unhealthy')).toBe(`virtual machine vm-${serverId} failed: kernel panic`);
      expect(ledger.reasonOf('restarting')).toMatch(/after waiting 100 ms/);
      expect(ledger.reasonOf('running')).toBe(`virtual machine vm-${serverId} started again`);
      expect(activities.restartVm).toHaveBeenCalledTimes(1);
      expect(activities.provisionVm).toHaveBeenCalledTimes(1);
      expect(activities.launchServer).not.toHaveBeenCalled();
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);

  it('goes crashloop when the VM dies after every start, still starting it with growing delays', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000 });
    onVm(activities);
    activities.awaitWorkloadExit.mockImplementation(async () => {
      await new Promise((r) => setTimeout(r, 50));
      return { reason: `virtual machine vm-${serverId} failed: out of memory` };
    });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(activities.restartVm.mock.calls.length).toBeGreaterThanOrEqual(4), 40_000);
      expect(ledger.statuses()).toContain('crashloop');
      expect(ledger.reasonOf('crashloop')).toMatch(
        /^\d+ restarts within 600 s; next in \d+ ms; last failure: virtual machine vm-\d+ failed: out of memory$/,
      );
      const waited = ledger.events
        .filter((e) => e.to === 'restarting')
        .map((e) => Number(/after waiting (\d+) ms/.exec(e.reason!)![1]));
      expect(waited.slice(0, 4)).toEqual([100, 200, 400, 800]);
      expect(activities.provisionVm).toHaveBeenCalledTimes(1);
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);

  it('launches anew when the hypervisor no longer holds the instance; a start it refuses leaves the VM unhealthy', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.supervisionSettings.mockResolvedValue({ ...fast, probeIntervalMs: 3_600_000, crashloopRestarts: 5 });
    onVm(activities);
    const exit = (reason: string) => async () => {
      await new Promise((r) => setTimeout(r, 100));
      return { reason };
    };
    activities.awaitWorkloadExit
      .mockImplementationOnce(exit(`virtual machine vm-${serverId} is no longer known to the hypervisor`))
      .mockImplementationOnce(exit(`virtual machine vm-${serverId} failed: kernel panic`));
    activities.restartVm
      .mockResolvedValueOnce({ status: 'gone', reason: 'gone' })
      .mockRejectedValueOnce(ApplicationFailure.nonRetryable('hypervisor rejected start request: 409', 'Rejected'));
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await eventually(() => expect(activities.restartVm).toHaveBeenCalledTimes(3), 40_000);
      await eventually(() => expect(ledger.status).toBe('running'));
      expect(ledger.statuses()).toEqual([
        'starting',
        'provisioning',
        'running',
        'unhealthy',
        'restarting',
        'starting',
        'provisioning',
        'running',
        'unhealthy',
        'restarting',
        'starting',
        'unhealthy',
        'restarting',
        'starting',
        'running',
      ]);
      expect(ledger.events[11]!.reason).toBe(
        'the virtual machine did not start again: hypervisor rejected start request: 409',
      );
      expect(activities.provisionVm).toHaveBeenCalledTimes(2);
      await handle.executeUpdate(stopUpdate, { args: [{ actorId: 7 }] });
      await eventually(() => expect(ledger.status).toBe('stopped'));
    });
  }, 60_000);
});
