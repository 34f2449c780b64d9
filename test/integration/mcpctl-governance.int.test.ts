// mcpctl governance and promotions against the real stack (API, worker, Temporal, Postgres): the
// commands an operator types, their output and exit codes. Promotions and evaluations of a built
// artifact need the build stack; governance.int.test.ts covers those over HTTP.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { runMcpctl } from '../support/mcpctl.js';

let h: Harness;
const suffix = randomUUID().slice(0, 8);
const mcpctl = (args: string[], env: Record<string, string | undefined> = {}) => runMcpctl(h, args, env);

/** Runs a command that must succeed, and answers its --json output. */
async function json<T>(args: string[]): Promise<T> {
  const result = await mcpctl([...args, '--json']);
  expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  h = await startHarness('mcpctl-gov', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
});
afterAll(async () => {
  await h?.stop();
});

describe('mcpctl governance', () => {
  let workflowId: number;

  it('defines a workflow, runs it step by step to completion, and watches its audit log', async () => {
    const name = `mcg-release-${suffix}`;
    const created = await mcpctl([
      'governance',
      'workflows',
      'create',
      '--name',
      name,
      '--type',
      'promotion',
      '--tier',
      'gold:Router',
      '--step',
      'review',
      '--step',
      'sign={"by":"security"}',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`${name}\\s+promotion\\s+gold:Router\\s+review > sign`));
    expect(created.stdout).toMatch(/2\s+sign\s+\{"by":"security"\}/);

    const workflows = await json<{ id: number; name: string; steps: { action: string }[] }[]>([
      'governance',
      'workflows',
    ]);
    const wf = workflows.find((w) => w.name === name)!;
    expect(wf.steps.map((s) => s.action)).toEqual(['review', 'sign']);
    workflowId = wf.id;

    // No options: the request is still a valid JSON body (none at all would be answered 415).
    const started = await json<{ id: number; status: string; steps: unknown[] }>([
      'governance',
      'start',
      String(wf.id),
    ]);
    expect(started).toMatchObject({
      status: 'pending',
      steps: [
        { position: 1, status: 'pending' },
        { position: 2, status: 'pending' },
      ],
    });
    const runId = String(started.id);

    // Followed live (JSON lines) while the steps are moved on; it ends by itself when the run does.
    const live = mcpctl(['governance', 'watch', runId, '--json']);
    await new Promise((r) => setTimeout(r, 2_500)); // its start-up, so most events arrive live

    const early = await mcpctl(['governance', 'step', runId, '2', 'completed']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /^error: step 2 must wait for step\(s\) 1 to complete \(invalid_transition, HTTP 409\)\n$/,
    );

    const first = await mcpctl(['governance', 'step', runId, '1', 'completed', '--note', 'reviewed']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/status\s+in_progress/);
    expect((await mcpctl(['governance', 'step', runId, '2', 'completed', '--note', 'signed'])).code).toBe(0);

    const status = await mcpctl(['governance', 'status', runId]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^field\s+value\n/);
    expect(status.stdout).toMatch(/\nstatus\s+completed\n/);
    expect(status.stdout).toMatch(/1\s+review\s+completed/);
    expect(status.stdout).toMatch(/2\s+sign\s+completed/);
    expect(status.stdout).toMatch(/step_completed\s+\d+\s+1 -> completed\s+in_progress\s+reviewed/);

    const followed = await live;
    expect(followed.code, followed.stderr).toBe(0);
    const events = followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event_type: string; run_status: string | null });
    expect(events.map((e) => e.event_type)).toEqual([
      'run_created',
      'step_completed',
      'step_completed',
      'status_change',
    ]);
    expect(events.at(-1)!.run_status).toBe('completed');

    // The run has ended: watch replays its audit log and exits at the stream's end.
    const watched = await mcpctl(['governance', 'watch', runId]);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/ {2}run_created {2}by \d+$/);
    expect(
      lines.some((l) =>
        /step_completed {2}by \d+ {2}step 1 -> completed {2}run -> in_progress {2}\(reviewed\)$/.test(l),
      ),
    ).toBe(true);
    expect(lines.some((l) => /run -> completed/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe(`run ${runId} completed`);

    const reopen = await mcpctl(['governance', 'set', runId, 'in_progress', '--note', 'again']);
    expect(reopen.code).toBe(1);
    expect(reopen.stderr).toMatch(/^error: .*(ended|completed).* \(invalid_transition, HTTP 409\)\n$/);
  });

  it('creates, lists and updates a promotion track; its history starts empty', async () => {
    const name = `mcg-train-${suffix}`;
    const track = await json<{ id: number; stages: string[]; workflow_id: number | null }>([
      'promotions',
      'tracks',
      'create',
      '--name',
      name,
      '--tier',
      'Router',
      '--stage',
      'dev',
      '--stage',
      'prod',
      '--workflow',
      String(workflowId),
      '--description',
      'the CLI test train',
    ]);
    expect(track).toMatchObject({ stages: ['dev', 'prod'], workflow_id: workflowId });

    const list = await mcpctl(['promotions', 'tracks']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      /^id\s+name\s+tier\s+stages\s+workflow\s+launch stage\s+required certs\s+soak\s+description\n/,
    );
    expect(list.stdout).toMatch(
      new RegExp(
        `${track.id}\\s+${name}\\s+Router\\s+dev > prod\\s+${workflowId}\\s+-\\s+-\\s+-\\s+the CLI test train`,
      ),
    );

    const gated = await json<{ launch_stage: string | null; required_certifications: string[] }>([
      'promotions',
      'tracks',
      'update',
      String(track.id),
      '--launch-stage',
      'PROD',
      '--require-cert',
      'baseline',
    ]);
    expect(gated).toMatchObject({ launch_stage: 'prod', required_certifications: ['baseline'] });
    const ungated = await json<{
      launch_stage: string | null;
      required_certifications: string[];
      workflow_id: number | null;
    }>([
      'promotions',
      'tracks',
      'update',
      String(track.id),
      '--launch-stage',
      'none',
      '--clear-required-certs',
      '--workflow',
      'none',
    ]);
    expect(ungated).toMatchObject({ launch_stage: null, required_certifications: [], workflow_id: null });

    expect(await json<unknown[]>(['promotions', 'history', '--track', String(track.id)])).toEqual([]);
    const history = await mcpctl(['promotions', 'history', '--track', String(track.id)]);
    expect(history.stdout.trim().split('\n')).toHaveLength(2); // header and separator only

    // approve without --note still sends a valid request: the answer is about the promotion.
    const approve = await mcpctl(['promotions', 'approve', '2147483647']);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toMatch(/^error: promotion 2147483647 not found \(not_found, HTTP 404\)\n$/);
  });

  it('refuses bad input locally, naming the option, before any request', async () => {
    const offline = { MCPCTL_URL: 'http://127.0.0.1:9' }; // nothing listens: a request would fail differently
    const cases: [string[], RegExp][] = [
      [['governance', 'workflows', 'create', '--name', 'mcg-bad', '--type', 'nope', '--tier', 't'], /^error: --type: /],
      [
        [
          'governance',
          'workflows',
          'create',
          '--name',
          'mcg-bad',
          '--type',
          'rollback',
          '--tier',
          't',
          '--step',
          'a={',
        ],
        /^error: --step a: must be JSON/,
      ],
      [['governance', 'start', '1', '--digest', 'sha256:beef'], /^error: --digest: must be a sha256 digest/],
      [['governance', 'step', '1', '0', 'completed'], /^error: POSITION: /],
      [['governance', 'set', '1', 'reopened'], /^error: STATUS: /],
      [['promotions', 'schedule', '1', 'sha256:nothex', 'dev'], /^error: DIGEST: must be a sha256 digest/],
      [['promotions', 'history', '--track', 'x'], /^error: --track: must be a track id/],
      [
        ['promotions', 'tracks', 'create', '--name', 'mcg-bad', '--tier', 'Router', '--launch-stage', 'qa'],
        /^error: --launch-stage: /,
      ],
      [
        ['evaluations', 'submit', '1', '--tier', 't', '--requirement', 'r'],
        /^error: --status: status is required unless evaluate is true/,
      ],
      [['evaluations', 'plan', '1', '--cadence-seconds', '-5'], /^error: --cadence-seconds: /],
      [['evaluations', 'list', '--status', 'maybe'], /^error: --status: /],
    ];
    for (const [args, message] of cases) {
      const result = await mcpctl(args, offline);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('lists certifications (none pass here: nothing was built)', async () => {
    const list = await mcpctl(['evaluations', 'list', '--status', 'pass']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      /^id\s+run\s+digest\s+tier\s+requirement\s+status\s+kind\s+valid until\s+next refresh\n/,
    );
  });
});
