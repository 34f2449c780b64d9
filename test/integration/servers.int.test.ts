// Servers end to end over HTTP against the real stack: lifecycle through the workflow, the status
// stream, ownership, quota, tokens, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory, replayTaskQueue } from '../support/histories.js';
import { collectSse, eventually, httpClient } from '../support/http.js';

let h: Harness;
let call: ReturnType<typeof httpClient>;

const imageServer = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  server_type: 'Router',
  source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
  ...extra,
});

async function newUser(role: 'operator' | 'viewer' | 'admin', quota?: number) {
  const email = `${role}-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role, server_quota: quota } });
  expect(user.status).toBe(201);
  const token = await call('POST', '/api/tokens', {
    token: h.adminToken,
    json: { name: 'test', user_id: user.body.id },
  });
  expect(token.status).toBe(201);
  return { id: user.body.id as number, token: token.body.token as string };
}

async function statusOf(id: number, token = h.adminToken) {
  return (await call('GET', `/api/servers/${id}`, { token })).body?.status as string | undefined;
}

beforeAll(async () => {
  // No Docker daemon on purpose: launches end in a clear `error`; the runtime tests launch for real.
  h = await startHarness('servers', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  call = httpClient(h.apiUrl);
});
afterAll(async () => {
  await h?.stop();
});

describe('health', () => {
  it('answers healthz without a token and readyz with both dependencies checked', async () => {
    expect((await call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'ok' });
    // This stack has no Docker daemon and no registry: readiness does not depend on them.
    expect(ready.body.info).toEqual({ docker: 'unreachable', registry: 'not configured' });
  });
});

describe('server lifecycle', () => {
  it('create → start → stop → delete, every transition on the status stream in order', async () => {
    const op = await newUser('operator');
    const stream = collectSse(`${h.apiUrl}/api/servers/stream`, op.token);
    await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'stream ready');

    const created = await call('POST', '/api/servers', {
      token: op.token,
      json: imageServer('lifecycle', { start: false }),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'lifecycle',
      status: 'creating',
      owner_id: op.id,
      use_gpu: false,
      config: {},
    });
    const id = created.body.id as number;
    await eventually(async () => (await statusOf(id, op.token)) === 'stopped', 30_000, 'stopped after create');

    const start = await call('POST', `/api/servers/${id}/start`, { token: op.token });
    expect(start.status).toBe(202);
    expect(start.body).toEqual({ server_id: id, intent: 'start', status: 'starting' });
    // This stack runs no Docker daemon: the policy decision finds no executor and says so.
    await eventually(async () => (await statusOf(id, op.token)) === 'error', 30_000, 'error without an executor');
    const failed = (await call('GET', `/api/servers/${id}`, { token: op.token })).body;
    expect(failed.status_reason).toMatch(/does not allow a launch: .*executor:unavailable:docker/);
    const [decision] = await h.sql`select launchable, notes from runtime_policy_decisions where server_id = ${id}`;
    expect(decision).toMatchObject({ launchable: false });
    expect(decision!.notes).toContain('executor:unavailable:docker');

    expect((await call('POST', `/api/servers/${id}/stop`, { token: op.token })).status).toBe(202);
    await eventually(async () => (await statusOf(id, op.token)) === 'stopped', 30_000, 'stopped');
    expect((await call('POST', `/api/servers/${id}/stop`, { token: op.token })).status).toBe(409);

    const del = await call('DELETE', `/api/servers/${id}`, { token: op.token });
    expect(del.status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: op.token })).status === 404,
      30_000,
      'gone',
    );

    await eventually(
      async () => stream.frames.some((f) => f.event === 'deleted' && f.data.id === id),
      10_000,
      'deleted event',
    );
    await stream.stop();
    const mine = stream.frames.filter((f) => f.event !== 'ready' && f.data.id === id);
    expect(mine.map((f) => f.data.status)).toEqual([
      'creating',
      'stopped',
      'starting',
      'error',
      'stopping',
      'stopped',
      'deleting',
      'deleted',
    ]);
    const ids = mine.map((f) => Number(f.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(mine.at(-1)!.data.previous_status).toBe('deleting');

    // The lifecycle workflow has ended and its row, events aside, is gone.
    const result = await h.temporal.workflow.getHandle(h.workflowIds.server(id)).result();
    expect(result).toEqual({ outcome: 'deleted' });
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-create-start-stop-delete');
    expect(await h.sql`select 1 from mcp_servers where id = ${id}`).toHaveLength(0);
  });

  it('starts on create by default and replays missed events after Last-Event-ID', async () => {
    const op = await newUser('operator');
    const created = await call('POST', '/api/servers', { token: op.token, json: imageServer('auto') });
    const id = created.body.id as number;
    await eventually(async () => (await statusOf(id, op.token)) === 'error', 30_000, 'start attempted');
    const [first] = await h.sql<
      { id: number }[]
    >`select id from server_events where server_id = ${id} order by id limit 1`;
    // A reconnecting client gets everything after the last id it saw, and nothing before it.
    const stream = collectSse(`${h.apiUrl}/api/servers/stream?server_id=${id}`, op.token, {
      'last-event-id': String(first!.id),
    });
    await eventually(async () => stream.frames.some((f) => f.data?.status === 'error'), 10_000, 'replayed');
    await stream.stop();
    expect(stream.frames.filter((f) => f.event === 'status').map((f) => f.data.status)).toEqual(['starting', 'error']);
  });

  it('redeploy moves a stopped server through redeploying to a new launch', async () => {
    const op = await newUser('operator');
    const id = (
      await call('POST', '/api/servers', { token: op.token, json: imageServer('redeploy', { start: false }) })
    ).body.id;
    await eventually(async () => (await statusOf(id, op.token)) === 'stopped', 30_000, 'stopped');
    expect((await call('POST', `/api/servers/${id}/redeploy`, { token: op.token })).body.status).toBe('redeploying');
    await eventually(async () => (await statusOf(id, op.token)) === 'error', 30_000, 'launch attempted');
    const statuses = await h.sql<
      { status: string }[]
    >`select status from server_events where server_id = ${id} order by id`;
    expect(statuses.map((r) => r.status)).toEqual(['creating', 'stopped', 'redeploying', 'starting', 'error']);
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-redeploy-open');
  });
});

describe('changing settings (PATCH /api/servers/:id)', () => {
  it('changes config, use_gpu and secret_updates, records a settings event, and tells the workflow', async () => {
    const op = await newUser('operator');
    const stream = collectSse(`${h.apiUrl}/api/servers/stream`, op.token);
    await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'stream ready');
    const id = (
      await call('POST', '/api/servers', {
        token: op.token,
        json: imageServer('settings', { start: false, config: { GREETING: 'hello', MODE: 'slow' } }),
      })
    ).body.id as number;
    await eventually(async () => (await statusOf(id, op.token)) === 'stopped', 30_000, 'stopped');
    const patch = (json: unknown, token = op.token) => call('PATCH', `/api/servers/${id}`, { token, json });

    const changed = await patch({ config: { GREETING: 'bonjour', LEVEL: 3 }, secret_updates: 'redeploy' });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({
      id,
      status: 'stopped',
      config: { GREETING: 'bonjour', LEVEL: 3 },
      use_gpu: false,
      secret_updates: 'redeploy',
    });
    expect((await call('GET', `/api/servers/${id}`, { token: op.token })).body).toMatchObject({
      config: { GREETING: 'bonjour', LEVEL: 3 },
      secret_updates: 'redeploy',
    });
    // The event names what changed (never a value) and when it takes effect; the status stays.
    const events = async () =>
      h.sql<{ event_type: string; status: string; previous_status: string; reason: string }[]>`
        select event_type, status, previous_status, reason from server_events
        where server_id = ${id} and event_type = 'settings' order by id`;
    expect(await events()).toEqual([
      {
        event_type: 'settings',
        status: 'stopped',
        previous_status: 'stopped',
        reason: 'settings changed: config GREETING, LEVEL, MODE (at the next launch); secret_updates redeploy',
      },
    ]);
    await eventually(
      async () => stream.frames.some((f) => f.event === 'settings' && f.data?.id === id),
      10_000,
      'the settings event on the stream',
    );
    await stream.stop();
    expect(stream.frames.some((f) => f.event === 'settings' && JSON.stringify(f.data).includes('bonjour'))).toBe(false);

    // The same settings again change nothing and record nothing; secret_updates alone tells no workflow.
    expect((await patch({ config: { GREETING: 'bonjour', LEVEL: 3 } })).status).toBe(200);
    expect(await events()).toHaveLength(1);
    expect((await patch({ secret_updates: 'next-start' })).body.secret_updates).toBe('next-start');
    expect((await patch({ use_gpu: true })).body.use_gpu).toBe(true);
    expect((await events()).map((e) => e.reason)).toEqual([
      'settings changed: config GREETING, LEVEL, MODE (at the next launch); secret_updates redeploy',
      'settings changed: secret_updates next-start',
      'settings changed: use_gpu true (at the next launch)',
    ]);
    // The workflow heard of the launch settings (twice: config, then use_gpu), and still replays.
    const history = await h.temporal.workflow.getHandle(h.workflowIds.server(id)).fetchHistory();
    const signals = history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName);
    expect(signals.map((e) => e.workflowExecutionSignaledEventAttributes!.signalName)).toEqual([
      'settingsChanged',
      'settingsChanged',
    ]);

    // Refusals: 422 naming the field, 403 for a viewer, 404 for another operator; nothing changes.
    const cases: [unknown, string | undefined][] = [
      [{}, undefined],
      [{ source: { type: 'image', image: 'registry.local:5000/team/other:1.0' } }, 'source'],
      [{ owner_id: 1 }, 'owner_id'],
      [{ name: 'renamed' }, 'name'],
      [{ secret_updates: 'now' }, 'secret_updates'],
      [{ config: { API_TOKEN: { secret: 'no-such-secret' } } }, 'config.API_TOKEN'],
      [{ config: { egress: 'everywhere' } }, 'config.egress'],
      [{ use_gpu: 'yes' }, 'use_gpu'],
    ];
    for (const [json, field] of cases) {
      const refused = await patch(json);
      expect(refused.status, JSON.stringify(json)).toBe(422);
      if (field) expect(refused.body.error.field, JSON.stringify(json)).toBe(field);
    }
    const viewer = await newUser('viewer');
    expect((await patch({ use_gpu: false }, viewer.token)).status).toBe(403);
    const other = await newUser('operator');
    expect((await patch({ use_gpu: false }, other.token)).status).toBe(404);
    expect(await events()).toHaveLength(3);
    expect((await call('GET', `/api/servers/${id}`, { token: op.token })).body).toMatchObject({
      name: 'settings',
      use_gpu: true,
      source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
    });
  });
});

describe('ownership and roles', () => {
  it('another operator can neither see nor touch a server', async () => {
    const alice = await newUser('operator');
    const bob = await newUser('operator');
    const id = (
      await call('POST', '/api/servers', { token: alice.token, json: imageServer('private', { start: false }) })
    ).body.id;
    const bobStream = collectSse(`${h.apiUrl}/api/servers/stream`, bob.token, { 'last-event-id': '0' });

    expect((await call('GET', `/api/servers/${id}`, { token: bob.token })).status).toBe(404);
    for (const verb of ['start', 'stop', 'redeploy']) {
      expect((await call('POST', `/api/servers/${id}/${verb}`, { token: bob.token })).status).toBe(404);
    }
    expect((await call('DELETE', `/api/servers/${id}`, { token: bob.token })).status).toBe(404);
    const bobList = await call('GET', '/api/servers', { token: bob.token });
    expect(bobList.body.map((s: { id: number }) => s.id)).not.toContain(id);
    const aliceList = await call('GET', '/api/servers', { token: alice.token });
    expect(aliceList.body.map((s: { id: number }) => s.id)).toEqual([id]);

    await eventually(async () => (await statusOf(id, alice.token)) === 'stopped', 30_000, 'stopped');
    await new Promise((r) => setTimeout(r, 500));
    await bobStream.stop();
    expect(bobStream.frames.filter((f) => f.data?.id === id)).toEqual([]);
    expect(await statusOf(id, alice.token)).toBe('stopped'); // untouched by Bob's attempts
  });

  it('viewers read but cannot change; admins see everyone', async () => {
    const viewer = await newUser('viewer');
    const op = await newUser('operator');
    const id = (await call('POST', '/api/servers', { token: op.token, json: imageServer('seen', { start: false }) }))
      .body.id;
    expect((await call('GET', `/api/servers/${id}`, { token: viewer.token })).status).toBe(200);
    const denied = await call('POST', '/api/servers', { token: viewer.token, json: imageServer('nope') });
    expect(denied.status).toBe(403);
    expect((await call('POST', `/api/servers/${id}/start`, { token: viewer.token })).status).toBe(403);
    expect((await call('POST', '/api/users', { token: op.token, json: { email: 'x@example.test' } })).status).toBe(403);
    const all = await call('GET', '/api/servers?limit=500', { token: h.adminToken });
    expect(all.body.map((s: { id: number }) => s.id)).toContain(id);
  });

  it('enforces the quota even under concurrent creates', async () => {
    const op = await newUser('operator', 2);
    const attempts = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        call('POST', '/api/servers', { token: op.token, json: imageServer(`q${n}`, { start: false }) }),
      ),
    );
    expect(attempts.filter((r) => r.status === 201)).toHaveLength(2);
    const refused = attempts.filter((r) => r.status !== 201);
    expect(refused.every((r) => r.status === 409 && r.body.error.code === 'quota_exceeded')).toBe(true);
    expect(await h.sql`select id from mcp_servers where owner_id = ${op.id}`).toHaveLength(2);
  });
});

describe('tokens', () => {
  it('are stored hashed, listed without their secret, and stop working once revoked', async () => {
    const op = await newUser('operator');
    const created = await call('POST', '/api/tokens', { token: op.token, json: { name: 'ci', expires_in_days: 30 } });
    expect(created.status).toBe(201);
    const secret = created.body.token as string;
    expect(secret).toMatch(/^mcph_/);
    const stored = await h.sql`select * from api_tokens where id = ${created.body.id}`;
    expect(JSON.stringify(stored)).not.toContain(secret.slice(5));

    const list = await call('GET', '/api/tokens', { token: secret });
    expect(list.text).not.toContain(secret);
    expect(list.body.map((t: { name: string }) => t.name)).toContain('ci');

    expect((await call('GET', '/api/me', { token: secret })).body.id).toBe(op.id);
    expect((await call('DELETE', `/api/tokens/${created.body.id}`, { token: op.token })).status).toBe(200);
    const after = await call('GET', '/api/me', { token: secret });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthorized');
  });

  it('an operator cannot revoke or mint tokens for someone else', async () => {
    const a = await newUser('operator');
    const b = await newUser('operator');
    const bTokens = await call('GET', '/api/tokens', { token: b.token });
    expect((await call('DELETE', `/api/tokens/${bTokens.body[0].id}`, { token: a.token })).status).toBe(404);
    expect((await call('POST', '/api/tokens', { token: a.token, json: { name: 'x', user_id: b.id } })).status).toBe(
      403,
    );
  });

  it('rate limits self-service token creation (429 with Retry-After), even when requests race; admins provision freely', async () => {
    const op = await newUser('operator');
    const burst = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        call('POST', '/api/tokens', { token: op.token, json: { name: `burst-${i}` } }),
      ),
    );
    const created = burst.filter((r) => r.status === 201).length;
    const limited = burst.filter((r) => r.status === 429);
    // The user's own tokens made in the last minute, the admin-minted one included, count: 10 in all.
    expect(created).toBe(9);
    expect(limited).toHaveLength(5);
    expect(limited[0]!.headers.get('retry-after')).toBe('60');
    expect(limited[0]!.body.error).toMatchObject({ code: 'rate_limited' });
    const [{ n }] = (await h.sql`select count(*)::int as n from api_tokens where user_id = ${op.id}`) as never as [
      { n: number },
    ];
    expect(n).toBe(10);
    expect(
      (await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'provisioned', user_id: op.id } }))
        .status,
    ).toBe(201);
  });
});

describe('bad requests get the documented 4xx, never a 5xx, and change nothing', () => {
  const valid = imageServer('valid-name');
  const cases: [
    string,
    {
      method: string;
      path: string;
      json?: unknown;
      body?: string;
      headers?: Record<string, string>;
      token?: string | null;
    },
    number,
    string?,
  ][] = [
    ['no token', { method: 'GET', path: '/api/servers', token: null }, 401],
    ['garbage token', { method: 'GET', path: '/api/servers', token: 'not-a-real-token-000000' }, 401],
    [
      'malformed auth header',
      { method: 'GET', path: '/api/servers', headers: { authorization: 'Basic abc' }, token: null },
      401,
    ],
    [
      'malformed JSON',
      { method: 'POST', path: '/api/servers', body: '{"name":', headers: { 'content-type': 'application/json' } },
      400,
    ],
    ['JSON array body', { method: 'POST', path: '/api/servers', json: [1, 2] }, 422],
    [
      'non-JSON content type',
      {
        method: 'POST',
        path: '/api/servers',
        body: 'name=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      415,
    ],
    [
      'empty body',
      { method: 'POST', path: '/api/servers', body: '', headers: { 'content-type': 'application/json' } },
      400,
    ],
    ['unknown field', { method: 'POST', path: '/api/servers', json: { ...valid, colour: 'red' } }, 422, 'colour'],
    [
      'unknown source field',
      { method: 'POST', path: '/api/servers', json: { ...valid, source: { type: 'image', image: 'a:1', extra: 1 } } },
      422,
      'source.extra',
    ],
    ['missing name', { method: 'POST', path: '/api/servers', json: { ...valid, name: undefined } }, 422, 'name'],
    ['name wrong type', { method: 'POST', path: '/api/servers', json: { ...valid, name: 42 } }, 422, 'name'],
    [
      'name with path traversal',
      { method: 'POST', path: '/api/servers', json: { ...valid, name: '../../etc' } },
      422,
      'name',
    ],
    ['name too long', { method: 'POST', path: '/api/servers', json: { ...valid, name: 'a'.repeat(64) } }, 422, 'name'],
    [
      'name with SQL',
      { method: 'POST', path: '/api/servers', json: { ...valid, name: "x'; drop table users;--" } },
      422,
      'name',
    ],
    [
      'missing server_type',
      { method: 'POST', path: '/api/servers', json: { ...valid, server_type: undefined } },
      422,
      'server_type',
    ],
    ['missing source', { method: 'POST', path: '/api/servers', json: { ...valid, source: undefined } }, 422, 'source'],
    [
      'unknown source type',
      { method: 'POST', path: '/api/servers', json: { ...valid, source: { type: 'svn', url: 'x' } } },
      422,
      'source.type',
    ],
    [
      'file:// repository',
      {
        method: 'POST',
        path: '/api/servers',
        json: { ...valid, source: { type: 'git', repository: 'file:///etc/passwd' } },
      },
      422,
      'source.repository',
    ],
    [
      'ext:: repository',
      {
        method: 'POST',
        path: '/api/servers',
        json: { ...valid, source: { type: 'git', repository: 'ext::sh -c touch% /tmp/pwned' } },
      },
      422,
      'source.repository',
    ],
    [
      'option-looking repository',
      {
        method: 'POST',
        path: '/api/servers',
        json: { ...valid, source: { type: 'git', repository: '--upload-pack=touch /tmp/x' } },
      },
      422,
      'source.repository',
    ],
    [
      'local path repository',
      { method: 'POST', path: '/api/servers', json: { ...valid, source: { type: 'git', repository: '/srv/repo' } } },
      422,
      'source.repository',
    ],
    [
      'option-looking branch',
      {
        method: 'POST',
        path: '/api/servers',
        json: { ...valid, source: { type: 'git', repository: 'https://example.test/r.git', branch: '--orphan' } },
      },
      422,
      'source.branch',
    ],
    [
      'bad image reference',
      { method: 'POST', path: '/api/servers', json: { ...valid, source: { type: 'image', image: 'UPPER CASE!' } } },
      422,
      'source.image',
    ],
    [
      // Config is plain settings (a key named like a secret is one); a secret is a reference to the store.
      'reference to a secret that does not exist',
      { method: 'POST', path: '/api/servers', json: { ...valid, config: { API_TOKEN: { secret: 'no-such-secret' } } } },
      422,
      'config.API_TOKEN',
    ],
    [
      'nested config value',
      { method: 'POST', path: '/api/servers', json: { ...valid, config: { mode: { deep: true } } } },
      422,
      'config.mode',
    ],
    [
      'egress neither none nor internet',
      { method: 'POST', path: '/api/servers', json: { ...valid, config: { egress: 'everywhere' } } },
      422,
      'config.egress',
    ],
    ['use_gpu as string', { method: 'POST', path: '/api/servers', json: { ...valid, use_gpu: 'yes' } }, 422, 'use_gpu'],
    [
      'oversized body',
      { method: 'POST', path: '/api/servers', json: { ...valid, config: { blob: 'x'.repeat(2 * 1024 * 1024) } } },
      413,
    ],
    ['non-numeric id', { method: 'GET', path: '/api/servers/abc' }, 400, 'id'],
    ['negative id', { method: 'GET', path: '/api/servers/-1' }, 400, 'id'],
    ['id with traversal', { method: 'POST', path: '/api/servers/..%2F..%2Fetc/start' }, 400, 'id'],
    ['id beyond int32', { method: 'GET', path: '/api/servers/99999999999' }, 400, 'id'],
    ['unknown server', { method: 'GET', path: '/api/servers/2147483647' }, 404],
    ['bad status filter', { method: 'GET', path: '/api/servers?status=exploded' }, 422, 'status'],
    ['unknown query parameter', { method: 'GET', path: '/api/servers?owner=1' }, 422, 'owner'],
    ['bad limit', { method: 'GET', path: '/api/servers?limit=100000' }, 422, 'limit'],
    [
      'bad user role',
      { method: 'POST', path: '/api/users', json: { email: 'r@example.test', role: 'root' } },
      422,
      'role',
    ],
    ['bad email', { method: 'POST', path: '/api/users', json: { email: 'not-an-email' } }, 422, 'email'],
    ['token without name', { method: 'POST', path: '/api/tokens', json: {} }, 422, 'name'],
    [
      'token for unknown user',
      { method: 'POST', path: '/api/tokens', json: { name: 'x', user_id: 2147483647 } },
      404,
      'user_id',
    ],
    ['unknown route', { method: 'GET', path: '/api/nothing-here' }, 404],
    ['NUL in a search term', { method: 'GET', path: '/api/marketplace?q=a%00b' }, 422, 'q'],
    [
      'NUL in a config value',
      { method: 'POST', path: '/api/servers', json: { ...valid, name: 'nul-config', config: { MODE: 'a\u0000b' } } },
      422,
    ],
  ];

  it(`has ${cases.length} cases`, () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const [name, req, status, field] of cases) {
    it(`${name} → ${status}${field ? ` naming ${field}` : ''}`, async () => {
      const before =
        await h.sql`select (select count(*) from mcp_servers) as servers, (select count(*) from users) as users, (select count(*) from api_tokens) as tokens`;
      const res = await call(req.method, req.path, {
        token: req.token === null ? undefined : (req.token ?? h.adminToken),
        json: req.json,
        body: req.body,
        headers: req.headers,
      });
      expect(res.status).toBe(status);
      expect(res.body?.error?.code).toEqual(expect.any(String));
      expect(res.body?.error?.message).toEqual(expect.any(String));
      if (field) expect(res.body.error.field).toBe(field);
      const after =
        await h.sql`select (select count(*) from mcp_servers) as servers, (select count(*) from users) as users, (select count(*) from api_tokens) as tokens`;
      expect(after).toEqual(before);
    });
  }
});

describe('every route, enumerated from the OpenAPI document', () => {
  it("answers 401 without a token, and 404/403 with another operator's token", async () => {
    const doc = (await call('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const alice = await newUser('operator');
    const bob = await newUser('operator');
    const server = (
      await call('POST', '/api/servers', { token: alice.token, json: imageServer('guarded', { start: false }) })
    ).body.id;
    await eventually(async () => (await statusOf(server, alice.token)) === 'stopped', 30_000, 'stopped');
    const aliceToken = (await call('GET', '/api/tokens', { token: alice.token })).body[0].id;
    // Valid bodies, so the ownership check (not validation) answers; governance resources are
    // checked against their real owners in governance.int.test.ts.
    const bodies: Record<string, unknown> = {
      '/api/servers/{id}/metrics': { event_type: 'start' },
      '/api/artifacts/{id}/evaluations': { tier: 'silver:Router', policy_requirement: 'baseline', status: 'pass' },
      '/api/evaluations/{id}/status': { governance_notes: 'x' },
      '/api/governance/runs/{id}/status': { status: 'completed' },
      '/api/governance/runs/{id}/steps/{position}': { status: 'completed' },
      '/api/promotions/tracks/{id}': { description: 'x' },
      '/api/servers/{id}': { secret_updates: 'redeploy' },
    };
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/'))) {
      for (const method of Object.keys(item)) {
        const url = path
          .replace('{id}', String(path.startsWith('/api/tokens') ? aliceToken : server))
          .replace('{position}', '1');
        const json = item[method]!.requestBody ? (bodies[path] ?? {}) : undefined;
        const anonymous = await call(method.toUpperCase(), url, { json });
        expect(anonymous.status, `${method} ${path} without a token`).toBe(401);
        if (path.includes('{id}')) {
          const other = await call(method.toUpperCase(), url, { token: bob.token, json });
          const expected = path.endsWith('/webhook') ? [401] : [403, 404];
          expect(expected, `${method} ${path} as another operator: ${other.status} ${other.text}`).toContain(
            other.status,
          );
        }
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(30);
    // Nothing Bob tried changed Alice's server.
    expect((await call('GET', `/api/servers/${server}`, { token: alice.token })).body.status).toBe('stopped');
  });
});

describe('metrics', () => {
  it('serves Prometheus text: request latency by route pattern and ledger gauges, no secrets', async () => {
    const op = await newUser('operator');
    const id = (await call('POST', '/api/servers', { token: op.token, json: imageServer('metered', { start: false }) }))
      .body.id;
    await eventually(async () => (await statusOf(id, op.token)) === 'stopped', 30_000, 'stopped');
    await call('GET', '/api/servers/2147483647', { token: h.adminToken });
    const res = await fetch(`${h.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /mcp_host_http_request_duration_seconds_bucket\{[^}]*route="\/api\/servers\/:id"[^}]*status="404"/,
    );
    expect(text).toMatch(/mcp_host_servers\{status="stopped"\} [1-9]/);
    expect(text).toContain('mcp_host_build_runs');
    expect(text).not.toContain(h.adminToken);
  });

  it('needs an admin or viewer token: no token is a 401, an operator a 403', async () => {
    const scrape = (token?: string) =>
      fetch(`${h.apiUrl}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const anonymous = await scrape();
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await scrape((await newUser('operator')).token)).status).toBe(403);
    const viewer = await scrape((await newUser('viewer')).token);
    expect(viewer.status).toBe(200);
    expect(await viewer.text()).toContain('mcp_host_servers');
  });

  it('counts no posted event in the platform gauges', async () => {
    const op = await newUser('operator');
    const id = (await call('POST', '/api/servers', { token: op.token, json: imageServer('posted', { start: false }) }))
      .body.id;
    const reason = `posted-${Math.random().toString(36).slice(2, 8)}`;
    const details = { attempt: 1, retry_limit: 3, registry_endpoint: 'r/x', platform: 'linux/amd64', reason };
    const posted = await call('POST', `/api/servers/${id}/metrics`, {
      token: op.token,
      json: { event_type: 'push_retry', details },
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    expect(posted.body.posted_by).toBe(op.id);
    // It is the server's telemetry still.
    const events = (await call('GET', `/api/servers/${id}/metrics`, { token: op.token })).body;
    expect(events.map((e: { id: number }) => e.id)).toContain(posted.body.id);
    // A platform event of the same kind does move the gauge: the scrape tells them apart.
    await h.sql`
      insert into usage_metrics (server_id, event_type, details)
      values (${id}, 'push_retry', ${h.sql.json({ ...details, reason: `${reason}-platform` })})`;
    const text = await (
      await fetch(`${h.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } })
    ).text();
    expect(text).toContain(`mcp_host_registry_events{event_type="push_retry",reason="${reason}-platform"} 1`);
    expect(text).not.toContain(`reason="${reason}"`);
  });
});

describe('workflow determinism', () => {
  it('every serverLifecycle history this file produced replays against the current code', async () => {
    const replayed = await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!);
    expect(replayed).toBeGreaterThanOrEqual(5);
  });
});
