// serverLifecycle, the real workflow code on a Temporal dev server with fake activities
// (test-support/fake-activities.ts): the server state machine as an operator drives it through
// the intents (updates), the status query and the ledger the workflow writes.
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../lib/errors.js';
import { gateChangedSignal, relaunchRequestedSignal } from './governance.messages.js';
import type { serverLifecycle } from './server-lifecycle.js';
import {
  deleteUpdate,
  redeployUpdate,
  settingsChangedSignal,
  startUpdate,
  stateQuery,
  stopUpdate,
  buildUpdate,
} from './server-lifecycle.messages.js';
import {
  buildUntilCancelled,
  fakeBuildActivities,
  fakeServerActivities,
  heldDecision,
  launchableDecision,
  type ServerLedger,
} from './test-support/fake-activities.js';
import { startServerLifecycle } from './test-support/starts.js';
import { createWorkflowEnv, eventually, updateRefusal, type WorkflowEnv } from './test-support/workflow-env.js';

let env: WorkflowEnv;
beforeAll(async () => {
  env = await createWorkflowEnv();
});
afterAll(() => env?.close());

const actor = { actorId: 7 };

async function settles(
  handle: WorkflowHandle<typeof serverLifecycle>,
  ledger: ServerLedger,
  status: string,
): Promise<void> {
  await eventually(async () => {
    expect(ledger.status).toBe(status);
    expect(await handle.query(stateQuery)).toEqual({ status, pending: [] });
  });
}

describe.concurrent('serverLifecycle: create, start, stop', () => {
  it('a server created without start is stopped; start launches it and it runs once it answers MCP', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId });
      await settles(handle, ledger, 'stopped');
      expect(ledger.reasonOf('stopped')).toBe('created without start');

      expect(await handle.executeUpdate(startUpdate, { args: [actor] })).toEqual({
        intent: 'start',
        status: 'starting',
      });
      await settles(handle, ledger, 'running');
      expect(ledger.statuses()).toEqual(['stopped', 'starting', 'running']);
      expect(ledger.reasonOf('running')).toBe('MCP server echo with 2 tool(s)');
      expect(activities.launchServer).toHaveBeenCalledTimes(1);
      expect(activities.launchServer.mock.calls[0]![0]).toMatchObject({
        serverId,
        decisionId: 1,
        image: `example/server-${serverId}:latest`,
      });
    });
  });

  it('stop stops the workload; a stopped server starts again', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      expect(await handle.executeUpdate(stopUpdate, { args: [actor] })).toEqual({ intent: 'stop', status: 'stopping' });
      await settles(handle, ledger, 'stopped');
      expect(activities.stopServer).toHaveBeenCalledWith({ serverId });

      await handle.executeUpdate(startUpdate, { args: [actor] });
      await settles(handle, ledger, 'running');
      expect(ledger.statuses()).toEqual(['starting', 'running', 'stopping', 'stopped', 'starting', 'running']);
      expect(activities.launchServer).toHaveBeenCalledTimes(2);
      // Every transition has its own idempotency key, so none is mistaken for a retry of another.
      expect(new Set(ledger.events.map((e) => e.transitionKey)).size).toBe(ledger.events.length);
    });
  });

  it('refuses intents the state machine does not allow, with the reason (the API answers 409)', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');

      const again = await updateRefusal(handle.executeUpdate(startUpdate, { args: [actor] }));
      expect(again.type).toBe(ErrorType.InvalidTransition);
      expect(again.message).toBe('server is already running');

      const build = await updateRefusal(handle.executeUpdate(buildUpdate, { args: [actor] }));
      expect(build.type).toBe(ErrorType.InvalidTransition);
      expect(build.message).toBe('only servers with a git or package source are built');

      await handle.executeUpdate(stopUpdate, { args: [actor] });
      // Validated against where the queued intents leave the server, not where it is now.
      const twice = await updateRefusal(handle.executeUpdate(stopUpdate, { args: [actor] }));
      expect(twice.type).toBe(ErrorType.InvalidTransition);
      await settles(handle, ledger, 'stopped');

      const noActor = await updateRefusal(handle.executeUpdate(startUpdate, { args: [{} as typeof actor] }));
      expect(noActor.message).toBe('actorId is required');
      // Nothing refused was carried out.
      expect(ledger.statuses()).toEqual(['starting', 'running', 'stopping', 'stopped']);
    });
  });
});

