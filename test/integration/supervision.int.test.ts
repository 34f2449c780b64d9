// Names carry an sv- prefix: every test file of a run shares one database (and the bootstrap admin).
// Supervision after launch (issue 18), on the real stack: examples/hello-mcp built from git and
// launched on Docker, then hurt from outside. Its process killed → noticed by the wait on the
// container (not the next probe) and restarted within 10 s, gateway calls work again; it stops
// answering ping (hello-mcp's unwell mode) → degraded → unhealthy → restarted; a server that
// always crashes (HELLO_CRASH_ON_START) → crashloop with growing delays, the gateway answering
// 503 + Retry-After; the worker killed while a server is supervised → supervision resumes, one
// restart, not two. Timings are the HEALTH_* settings, short here so the file runs in about a minute.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory } from '../support/histories.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';
import { runMcpctl } from '../support/mcpctl.js';
import { FAST_HEALTH, gatewayEcho, gatewayPost } from '../support/supervised.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

interface EventRow {
  id: number;
  status: string;
  previous_status: string | null;
  reason: string | null;
  created_at: Date;
}

/** The server's status events after `after` (an event id), oldest first. */
const eventsAfter = (id: number, after = 0) =>
  h.sql<EventRow[]>`
    select id, status, previous_status, reason, created_at from server_events
    where server_id = ${id} and id > ${after} order by id`;

const lastEventId = async (id: number) => (await eventsAfter(id)).at(-1)?.id ?? 0;

/** Waits until the events after `after` hold `statuses` in this order (others may come between). */
async function eventsInOrder(id: number, after: number, statuses: string[], timeoutMs: number) {
  return eventually(
    async () => {
      const events = await eventsAfter(id, after);
      let i = 0;
      for (const e of events) if (e.status === statuses[i]) i += 1;
      return i === statuses.length && events;
    },
    timeoutMs,
    `events ${statuses.join(' → ')} of server ${id}`,
  );
}

async function createServer(name: string, config: Record<string, string> = {}): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Example', source: { type: 'git', repository: stack.git.url('sv-hello') }, config },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as number;
}

const container = (id: number) => stack.docker.getContainer(`mcp-server-${id}`);

