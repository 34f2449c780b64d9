// A ledger row and its workflow are created in one transaction (lib/creation-lock.ts): the
// workflow's first read waits for that transaction instead of polling for the row, sees the row the
// moment it commits, finds nothing when it rolls back, and outlasts a database outage.
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGovernanceDbActivities } from '../../activities/db/governance.js';
import { createServerDbActivities } from '../../activities/db/servers.js';
import { holdCreation } from '../../lib/creation-lock.js';
import { ErrorType } from '../../lib/errors.js';
import { insertRun } from '../../lib/ledger/governance.js';
import type { governanceRun } from '../../workflows/governance-run.js';
import { governanceRunQuery } from '../../workflows/governance.messages.js';
import { startFaultProxy } from '../support/fault-proxy.js';
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
    json: {
      name: 'cl-checks',
      workflow_type: 'promotion',
      tier: 'CreationLock',
      steps: [{ action: 'review' }, { action: 'sign-off' }],
    },
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  workflowDefId = wf.body.id;
  const [me] = await h.sql<{ id: number }[]>`select id from users where role = 'admin' order by id limit 1`;
  adminId = me!.id;
});
afterAll(async () => {
  await h?.stop();
});

/** In `tx`: a governance run and its steps (lib/ledger/governance.ts), under the creation lock. */
async function insertRunLocked(tx: postgres.TransactionSql): Promise<number> {
  const runId = await insertRun(tx, {
    workflowId: workflowDefId,
    initiatedBy: adminId,
    targetArtifactRunId: null,
    targetManifestDigest: null,
    targetTier: 'CreationLock',
    targetServerId: null,
    notes: [],
  });
  await holdCreation(tx, 'governance_workflow_runs', runId);
  return runId;
}

/** Opens a transaction that inserts a run (and its steps) under the creation lock; ends it on demand. */
function createRunSlowly() {
  let end!: (commit: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (end = resolve));
  let created!: (id: number) => void;
  const id = new Promise<number>((resolve) => (created = resolve));
  const tx = h.sql
    .begin(async (tx) => {
      created(await insertRunLocked(tx));
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
    await expect(read).rejects.toMatchObject({ type: ErrorType.RowNotYetVisible, nonRetryable: false });
  });

  it('does not wait for rows created by other transactions', async () => {
    const other = createRunSlowly();
    await other.id;
    const [server] = await h.sql<{ id: number }[]>`
      insert into mcp_servers (owner_id, name, server_type, source) values (${adminId}, 'cl-server', 'Router', ${h.sql.json({ type: 'image', image: 'example/router:1' })})
      returning id`;
    await expect(createServerDbActivities(h.sql).awaitServerRow({ serverId: server!.id })).resolves.toEqual({
      status: 'creating',
    });
    other.end(true);
    await other.tx;
  });
});

/** The activities a workflow scheduled, and how many local activities it ran. */
async function activitiesOf(workflowId: string) {
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  return {
    scheduled: history
      .events!.filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name),
    local: history.events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length,
  };
}

describe('workflows started through the API read their row in their first workflow task', () => {
  it('a server: a local activity, no activity task', async () => {
    const res = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'cl-api-server',
        server_type: 'Router',
        source: { type: 'image', image: 'example/router:1' },
        start: false,
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const workflowId = h.workflowIds.server(res.body.id);
    await eventually(
      async () =>
        (await h.sql`select 1 from mcp_servers where id = ${res.body.id} and status = 'stopped'`).length === 1,
      30_000,
      'created without start',
    );
    const { scheduled, local } = await activitiesOf(workflowId);
    expect(scheduled).not.toContain('awaitServerRow');
    expect(scheduled).toContain('recordServerStatus');
    expect(local).toBe(1);
  });

  it('a governance run: a local activity, no activity task', async () => {
    const res = await call('POST', `/api/governance/workflows/${workflowDefId}/runs`, {
      token: h.adminToken,
      json: {},
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const step = await call('POST', `/api/governance/runs/${res.body.id}/steps/1`, {
      token: h.adminToken,
      json: { status: 'in_progress' },
    });
    expect(step.status, JSON.stringify(step.body)).toBe(200);
    const { scheduled, local } = await activitiesOf(res.body.temporal_workflow_id);
    expect(scheduled).not.toContain('loadGovernanceRun');
    expect(scheduled).toContain('recordGovernanceTransition'); // the step change still is one
    expect(local).toBe(1);
  });
});

describe('a workflow whose creating transaction rolled back', () => {
  it('gives the missing row ~30 s, then ends abandoned (not failed)', async () => {
    let runId = 0;
    await h.sql
      .begin(async (tx) => {
        runId = await insertRunLocked(tx);
        await h.temporal.workflow.start<typeof governanceRun>('governanceRun', {
          taskQueue: h.env.TEMPORAL_TASK_QUEUE!,
          workflowId: h.workflowIds.governance(runId),
          args: [{ runId }],
        });
        throw new Error('rolled back on purpose');
      })
      .catch((err: Error) => {
        if (err.message !== 'rolled back on purpose') throw err;
      });
    const handle = h.temporal.workflow.getHandle<typeof governanceRun>(h.workflowIds.governance(runId));
    expect(await handle.result()).toEqual({ status: 'abandoned' });
  }, 90_000);
});

describe('a database outage during the first read', () => {
  it('is waited out however long it lasts: the workflow is not abandoned, and goes on once Postgres is back', async () => {
    // A second API + worker pair whose database connections pass through a proxy that can refuse them.
    const direct = new URL(h.env.DATABASE_URL!);
    const proxy = await startFaultProxy({ target: { host: direct.hostname, port: Number(direct.port || 5432) } });
    const proxied = Object.assign(new URL(direct.toString()), { hostname: '127.0.0.1', port: String(proxy.port) });
    const cut = await startHarness('creation-lock-outage', {
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
      DATABASE_URL: proxied.toString(),
    });
    try {
      proxy.setMode('refuse');
      // The row and its workflow, created in one transaction as the API does (over a direct connection).
      const runId = await h.sql.begin(async (tx) => {
        const id = await insertRunLocked(tx);
        await cut.temporal.workflow.start<typeof governanceRun>('governanceRun', {
          taskQueue: cut.env.TEMPORAL_TASK_QUEUE!,
          workflowId: cut.workflowIds.governance(id),
          args: [{ runId: id }],
        });
        return id;
      });
      // Longer than the ~30 s of attempts a row missing after the lock is given.
      await sleep(40_000);
      const handle = cut.temporal.workflow.getHandle(cut.workflowIds.governance(runId));
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(proxy.connections.refused).toBeGreaterThan(0); // the worker did try, and was refused
      proxy.setMode('pass');
      const loaded = await eventually(
        async () => {
          const state = await handle.query(governanceRunQuery);
          return state.steps.length === 2 && state;
        },
        30_000,
        'the run to load its row',
      );
      expect(loaded).toMatchObject({
        status: 'pending',
        steps: [
          { position: 1, action: 'review' },
          { position: 2, action: 'sign-off' },
        ],
      });
      expect((await handle.describe()).status.name).toBe('RUNNING');
    } finally {
      await cut.stop();
      await proxy.stop();
    }
  });
});