describe.concurrent('serverLifecycle: changed settings', () => {
  it('launches with the settings a settingsChanged signal gave, from its next launch on; a malformed one is dropped', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      expect(activities.launchServer.mock.calls[0]![0]).toMatchObject({ config: {}, useGpu: false });

      await handle.signal(settingsChangedSignal, { config: { MODE: 'fast', T: { secret: 'tok' } }, useGpu: true });
      await handle.signal(settingsChangedSignal, { config: null, useGpu: 'yes' } as never);
      // What runs is left alone: no intent, no launch.
      expect(await handle.query(stateQuery)).toEqual({ status: 'running', pending: [] });
      expect(activities.launchServer).toHaveBeenCalledTimes(1);

      await handle.executeUpdate(redeployUpdate, { args: [actor] });
      await eventually(async () => expect(activities.launchServer).toHaveBeenCalledTimes(2));
      expect(activities.launchServer.mock.calls[1]![0]).toMatchObject({
        config: { MODE: 'fast', T: { secret: 'tok' } },
        useGpu: true,
      });
    });
  });
});

describe.concurrent('serverLifecycle: redeploy and delete', () => {
  it('redeploy of a running server launches it again', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      expect(await handle.executeUpdate(redeployUpdate, { args: [actor] })).toEqual({
        intent: 'redeploy',
        status: 'redeploying',
      });
      await eventually(() =>
        expect(ledger.statuses()).toEqual(['starting', 'running', 'redeploying', 'starting', 'running']),
      );
      await settles(handle, ledger, 'running');
      expect(activities.launchServer).toHaveBeenCalledTimes(2);
      expect(activities.decideLaunch).toHaveBeenCalledTimes(2);
    });
  });

  it("a redeploy asked for with a reason (a secret's new version) records it on the redeploying event", async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      await handle.executeUpdate(redeployUpdate, { args: [{ ...actor, reason: 'redeploy: secret gh version 2' }] });
      await eventually(() => expect(ledger.reasonOf('redeploying')).toBe('redeploy: secret gh version 2'));
      await settles(handle, ledger, 'running');
    });
  });

  it('delete removes the workload and the row, and ends the workflow', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      expect(await handle.executeUpdate(deleteUpdate, { args: [actor] })).toEqual({
        intent: 'delete',
        status: 'deleting',
      });
      expect(await handle.result()).toEqual({ outcome: 'deleted' });
      expect(ledger.statuses().at(-1)).toBe('deleting');
      expect(activities.removeServerWorkload).toHaveBeenCalledWith({ serverId });
      expect(activities.removeServer).toHaveBeenCalledTimes(1);
      expect(ledger.removed).toBe(true);
    });
  });

  it('a server whose creating transaction rolled back is abandoned without a transition', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.awaitServerRow.mockRejectedValue(
      ApplicationFailure.nonRetryable('server row missing', ErrorType.RowRolledBack),
    );
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      expect(await handle.result()).toEqual({ outcome: 'abandoned' });
      expect(ledger.events).toEqual([]);
      expect(activities.decideLaunch).not.toHaveBeenCalled();
    });
  });
});

