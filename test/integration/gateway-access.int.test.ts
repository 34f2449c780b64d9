// Names carry a gwa- prefix: every test file of a run shares one database (and the bootstrap admin).
// Who may reach what through the gateway, and what it records: the official SDK Client through
// `/mcp/<id>` to examples/hello-mcp built from git and launched by mcp-host. A client token granted one
// tool lists and calls only that tool (403 and a JSON-RPC error on the other, audited as denied);
// another tenant's server is 404; no token is 401 with resource metadata; access tokens of a real
// OpenID Connect provider (oidc-provider, client_credentials with a resource indicator) work for the
// right audience only; rate and session limits answer 429 with Retry-After; the audit lists the calls
// in keyset pages, never stores arguments the server did not opt in to, and its SSE tail delivers new rows.
import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';

let stack: BuildStack;
let h: Harness;
let oidc: TestOidcProvider;
let call: ReturnType<typeof httpClient>;

const MARKER = `gwa-marker-${Math.random().toString(36).slice(2)}`;
const RATE_PER_TOKEN = 12;
const MAX_SESSIONS = 3;

const exampleRepo = (name: string) => helloMcpRepo(stack, name);

async function newOperator() {
  const email = `gwa-op-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
  const token = await call('POST', '/api/tokens', {
    token: h.adminToken,
    json: { name: 'gwa', user_id: user.body.id },
  });
  return { id: user.body.id as number, email, token: token.body.token as string };
}

async function connect(id: number, token: string) {
  const client = new Client({ name: 'gateway-access-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.apiUrl}/mcp/${id}`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

/** One JSON-RPC request, outside any session (hello-mcp keeps none). */
function rpc(id: number, token: string | undefined, method: string, params: unknown = {}) {
  return fetch(`${h.apiUrl}/mcp/${id}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...(token && { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
}

const initialize = (id: number, token: string) =>
  rpc(id, token, 'initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'gwa', version: '1' },
  });

beforeAll(async () => {
  stack = await startBuildStack('gateway-access');
  oidc = await startOidcProvider();
  h = await startHarness('gateway-access', {
    ...stack.env('linux/amd64'),
    GATEWAY_OIDC_ISSUER: oidc.issuer,
    GATEWAY_RATE_PER_TOKEN: `${RATE_PER_TOKEN}/min`,
    GATEWAY_MAX_SESSIONS_PER_TOKEN: String(MAX_SESSIONS),
  });
  call = httpClient(h.apiUrl);
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await oidc?.close();
  await stack?.stop();
});

describe('client tokens, tenants and OpenID Connect at /mcp/<id>', () => {
  let owner: Awaited<ReturnType<typeof newOperator>>;
  let other: Awaited<ReturnType<typeof newOperator>>;
  let id: number;
  let laptop: { id: number; token: string };

  it("runs the owner's server and makes a client token granted one tool glob", async () => {
    owner = await newOperator();
    other = await newOperator();
    await exampleRepo('hello-mcp');
    const created = await call('POST', '/api/servers', {
      token: owner.token,
      json: {
        name: 'gwa-hello',
        server_type: 'Example',
        source: { type: 'git', repository: stack.git.url('hello-mcp') },
      },
    });
    expect(created.status, created.text).toBe(201);
    id = created.body.id;
    const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');

    const made = await call('POST', '/api/tokens', {
      token: owner.token,
      json: { name: 'laptop', gateway: { servers: [id], tools: ['ec*'] } },
    });
    expect(made.status, made.text).toBe(201);
    expect(made.body.gateway).toEqual({ servers: [id], tools: ['ec*'], resources: [], prompts: [] });
    laptop = { id: made.body.id, token: made.body.token };
  });

  it('refuses grants naming an unknown server or one of another owner, naming the field', async () => {
    const unknown = await call('POST', '/api/tokens', {
      token: owner.token,
      json: { name: 'x', gateway: { servers: [id, 2_000_000_000], tools: ['*'] } },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({ field: 'gateway.servers.1' });
    const foreign = await call('POST', '/api/tokens', {
      token: other.token,
      json: { name: 'x', gateway: { servers: [id], tools: ['*'] } },
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.error).toMatchObject({
      field: 'gateway.servers.0',
      message: expect.stringContaining('not found'),
    });
  });

  it('refuses a client token at /api with 403', async () => {
    const res = await call('GET', '/api/servers', { token: laptop.token });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'gateway_token', message: expect.stringContaining('/mcp') });
  });

  it('lists exactly the granted tool, calls it, and refuses the other with 403 and a JSON-RPC error', async () => {
    const client = await connect(id, laptop.token);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect(await client.callTool({ name: 'echo', arguments: { text: MARKER } })).toEqual({
      content: [{ type: 'text', text: MARKER }],
    });
    await expect(client.callTool({ name: 'arch', arguments: {} })).rejects.toMatchObject({ code: 403 });
    await client.close();

    const refused = await rpc(id, laptop.token, 'tools/call', { name: 'arch', arguments: {} });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      error: { code: expect.any(Number), message: expect.stringContaining('tool arch') },
    });
  });

  it("answers another tenant's server with 404 and a missing token with 401 and resource metadata", async () => {
    const foreign = await rpc(id, other.token, 'tools/list');
    expect(foreign.status).toBe(404);
    const anonymous = await rpc(id, undefined, 'tools/list');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${h.apiUrl}/.well-known/oauth-protected-resource/mcp/${id}"`,
    );
    const metadata = await (await fetch(`${h.apiUrl}/.well-known/oauth-protected-resource/mcp/${id}`)).json();
    expect(metadata).toMatchObject({ resource: `${h.apiUrl}/mcp/${id}`, authorization_servers: [oidc.issuer] });
  });

  it('accepts an OpenID Connect access token for this endpoint or the gateway, and 401s another audience', async () => {
    const wrong = await oidc.token(`${h.apiUrl}/mcp/${id + 1000}`, owner.email);
    const refused = await rpc(id, wrong, 'tools/list');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect(((await refused.json()) as any).error.message).toMatch(/audience/);

    const unknownUser = await oidc.token(`${h.apiUrl}/mcp/${id}`, 'nobody@example.test');
    expect((await rpc(id, unknownUser, 'tools/list')).status).toBe(401);

    for (const resource of [`${h.apiUrl}/mcp/${id}`, `${h.apiUrl}/mcp`]) {
      const client = await connect(id, await oidc.token(resource, owner.email));
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'arch']);
      await client.close();
    }
    // The OIDC subject is another tenant's user: that server is not theirs.
    expect((await rpc(id, await oidc.token(`${h.apiUrl}/mcp/${id}`, other.email), 'tools/list')).status).toBe(404);
  });
});

