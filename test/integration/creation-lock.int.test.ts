// A ledger row and its workflow are created in one transaction (lib/creation-lock.ts): the
// workflow's first read waits for that transaction instead of polling for the row, sees the row the
// moment it commits, and finds nothing when it rolls back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGovernanceDbActivities } from '../../activities/db/governance.js';
import { createServerDbActivities } from '../../activities/db/servers.js';
import { holdCreation } from '../../lib/creation-lock.js';
import { ErrorType } from '../../lib/errors.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let call: ReturnType<typeof httpClient>;
let workflowDefId: number;
let adminId: number;

beforeAll(async () => {
  h = await startHarness('creation-lock', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  call = httpClient(h.apiUrl);
  const wf = await call('POST', '/api/governance/workflows', {
    token: h.adminToken,
    json: { name: 'cl-checks', workflow_type: 'promotion', tier: 'CreationLock', steps: [{ action: 'review' }, { action: 'sign-off' }] },
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  workflowDefId = wf.body.id;
  const [me] = await h.sql<{ id: number }[]>`select id from users where role = 'admin' order by id limit 1`;
  adminId = me!.id;
});
afterAll(async () => {
  await h?.stop();
});

/** Opens a transaction that inserts a run (and its steps) under the creation lock; ends it on demand. */
function createRunSlowly() {
  let end!: (commit: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (end = resolve));
  let created!: (id: number) => void;
  const id = new Promise<number>((resolve) => (created = resolve));
  const tx = h.sql
    .begin(async (tx) => {
      const [run] = await tx<{ id: number }[]>`
        insert into governance_workflow_runs (workflow_id, initiated_by, target_tier) values (${workflowDefId}, ${adminId}, 'CreationLock') returning id`;
      await tx`
        insert into governance_step_runs (workflow_run_id, step_id, position, action)
        select ${run!.id}, id, position, action from governance_workflow_steps where workflow_id = ${workflowDefId}`;
      await holdCreation(tx, 'governance_workflow_runs', run!.id);
      created(run!.id);
      if (!(await ended)) throw new Error('rolled back on purpose');
    })
    .catch((err: Error) => {
      if (err.message !== 'rolled back on purpose') throw err;
    });
  return { id, end, tx };
}

describe('the first read of a new row', () => {
  const governance = () => createGovernanceDbActivities(h.sql);

  it('waits for the creating transaction and sees the row as soon as it commits', async () => {
    const creation = createRunSlowly();
    const runId = await creation.id;
    let settled = false;
    const read = governance()
      .loadGovernanceRun({ runId })
      .finally(() => (settled = true));
    await sleep(500);
    expect(settled).toBe(false); // still waiting: not a miss, not a poll
    creation.end(true);
    await creation.tx;
    const run = await read;
    expect(run.status).toBe('pending');
    expect(run.steps.map((s) => [s.position, s.action, s.status])).toEqual([
      [1, 'review', 'pending'],
      [2, 'sign-off', 'pending'],
    ]);
  });

  it('finds nothing once the creating transaction has rolled back', async () => {
    const creation = createRunSlowly();
    const runId = await creation.id;
    const read = governance().loadGovernanceRun({ runId });
    creation.end(false);
    await creation.tx;
    await expect(read).rejects.toMatchObject({ type: ErrorType.ServerNotYetVisible, nonRetryable: false });
  });

  it('does not wait for rows created by other transactions', async () => {
    const other = createRunSlowly();
    await other.id;
    const [server] = await h.sql<{ id: number }[]>`
      insert into mcp_servers (owner_id, name, server_type, source) values (${adminId}, 'cl-server', 'Router', ${h.sql.json({ type: 'image', image: 'example/router:1' })})
      returning id`;
    await expect(createServerDbActivities(h.sql).awaitServerRow({ serverId: server!.id })).resolves.toEqual({ status: 'creating' });
    other.end(true);
    await other.tx;
  });
});

/** The activities a workflow scheduled, and how many local activities it ran. */
async function activitiesOf(workflowId: string) {
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  return {
    scheduled: history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name),
    local: history.events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length,
  };
}

describe('workflows started through the API read their row in their first workflow task', () => {
  it('a server: a local activity, no activity task', async () => {
    const res = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name: 'cl-api-server', server_type: 'Router', source: { type: 'image', image: 'example/router:1' }, start: false },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const workflowId = `server/${res.body.id}`;
    await eventually(async () => (await h.sql`select 1 from mcp_servers where id = ${res.body.id} and status = 'stopped'`).length === 1, 30_000, 'created without start');
    const { scheduled, local } = await activitiesOf(workflowId);
    expect(scheduled).not.toContain('awaitServerRow');
    expect(scheduled).toContain('recordServerStatus');
    expect(local).toBe(1);
  });

  it('a governance run: a local activity, no activity task', async () => {
    const res = await call('POST', `/api/governance/workflows/${workflowDefId}/runs`, { token: h.adminToken, json: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const step = await call('POST', `/api/governance/runs/${res.body.id}/steps/1`, { token: h.adminToken, json: { status: 'in_progress' } });
    expect(step.status, JSON.stringify(step.body)).toBe(200);
    const { scheduled, local } = await activitiesOf(res.body.temporal_workflow_id);
    expect(scheduled).not.toContain('loadGovernanceRun');
    expect(scheduled).toContain('recordGovernanceTransition'); // the step change still is one
    expect(local).toBe(1);
  });
});
