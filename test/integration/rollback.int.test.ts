// Names carry an rb- prefix and the server type RbEx: every test file of a run shares one database.
// Automatic rollback on the real stack: a release track whose `staging` stage soaks. examples/hello-mcp
// built from git is certified and promoted through candidate and staging, soaks and passes; then the
// branch gains a commit whose server goes unwell a few seconds after it starts (ping hangs). That
// digest, certified and promoted to staging in turn, launches, fails its probes during the soak —
// and the promotion ends `rolled_back` by itself: its reason in promotion_events and `mcpctl
// promotions history`, the server relaunched on the first digest, a tool call through the gateway
// answered by it. The failed digest is not promoted again unless an operator says so (repromote).
// Both soaks outlive a worker: it is killed (SIGKILL) while each soaks and a new one started, and
// each soak still ends once, as it would have — passed, then rolled back. Timings are the HEALTH_*
// settings, short here as in the supervision tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { commit, type GitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory } from '../support/histories.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';
import { runMcpctl } from '../support/mcpctl.js';
import { FAST_HEALTH, gatewayEcho } from '../support/supervised.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let repo: GitRepo;

const admin = () => ({ token: h.adminToken });

interface Run {
  id: number;
  manifest_digest: string;
  tier: string;
}

/** The server's newest build run with a digest. */
async function latestRun(serverId: number, after = 0): Promise<Run> {
  return eventually(
    async () => {
      const [run] = await h.sql<Run[]>`
      select id, manifest_digest, tier from build_artifact_runs
      where server_id = ${serverId} and id > ${after} and status = 'succeeded' and manifest_digest is not null
      order by id desc limit 1`;
      return run;
    },
    240_000,
    `a build run of server ${serverId} after ${after}`,
  );
}

async function certify(run: Run): Promise<void> {
  const cert = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
    ...admin(),
    json: { tier: run.tier, policy_requirement: 'tools', status: 'pass' },
  });
  expect(cert.status, JSON.stringify(cert.body)).toBe(200);
}

/** Schedules and approves the digest's promotion to `stage`; the promotion once it is active. */
async function promote(trackId: number, run: Run, stage: string) {
  const scheduled = await call('POST', '/api/promotions/schedule', {
    ...admin(),
    json: { track_id: trackId, manifest_digest: run.manifest_digest, artifact_run_id: run.id, stage },
  });
  expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
  const approved = await call('POST', `/api/promotions/${scheduled.body.id}/approve`, { ...admin(), json: {} });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return eventually(
    async () => {
      const p = (await call('GET', `/api/promotions/${scheduled.body.id}`, admin())).body;
      return p.status === 'active' && p;
    },
    30_000,
    `${stage} promotion ${scheduled.body.id} active`,
  );
}

const promotionOf = async (id: number) => (await call('GET', `/api/promotions/${id}`, admin())).body;

/** The soak notes of a promotion's events, oldest first. */
const notesOf = async (id: number) =>
  (
    await h.sql<{ note: string }[]>`
      select note from promotion_events where promotion_id = ${id} and note like 'promotion:soak:%' order by id`
  ).map((r) => r.note);

/**
 * Kills the worker (SIGKILL) while the promotion soaks, and starts a new one: the soak's timer and
 * its watch (an activity whose heartbeats time out) go on in the new worker.
 */
async function killWorkerWhileSoaking(promotionId: number): Promise<void> {
  await eventually(
    async () => (await promotionOf(promotionId)).soak_state === 'soaking',
    30_000,
    `promotion ${promotionId} soaking`,
  );
  await h.worker.kill();
  expect((await promotionOf(promotionId)).soak_state).toBe('soaking');
  await h.restartWorker({ kill: true }); // already dead: this starts the new one
}

/** The digest of the launch the server runs now (its runtime's policy decision). */
async function runningDecision(serverId: number) {
  const [row] = await h.sql<{ artifact_run_id: number; manifest_digest: string }[]>`
    select d.artifact_run_id, d.manifest_digest from server_runtimes r
    join runtime_policy_decisions d on d.id = r.decision_id where r.server_id = ${serverId}`;
  return row;
}

