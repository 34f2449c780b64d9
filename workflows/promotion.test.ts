// promotion, the real workflow code on a Temporal dev server with fake activities: approval and
// rollback, with and without the track's governance run (a child governanceRun).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../lib/errors.js';
import {
  advanceStepUpdate,
  approveUpdate,
  governanceRunQuery,
  promotionQuery,
  rollbackUpdate,
  setRunStatusUpdate,
} from './governance.messages.js';
import type { promotion } from './promotion.js';
import {
  fakeGovernanceActivities,
  promotionRunId,
  type GovernanceLedger,
  type PromotionRow,
} from './test-support/fake-activities.js';
import { startPromotion, workflowIds } from './test-support/starts.js';
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

const releaser = 31;
const reviewer = 32;

function promotionOn(ledger: GovernanceLedger, governance: boolean): PromotionRow {
  return ledger.addPromotion({
    promotionId: freshId(),
    ownerId: freshId(),
    scheduledBy: releaser,
    governanceWorkflowId: governance ? 4 : null,
  });
}

/** The governance run the promotion started, once it is there. */
async function governanceRunOf(p: PromotionRow) {
  const handle = env.client.workflow.getHandle(workflowIds.governance(promotionRunId(p.promotionId)));
  await eventually(async () => expect((await handle.query(governanceRunQuery)).status).toBe('pending'));
  return handle;
}

describe.concurrent('promotion: approval', () => {
  it('without a governance workflow, approval makes the promotion active and wakes gated servers', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const p = promotionOn(ledger, false);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      // The update answers once the approval is recorded, so the caller reads it back at once.
      expect(await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser, note: 'ship it' }] })).toEqual({
        status: 'approved',
      });
      expect(p.events.map((e) => e.status)).toContain('approved');
      await eventually(() => expect(p.status).toBe('active'));
      expect(p.events.map((e) => [e.status, e.actorId, e.note])).toEqual([
        ['approved', releaser, `promotion:approved:user:${releaser}:ship it`],
        ['active', null, 'promotion:active'],
      ]);
      await eventually(() => expect(activities.findGatedServers).toHaveBeenCalledWith({ ownerId: p.ownerId }));
      expect(activities.createPromotionRun).not.toHaveBeenCalled();
    });
  });

  it('with a governance run, an approval waits for the run; the run completing makes it active', async () => {
    const { activities, ledger } = fakeGovernanceActivities(['review']);
    const p = promotionOn(ledger, true);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      const run = await governanceRunOf(p);
      await eventually(async () =>
        expect(await handle.query(promotionQuery)).toEqual({
          status: 'in_progress',
          governanceRunId: promotionRunId(p.promotionId),
        }),
      );

      expect(await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] })).toEqual({
        status: 'approved',
      });
      const again = await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] }));
      expect(again.type).toBe(ErrorType.InvalidTransition);
      expect(again.message).toBe('promotion is already approved');
      // Approved is not active while the governance run is open.
      expect(p.status).toBe('approved');
      expect(activities.findGatedServers).not.toHaveBeenCalled();

      await run.executeUpdate(advanceStepUpdate, { args: [{ actorId: reviewer, position: 1, status: 'completed' }] });
      await eventually(() => expect(p.status).toBe('active'));
      expect(p.events.map((e) => e.status)).toEqual(['in_progress', 'approved', 'active']);
      expect(p.events.at(-1)!.note).toBe(`promotion:governance:${promotionRunId(p.promotionId)}:active`);
      await eventually(() => expect(activities.findGatedServers).toHaveBeenCalled());
    });
  });
});

describe.concurrent('promotion: rollback', () => {
  it('rollback during the governance run cancels the run, then records the rollback', async () => {
    const { activities, ledger } = fakeGovernanceActivities(['review', 'sign-off']);
    const p = promotionOn(ledger, true);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      const run = await governanceRunOf(p);
      await run.executeUpdate(advanceStepUpdate, { args: [{ actorId: reviewer, position: 1, status: 'completed' }] });

      expect(await handle.executeUpdate(rollbackUpdate, { args: [{ actorId: releaser, note: 'bad digest' }] })).toEqual(
        { status: 'rolled_back' },
      );
      // The run ended cancelled first, its open step failed, the completed one kept.
      const row = ledger.runs.get(promotionRunId(p.promotionId))!;
      expect(row.status).toBe('cancelled');
      expect(row.steps.map((s) => s.status)).toEqual(['completed', 'failed']);
      expect(await run.result()).toEqual({ status: 'cancelled' });
      expect(p.events.map((e) => [e.status, e.note])).toEqual([
        ['in_progress', `governance:run-started:${promotionRunId(p.promotionId)}`],
        ['rolled_back', `promotion:rolled-back:user:${releaser}:bad digest`],
      ]);
      expect(await handle.result()).toEqual({ status: 'rolled_back' });
      expect(activities.findGatedServers).not.toHaveBeenCalled();
    });
  });

  it('a failed governance run rolls the promotion back', async () => {
    const { activities, ledger } = fakeGovernanceActivities(['review']);
    const p = promotionOn(ledger, true);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      const run = await governanceRunOf(p);
      await run.executeUpdate(advanceStepUpdate, {
        args: [{ actorId: reviewer, position: 1, status: 'failed', note: 'licence unclear' }],
      });
      // A failed step does not end the run by itself; failing the run does.
      expect(p.status).toBe('in_progress');
      await run.executeUpdate(setRunStatusUpdate, { args: [{ actorId: reviewer, status: 'failed' }] });
      expect(await handle.result()).toEqual({ status: 'rolled_back' });
      expect(p.events.at(-1)).toMatchObject({
        status: 'rolled_back',
        actorId: null,
        note: `promotion:governance:${promotionRunId(p.promotionId)}:failed`,
      });
    });
  });

  it('an active promotion, whose run has ended, is rolled back by a new run of its workflow; a second rollback is refused', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const p = promotionOn(ledger, false);
    await env.run(activities, async (taskQueue) => {
      const first = await startPromotion(env.client, taskQueue, p.promotionId);
      await first.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] });
      expect(await first.result()).toMatchObject({ status: 'active' });
      const rollBack = () =>
        env.client.workflow.execute<typeof promotion>('promotion', {
          taskQueue,
          workflowId: workflowIds.promotion(p.promotionId),
          args: [{ promotionId: p.promotionId, rollbackEnded: { actorId: reviewer, note: 'bad canary' } }],
        });
      expect(await rollBack()).toEqual({ status: 'rolled_back' });
      expect(p.status).toBe('rolled_back');
      expect(p.events.at(-1)).toMatchObject({
        status: 'rolled_back',
        actorId: reviewer,
        note: `promotion:rolled-back:user:${reviewer}:bad canary`,
      });
      expect(p.events.at(-1)!.key).toBe(`${workflowIds.promotion(p.promotionId)}#rolled-back`);
      expect((await rollBack()).refused).toBeDefined();
      expect(p.events.filter((e) => e.status === 'rolled_back')).toHaveLength(1);
    });
  });

  it('an approved promotion can be rolled back before it goes active', async () => {
    const { activities, ledger } = fakeGovernanceActivities(['review']);
    const p = promotionOn(ledger, true);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      await governanceRunOf(p);
      await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] });
      expect(await handle.executeUpdate(rollbackUpdate, { args: [{ actorId: releaser }] })).toEqual({
        status: 'rolled_back',
      });
      expect(p.events.map((e) => e.status)).toEqual(['in_progress', 'approved', 'rolled_back']);
      expect(ledger.runs.get(promotionRunId(p.promotionId))!.status).toBe('cancelled');
    });
  });
});