beforeAll(async () => {
  stack = await startBuildStack('supervision');
  h = await startHarness('supervision', { ...stack.env('linux/amd64'), ...FAST_HEALTH });
  call = httpClient(h.apiUrl);
  await helloMcpRepo(stack, 'sv-hello');
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('a supervised server', () => {
  let id: number;

  it('is probed while it runs, and mcpctl servers get shows the last probes', async () => {
    id = await createServer('sv-hello');
    const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');
    expect(await gatewayEcho(h, id, 'before')).toEqual({ content: [{ type: 'text', text: 'before' }] });

    const probes = await eventually(
      async () => {
        const r = await call('GET', `/api/servers/${id}/probes`, { token: h.adminToken });
        return r.body.length >= 2 && r.body;
      },
      15_000,
      'two probes',
    );
    expect(probes[0]).toMatchObject({ ok: true, method: 'ping', error: null });
    expect(probes[0].latency_ms).toBeGreaterThanOrEqual(0);
    expect(probes[0].tools_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Date.parse(probes[0].probed_at)).toBeGreaterThanOrEqual(Date.parse(probes[1].probed_at));

    const shown = await runMcpctl(h, ['servers', 'get', String(id)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/probe\s+\S+ ok, ping in \d+ ms/);
  });

  it('is restarted within 10 s when its process is killed, and the gateway serves it again', async () => {
    const mark = await lastEventId(id);
    const killedAt = Date.now();
    await container(id).kill({ signal: 'SIGKILL' });
    const events = await eventsInOrder(id, mark, ['unhealthy', 'restarting', 'starting', 'running'], 10_000);
    const running = events.findLast((e) => e.status === 'running')!;
    console.log(`supervision: killed → running again in ${running.created_at.getTime() - killedAt} ms`);
    expect(running.created_at.getTime() - killedAt).toBeLessThan(10_000);
    const unhealthy = events.find((e) => e.status === 'unhealthy')!;
    expect(unhealthy.reason).toMatch(/exit code 137/);
    // Noticed by the wait on the container: before the probes could have failed twice.
    expect(unhealthy.created_at.getTime() - killedAt).toBeLessThan(2_000);
    expect(events.find((e) => e.status === 'restarting')!.reason).toMatch(/^restart 1 after waiting 1 s: container/);
    expect(await gatewayEcho(h, id, 'after')).toEqual({ content: [{ type: 'text', text: 'after' }] });
  });

  it('goes degraded, then unhealthy, when it stops answering ping, and is restarted', async () => {
    const mark = await lastEventId(id);
    const exec = await container(id).exec({ Cmd: ['touch', '/tmp/hello-mcp-unwell'] });
    await exec.start({});
    const events = await eventsInOrder(id, mark, ['degraded', 'unhealthy', 'restarting', 'running'], 30_000);
    expect(events.find((e) => e.status === 'degraded')!.reason).toMatch(/^probe failed \(1 of 2\): MCP probe of /);
    expect(events.find((e) => e.status === 'unhealthy')!.reason).toMatch(/^2 probes failed in a row/);
    const failed = (await call('GET', `/api/servers/${id}/probes?limit=50`, { token: h.adminToken })).body;
    expect(failed.some((p: { ok: boolean }) => !p.ok)).toBe(true);
    expect(await gatewayEcho(h, id, 'recovered')).toEqual({ content: [{ type: 'text', text: 'recovered' }] });
  }, 60_000);

  it('resumes supervision after the worker is killed, with one restart, not two', async () => {
    await waitForStatus(call, h.adminToken, id, ['running'], 'running', 30_000);
    const mark = await lastEventId(id);
    await h.worker.kill();
    await container(id).kill({ signal: 'SIGKILL' });
    await h.restartWorker({ kill: true }); // already dead: this starts the new one
    const events = await eventsInOrder(id, mark, ['unhealthy', 'restarting', 'running'], 60_000);
    // Settled: a few probe intervals later still one restart.
    await new Promise((r) => setTimeout(r, 4_000));
    const after = await eventsAfter(id, mark);
    expect(after.filter((e) => e.status === 'restarting')).toHaveLength(1);
    expect(after.at(-1)!.status).toBe('running');
    expect(events.length).toBeGreaterThan(0);
    expect(await gatewayEcho(h, id, 'resumed')).toEqual({ content: [{ type: 'text', text: 'resumed' }] });
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-supervised-restarts-open');
  }, 120_000);
});

describe('a server that always crashes', () => {
  it('goes crashloop with growing delays, and the gateway answers 503 with Retry-After', async () => {
    const id = await createServer('sv-crashing', { HELLO_CRASH_ON_START: '1' });
    const events = await eventsInOrder(
      id,
      0,
      ['unhealthy', 'restarting', 'restarting', 'restarting', 'crashloop', 'restarting'],
      120_000,
    );
    expect(events.find((e) => e.status === 'unhealthy')!.reason).toMatch(/exit code 3/);
    expect(events.find((e) => e.status === 'crashloop')!.reason).toMatch(
      /^3 restarts within 120 s; next in 8 s; last failure: /,
    );
    // The durable timers waited 1 s, 2 s, 4 s, then 8 s in crashloop: each delay twice the one before.
    const waited = events
      .filter((e) => e.status === 'restarting')
      .map((e) => /after waiting (\d+) s/.exec(e.reason ?? '')?.[1]);
    expect(waited.slice(0, 4)).toEqual(['1', '2', '4', '8']);

    const refused = await gatewayPost(h, id, { method: 'ping' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /is not running \(status (crashloop|restarting|starting|unhealthy)\)/,
    );

    const stopped = await call('POST', `/api/servers/${id}/stop`, { token: h.adminToken });
    expect(stopped.status).toBe(202);
    await waitForStatus(call, h.adminToken, id, ['stopped'], 'stopped', 60_000);
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-crashloop-stopped-open');
  }, 180_000);
});