beforeAll(async () => {
  stack = await startBuildStack('rollback');
  h = await startHarness('rollback', {
    ...stack.env('linux/amd64'),
    ...FAST_HEALTH,
    // The good digest must pass a 30 s soak that a new worker joins: on a loaded machine two probes
    // slower than 1.5 s would roll it back. The bad one hangs, so it still fails within seconds.
    HEALTH_PROBE_TIMEOUT_MS: '5000',
    HEALTH_DEGRADED_LATENCY_MS: '5000',
    HEALTH_FAILURE_THRESHOLD: '3',
  });
  call = httpClient(h.apiUrl);
  repo = await helloMcpRepo(stack, 'rb-hello');
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('a release track with a soak', () => {
  let trackId: number;
  let serverId: number;
  let good: Run;
  let goodStaging: number;
  let bad: Run;
  let badStaging: number;

  it('takes a soak time per stage, refusing one for a stage it lacks (422 naming the field)', async () => {
    const unknownStage = await call('POST', '/api/promotions/tracks', {
      ...admin(),
      json: { name: 'rb-bad', tier: 'RbEx', stages: ['candidate', 'staging'], soak_seconds: { qa: 60 } },
    });
    expect(unknownStage.status).toBe(422);
    expect(unknownStage.body.error.field).toBe('soak_seconds');
    const zero = await call('POST', '/api/promotions/tracks', {
      ...admin(),
      json: { name: 'rb-bad', tier: 'RbEx', soak_seconds: { staging: 0 } },
    });
    expect(zero.status).toBe(422);
    expect(zero.body.error.field).toBe('soak_seconds.staging');

    const track = await call('POST', '/api/promotions/tracks', {
      ...admin(),
      json: {
        name: 'rb-train',
        tier: 'RbEx',
        stages: ['candidate', 'staging'],
        launch_stage: 'staging',
        required_certifications: ['tools'],
        soak_seconds: { Staging: 30 },
      },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    expect(track.body.soak_seconds).toEqual({ staging: 30 });
    trackId = track.body.id;
    const narrowed = await call('PATCH', `/api/promotions/tracks/${trackId}`, {
      ...admin(),
      json: { soak_seconds: { production: 60 } },
    });
    expect(narrowed.status).toBe(422);
    expect(narrowed.body.error.field).toBe('soak_seconds');
  });

  it('a digest promoted to staging soaks and passes, though the worker is killed during the soak; its server runs it', async () => {
    const created = await call('POST', '/api/servers', {
      ...admin(),
      json: { name: 'rb-hello', server_type: 'RbEx', source: { type: 'git', repository: stack.git.url('rb-hello') } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    serverId = created.body.id;
    const held = await waitForStatus(call, h.adminToken, serverId, ['pending-governance', 'running', 'error'], 'gated');
    expect(held.status, held.status_reason).toBe('pending-governance');
    good = await latestRun(serverId);
    await certify(good);
    await promote(trackId, good, 'candidate');
    const staging = await promote(trackId, good, 'staging');
    goodStaging = staging.id;
    // The soak runs from the promotion's activation: the worker dies while the server launches.
    await killWorkerWhileSoaking(goodStaging);
    const running = await waitForStatus(call, h.adminToken, serverId, ['running', 'unhealthy', 'error'], 'launched');
    expect(running.status, running.status_reason).toBe('running');
    const passed = await eventually(
      async () => {
        const p = await promotionOf(goodStaging);
        return p.soak_state !== 'soaking' && p;
      },
      60_000,
      'the first soak to end',
    );
    expect(passed).toMatchObject({ status: 'active', soak_state: 'passed', rollback_reason: null });
    expect(passed.notes).toContain('promotion:soak:passed:30s');
    // Not before its time, and once: the new worker's timer ended it, the old one's watch is gone.
    const [ended] = await h.sql<{ created_at: Date }[]>`
      select created_at from promotion_events where promotion_id = ${goodStaging} and note = 'promotion:soak:passed:30s'`;
    expect(ended!.created_at.getTime()).toBeGreaterThanOrEqual(Date.parse(passed.soak_ends_at) - 1_000);
    expect(await notesOf(goodStaging)).toEqual(['promotion:soak:started:staging:30s', 'promotion:soak:passed:30s']);
    expect(await gatewayEcho(h, serverId, 'good')).toEqual({ content: [{ type: 'text', text: 'good' }] });
  }, 360_000);

  it('a digest whose server fails health during the soak is rolled back by itself; the server runs the previous digest again', async () => {
    const patched = await call('PATCH', `/api/promotions/tracks/${trackId}`, {
      ...admin(),
      json: { soak_seconds: { staging: 300 } },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // The next release answers its launch check, then goes unwell: ping and tools/list hang.
    const dockerfile = readFileSync(join(PROJECT_ROOT, 'examples', 'hello-mcp', 'Dockerfile'), 'utf8')
      .replace(/^FROM .*$/m, `FROM ${stack.base.reference}`)
      .replace('exec httpd', '(sleep 4; touch /tmp/hello-mcp-unwell) & exec httpd');
    expect(dockerfile).toContain('touch /tmp/hello-mcp-unwell');
    await commit(repo, { Dockerfile: dockerfile }, 'a release that hangs after a few seconds');
    expect((await call('POST', `/api/servers/${serverId}/redeploy`, admin())).status).toBe(202);
    bad = await latestRun(serverId, good.id);
    expect(bad.manifest_digest).not.toBe(good.manifest_digest);
    const held = await waitForStatus(call, h.adminToken, serverId, ['pending-governance', 'error'], 'held again');
    expect(held.status, held.status_reason).toBe('pending-governance');
    await certify(bad);
    await promote(trackId, bad, 'candidate');
    const staging = await promote(trackId, bad, 'staging');
    badStaging = staging.id;
    // Its workflow begins the soak once it has woken the gated servers.
    const soaking = await eventually(
      async () => {
        const p = await promotionOf(badStaging);
        return p.soak_state !== null && p;
      },
      30_000,
      'the soak to begin',
    );
    expect(['soaking', 'failed']).toContain(soaking.soak_state);
    expect(Date.parse(soaking.soak_ends_at)).toBeGreaterThan(Date.parse(staging.activated_at));
    // The server fails while no worker runs, or just after: the new one's watch finds it.
    await killWorkerWhileSoaking(badStaging);

    // Nobody rolls it back: its workflow does, well within the 300 s soak.
    const rolled = await eventually(
      async () => {
        const p = await promotionOf(badStaging);
        return p.status === 'rolled_back' && p;
      },
      120_000,
      'the bad digest rolled back by itself',
    );
    expect(rolled.soak_state).toBe('failed');
    expect(rolled.rollback_reason).toMatch(
      new RegExp(`^promotion:soak-failed:staging:server:${serverId}:(unhealthy|crashloop):`),
    );
    const relaunchNote = `promotion:rollback:server:${serverId}:relaunches ${good.manifest_digest} (build run ${good.id})`;
    const events = await eventually(
      async () => {
        const rows = await h.sql<{ status: string; actor_id: number | null; note: string }[]>`
          select status, actor_id, note from promotion_events where promotion_id = ${badStaging} order by id`;
        return rows.at(-1)?.note === relaunchNote && rows;
      },
      30_000,
      'the relaunch recorded after the rollback',
    );
    expect(events.map((e) => e.note)).toContain(`promotion:soak:started:staging:300s`);
    const rollback = events.find((e) => e.status === 'rolled_back')!;
    expect(rollback).toMatchObject({ actor_id: null, note: rolled.rollback_reason });
    expect(events.map((e) => e.status).slice(-2)).toEqual(['rolled_back', 'rolled_back']);
    // Once each, though two workers watched the soak.
    const notes = events.map((e) => e.note);
    for (const once of ['promotion:soak:started:staging:300s', rolled.rollback_reason, relaunchNote])
      expect(
        notes.filter((n) => n === once),
        once,
      ).toHaveLength(1);

    // The server relaunched the digest that was active and certified at staging before.
    const back = await eventually(
      async () => {
        const s = (await call('GET', `/api/servers/${serverId}`, admin())).body;
        const d = await runningDecision(serverId);
        return s.status === 'running' && d?.artifact_run_id === good.id && s;
      },
      60_000,
      'the server running the previous digest',
    ).catch(async (err: unknown) => {
      const trail = await h.sql`select status, reason from server_events where server_id = ${serverId} order by id`;
      const decisions =
        await h.sql`select id, artifact_run_id, launchable, notes from runtime_policy_decisions where server_id = ${serverId} order by id`;
      console.log(JSON.stringify({ trail, decisions }, null, 1));
      throw err;
    });
    expect(back.status).toBe('running');
    const [redeploy] = await h.sql<{ reason: string }[]>`
      select reason from server_events where server_id = ${serverId} and status = 'redeploying' order by id desc limit 1`;
    expect(redeploy!.reason).toContain(`promotion ${badStaging} of ${bad.manifest_digest} at staging rolled back`);
    expect(await gatewayEcho(h, serverId, 'rolled back')).toEqual({ content: [{ type: 'text', text: 'rolled back' }] });

    // No loop: a few probe intervals later it still runs the good digest, and only that.
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await runningDecision(serverId))?.manifest_digest).toBe(good.manifest_digest);
    expect((await call('GET', `/api/servers/${serverId}`, admin())).body.status).toBe('running');
    expect((await promotionOf(goodStaging)).status).toBe('active');
  }, 480_000);

  it('shows the rollback in mcpctl promotions history, and refuses to promote the failed digest unless told to', async () => {
    const history = await runMcpctl(h, ['promotions', 'history', '--track', String(trackId)]);
    expect(history.code, history.stderr).toBe(0);
    const line = history.stdout
      .split('\n')
      .find((l) => l.startsWith(`${badStaging} `) || l.includes(` ${badStaging} `));
    expect(line, history.stdout).toBeDefined();
    expect(line).toContain('rolled_back');
    expect(line).toContain('failed');
    expect(line).toContain(`promotion:soak-failed:staging:server:${serverId}`);

    const again = await call('POST', '/api/promotions/schedule', {
      ...admin(),
      json: { track_id: trackId, manifest_digest: bad.manifest_digest, stage: 'staging' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'digest_rolled_back', field: 'manifest_digest' });
    const knowingly = await call('POST', '/api/promotions/schedule', {
      ...admin(),
      json: { track_id: trackId, manifest_digest: bad.manifest_digest, stage: 'staging', repromote: true },
    });
    expect(knowingly.status, JSON.stringify(knowingly.body)).toBe(201);
    expect(knowingly.body.notes).toContain(
      `promotion:repromoted:after:${badStaging}:user:${knowingly.body.scheduled_by}`,
    );
    const withdrawn = await call('POST', `/api/promotions/${knowingly.body.id}/rollback`, { ...admin(), json: {} });
    expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
    expect(withdrawn.body.status).toBe('rolled_back');

    // An active promotion done soaking is still rolled back by an operator (a run of its own).
    const manual = await call('POST', `/api/promotions/${goodStaging}/rollback`, {
      ...admin(),
      json: { note: 'end of test' },
    });
    expect(manual.status, JSON.stringify(manual.body)).toBe(200);
    expect(manual.body).toMatchObject({ status: 'rolled_back', soak_state: 'passed' });

    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.promotion(badStaging),
      'promotion-staging-soak-failed-rolled-back',
    );
    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.server(serverId),
      'server-lifecycle-rollback-relaunch-gate-during-decision-open',
    );
  }, 120_000);
});
