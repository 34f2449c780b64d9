// Kill the worker (SIGKILL) while transitions are in flight, start it again: every transition
// completes, none is written twice, nothing is lost.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient } from '../support/http.js';

let h: Harness;
let call: ReturnType<typeof httpClient>;

beforeAll(async () => {
  h = await startHarness('crash', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  call = httpClient(h.apiUrl);
});
afterAll(async () => {
  await h?.stop();
});

it('completes every transition after the worker is killed mid-flight', async () => {
  const token = h.adminToken;
  const ids: number[] = [];
  for (let n = 0; n < 8; n++) {
    const res = await call('POST', '/api/servers', {
      token,
      json: { name: `crash-${n}`, server_type: 'Router', source: { type: 'image', image: 'example/router:1' } },
    });
    expect(res.status).toBe(201);
    ids.push(res.body.id);
  }
  await eventually(
    async () =>
      (await h.sql`select 1 from mcp_servers where id in ${h.sql(ids)} and status = 'error'`).length === ids.length,
    30_000,
    'every launch attempted (no executor here)',
  );

  const stream = collectSse(`${h.apiUrl}/api/servers/stream`, token);
  await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'stream ready');
  // A new stream starts where the API's tail stands, which on a loaded machine may still be behind
  // the committed `error` events: those then reach the stream too, after its ready frame.
  const [before] = await h.sql<
    { last: number }[]
  >`select max(id)::int as last from server_events where server_id in ${h.sql(ids)}`;
  const launchedUpTo = before!.last;
  // Stop them all at once and kill the worker as soon as the first `stopping` is seen.
  const accepted = await Promise.all(ids.map((id) => call('POST', `/api/servers/${id}/stop`, { token })));
  expect(accepted.map((r) => r.status)).toEqual(ids.map(() => 202));
  await eventually(async () => stream.frames.some((f) => f.data?.status === 'stopping'), 10_000, 'a stopping event');
  await h.worker.kill();
  const stoppedBeforeRestart = (
    await h.sql`select id from mcp_servers where id in ${h.sql(ids)} and status = 'stopped'`
  ).length;

  await h.restartWorker();
  await eventually(
    async () =>
      (await h.sql`select 1 from mcp_servers where id in ${h.sql(ids)} and status = 'stopped'`).length === ids.length,
    90_000,
    'all stopped after the restart',
  );
  await eventually(
    async () => ids.every((id) => stream.frames.some((f) => f.data?.id === id && f.data.status === 'stopped')),
    10_000,
    'the stream to deliver every stopped event',
  );
  await stream.stop();

  // Exactly one of each transition per server, in order, and the stream saw them all.
  for (const id of ids) {
    const events = await h.sql<
      { status: string }[]
    >`select status from server_events where server_id = ${id} order by id`;
    expect(events.map((e) => e.status)).toEqual(['creating', 'starting', 'error', 'stopping', 'stopped']);
    const frames = stream.frames.filter((f) => f.data?.id === id);
    expect(frames.filter((f) => Number(f.id) > launchedUpTo).map((f) => f.data.status)).toEqual([
      'stopping',
      'stopped',
    ]);
    // Before them, at most the launch's own `error`, which the tail may not have handed out yet.
    const early = frames.filter((f) => Number(f.id) <= launchedUpTo).map((f) => f.data.status);
    expect(early.length <= 1 && early.every((s) => s === 'error'), `frames before the stops: ${early}`).toBe(true);
  }
  // Not a vacuous crash: some transitions were still outstanding when the worker died.
  expect(stoppedBeforeRestart).toBeLessThan(ids.length);
});
