// governanceRun, the real workflow code on a Temporal dev server with fake activities: ordered
// steps, refusals the API answers as 409, and what a completed run tells its target server.
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../lib/errors.js';
import { advanceStepUpdate, governanceRunQuery, setRunStatusUpdate } from './governance.messages.js';
import {
  fakeGovernanceActivities,
  fakeServerActivities,
  heldDecision,
  launchableDecision,
} from './test-support/fake-activities.js';
import { startGovernanceRun, startServerLifecycle } from './test-support/starts.js';
import {
  createWorkflowEnv,
  eventually,
  freshId,
  updateRefusal,
  type WorkflowEnv,
} from './test-support/workflow-env.js';

let env: WorkflowEnv;
beforeAll(async () => {
  env = await createWorkflowEnv();
});
afterAll(() => env?.close());

const reviewer = 21;

describe.concurrent('governanceRun: steps', () => {
  it('steps advance in order; a step ahead of an open one is refused; the last one completes the run', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const run = ledger.addRun({ runId: freshId(), ownerId: 3 }, ['security review', 'sign-off']);
    await env.run(activities, async (taskQueue) => {
      const handle = await startGovernanceRun(env.client, taskQueue, run.runId);

      const early = await updateRefusal(
        handle.executeUpdate(advanceStepUpdate, { args: [{ actorId: reviewer, position: 2, status: 'completed' }] }),
      );
      expect(early.type).toBe(ErrorType.InvalidTransition);
      expect(early.message).toBe('step 2 must wait for step(s) 1 to complete');

      // The first step under way puts the run under way, in the same recorded transition.
      const started = await handle.executeUpdate(advanceStepUpdate, {
        args: [{ actorId: reviewer, position: 1, status: 'in_progress' }],
      });
      expect(started.status).toBe('in_progress');
      expect(run.audit[0]).toMatchObject({
        actorId: reviewer,
        event: 'step_in_progress',
        status: 'in_progress',
        step: { position: 1, status: 'in_progress' },
      });

      await handle.executeUpdate(advanceStepUpdate, {
        args: [{ actorId: reviewer, position: 1, status: 'completed', note: 'no findings' }],
      });
      const done = await handle.executeUpdate(advanceStepUpdate, {
        args: [{ actorId: reviewer, position: 2, status: 'completed' }],
      });
      expect(done).toEqual({
        status: 'completed',
        steps: [
          { position: 1, action: 'security review', status: 'completed' },
          { position: 2, action: 'sign-off', status: 'completed' },
        ],
      });
      expect(await handle.result()).toEqual({ status: 'completed' });
      // What the ledger holds: one audit row per change, the refused one not among them.
      expect(run.audit.map((a) => a.event)).toEqual([
        'step_in_progress',
        'step_completed',
        'step_completed',
        'status_change',
      ]);
      expect(run.audit.at(-1)).toMatchObject({ status: 'completed', note: 'all 2 step(s) completed' });
      expect(run.status).toBe('completed');
      expect(new Set(run.audit.map((a) => a.key)).size).toBe(run.audit.length);
    });
  });

  it('a failed run fails its open steps and ends; nothing changes it afterwards', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const run = ledger.addRun({ runId: freshId(), ownerId: 3 }, ['review']);
    await env.run(activities, async (taskQueue) => {
      const handle = await startGovernanceRun(env.client, taskQueue, run.runId);
      const failed = await handle.executeUpdate(setRunStatusUpdate, {
        args: [{ actorId: reviewer, status: 'failed', note: 'licence unclear' }],
      });
      // Failing the run fails its open steps.
      expect(failed).toEqual({ status: 'failed', steps: [{ position: 1, action: 'review', status: 'failed' }] });

      expect(await handle.result()).toEqual({ status: 'failed' });
      // The run's workflow has ended: a later change finds nothing to update (the API answers 409).
      await expect(
        handle.executeUpdate(advanceStepUpdate, { args: [{ actorId: reviewer, position: 1, status: 'completed' }] }),
      ).rejects.toBeInstanceOf(WorkflowNotFoundError);
      expect(run.audit).toHaveLength(1);
      // A failed run asks nothing of servers.
      expect(activities.findGatedServers).not.toHaveBeenCalled();
    });
  });

  it('an unknown step and a missing actor are refused', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const run = ledger.addRun({ runId: freshId(), ownerId: 3 }, ['review']);
    await env.run(activities, async (taskQueue) => {
      const handle = await startGovernanceRun(env.client, taskQueue, run.runId);
      const unknown = await updateRefusal(
        handle.executeUpdate(advanceStepUpdate, { args: [{ actorId: reviewer, position: 5, status: 'completed' }] }),
      );
      expect(unknown.message).toBe('the run has no step 5');
      const anonymous = await updateRefusal(
        handle.executeUpdate(setRunStatusUpdate, { args: [{ status: 'cancelled' } as never] }),
      );
      expect(anonymous.message).toBe('actorId is required');
      expect(await handle.query(governanceRunQuery)).toEqual({
        status: 'pending',
        steps: [{ position: 1, action: 'review', status: 'pending' }],
      });
      expect(run.audit).toEqual([]);
    });
  });
});

describe.concurrent('governanceRun: completion reaches servers', () => {
  it("a completed run redeploys its target server and wakes the owner's servers waiting on a gate", async () => {
    const governance = fakeGovernanceActivities();
    const server = fakeServerActivities();
    const ownerId = freshId();
    const targetId = server.serverId;
    const gatedId = freshId();
    // The gated server is held until a gate changes; the target launches at once.
    server.activities.decideLaunch.mockImplementation(async ({ serverId }) => {
      const held =
        serverId === gatedId &&
        server.activities.decideLaunch.mock.calls.filter(([i]) => i.serverId === gatedId).length === 1;
      return {
        decisionId: server.activities.decideLaunch.mock.calls.length,
        decision: held ? heldDecision(serverId) : launchableDecision(serverId),
      };
    });
    governance.ledger.gatedServers.set(ownerId, [gatedId]);
    const run = governance.ledger.addRun({ runId: freshId(), ownerId, targetServerId: targetId }, ['review']);

    await env.run({ ...server.activities, ...governance.activities }, async (taskQueue) => {
      await startServerLifecycle(env.client, taskQueue, { serverId: targetId, ownerId, start: true });
      await eventually(() => expect(server.rows(targetId).status).toBe('running'));
      await startServerLifecycle(env.client, taskQueue, { serverId: gatedId, ownerId, start: true });
      await eventually(() => expect(server.rows(gatedId).status).toBe('pending-governance'));

      const handle = await startGovernanceRun(env.client, taskQueue, run.runId);
      await handle.executeUpdate(advanceStepUpdate, {
        args: [{ actorId: reviewer, position: 1, status: 'completed' }],
      });
      expect(await handle.result()).toEqual({ status: 'completed' });

      // The target redeploys (the run asked for it); the gated server decides again and launches.
      await eventually(() =>
        expect(server.rows(targetId).statuses()).toEqual(['starting', 'running', 'redeploying', 'starting', 'running']),
      );
      await eventually(() =>
        expect(server.rows(gatedId).statuses()).toEqual(['starting', 'pending-governance', 'starting', 'running']),
      );
      expect(governance.activities.findGatedServers).toHaveBeenCalledWith({ ownerId });
    });
  });
});