describe('limits', () => {
  let id: number;
  let token: string;

  beforeAll(async () => {
    const [server] = await h.sql<{ id: number; owner_id: number }[]>`
      select id, owner_id from mcp_servers where name = 'gwa-hello'`;
    id = server!.id;
    const made = await call('POST', '/api/tokens', {
      token: h.adminToken,
      json: { name: 'gwa-limits', user_id: server!.owner_id, gateway: { servers: '*', tools: ['*'] } },
    });
    token = made.body.token;
  });

  it('answers requests past the rate per token with 429, Retry-After and a JSON-RPC error', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < RATE_PER_TOKEN + 2 && !limited; i++) {
      const res = await rpc(id, token, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
      else await res.text();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(RATE_PER_TOKEN);
    expect(limited, statuses.join(',')).toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited!.json()).toMatchObject({ jsonrpc: '2.0', id: 1, error: { message: /rate limit/ } });
  });

  it('refuses a session past the maximum per token with 429', async () => {
    const made = await call('POST', '/api/tokens', {
      token: h.adminToken,
      json: { name: 'gwa-sessions', gateway: { servers: '*', tools: ['*'] } },
    });
    const sessions: string[] = [];
    for (let i = 0; i < MAX_SESSIONS; i++) {
      const res = await initialize(id, made.body.token);
      expect(res.status, await res.text()).toBe(200);
      sessions.push(res.headers.get('mcp-session-id')!);
    }
    expect(new Set(sessions).size).toBe(MAX_SESSIONS);
    const refused = await initialize(id, made.body.token);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as any).error.message).toMatch(/open sessions/);
    const [row] = await h.sql<{ n: number }[]>`
      select count(*)::int as n from gateway_open_sessions where holder = ${`token:${made.body.id}`}`;
    expect(row!.n).toBe(MAX_SESSIONS);
  });
});

