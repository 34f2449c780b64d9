// The relay against a real MCP server (the SDK's, in this process) with the official SDK Client,
// its ledger replaced by a route the test controls: what each part is asked and what each refusal
// looks like. The real stack's version is test/integration/gateway.int.test.ts.
import type { Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseEnvironment } from '../lib/env.js';
import type { ServerRoute } from '../lib/ledger/runtime.js';
import { everyOwner, ownerScope } from '../lib/ledger/scope.js';
import { createLogger } from '../lib/logger.js';
import { startRecordingUpstream, type RecordingUpstream } from '../test/support/mcp-upstream.js';
import { createGateway } from './app.js';
import { serveGateway } from './http.js';
import type { GatewayAuditEntry, GatewayPrincipal, LimitVerdict } from './contracts.js';

const principal = (tokenId: number, extra: Partial<GatewayPrincipal> = {}): GatewayPrincipal => ({
  userId: tokenId,
  email: `u${tokenId}@example.test`,
  role: 'operator',
  tokenId,
  subject: `token:${tokenId}`,
  scope: ownerScope(1),
  grants: null,
  ...extra,
});

const PRINCIPALS: Record<string, GatewayPrincipal> = {
  'Bearer owner-token-0000000001': principal(1),
  'Bearer other-owner-token-0002': principal(2, { scope: ownerScope(2) }),
  'Bearer same-owner-token-00003': principal(3),
  'Bearer granted-echo-token-004': principal(4, {
    grants: { servers: [1], tools: ['echo'], resources: [], prompts: [] },
  }),
  'Bearer admin-token-0000000005': principal(5, { role: 'admin', scope: everyOwner }),
};

let upstream: RecordingUpstream;
let server: Server;
let base: string;
let route: ServerRoute;
const audit: GatewayAuditEntry[] = [];
let verdict: LimitVerdict = { ok: true };

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const globMatch = (globs: string[], name: string) =>
    globs.some((g) => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(name));
  const gateway = createGateway({
    sql: {} as never,
    env: parseEnvironment({
      GATEWAY_SESSION_SECRET: 'a-test-secret-of-at-least-32-characters',
      GATEWAY_ALLOWED_ORIGINS: 'https://app.example',
    }),
    log: createLogger('relay-test', 'silent'),
    registry: new Registry(),
    authenticate: async (header) =>
      (header && PRINCIPALS[header]) || { status: 401, message: 'invalid, expired or revoked token' },
    routes: { get: async (id) => (id === 1 ? route : undefined), invalidate: () => {} },
    parts: {
      audit: { record: (e) => void audit.push(e), flush: async () => {}, close: async () => {} },
      limits: { check: () => verdict, openSession: async () => ({ ok: true }) },
      access: {
        allowsServer: (p, id) => p.grants === null || p.grants.servers === '*' || p.grants.servers.includes(id),
        allowsItem: (p, _id, kind, name) => p.grants === null || (kind === 'tool' && globMatch(p.grants.tools, name)),
        filterList: (p, _id, method, result) => {
          if (p.grants === null || method !== 'tools/list') return result;
          const r = result as { tools: { name: string }[] };
          return { ...r, tools: r.tools.filter((t) => globMatch(p.grants!.tools, t.name)) };
        },
      },
    },
  });
  server = serveGateway({ gateway, fetch: gateway.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await upstream?.close();
  server?.close();
});

beforeEach(() => {
  route = {
    serverId: 1,
    ownerId: 1,
    name: 'recorded',
    status: 'running',
    transport: 'streamable-http',
    endpoint: upstream.url,
    generation: '7.1000',
    auditArguments: false,
  };
  audit.length = 0;
  verdict = { ok: true };
});

async function connect(token: string, sessionId?: string) {
  const client = new Client({ name: 'relay-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/1`), {
    sessionId,
    requestInit: { headers: { authorization: token } },
  });
  await client.connect(transport);
  return { client, transport };
}

