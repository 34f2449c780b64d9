// Names carry a gv- prefix and the server type GovEx: every test file of a run shares one database.
// A release train end to end, on the real stack: a gated server waits in pending-governance; its
// artifact is certified by an automatic evaluation (a throw-away container answering MCP); it is
// promoted through candidate and staging (governance runs stepped through, approvals, a worker
// killed in between); then it launches by itself. Negative paths: another owner, invalid
// transitions, an expired certification, rollback and rescheduling.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory, replayTaskQueue } from '../support/histories.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let alice: { id: number; token: string };
let bob: { id: number; token: string };

async function newUser(role: 'operator' | 'viewer') {
  const email = `gv-${role}-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role } });
  const token = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'gv', user_id: user.body.id } });
  return { id: user.body.id as number, token: token.body.token as string };
}

const waitFor = (id: number, statuses: string[], what: string) => waitForStatus(call, h.adminToken, id, statuses, what);

const as = (who: { token: string }) => ({ token: who.token });

beforeAll(async () => {
  stack = await startBuildStack('governance');
  h = await startHarness('governance', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  alice = await newUser('operator');
  bob = await newUser('operator');
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('a release train, end to end', () => {
  let serverId: number;
  let workflowId: number;
  let trackId: number;
  let run: { id: number; manifest_digest: string; tier: string };
  let candidateId: number;
  let stagingId: number;
  let stagingFirstRun: string | undefined;

  it('holds a gated server in pending-governance with the notes that say why', async () => {
    const wf = await call('POST', '/api/governance/workflows', {
      ...as(alice),
      json: {
        name: 'gv-release-checks',
        workflow_type: 'promotion',
        tier: 'GovEx',
        steps: [{ action: 'security-review' }, { action: 'load-test', config: { rps: 50 } }],
      },
    });
    expect(wf.status, JSON.stringify(wf.body)).toBe(201);
    expect(wf.body.steps).toEqual([
      { position: 1, action: 'security-review', config: {} },
      { position: 2, action: 'load-test', config: { rps: 50 } },
    ]);
    workflowId = wf.body.id;
    const badTrack = await call('POST', '/api/promotions/tracks', {
      ...as(alice),
      json: { name: 'gv-bad', tier: 'GovEx', stages: ['a', 'b'], launch_stage: 'c' },
    });
    expect(badTrack.status).toBe(422);
    expect(badTrack.body.error.field).toBe('launch_stage');
    const track = await call('POST', '/api/promotions/tracks', {
      ...as(alice),
      json: {
        name: 'gv-train',
        tier: 'GovEx',
        stages: ['Candidate', 'staging'],
        workflow_id: workflowId,
        launch_stage: 'staging',
        required_certifications: ['tools'],
      },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    expect(track.body).toMatchObject({
      stages: ['candidate', 'staging'],
      launch_stage: 'staging',
      required_certifications: ['tools'],
    });
    trackId = track.body.id;
    // Bob cannot hang his track on Alice's governance workflow.
    const stolen = await call('POST', '/api/promotions/tracks', {
      ...as(bob),
      json: { name: 'gv-bob', tier: 'GovEx', workflow_id: workflowId },
    });
    expect(stolen.status).toBe(422);

    const dir = join(PROJECT_ROOT, 'examples', 'hello-mcp');
    const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8').replace(
      /^FROM .*$/m,
      `FROM ${stack.base.reference}`,
    );
    await createGitRepo({
      dir: join(stack.gitDir, 'gv-hello'),
      files: { Dockerfile: dockerfile, 'mcp.cgi': readFileSync(join(dir, 'mcp.cgi'), 'utf8') },
    });
    const created = await call('POST', '/api/servers', {
      ...as(alice),
      json: { name: 'gv-hello', server_type: 'GovEx', source: { type: 'git', repository: stack.git.url('gv-hello') } },
    });
    serverId = created.body.id;
    const server = await waitFor(serverId, ['pending-governance', 'running', 'error', 'unhealthy'], 'gated');
    expect(server.status, server.status_reason).toBe('pending-governance');
    expect(server.status_reason).toContain('evaluation:missing-certification:');
    expect(server.status_reason).toContain('promotion:missing:gv-train:staging');
    const [decision] = (await call('GET', `/api/servers/${serverId}/decisions`, as(alice))).body;
    expect(decision).toMatchObject({ launchable: false, evaluation_required: true, governance_required: true });
    [run] =
      (await h.sql`select id, manifest_digest, tier from build_artifact_runs where server_id = ${serverId}`) as never as [
        typeof run,
      ];
    expect(run.manifest_digest).toMatch(/^sha256:/);
  });

  it('certifies the artifact by an automatic evaluation; nobody else can certify it', async () => {
    const body = { tier: run.tier, policy_requirement: 'tools', evaluate: true, expected_tools: ['echo', 'arch'] };
    expect((await call('POST', `/api/artifacts/${run.id}/evaluations`, { ...as(bob), json: body })).status).toBe(404);
    const mismatch = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: { ...body, manifest_digest: `sha256:${'0'.repeat(64)}` },
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.field).toBe('manifest_digest');
    const noStatus = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: { tier: run.tier, policy_requirement: 'x' },
    });
    expect(noStatus.status).toBe(422);
    expect(noStatus.body.error.field).toBe('status');

    const submitted = await call('POST', `/api/artifacts/${run.id}/evaluations`, { ...as(alice), json: body });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    expect(submitted.body).toMatchObject({
      status: 'pending',
      manifest_digest: run.manifest_digest,
      workflow_id: h.workflowIds.certification(submitted.body.id),
    });
    const certified = await eventually(
      async () => {
        const c = (await call('GET', `/api/evaluations/${submitted.body.id}/status`, as(alice))).body;
        return c.status !== 'pending' ? c : undefined;
      },
      120_000,
      'evaluated',
    );
    expect(certified.status, JSON.stringify(certified.evidence)).toBe('pass');
    expect(certified.evidence).toMatchObject({
      kind: 'mcp-tools',
      actual_tools: ['arch', 'echo'],
      missing: [],
      unexpected: [],
      server: { name: 'hello-mcp' },
    });
    expect((await call('GET', `/api/evaluations/${submitted.body.id}/status`, as(bob))).status).toBe(404);
    // The throw-away container is gone.
    await expect(stack.docker.getContainer(`mcp-eval-${submitted.body.id}`).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });

    // A tool list that differs fails, with the difference as evidence (another tier: no gate sees it).
    const strict = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: { ...body, tier: 'gold:GovEx', expected_tools: ['echo'] },
    });
    const failed = await eventually(
      async () => {
        const c = (await call('GET', `/api/evaluations/${strict.body.id}/status`, as(alice))).body;
        return c.status !== 'pending' ? c : undefined;
      },
      120_000,
      'evaluated strictly',
    );
    expect(failed.status).toBe('fail');
    expect(failed.evidence).toMatchObject({ unexpected: ['arch'], missing: [] });

    // A refresh cadence is a timer in the certification's workflow: the evaluation runs again when
    // due, and the pass never flips to pending in between. Clearing the cadence ends the workflow.
    const cadenced = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: { ...body, tier: 'gold:GovEx', policy_requirement: 'refresh', refresh_cadence_seconds: 3 },
    });
    const firstPass = await eventually(
      async () => {
        const c = (await call('GET', `/api/evaluations/${cadenced.body.id}/status`, as(alice))).body;
        return c.status === 'pass' ? c : undefined;
      },
      120_000,
      'first evaluation',
    );
    const refreshed = await eventually(
      async () => {
        const c = (await call('GET', `/api/evaluations/${cadenced.body.id}/status`, as(alice))).body;
        expect(c.status).toBe('pass'); // never pending while a refresh is due or running
        return c.evidence.checked_at !== firstPass.evidence.checked_at ? c : undefined;
      },
      60_000,
      'refreshed by the timer',
    );
    expect(Date.parse(refreshed.next_refresh_at)).toBeGreaterThan(Date.parse(firstPass.next_refresh_at));
    await call('PATCH', `/api/evaluations/${cadenced.body.id}/status`, {
      ...as(alice),
      json: { refresh_cadence_seconds: null },
    });
    await eventually(
      async () => {
        const d = await h.temporal.workflow.getHandle(h.workflowIds.certification(cadenced.body.id)).describe();
        return d.status.name === 'COMPLETED';
      },
      30_000,
      'certification workflow ended with its cadence',
    );

    // The server woke up, decided again, and still waits — now only for the promotion.
    const decision = await eventually(
      async () => {
        const [d] = (await call('GET', `/api/servers/${serverId}/decisions`, as(alice))).body;
        return d.notes.includes(`evaluation:certified:${run.tier}:tools`) ? d : undefined;
      },
      60_000,
      're-decided',
    );
    expect(decision).toMatchObject({ evaluation_required: false, governance_required: true, launchable: false });
    // The decision is recorded before the launch settles back into its wait: `starting` in between.
    const settled = await eventually(
      async () => {
        const s = (await call('GET', `/api/servers/${serverId}`, as(alice))).body;
        return s.status !== 'starting' ? s : undefined;
      },
      30_000,
      'held again',
    );
    expect(settled.status, settled.status_reason).toBe('pending-governance');
  });

  it('promotes to candidate through a governance run stepped in order, surviving a worker crash', async () => {
    const early = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'staging' },
    });
    expect(early.status).toBe(409);
    expect(early.body.error.message).toContain('previous stage `candidate` must be active');
    expect(
      (
        await call('POST', '/api/promotions/schedule', {
          ...as(bob),
          json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'candidate' },
        })
      ).status,
    ).toBe(404);
    const unknownStage = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'qa' },
    });
    expect(unknownStage.status).toBe(400);
    expect(unknownStage.body.error.field).toBe('stage');

    const scheduled = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'Candidate', notes: ['first'] },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    candidateId = scheduled.body.id;
    const dup = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'candidate' },
    });
    expect(dup.status).toBe(409);
    const promo = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${candidateId}`, as(alice))).body;
        return p.status === 'in_progress' && p.workflow_run_id ? p : undefined;
      },
      60_000,
      'governance run started',
    );
    const runId = promo.workflow_run_id;
    const detail = (await call('GET', `/api/governance/runs/${runId}`, as(alice))).body;
    expect(detail).toMatchObject({
      status: 'pending',
      promotion_stage: 'candidate',
      target_manifest_digest: run.manifest_digest,
      temporal_workflow_id: h.workflowIds.governance(runId),
    });
    expect(detail.steps.map((s: { action: string; status: string }) => [s.action, s.status])).toEqual([
      ['security-review', 'pending'],
      ['load-test', 'pending'],
    ]);
    expect(detail.audit_log.map((a: { event_type: string }) => a.event_type)).toEqual(['run_created']);
    expect((await call('GET', `/api/governance/runs/${runId}`, as(bob))).status).toBe(404);

    const stream = collectSse(`${h.apiUrl}/api/governance/runs/${runId}/stream`, alice.token);
    const outOfOrder = await call('POST', `/api/governance/runs/${runId}/steps/2`, {
      ...as(alice),
      json: { status: 'completed' },
    });
    expect(outOfOrder.status).toBe(409);
    expect(outOfOrder.body.error.message).toContain('must wait for step(s) 1');
    const first = await call('POST', `/api/governance/runs/${runId}/steps/1`, {
      ...as(alice),
      json: { status: 'completed', note: 'reviewed' },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.status).toBe('in_progress');

    await h.restartWorker({ kill: true }); // mid-run: the state lives in the workflow and the ledger

    const second = await call('POST', `/api/governance/runs/${runId}/steps/2`, {
      ...as(alice),
      json: { status: 'completed' },
    });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.status).toBe('completed');
    expect(
      second.body.steps.every(
        (s: { status: string; completed_at: string | null }) => s.status === 'completed' && s.completed_at,
      ),
    ).toBe(true);
    const reopen = await call('POST', `/api/governance/runs/${runId}/status`, {
      ...as(alice),
      json: { status: 'pending' },
    });
    expect(reopen.status).toBe(409);
    const events = second.body.audit_log.map((a: { event_type: string; actor_id: number }) => [
      a.event_type,
      a.actor_id,
    ]);
    expect(events).toEqual([
      ['run_created', alice.id],
      ['step_completed', alice.id],
      ['step_completed', alice.id],
      ['status_change', alice.id],
    ]);

    await eventually(async () => stream.frames.some((f) => f.event === 'end'), 30_000, 'stream ended with the run');
    await stream.stop();
    const audits = stream.frames.filter((f) => f.event === 'audit').map((f) => f.data);
    expect(audits.map((a: { event_type: string }) => a.event_type)).toEqual([
      'run_created',
      'step_completed',
      'step_completed',
      'status_change',
    ]);
    expect(audits.at(-1)).toMatchObject({ run_status: 'completed' });

    // Only the owner (or an admin) approves.
    expect((await call('POST', `/api/promotions/${candidateId}/approve`, { ...as(bob), json: {} })).status).toBe(404);
    const approved = await call('POST', `/api/promotions/${candidateId}/approve`, {
      ...as(alice),
      json: { note: 'ship it' },
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const active = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${candidateId}`, as(alice))).body;
        return p.status === 'active' ? p : undefined;
      },
      60_000,
      'candidate active',
    );
    expect(active).toMatchObject({ approved_by: alice.id });
    expect(active.notes).toEqual(
      expect.arrayContaining([
        'first',
        `governance:run-started:${runId}`,
        `promotion:approved:user:${alice.id}:ship it`,
        `promotion:governance:${runId}:active`,
      ]),
    );
    expect((await call('POST', `/api/promotions/${candidateId}/approve`, as(alice))).status).toBe(409); // no body: still a clear answer
  });

  it('promotes to staging (approved before governance completes); the gated server launches by itself', async () => {
    const scheduled = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'staging' },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    stagingId = scheduled.body.id;
    const promo = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${stagingId}`, as(alice))).body;
        return p.status === 'in_progress' ? p : undefined;
      },
      60_000,
      'staging in progress',
    );
    const approved = await call('POST', `/api/promotions/${stagingId}/approve`, as(alice));
    expect(approved.body.status).toBe('approved');
    await h.restartWorker({ kill: true }); // approved, waiting for governance
    expect((await call('GET', `/api/servers/${serverId}`, as(alice))).body.status).toBe('pending-governance');
    const done = await call('POST', `/api/governance/runs/${promo.workflow_run_id}/status`, {
      ...as(alice),
      json: { status: 'completed', note: 'fast-tracked' },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.notes).toContain('fast-tracked');

    const server = await waitFor(serverId, ['running', 'error', 'unhealthy'], 'launched by itself');
    expect(server.status, server.status_reason).toBe('running');
    const [decision] = (await call('GET', `/api/servers/${serverId}/decisions`, as(alice))).body;
    expect(decision).toMatchObject({ launchable: true, governance_required: false, evaluation_required: false });
    expect(decision.notes).toContain('governance:satisfied:gv-train');

    // The catalog shows the current promotion and its history.
    const entries = (await call('GET', `/api/marketplace?q=${encodeURIComponent(run.manifest_digest)}`, as(alice)))
      .body;
    const entry = entries.find((e: { run_id: number }) => e.run_id === run.id);
    expect(entry.promotion).toMatchObject({ track_name: 'gv-train', stage: 'staging', status: 'active' });
    expect(entry.promotion_history.map((p: { stage: string }) => p.stage).sort()).toEqual(['candidate', 'staging']);
    const history = (await call('GET', `/api/promotions/history?track_id=${trackId}`, as(alice))).body;
    expect(history.map((p: { id: number }) => p.id)).toEqual([stagingId, candidateId]);
    expect((await call('GET', `/api/promotions/history?track_id=${trackId}`, as(bob))).body).toEqual([]);
  });

  it('an expired certification holds a relaunch; a fresh evaluation releases it', async () => {
    const hour = 3_600_000;
    const expired = await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: {
        tier: run.tier,
        policy_requirement: 'tools',
        status: 'pass',
        valid_from: new Date(Date.now() - 2 * hour).toISOString(),
        valid_until: new Date(Date.now() - hour).toISOString(),
      },
    });
    expect(expired.status, JSON.stringify(expired.body)).toBe(200);
    expect((await call('POST', `/api/servers/${serverId}/redeploy`, as(alice))).status).toBe(202);
    const held = await waitFor(serverId, ['pending-governance', 'error'], 'held by the expired certification');
    expect(held.status_reason).toContain(`evaluation:expired:${run.tier}:tools`);

    // The plan override: null clears, a cadence re-plans the next refresh.
    const planned = await call('PATCH', `/api/evaluations/${expired.body.id}/status`, {
      ...as(alice),
      json: { governance_notes: 'renew', refresh_cadence_seconds: 3600 },
    });
    expect(planned.status).toBe(200);
    expect(Date.parse(planned.body.next_refresh_at)).toBeGreaterThan(Date.now());
    const cleared = await call('PATCH', `/api/evaluations/${expired.body.id}/status`, {
      ...as(alice),
      json: { governance_notes: null, refresh_cadence_seconds: null },
    });
    expect(cleared.body).toMatchObject({
      governance_notes: null,
      refresh_cadence_seconds: null,
      next_refresh_at: null,
    });

    await call('POST', `/api/artifacts/${run.id}/evaluations`, {
      ...as(alice),
      json: { tier: run.tier, policy_requirement: 'tools', evaluate: true, expected_tools: ['arch', 'echo'] },
    });
    await h.restartWorker({ kill: true }); // mid-evaluation: the certification workflow carries on
    const server = await waitFor(serverId, ['running', 'error', 'unhealthy'], 'released by the new pass');
    expect(server.status, server.status_reason).toBe('running');
  });

  it('rolls back: an active stage, and one in flight (its governance run cancelled); a rolled-back stage can be scheduled again', async () => {
    expect((await call('POST', `/api/promotions/${stagingId}/rollback`, { ...as(bob), json: {} })).status).toBe(404);
    stagingFirstRun = (await h.temporal.workflow.getHandle(h.workflowIds.promotion(stagingId)).describe()).runId;
    const rolled = await call('POST', `/api/promotions/${stagingId}/rollback`, {
      ...as(alice),
      json: { note: 'bad canary' },
    });
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(200);
    expect(rolled.body).toMatchObject({ status: 'rolled_back' });
    expect(rolled.body.notes.at(-1)).toBe(`promotion:rolled-back:user:${alice.id}:bad canary`);
    // Recorded by a run of the promotion's own workflow (its first run ended when it went active).
    const [event] =
      await h.sql`select actor_id, transition_key from promotion_events where promotion_id = ${stagingId} order by id desc limit 1`;
    expect(event).toEqual({ actor_id: alice.id, transition_key: `${h.workflowIds.promotion(stagingId)}#rolled-back` });
    const again409 = await call('POST', `/api/promotions/${stagingId}/rollback`, { ...as(alice), json: {} });
    expect(again409.status).toBe(409);
    expect((await call('POST', `/api/promotions/${stagingId}/approve`, as(alice))).status).toBe(409);

    const again = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'staging' },
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const inFlight = await eventually(
      async () => {
        const p = (await call('GET', `/api/promotions/${again.body.id}`, as(alice))).body;
        return p.status === 'in_progress' ? p : undefined;
      },
      60_000,
      'in flight',
    );
    const cancelled = await call('POST', `/api/promotions/${again.body.id}/rollback`, as(alice));
    expect(cancelled.body.status).toBe('rolled_back');
    const govRun = (await call('GET', `/api/governance/runs/${inFlight.workflow_run_id}`, as(alice))).body;
    expect(govRun.status).toBe('cancelled');
    expect(govRun.steps.every((s: { status: string }) => s.status === 'failed')).toBe(true);
  });

  it('a completed governance run redeploys its target server', async () => {
    const started = await call('POST', `/api/governance/workflows/${workflowId}/runs`, {
      ...as(alice),
      json: { target_server_id: serverId, target_artifact_run_id: run.id, notes: ['hotfix'] },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({
      status: 'pending',
      target_manifest_digest: run.manifest_digest,
      notes: ['hotfix'],
    });
    const notMine = await call('POST', `/api/governance/workflows/${workflowId}/runs`, { ...as(bob), json: {} });
    expect(notMine.status).toBe(404);
    const before = (
      await h.sql`select count(*)::int as n from server_events where server_id = ${serverId} and status = 'redeploying'`
    )[0]!.n;
    // Gates: the staging promotion was rolled back above; put it back so the redeploy can launch.
    const back = await call('POST', '/api/promotions/schedule', {
      ...as(alice),
      json: { track_id: trackId, manifest_digest: run.manifest_digest, stage: 'staging' },
    });
    const backRun = (
      await eventually(
        async () => {
          const p = (await call('GET', `/api/promotions/${back.body.id}`, as(alice))).body;
          return p.workflow_run_id ? p : undefined;
        },
        60_000,
        'rescheduled',
      )
    ).workflow_run_id;
    await call('POST', `/api/promotions/${back.body.id}/approve`, as(alice));
    await call('POST', `/api/governance/runs/${backRun}/status`, { ...as(alice), json: { status: 'completed' } });
    await eventually(
      async () => (await call('GET', `/api/promotions/${back.body.id}`, as(alice))).body.status === 'active',
      60_000,
      'active again',
    );

    const done = await call('POST', `/api/governance/runs/${started.body.id}/status`, {
      ...as(alice),
      json: { status: 'completed' },
    });
    expect(done.status).toBe(200);
    await eventually(
      async () =>
        (
          await h.sql`select count(*)::int as n from server_events where server_id = ${serverId} and status = 'redeploying'`
        )[0]!.n > before,
      60_000,
      'redeploy requested',
    );
    const server = await waitFor(serverId, ['running', 'error', 'unhealthy'], 'redeployed');
    expect(server.status, server.status_reason).toBe('running');
  });

  it('reports governance outcomes in /metrics', async () => {
    const text = await (
      await fetch(`${h.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } })
    ).text();
    expect(text).toMatch(/mcp_host_governance_runs\{status="completed"\} [1-9]/);
    expect(text).toMatch(/mcp_host_governance_runs\{status="cancelled"\} [1-9]/);
    expect(text).toMatch(/mcp_host_promotions\{status="active"\} [1-9]/);
    expect(text).toMatch(/mcp_host_certifications\{status="(pass|fail)"\} [1-9]/);
  });

  it('replays every workflow it ran, and records histories for the replay suite', async () => {
    const replayed = await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!);
    expect(replayed).toBeGreaterThanOrEqual(8);
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.promotion(candidateId), 'promotion-candidate-active');
    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.promotion(stagingId),
      'promotion-staging-approved-first',
      stagingFirstRun,
    );
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.promotion(stagingId), 'promotion-staging-rollback-ended');
    const [runRow] = await h.sql`select workflow_run_id from artifact_promotions where id = ${candidateId}`;
    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.governance(Number(runRow!.workflow_run_id)),
      'governance-run-steps-completed',
    );
    const [cert] =
      await h.sql`select id from evaluation_certifications where build_artifact_run_id = ${run.id} and tier = ${run.tier}`;
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.certification(cert!.id), 'certification-pass');
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(serverId), 'server-lifecycle-gated-released-open');
  });
});