describe('the audit of gateway calls', () => {
  let ownerToken: string;
  let otherToken: string;
  let id: number;
  let laptopId: number;

  beforeAll(async () => {
    const [server] = await h.sql<{ id: number; owner_id: number }[]>`
      select id, owner_id from mcp_servers where name = 'gwa-hello'`;
    id = server!.id;
    const [laptop] = await h.sql<{ id: number }[]>`select id from api_tokens where name = 'laptop'`;
    laptopId = laptop!.id;
    const owner = await call('POST', '/api/tokens', {
      token: h.adminToken,
      json: { name: 'gwa-audit', user_id: server!.owner_id },
    });
    ownerToken = owner.body.token;
    otherToken = (await newOperator()).token;
  });

  it('lists the calls of a token, the denied one included, newest first in keyset pages', async () => {
    const rows = await eventually(async () => {
      const res = await call('GET', `/api/gateway/audit?token=${laptopId}&limit=1000`, { token: ownerToken });
      expect(res.status, res.text).toBe(200);
      return res.body.some((r: any) => r.outcome === 'denied' && r.method === 'tools/call') && res.body;
    });
    const calls = rows.filter((r: any) => r.method === 'tools/call');
    expect(calls.find((r: any) => r.name === 'echo')).toMatchObject({
      outcome: 'ok',
      http_status: 200,
      server_id: id,
      token_id: laptopId,
      subject: `token:${laptopId}`,
      arguments: null,
      arguments_digest: createHash('sha256')
        .update(JSON.stringify({ text: MARKER }))
        .digest('hex'),
    });
    expect(
      calls.filter((r: any) => r.name === 'arch').map((r: any) => [r.outcome, r.http_status]),
      JSON.stringify(rows),
    ).toEqual([
      ['denied', 403],
      ['denied', 403],
    ]);
    expect(rows.some((r: any) => r.method === 'tools/list' && r.outcome === 'ok')).toBe(true);
    expect(rows.some((r: any) => r.method === 'initialize')).toBe(true);
    const ids = rows.map((r: any) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));

    // Pages of two: each page's X-Next-Before leads to the next, without overlap or gap.
    const paged: number[] = [];
    let before: string | null = null;
    for (;;) {
      const page: any = await call(
        'GET',
        `/api/gateway/audit?token=${laptopId}&limit=2${before ? `&before=${before}` : ''}`,
        {
          token: ownerToken,
        },
      );
      paged.push(...page.body.map((r: any) => r.id));
      before = page.headers.get('x-next-before');
      if (!before) break;
    }
    expect(paged).toEqual(ids);

    const denied = await call('GET', `/api/gateway/audit?server=${id}&outcome=denied`, { token: ownerToken });
    expect(denied.body.length).toBeGreaterThanOrEqual(2);
    expect(denied.body.every((r: any) => r.outcome === 'denied')).toBe(true);
    // The limits' refusals came moments ago: the audit writes in batches, so wait for theirs.
    await eventually(async () => {
      const limited = await call('GET', `/api/gateway/audit?server=${id}&outcome=rate-limited`, { token: ownerToken });
      return limited.body.length >= 1 && limited.body.every((r: any) => r.outcome === 'rate-limited');
    });
  });

  it('never stores arguments the server did not opt in to', async () => {
    const [row] = await h.sql<{ n: number }[]>`
      select count(*)::int as n from gateway_audit where arguments::text like ${`%${MARKER}%`}
        or coalesce(error, '') like ${`%${MARKER}%`}`;
    expect(row!.n).toBe(0);
    const all = await call('GET', `/api/gateway/audit?limit=1000`, { token: h.adminToken });
    expect(all.text).not.toContain(MARKER);
  });

  it("shows an operator none of another owner's calls, and refuses bad filters with 422 naming them", async () => {
    const res = await call('GET', `/api/gateway/audit?server=${id}`, { token: otherToken });
    expect(res.status).toBe(200);
    expect(res.body.filter((r: any) => r.server_id === id && r.outcome !== 'denied')).toEqual([]);
    const bad = await call('GET', '/api/gateway/audit?outcome=maybe', { token: ownerToken });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('outcome');
    const since = await call('GET', '/api/gateway/audit?since=yesterday', { token: ownerToken });
    expect(since.status).toBe(422);
  });

  it('delivers a new call on the SSE tail', async () => {
    const stream = collectSse(`${h.apiUrl}/api/gateway/audit/stream?server=${id}&method=tools%2Fcall`, ownerToken);
    try {
      await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'the ready frame');
      const client = await connect(id, h.adminToken);
      await client.callTool({ name: 'echo', arguments: { text: 'tailed' } });
      await client.close();
      const frame = await eventually(
        async () => stream.frames.find((f) => f.event === 'audit' && f.data.name === 'echo'),
        15_000,
        'the audit frame',
      );
      expect(frame.data).toMatchObject({
        server_id: id,
        method: 'tools/call',
        outcome: 'ok',
        subject: expect.any(String),
      });
      expect(Number(frame.id)).toBe(frame.data.id);
    } finally {
      await stream.stop();
    }
  });
});
