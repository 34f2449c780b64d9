// The chaos suite (npm run test:chaos; CI runs it after the integration tests): while builds,
// governance runs and promotions are in flight, the worker, the API, the Temporal server and
// Postgres are each killed and started again in turn, and registry connections are dropped. Then
// every workflow must reach its correct end state, the ledger must hold exactly one row per build
// run, no audit entry may be lost or doubled, and no server may be stuck in a transitional status.
//
// This suite owns its stack: a Temporal dev server persisted in a SQLite file and an embedded
// PostgreSQL, both of which it may kill (the shared ones of the integration project must survive).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../scripts/stack/app.js';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startEmbeddedPostgres, type PostgresHandle } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { startTemporal, type TemporalServer } from '../../scripts/stack/temporal.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { replayTaskQueue } from '../support/histories.js';
import { eventually, httpClient, type HttpResult } from '../support/http.js';

const dir = join(DATA_DIR, 'test-chaos', String(process.pid));
const logDir = join(DATA_DIR, 'test-logs', 'chaos');
let temporalPort: number;
let temporal: TemporalServer;
let pg: PostgresHandle;
let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let alice: { id: number; token: string };

const startTemporalHere = () => startTemporal({ port: temporalPort, dbFile: join(dir, 'temporal.db'), logDir });

/**
 * What an operator's client does during an outage: retry while the stack answers 5xx or not at all.
 * A 4xx is an answer (returned); a request that was applied but whose answer was lost shows up as
 * a 409 on the retry, which the caller checks against the state.
 */
async function retrying(
  method: string,
  path: string,
  opts: Parameters<ReturnType<typeof httpClient>>[2] = {},
): Promise<HttpResult> {
  return eventually(
    async () => {
      try {
        const res = await call(method, path, opts);
        return res.status < 500 ? res : undefined;
      } catch {
        return undefined; // connection refused while the API restarts
      }
    },
    180_000,
    `${method} ${path}`,
  );
}

/** A supervisor, as docker-compose's `restart: unless-stopped` would be: a process that exited is started again. */
async function supervise(): Promise<void> {
  const exited = (p: Harness['worker']) => p.child.exitCode !== null || p.child.signalCode !== null;
  if (exited(h.worker)) await h.restartWorker();
  if (exited(h.api)) h.api = await startApi(h.env, join(logDir, 'chaos-api.log'));
}

/** Where a started server comes to rest; anything else (ready, building, starting, …) is on its way. */
const SETTLED = ['running', 'error', 'unhealthy', 'stopped'];

beforeAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  temporalPort = await freePort();
  temporal = await startTemporalHere();
  pg = await startEmbeddedPostgres(join(dir, 'postgres'), 'mcp_host_chaos', await freePort());
  stack = await startBuildStack('chaos');
  h = await startHarness(
    'chaos',
    { ...stack.env('linux/amd64'), DATABASE_POOL_MAX: '4', REGISTRY_PUSH_RETRIES: '6' },
    { databaseUrl: pg.url, temporalAddress: temporal.address },
  );
  call = httpClient(h.apiUrl);
  const user = await call('POST', '/api/users', {
    token: h.adminToken,
    json: { email: `chaos-${Date.now()}@example.test`, role: 'operator', server_quota: 20 },
  });
  const token = await call('POST', '/api/tokens', {
    token: h.adminToken,
    json: { name: 'chaos', user_id: user.body.id },
  });
  alice = { id: user.body.id, token: token.body.token };
}, 600_000);

afterAll(async () => {
  await h?.stop().catch(() => {});
  await stack?.stop().catch(() => {});
  await temporal?.stop().catch(() => {});
  await pg?.stop().catch(() => {});
});