describe.concurrent('serverLifecycle: governance gates', () => {
  it('a launch held by a gate waits in pending-governance, and launches once a gate changes', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.decideLaunch.mockResolvedValueOnce({ decisionId: 41, decision: heldDecision(serverId) });
    activities.decideLaunch.mockResolvedValueOnce({ decisionId: 42, decision: launchableDecision(serverId) });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'pending-governance');
      // The reason names what the launch waits for, not the gate's bookkeeping notes.
      expect(ledger.reasonOf('pending-governance')).toBe(
        'policy decision 41 waits for: promotion:missing:prod:staging',
      );
      expect(activities.launchServer).not.toHaveBeenCalled();

      await handle.signal(gateChangedSignal);
      await settles(handle, ledger, 'running');
      expect(ledger.statuses()).toEqual(['starting', 'pending-governance', 'starting', 'running']);
      expect(activities.launchServer.mock.calls[0]![0]).toMatchObject({ decisionId: 42 });
      // Each decision has its own key: deciding again is a new decision, not a retry of the first.
      const keys = activities.decideLaunch.mock.calls.map(([input]) => input.decisionKey);
      expect(new Set(keys).size).toBe(2);
    });
  });

  it('a gate that changes while the launch decides makes it decide again rather than wait', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    let deciding!: () => void;
    const decided = new Promise<void>((resolve) => (deciding = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The first decision read the gate before the promotion that opens it, whose signal comes meanwhile.
    activities.decideLaunch.mockImplementationOnce(async () => {
      deciding();
      await released;
      return { decisionId: 51, decision: heldDecision(serverId) };
    });
    activities.decideLaunch.mockResolvedValueOnce({ decisionId: 52, decision: launchableDecision(serverId) });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await decided;
      await handle.signal(gateChangedSignal); // in the history once it resolves
      release();
      await settles(handle, ledger, 'running');
      expect(ledger.statuses()).toEqual(['starting', 'pending-governance', 'starting', 'running']);
      expect(activities.launchServer.mock.calls[0]![0]).toMatchObject({ decisionId: 52 });
    });
  });

  it('stop supersedes a launch waiting on a gate', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.decideLaunch.mockResolvedValue({ decisionId: 5, decision: heldDecision(serverId) });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'pending-governance');
      await handle.executeUpdate(stopUpdate, { args: [actor] });
      await settles(handle, ledger, 'stopped');
      expect(ledger.statuses()).toEqual(['starting', 'pending-governance', 'stopping', 'stopped']);
      expect(activities.launchServer).not.toHaveBeenCalled();
    });
  });

  it('a decision that does not allow the launch leaves the server in error with the unmet notes', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.decideLaunch.mockResolvedValueOnce({
      decisionId: 9,
      decision: launchableDecision(serverId, {
        launchable: false,
        image: null,
        notes: ['evaluation:not-required', 'executor:unavailable:docker'],
      }),
    });
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'error');
      expect(ledger.reasonOf('error')).toBe('policy decision 9 does not allow a launch: executor:unavailable:docker');
      expect(activities.launchServer).not.toHaveBeenCalled();
      // error is not a dead end: the operator starts it again once the executor is back.
      await handle.executeUpdate(startUpdate, { args: [actor] });
      await settles(handle, ledger, 'running');
    });
  });
});

describe.concurrent('serverLifecycle: launch failures', () => {
  it("a launch that fails leaves the server in error with the executor's reason", async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.launchServer.mockRejectedValueOnce(
      ApplicationFailure.nonRetryable('image example/echo:latest not found', ErrorType.LaunchFailed),
    );
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'error');
      expect(ledger.reasonOf('error')).toBe('image example/echo:latest not found');
      // A LaunchFailed is final: not retried.
      expect(activities.launchServer).toHaveBeenCalledTimes(1);
      expect(activities.checkMcpHealth).not.toHaveBeenCalled();
    });
  });

  it('a workload that does not answer MCP is unhealthy, with the reason', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    activities.checkMcpHealth.mockRejectedValueOnce(
      ApplicationFailure.nonRetryable('container exited with code 1', ErrorType.WorkloadExited),
    );
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'unhealthy');
      expect(ledger.reasonOf('unhealthy')).toBe('container exited with code 1');
      expect(activities.checkMcpHealth).toHaveBeenCalledTimes(1);
    });
  });
});

