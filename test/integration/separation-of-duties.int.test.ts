// Names carry an sod- prefix: every test file of a run shares one database.
// Separation of duties on the real stack: on a track with `require_distinct_approver`, the operator
// who scheduled a promotion cannot approve it, complete its governance run, or certify the digest it
// promotes (403 naming the rule); another user (an admin, the only other one who sees the track) can,
// and the records say who did each. A track without the rule keeps self-approval.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

let h: Harness;
let call: ReturnType<typeof httpClient>;
let alice: { id: number; token: string };
let adminId: number;

async function newOperator() {
  const email = `sod-${randomBytes(4).toString('hex')}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
  const token = await call('POST', '/api/tokens', {
    token: h.adminToken,
    json: { name: 'sod', user_id: user.body.id },
  });
  return { id: user.body.id as number, token: token.body.token as string };
}

/** A server of Alice's (never started) and a build run of it that published a digest, as a finished build leaves it. */
async function publishedArtifact(name: string, serverType: string): Promise<{ runId: number; digest: string }> {
  const server = await call('POST', '/api/servers', {
    token: alice.token,
    json: {
      name,
      server_type: serverType,
      source: { type: 'image', image: '127.0.0.1:5000/sod/none:latest' },
      start: false,
    },
  });
  expect(server.status, JSON.stringify(server.body)).toBe(201);
  const digest = `sha256:${randomBytes(32).toString('hex')}`;
  const [row] = await h.sql<{ id: number }[]>`
    insert into build_artifact_runs (server_id, workflow_id, workflow_run_id, local_image, manifest_digest, status, completed_at)
    values (${server.body.id}, ${`sod-build-${server.body.id}`}, ${randomBytes(8).toString('hex')}, 'mcp-sod:latest', ${digest}, 'succeeded', now())
    returning id`;
  return { runId: row!.id, digest };
}

const promotionOf = async (id: number) => (await call('GET', `/api/promotions/${id}`, { token: h.adminToken })).body;

beforeAll(async () => {
  h = await startHarness('separation-of-duties');
  call = httpClient(h.apiUrl);
  alice = await newOperator();
  adminId = (await call('GET', '/api/me', { token: h.adminToken })).body.id;
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

describe('a track that requires a distinct approver', () => {
  let runId: number;
  let digest: string;
  let trackId: number;
  let promotionId: number;

  beforeAll(async () => {
    ({ runId, digest } = await publishedArtifact('sod-server', 'SodEx'));
    const wf = await call('POST', '/api/governance/workflows', {
      token: alice.token,
      json: { name: 'sod-review', workflow_type: 'promotion', tier: 'SodEx', steps: [{ action: 'review' }] },
    });
    expect(wf.status, JSON.stringify(wf.body)).toBe(201);
    const track = await call('POST', '/api/promotions/tracks', {
      token: alice.token,
      json: {
        name: 'sod-train',
        tier: 'SodEx',
        stages: ['candidate'],
        workflow_id: wf.body.id,
        required_certifications: ['review'],
        require_distinct_approver: true,
      },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    expect(track.body.require_distinct_approver).toBe(true);
    trackId = track.body.id;
    const scheduled = await call('POST', '/api/promotions/schedule', {
      token: alice.token,
      json: { track_id: trackId, stage: 'candidate', manifest_digest: digest },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    expect(scheduled.body.scheduled_by).toBe(alice.id);
    promotionId = scheduled.body.id;
  }, 60_000);

  it("refuses the scheduler's own certification of a required requirement, and records another user's", async () => {
    const own = await call('POST', `/api/artifacts/${runId}/evaluations`, {
      token: alice.token,
      json: { tier: 'SodEx', policy_requirement: 'review', status: 'pass' },
    });
    expect(own.status, JSON.stringify(own.body)).toBe(403);
    expect(own.body.error.code).toBe('distinct_approver_required');
    expect(own.body.error.message).toContain('require_distinct_approver');
    // A requirement the track does not ask for is the owner's own business.
    const other = await call('POST', `/api/artifacts/${runId}/evaluations`, {
      token: alice.token,
      json: { tier: 'SodEx', policy_requirement: 'style', status: 'pass' },
    });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(other.body.certified_by).toBe(alice.id);

    const byAdmin = await call('POST', `/api/artifacts/${runId}/evaluations`, {
      token: h.adminToken,
      json: { tier: 'SodEx', policy_requirement: 'review', status: 'pass' },
    });
    expect(byAdmin.status, JSON.stringify(byAdmin.body)).toBe(200);
    expect(byAdmin.body.certified_by).toBe(adminId);
  });

  it("refuses the scheduler's step and status completions of the promotion's governance run", async () => {
    const p = await eventually(
      async () => {
        const row = await promotionOf(promotionId);
        return row.workflow_run_id !== null && row;
      },
      30_000,
      'the governance run',
    );
    const step = await call('POST', `/api/governance/runs/${p.workflow_run_id}/steps/1`, {
      token: alice.token,
      json: { status: 'completed' },
    });
    expect(step.status, JSON.stringify(step.body)).toBe(403);
    expect(step.body.error.code).toBe('distinct_approver_required');
    const status = await call('POST', `/api/governance/runs/${p.workflow_run_id}/status`, {
      token: alice.token,
      json: { status: 'completed' },
    });
    expect(status.status, JSON.stringify(status.body)).toBe(403);
    // Starting the step is no approval: the scheduler may.
    const started = await call('POST', `/api/governance/runs/${p.workflow_run_id}/steps/1`, {
      token: alice.token,
      json: { status: 'in_progress' },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const done = await call('POST', `/api/governance/runs/${p.workflow_run_id}/steps/1`, {
      token: h.adminToken,
      json: { status: 'completed', note: 'reviewed' },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    // The governance audit names who did each.
    const run = (await call('GET', `/api/governance/runs/${p.workflow_run_id}`, { token: h.adminToken })).body;
    const actors = run.audit_log.map((a: { event_type: string; actor_id: number | null }) => a.actor_id);
    expect(actors).toContain(alice.id);
    expect(actors).toContain(adminId);
  });

  it("refuses the scheduler's approval (403 naming the rule) and accepts another user's", async () => {
    const own = await call('POST', `/api/promotions/${promotionId}/approve`, { token: alice.token });
    expect(own.status, JSON.stringify(own.body)).toBe(403);
    expect(own.body.error).toMatchObject({ code: 'distinct_approver_required' });
    expect(own.body.error.message).toContain('require_distinct_approver');
    expect((await promotionOf(promotionId)).approved_by).toBeNull();

    const other = await call('POST', `/api/promotions/${promotionId}/approve`, { token: h.adminToken });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    const active = await eventually(
      async () => {
        const row = await promotionOf(promotionId);
        return row.status === 'active' && row;
      },
      30_000,
      'the promotion to go active',
    );
    expect(active).toMatchObject({ scheduled_by: alice.id, approved_by: adminId });
  });

  it('refuses an approval while a required certification was recorded by the scheduler', async () => {
    // Alice certified the digest before she scheduled its promotion: no one may approve it then.
    const { runId: run2, digest: digest2 } = await publishedArtifact('sod-server-2', 'SodEx');
    const cert = await call('POST', `/api/artifacts/${run2}/evaluations`, {
      token: alice.token,
      json: { tier: 'SodEx', policy_requirement: 'review', status: 'pass' },
    });
    expect(cert.status, JSON.stringify(cert.body)).toBe(200);
    const noGov = await call('POST', '/api/promotions/tracks', {
      token: alice.token,
      json: { name: 'sod-direct', tier: 'SodEx', stages: ['candidate'], required_certifications: ['review'] },
    });
    expect(noGov.body.require_distinct_approver).toBe(false);
    const turnedOn = await call('PATCH', `/api/promotions/tracks/${noGov.body.id}`, {
      token: alice.token,
      json: { require_distinct_approver: true },
    });
    expect(turnedOn.body.require_distinct_approver).toBe(true);
    const scheduled = await call('POST', '/api/promotions/schedule', {
      token: alice.token,
      json: { track_id: noGov.body.id, stage: 'candidate', manifest_digest: digest2 },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    const refused = await call('POST', `/api/promotions/${scheduled.body.id}/approve`, { token: h.adminToken });
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error.message).toContain('certification `review`');
  });
});

describe('a track without the rule', () => {
  it('keeps self-approval', async () => {
    const { digest } = await publishedArtifact('sod-free', 'SodFree');
    const track = await call('POST', '/api/promotions/tracks', {
      token: alice.token,
      json: { name: 'sod-free-train', tier: 'SodFree', stages: ['candidate'] },
    });
    const scheduled = await call('POST', '/api/promotions/schedule', {
      token: alice.token,
      json: { track_id: track.body.id, stage: 'candidate', manifest_digest: digest },
    });
    const own = await call('POST', `/api/promotions/${scheduled.body.id}/approve`, { token: alice.token });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.approved_by).toBe(alice.id);
  });
});