const post = (body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${base}/mcp/1`, {
    signal,
    method: 'POST',
    headers: {
      authorization: 'Bearer owner-token-0000000001',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe('the relay', () => {
  it('carries a session: initialize, list, call, each audited once with its name and outcome', async () => {
    const { client, transport } = await connect('Bearer owner-token-0000000001');
    expect(transport.sessionId).toMatch(/^[\w-]+\.[\w-]+$/);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'ask', 'slow']);
    expect(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).toEqual({
      content: [{ type: 'text', text: 'hi' }],
    });
    await client.close();
    const rows = audit.map((e) => [e.method, e.name, e.outcome]);
    expect(rows).toEqual([
      ['initialize', null, 'ok'],
      ['notifications/initialized', null, 'ok'],
      ['tools/list', null, 'ok'],
      ['tools/call', 'echo', 'ok'],
    ]);
    const call = audit.find((e) => e.method === 'tools/call')!;
    expect(call).toMatchObject({ serverId: 1, ownerId: 1, subject: 'token:1', tokenId: 1, httpStatus: 200 });
    expect(call.argumentsDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(call.arguments).toBeNull();
    expect(call.sessionId).toBe(transport.sessionId);
    expect(call.responseBytes).toBeGreaterThan(0);
  });

  it('cuts list results to the grant and refuses calls outside it with 403, audited as denied', async () => {
    const { client } = await connect('Bearer granted-echo-token-004');
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    await expect(client.callTool({ name: 'slow', arguments: { steps: 1 } })).rejects.toMatchObject({ code: 403 });
    expect(audit.at(-1)).toMatchObject({ method: 'tools/call', name: 'slow', outcome: 'denied', httpStatus: 403 });
    await client.close();
  });

  it('refuses a session presented by another principal, even of the same owner, with 404', async () => {
    const { client, transport } = await connect('Bearer owner-token-0000000001');
    // Given a session id, the SDK client skips initialize: its first request carries the session.
    const other = await connect('Bearer same-owner-token-00003', transport.sessionId);
    await expect(other.client.listTools()).rejects.toMatchObject({ code: 404 });
    expect((await client.listTools()).tools).toHaveLength(3);
    await Promise.all([client.close(), other.client.close()]);
  });

  it("answers 404 for another owner's server, and for a forged session id", async () => {
    await expect(connect('Bearer other-owner-token-0002')).rejects.toMatchObject({ code: 404 });
    const forged = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': 'eyJ1IjpudWxsfQ.AAAA' });
    expect(forged.status).toBe(404);
    expect(await forged.json()).toMatchObject({ id: 1, error: { code: -32001 } });
  });

  it('answers 404 to a session of an earlier launch, and 503 with Retry-After while the server is down', async () => {
    const { client } = await connect('Bearer owner-token-0000000001');
    route = { ...route, status: 'redeploying', endpoint: null };
    const down = await client.listTools().catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 503 });
    const res = await post({ jsonrpc: '2.0', id: 9, method: 'ping' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({
      id: 9,
      error: { message: 'server 1 is not running (status redeploying)' },
    });
    route = { ...route, status: 'running', endpoint: upstream.url, generation: '8.2000' };
    await expect(client.listTools()).rejects.toMatchObject({ code: 404 });
    await client.close();
  });

  it('follows health: 503 while unhealthy or in crashloop, served again once running; degraded still served', async () => {
    const { client } = await connect('Bearer owner-token-0000000001');
    for (const status of ['unhealthy', 'crashloop', 'restarting']) {
      route = { ...route, status };
      const res = await post({ jsonrpc: '2.0', id: 3, method: 'ping' });
      expect(res.status, status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
    }
    route = { ...route, status: 'degraded' };
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    route = { ...route, status: 'running' };
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });

  it('keeps the sessions of a drifted server, refuses new ones with the difference (audited), unless drift is allowed', async () => {
    const { client } = await connect('Bearer owner-token-0000000001');
    const reason = 'tools differ from those certified for sha256:abc: added tool shout';
    route = { ...route, status: 'drifted', statusReason: reason };
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    const refused = await connect('Bearer owner-token-0000000001').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 403 });
    expect(String((refused as Error).message)).toContain('added tool shout');
    expect(audit.at(-1)).toMatchObject({
      method: 'initialize',
      outcome: 'denied',
      error: `server 1 refuses new sessions: ${reason}`,
    });
    route = { ...route, driftAllowed: true };
    const allowed = await connect('Bearer owner-token-0000000001');
    await allowed.client.close();
    await client.close();
  });

  it('says a stdio server without a bridge cannot be reached', async () => {
    route = { ...route, transport: 'stdio', endpoint: null };
    const res = await post({ jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/stdio/);
  });

  it('answers 429 with Retry-After when a limit refuses, audited as rate-limited', async () => {
    verdict = { ok: false, reason: 'too many calls', retryAfterSeconds: 3 };
    const res = await post({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(audit.at(-1)).toMatchObject({ method: 'tools/list', outcome: 'rate-limited' });
  });

  it('refuses a foreign Origin with 403, without a token 401 pointing at the metadata', async () => {
    expect((await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { origin: 'http://evil.example' })).status).toBe(403);
    const res = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { authorization: '' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/1"`,
    );
    const metadata = await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp/1`)).json();
    expect(metadata).toEqual({
      resource: `${base}/mcp/1`,
      authorization_servers: [],
      bearer_methods_supported: ['header'],
      resource_name: 'mcp-host gateway',
    });
  });

  it('refuses bodies that are not JSON-RPC with 400 before they reach the server', async () => {
    const seen = upstream.seen.length;
    const res = await fetch(`${base}/mcp/1`, {
      method: 'POST',
      headers: { authorization: 'Bearer owner-token-0000000001', 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(400);
    expect((await post([])).status).toBe(400);
    expect(upstream.seen.length).toBe(seen);
  });

  it('refuses a body larger than MAX_BODY_BYTES with 413, declared or streamed', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(1024 * 1024) } });
    expect((await post(JSON.parse(big))).status).toBe(413);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const res = await fetch(`${base}/mcp/1`, {
      method: 'POST',
      headers: { authorization: 'Bearer owner-token-0000000001', 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  it('passes a stateless request (no session, Mcp-Method and Mcp-Name headers) through', async () => {
    upstream.seen.length = 0;
    const res = await post(
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
      { 'mcp-method': 'tools/call', 'mcp-name': 'echo', 'mcp-protocol-version': '2026-07-28', 'mcp-param-x': '1' },
    );
    // The SDK server wants a session; what matters is that the headers crossed as they were.
    await res.body?.cancel();
    expect(upstream.seen[0]!.headers).toMatchObject({
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      'mcp-protocol-version': '2026-07-28',
      'mcp-param-x': '1',
    });
    expect(upstream.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('relays a cancellation: the client aborts a slow call and the server stops it', async () => {
    const { client } = await connect('Bearer owner-token-0000000001');
    const before = upstream.cancelled;
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { steps: 50 } }, undefined, {
      signal: controller.signal,
      onprogress: () => controller.abort(),
    });
    await expect(call).rejects.toThrow();
    await vi.waitFor(() => expect(upstream.cancelled).toBe(before + 1), { timeout: 10_000 });
    await vi.waitFor(() =>
      expect(audit.find((e) => e.method === 'notifications/cancelled')).toMatchObject({ outcome: 'ok' }),
    );
    await client.close();
  });

  it('audits a call whose client dropped the stream before the answer', async () => {
    const { transport } = await connect('Bearer owner-token-0000000001');
    const controller = new AbortController();
    const res = await post(
      { jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'slow', arguments: { steps: 30 } } },
      { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' },
      controller.signal,
    );
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    controller.abort();
    await vi.waitFor(() =>
      expect(audit.find((e) => e.method === 'tools/call' && e.name === 'slow')).toMatchObject({
        outcome: 'error',
        error: 'the client closed the stream',
      }),
    );
  });

  it('answers CORS preflights for allowed origins only, and lets them read the session id', async () => {
    const preflight = (path: string, origin: string) =>
      fetch(`${base}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, mcp-session-id, mcp-param-x, x-other',
        },
      });
    for (const path of ['/mcp/1', '/mcp']) {
      const ok = await preflight(path, 'https://app.example');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
      const allowed = ok.headers.get('access-control-allow-headers')!.split(', ');
      expect(allowed).toEqual(
        expect.arrayContaining(['authorization', 'mcp-session-id', 'mcp-protocol-version', 'mcp-param-x']),
      );
      expect(allowed).not.toContain('x-other');
      expect(ok.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
      const refused = await preflight(path, 'http://evil.example');
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    }
    const init = await post(
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'browser', version: '1' } },
      },
      { origin: 'https://app.example' },
    );
    await init.body?.cancel();
    expect(init.status).toBe(200);
    expect(init.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(init.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
    expect(init.headers.get('mcp-session-id')).toMatch(/\./);
  });
});