describe.concurrent('promotion: soak', () => {
  const soaking = (
    ledger: GovernanceLedger,
    soakSeconds: number,
    rollbackTargets: PromotionRow['rollbackTargets'] = [],
  ) =>
    ledger.addPromotion({
      promotionId: freshId(),
      ownerId: freshId(),
      scheduledBy: releaser,
      governanceWorkflowId: null,
      soakSeconds,
      rollbackTargets,
    });

  it('a soak without a failure passes; the promotion stays active', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const p = soaking(ledger, 1);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] });
      expect(await handle.result()).toEqual({ status: 'active' });
      expect(p.soakState).toBe('passed');
      expect(p.noteEvents.map((e) => e.note)).toEqual([
        'promotion:soak:started:staging:1s',
        'promotion:soak:passed:1s',
      ]);
      // The watch was cancelled at the soak's end, not left running.
      expect(activities.awaitSoakFailure).toHaveBeenCalledTimes(1);
    });
  });

  it('a server failing within the soak rolls the promotion back by itself and relaunches the stage', async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const p = soaking(ledger, 600, [
      { serverId: 5, artifactRunId: 41, manifestDigest: `sha256:${'cd'.repeat(32)}` },
      { serverId: 6, artifactRunId: null, manifestDigest: null },
    ]);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] });
      await eventually(() => expect(p.soakState).toBe('soaking'));
      p.soakFailure = {
        serverId: 5,
        status: 'unhealthy',
        reason: '2 probes failed in a row',
        at: new Date().toISOString(),
      };
      expect(await handle.result()).toEqual({ status: 'rolled_back' });
      expect(p.soakState).toBe('failed');
      expect(p.events.at(-1)).toMatchObject({
        status: 'rolled_back',
        actorId: null,
        soakFailed: true,
        note: 'promotion:soak-failed:staging:server:5:unhealthy:2 probes failed in a row',
      });
      expect(p.noteEvents.slice(1).map((e) => e.note)).toEqual([
        `promotion:rollback:server:5:relaunches sha256:${'cd'.repeat(32)} (build run 41)`,
        'promotion:rollback:server:6:decides again: no earlier digest is active and certified at staging',
      ]);
      // Each server of the stage was told what to relaunch.
      const { events } = await handle.fetchHistory();
      const signals = events!
        .map((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)
        .filter((a) => a?.signalName === 'relaunchRequested')
        .map((a) => a!.workflowExecution!.workflowId);
      expect(signals).toEqual([workflowIds.server(5), workflowIds.server(6)]);
    });
  });

  it("an operator's rollback while the stage soaks is recorded by the soaking run", async () => {
    const { activities, ledger } = fakeGovernanceActivities();
    const p = soaking(ledger, 600);
    await env.run(activities, async (taskQueue) => {
      const handle = await startPromotion(env.client, taskQueue, p.promotionId);
      await handle.executeUpdate(approveUpdate, { args: [{ actorId: releaser }] });
      await eventually(() => expect(p.soakState).toBe('soaking'));
      expect(await handle.executeUpdate(rollbackUpdate, { args: [{ actorId: reviewer, note: 'too slow' }] })).toEqual({
        status: 'rolled_back',
      });
      expect(await handle.result()).toEqual({ status: 'rolled_back' });
      expect(p.soakState).toBe('cancelled');
      expect(p.events.at(-1)).toMatchObject({
        status: 'rolled_back',
        actorId: reviewer,
        note: `promotion:rolled-back:user:${reviewer}:too slow`,
      });
      expect(activities.rollbackTargets).not.toHaveBeenCalled();
    });
  });
});