describe.concurrent('serverLifecycle: git sources', () => {
  const source = { type: 'git' as const, repository: 'https://example.com/echo.git', branch: 'main' };

  it('start builds the branch head and launches the artifact it built', async () => {
    const server = fakeServerActivities();
    const build = fakeBuildActivities({}, 77);
    await env.run({ ...server.activities, ...build.activities }, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, {
        serverId: server.serverId,
        start: true,
        source,
      });
      await settles(handle, server.ledger, 'running');
      expect(server.ledger.statuses()).toEqual(['building', 'ready', 'starting', 'running']);
      expect(server.ledger.reasonOf('ready')).toBe(
        `built a1b2c3d4e5f6 as 127.0.0.1:5000/mcp-custom-${server.serverId}:latest`,
      );
      expect(server.activities.decideLaunch.mock.calls[0]![0]).toMatchObject({ artifactRunId: 77 });
      expect(build.ledger.completed).toMatchObject({ status: 'succeeded' });
    });
  });

  it('a stopped server keeps its artifact, so start resumes it without a build', async () => {
    const server = fakeServerActivities();
    const build = fakeBuildActivities();
    server.activities.findArtifact.mockResolvedValue({ runId: 12 });
    await env.run({ ...server.activities, ...build.activities }, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, {
        serverId: server.serverId,
        start: true,
        source,
      });
      await settles(handle, server.ledger, 'running');
      expect(server.ledger.statuses()).toEqual(['starting', 'running']);
      expect(build.activities.beginBuildRun).not.toHaveBeenCalled();
      expect(server.activities.decideLaunch.mock.calls[0]![0]).toMatchObject({ artifactRunId: 12 });
    });
  });

  it("a rolled-back promotion's relaunch launches the artifact it names, without a build; a stopped server ignores it", async () => {
    const server = fakeServerActivities();
    const build = fakeBuildActivities({}, 78);
    await env.run({ ...server.activities, ...build.activities }, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, {
        serverId: server.serverId,
        start: true,
        source,
      });
      await settles(handle, server.ledger, 'running');
      await handle.signal(relaunchRequestedSignal, { artifactRunId: 12, reason: 'promotion 3 rolled back' });
      await eventually(() =>
        expect(server.ledger.statuses()).toEqual([
          'building',
          'ready',
          'starting',
          'running',
          'redeploying',
          'starting',
          'running',
        ]),
      );
      await settles(handle, server.ledger, 'running');
      expect(server.ledger.reasonOf('redeploying')).toBe('promotion 3 rolled back');
      expect(build.activities.beginBuildRun).toHaveBeenCalledTimes(1);
      expect(server.activities.decideLaunch.mock.calls.map(([input]) => input.artifactRunId)).toEqual([78, 12]);

      await handle.executeUpdate(stopUpdate, { args: [actor] });
      await settles(handle, server.ledger, 'stopped');
      await handle.signal(relaunchRequestedSignal, { artifactRunId: 12, reason: 'too late' });
      await new Promise((r) => setTimeout(r, 500)); // the signal handled, nothing queued
      expect(await handle.query(stateQuery)).toEqual({ status: 'stopped', pending: [] });
      expect(server.activities.decideLaunch).toHaveBeenCalledTimes(2);
    });
  });

  it('stop cancels a build under way: the build is closed as cancelled and the server stops', async () => {
    const server = fakeServerActivities();
    const build = fakeBuildActivities({ targets: ['linux/amd64'], parallelism: 1 });
    build.activities.buildPlatformImage.mockImplementation(buildUntilCancelled(build.ledger));
    await env.run({ ...server.activities, ...build.activities }, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, {
        serverId: server.serverId,
        start: true,
        source,
      });
      await eventually(() => expect(build.activities.buildPlatformImage).toHaveBeenCalled());
      await handle.executeUpdate(stopUpdate, { args: [actor] });
      await settles(handle, server.ledger, 'stopped');
      expect(server.ledger.statuses()).toEqual(['building', 'stopping', 'stopped']);
      expect(build.ledger.cancelled).toEqual(['linux/amd64']);
      expect(build.ledger.completed).toMatchObject({ status: 'cancelled' });
      expect(server.activities.launchServer).not.toHaveBeenCalled();
    });
  });
});

describe.concurrent('serverLifecycle: long-lived servers', () => {
  it('hands its state to a fresh run when the history grows long, and carries on', async () => {
    const { activities, ledger, serverId } = fakeServerActivities();
    await env.run(activities, async (taskQueue) => {
      const handle = await startServerLifecycle(env.client, taskQueue, { serverId, start: true });
      await settles(handle, ledger, 'running');
      let cycles = 0;
      while ((await handle.describe()).runId === handle.firstExecutionRunId) {
        if (++cycles > 10) throw new Error(`no continue-as-new after ${env.continueAsNewAfterEvents} events`);
        await handle.executeUpdate(stopUpdate, { args: [actor] });
        await settles(handle, ledger, 'stopped');
        await handle.executeUpdate(startUpdate, { args: [actor] });
        await settles(handle, ledger, 'running');
      }
      // The fresh run knows the status (it refuses a second start) and carries out the next intent.
      expect((await updateRefusal(handle.executeUpdate(startUpdate, { args: [actor] }))).message).toBe(
        'server is already running',
      );
      await handle.executeUpdate(stopUpdate, { args: [actor] });
      await settles(handle, ledger, 'stopped');
      // Transition keys go on from where the previous run stopped: none is reused.
      expect(new Set(ledger.events.map((e) => e.transitionKey)).size).toBe(ledger.events.length);
      expect(activities.awaitServerRow).toHaveBeenCalledTimes(1);
    });
  });
});
