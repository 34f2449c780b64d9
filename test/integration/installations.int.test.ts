// A Temporal namespace outlives a database: a database created anew (or a second installation on
// the same namespace) gets workflow ids of its own, so creating its server 1 never meets the
// `server/1` Temporal still holds; an id Temporal holds all the same is a 409, never a 500.
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSql } from '../../lib/db.js';
import { loadWorkflowIds } from '../../lib/ledger/installation.js';
import { migrate, MIGRATIONS_DIR } from '../../lib/migrate.js';
import { PayloadDecryptionError } from '../../lib/secrets/payload-codec.js';
import { dropDatabase, ensureDatabase } from '../../scripts/stack/postgres.js';
import { startHarness, testSecretsKey, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

const stack = inject('stack');
const databases: string[] = [];
/** A new, empty database on the stack's Postgres. */
async function newDatabase(suffix: string): Promise<string> {
  const url = new URL(stack.databaseUrl);
  url.pathname = `${url.pathname}_${suffix}`;
  await ensureDatabase(url.toString());
  databases.push(url.toString());
  return url.toString();
}
afterAll(async () => {
  for (const url of databases) await dropDatabase(url).catch(() => {});
});

const server = (name: string) => ({
  name,
  server_type: 'Router',
  source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
  start: false,
});
// Both stacks as `npm start` runs them: the same namespace, the same task queue and the same key file.
// The payload codec's keys are each database's own, not the key file's: an installation's histories
// carry its servers' configs and sources, and a second installation on the namespace (or a database
// created anew) is another owner, whose users must not read them through their own codec endpoint. So
// B sees A's workflows only as Temporal shows everyone (ids, status, search attributes), never their
// payloads; A's database, restored or migrated, still opens them.
const sameQueue = {
  DOCKER_HOST: 'unix:///nonexistent/docker.sock',
  TEMPORAL_TASK_QUEUE: `test-installations-${process.pid}`,
  SECRETS_KEY: testSecretsKey(`installations-${process.pid}`),
};

/** temporal.api.enums.v1.WorkflowExecutionStatus: the raw describe answers with its number. */
const WORKFLOW_EXECUTION_STATUS_RUNNING = 1;

async function createdAndStopped(h: Harness, name: string): Promise<number> {
  const call = httpClient(h.apiUrl);
  const created = await call('POST', '/api/servers', { token: h.adminToken, json: server(name) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as number;
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body?.status === 'stopped',
    30_000,
    `${name} stopped`,
  );
  return id;
}

describe('a database created anew on a Temporal that remembers the old one', () => {
  it('creates its server 1 under an id of its own, and answers 409 for an id Temporal already holds', async () => {
    const a = await startHarness('installation-a', sameQueue, {
      databaseUrl: await newDatabase('a'),
      temporalAddress: stack.temporalAddress,
    });
    let first: number;
    try {
      first = await createdAndStopped(a, 'first');
    } finally {
      await a.stop();
    }

    const b = await startHarness('installation-b', sameQueue, {
      databaseUrl: await newDatabase('b'),
      temporalAddress: stack.temporalAddress,
    });
    try {
      // A's server workflow is still open in Temporal (a stopped server keeps its workflow): B describes
      // it as Temporal holds it, but cannot open its payloads (the memo), which A's codec key sealed.
      const aWorkflow = a.workflowIds.server(first);
      const raw = await b.temporal.workflowService.describeWorkflowExecution({
        namespace: b.temporal.options.namespace,
        execution: { workflowId: aWorkflow },
      });
      expect(raw.workflowExecutionInfo?.status).toBe(WORKFLOW_EXECUTION_STATUS_RUNNING);
      await expect(b.temporal.workflow.getHandle(aWorkflow).describe()).rejects.toThrow(PayloadDecryptionError);
      expect(b.workflowIds.installation).toMatch(/^[0-9a-f]{8}$/);
      expect(b.workflowIds.installation).not.toBe(a.workflowIds.installation);
      const again = await createdAndStopped(b, 'first-again');
      expect(again).toBe(first); // the same serial id, in a workflow of its own
      expect(b.workflowIds.server(again)).toBe(`${b.workflowIds.installation}/server/${again}`);
      const described = await b.temporal.workflow.getHandle(b.workflowIds.server(again)).describe();
      expect(described.status.name).toBe('RUNNING');

      // Temporal holds the id the next server would get (here: started by hand): a 409 naming it,
      // and no row left behind.
      const taken = b.workflowIds.server(again + 1);
      await b.temporal.workflow.start('serverLifecycle', {
        taskQueue: `${sameQueue.TEMPORAL_TASK_QUEUE}-nobody`,
        workflowId: taken,
        args: [],
      });
      try {
        const refused = await httpClient(b.apiUrl)('POST', '/api/servers', {
          token: b.adminToken,
          json: server('clash'),
        });
        expect(refused.status).toBe(409);
        expect(refused.body.error).toMatchObject({ code: 'workflow_exists' });
        expect(refused.body.error.message).toContain(taken);
        expect(await b.sql`select id from mcp_servers where name = 'clash'`).toHaveLength(0);
      } finally {
        await b.temporal.workflow.getHandle(taken).terminate('test over');
      }
    } finally {
      await b.stop();
    }
  });
});

describe('the installation id', () => {
  it('is new for an empty database, and bare for one already in use, whose workflows keep their ids', async () => {
    const fresh = createSql(await newDatabase('fresh'), { max: 2 });
    const used = createSql(await newDatabase('used'), { max: 2 });
    try {
      await migrate(fresh);
      expect((await loadWorkflowIds(fresh)).installation).toMatch(/^[0-9a-f]{8}$/);

      // A database from before the installation id: the earlier migrations, and its admin.
      const earlier = mkdtempSync(join(tmpdir(), 'mcp-migrations-'));
      for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f < '00008'))
        copyFileSync(join(MIGRATIONS_DIR, file), join(earlier, file));
      await migrate(used, earlier);
      await used`insert into users (email, role) values ('admin@example.test', 'admin')`;
      await expect(loadWorkflowIds(used)).rejects.toThrow('the database has no installation id');
      await migrate(used);
      const ids = await loadWorkflowIds(used);
      expect(ids.installation).toBe('');
      expect([
        ids.server(1),
        ids.build(1, 'abcdef1234567890'),
        ids.governance(2),
        ids.promotion(3),
        ids.certification(4),
        ids.credentials('127.0.0.1:5000'),
      ]).toEqual([
        'server/1',
        'build/1/abcdef123456',
        'governance/2',
        'promotion/3',
        'certification/4',
        'credentials/127.0.0.1:5000',
      ]);
    } finally {
      await fresh.end({ timeout: 5 });
      await used.end({ timeout: 5 });
    }
  });
});