describe('chaos: every part restarted while work is in flight', () => {
  it('loses nothing and leaves nothing stuck', async () => {
    const auth = { token: alice.token };
    const hello = join(PROJECT_ROOT, 'examples', 'hello-mcp');
    const dockerfile = readFileSync(join(hello, 'Dockerfile'), 'utf8').replace(
      /^FROM .*$/m,
      `FROM ${stack.base.reference}`,
    );
    const cgi = readFileSync(join(hello, 'mcp.cgi'), 'utf8');

    // One artifact built before the chaos, to promote during it.
    await createGitRepo({ dir: join(stack.gitDir, 'chaos-seed'), files: { Dockerfile: dockerfile, 'mcp.cgi': cgi } });
    const seed = (
      await call('POST', '/api/servers', {
        ...auth,
        json: {
          name: 'chaos-seed',
          server_type: 'Chaos',
          source: { type: 'git', repository: stack.git.url('chaos-seed') },
        },
      })
    ).body.id;
    await eventually(
      async () =>
        ['running', 'error', 'unhealthy'].includes((await call('GET', `/api/servers/${seed}`, auth)).body.status),
      240_000,
      'seed running',
    );
    const [seedRun] = await h.sql<
      { manifest_digest: string }[]
    >`select manifest_digest from build_artifact_runs where server_id = ${seed}`;

    const wf = (
      await call('POST', '/api/governance/workflows', {
        ...auth,
        json: {
          name: 'chaos-checks',
          workflow_type: 'promotion',
          tier: 'Chaos',
          steps: [{ action: 'a' }, { action: 'b' }, { action: 'c' }],
        },
      })
    ).body;
    const track = (
      await call('POST', '/api/promotions/tracks', {
        ...auth,
        json: { name: 'chaos-train', tier: 'Chaos', stages: ['candidate', 'production'], workflow_id: wf.id },
      })
    ).body;

    // In flight: three builds, four governance runs, one promotion.
    const servers: number[] = [];
    for (const name of ['chaos-a', 'chaos-b', 'chaos-c']) {
      await createGitRepo({
        dir: join(stack.gitDir, name),
        files: { Dockerfile: dockerfile, 'mcp.cgi': cgi.replace('hello-mcp', name) },
      });
      servers.push(
        (
          await call('POST', '/api/servers', {
            ...auth,
            json: { name, server_type: 'Chaos', source: { type: 'git', repository: stack.git.url(name) } },
          })
        ).body.id,
      );
    }
    const runs: number[] = [];
    for (let i = 0; i < 4; i++)
      runs.push(
        (await call('POST', `/api/governance/workflows/${wf.id}/runs`, { ...auth, json: { notes: [`chaos ${i}`] } }))
          .body.id,
      );
    const promotion = (
      await call('POST', '/api/promotions/schedule', {
        ...auth,
        json: { track_id: track.id, manifest_digest: seedRun!.manifest_digest, stage: 'candidate' },
      })
    ).body.id;

    /** Advances one step of every run (a 409 on a retry means the lost answer was a success: checked below). */
    const stepAll = async (position: number) => {
      for (const run of runs) {
        const res = await retrying('POST', `/api/governance/runs/${run}/steps/${position}`, {
          ...auth,
          json: { status: 'completed', note: `step ${position}` },
        });
        expect([200, 409], JSON.stringify(res.body)).toContain(res.status);
      }
    };

    // 1. The worker dies mid-build.
    await h.worker.kill();
    await new Promise((r) => setTimeout(r, 2_000));
    await h.restartWorker();
    await stepAll(1);

    // 2. The API dies; clients retry until it is back.
    await h.api.kill();
    const apiBack = startApi(h.env, join(logDir, 'chaos-api.log')).then((p) => (h.api = p));
    await stepAll(2);
    await apiBack;

    // 3. The Temporal server dies and comes back on the same port and SQLite file.
    await temporal.process.kill();
    await new Promise((r) => setTimeout(r, 3_000));
    temporal = await startTemporalHere();
    await supervise();
    await retrying('POST', `/api/promotions/${promotion}/approve`, { ...auth, json: { note: 'during chaos' } });

    // 4. Postgres stops (fast shutdown: every connection cut) and starts again.
    await pg.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    await pg.start!();
    await supervise();

    // 5. Registry connections dropped while builds push.
    stack.proxy.setMode('refuse');
    await new Promise((r) => setTimeout(r, 3_000));
    stack.proxy.setMode('pass');
    await supervise();
    await stepAll(3);

    // End states.
    const ended = async () => {
      await supervise();
      const rows = await h.sql<{ id: number; status: string; status_reason: string | null }[]>`
        select id, status, status_reason from mcp_servers where id in ${h.sql(servers)}`;
      return rows.every((r) => SETTLED.includes(r.status)) ? rows : undefined;
    };
    const finals = await eventually(ended, 400_000, 'servers settled');
    for (const s of finals) expect(s.status, `server ${s.id}: ${s.status_reason}`).toBe('running');

    for (const run of runs) {
      const detail = (await retrying('GET', `/api/governance/runs/${run}`, auth)).body;
      expect(detail.status, `run ${run}`).toBe('completed');
      // Exactly one audit row per transition: created, three steps, the completion.
      expect(
        detail.audit_log.map((a: { event_type: string }) => a.event_type),
        `run ${run}`,
      ).toEqual(['run_created', 'step_completed', 'step_completed', 'step_completed', 'status_change']);
    }
    // The promotion's governance run, stepped after the chaos: it goes active.
    const promo = (await retrying('GET', `/api/promotions/${promotion}`, auth)).body;
    for (const position of [1, 2, 3]) {
      await retrying('POST', `/api/governance/runs/${promo.workflow_run_id}/steps/${position}`, {
        ...auth,
        json: { status: 'completed' },
      });
    }
    await eventually(
      async () => (await retrying('GET', `/api/promotions/${promotion}`, auth)).body.status === 'active',
      120_000,
      'promotion active',
    );
    const events = await h.sql<
      { status: string }[]
    >`select status from promotion_events where promotion_id = ${promotion} order by id`;
    expect(events.map((e) => e.status)).toEqual(['scheduled', 'in_progress', 'approved', 'active']);

    // One ledger row per build workflow run, each closed.
    const ledger = await h.sql<{ workflow_run_id: string; n: number; open: number }[]>`
      select workflow_run_id, count(*)::int as n, count(*) filter (where completed_at is null)::int as open
      from build_artifact_runs where server_id in ${h.sql([seed, ...servers])} group by workflow_run_id`;
    expect(ledger.length).toBeGreaterThanOrEqual(4);
    for (const row of ledger) expect(row, `build ${row.workflow_run_id}`).toMatchObject({ n: 1, open: 0 });
    const builds = [];
    for await (const w of h.temporal.workflow.list({
      query: `WorkflowType = "buildAndPublish" AND TaskQueue = "${h.env.TEMPORAL_TASK_QUEUE}"`,
    }))
      builds.push(w);
    expect(builds.every((b) => b.status.name !== 'RUNNING')).toBe(true);
    expect(ledger.length).toBe(builds.length);

    // Every workflow the chaos touched still replays against the code.
    expect(await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThanOrEqual(
      builds.length + runs.length + 4,
    );
  });
});
