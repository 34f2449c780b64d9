// Names carry a gw- prefix: every test file of a run shares one database (and the bootstrap admin).
// The gateway end to end: the official SDK Client, over Streamable HTTP, through `/mcp/<id>` to servers
// mcp-host built from git and launched, and to a recording server the ledger points at (to see what
// crosses the hop upstream). Sessions outlive an API restart, move between two gateway processes
// behind a round-robin proxy, and end with a 404 when the server is redeployed under them.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordEndpoint } from '../../lib/ledger/runtime.js';
import { startApi } from '../../scripts/stack/app.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { freePort, type ManagedProcess } from '../../scripts/stack/process.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/mcp-upstream.js';
import { runMcpctl } from '../support/mcpctl.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let upstream: RecordingUpstream;
const logDir = join(PROJECT_ROOT, '.data', 'test-logs');

const exampleRepo = (name: string) => helloMcpRepo(stack, name);

const waitFor = (id: number, statuses: string[], what: string) => waitForStatus(call, h.adminToken, id, statuses, what);

async function connect(baseUrl: string, id: number, token: string, sessionId?: string) {
  const client = new Client({ name: 'gateway-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: 'assistant',
    model: 'test-model',
    content: { type: 'text', text: `re: ${(req.params.messages[0]!.content as { text: string }).text}` },
  }));
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp/${id}`), {
    sessionId,
    requestInit: { headers: { authorization: `Bearer ${token}`, cookie: 'mcp_host_session=must-not-travel' } },
  });
  await client.connect(transport);
  return { client, transport };
}

async function newOperator() {
  const email = `gw-op-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
  const token = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'gw', user_id: user.body.id } });
  return token.body.token as string;
}

/** A round-robin HTTP proxy: each request goes to the next backend, streams piped both ways. */
async function roundRobin(backends: string[]) {
  const served = backends.map(() => 0);
  let next = 0;
  const server: Server = createServer((req, res) => {
    const i = next++ % backends.length;
    served[i]!++;
    const target = new URL(backends[i]!);
    const out = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  stack = await startBuildStack('gateway');
  h = await startHarness('gateway', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  upstream = await startRecordingUpstream();
}, 300_000);
afterAll(async () => {
  await upstream?.close();
  await h?.stop();
  await stack?.stop();
});

describe('the gateway in front of a server built from git', () => {
  let id: number;

  it('relays initialize, tools/list and tools/call to examples/hello-mcp', async () => {
    await exampleRepo('hello-mcp');
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'gw-hello',
        server_type: 'Example',
        source: { type: 'git', repository: stack.git.url('hello-mcp') },
      },
    });
    id = created.body.id;
    const server = await waitFor(id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');

    const { client, transport } = await connect(h.apiUrl, id, h.adminToken);
    expect(client.getServerVersion()).toMatchObject({ name: 'hello-mcp' });
    // hello-mcp keeps no session; the gateway's own binds the client to this launch.
    expect(transport.sessionId).toMatch(/^[\w-]+\.[\w-]+$/);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'arch']);
    expect(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).toEqual({
      content: [{ type: 'text', text: 'hi' }],
    });
    await client.close();
  });

  it('serves the client configuration, and mcpctl connects, lists tools and calls one through the gateway', async () => {
    const config = await call('GET', `/api/servers/${id}/client-config`, { token: h.adminToken });
    expect(config.status).toBe(200);
    const url = `${h.apiUrl}/mcp/${id}`;
    expect(config.body).toMatchObject({
      url,
      transport: 'streamable-http',
      headers: { Authorization: 'Bearer <YOUR_TOKEN>' },
      mcpServers: { 'gw-hello': { type: 'streamable-http', url, headers: { Authorization: 'Bearer <YOUR_TOKEN>' } } },
    });
    expect(Object.keys(config.body.clients).sort()).toEqual(['claude', 'cursor', 'vscode']);
    expect(config.body.clients.cursor.config).toEqual({
      mcpServers: { 'gw-hello': { url, headers: { Authorization: 'Bearer <YOUR_TOKEN>' } } },
    });
    const vscode = await call('GET', `/api/servers/${id}/client-config?client=vscode`, { token: h.adminToken });
    expect(Object.keys(vscode.body.clients)).toEqual(['vscode']);
    expect(vscode.body.clients.vscode.config.servers['gw-hello']).toMatchObject({ type: 'http', url });
    const refusedClient = await call('GET', `/api/servers/${id}/client-config?client=emacs`, { token: h.adminToken });
    expect(refusedClient.status).toBe(422);
    expect(refusedClient.body.error.field).toBe('client');

    const connect = await runMcpctl(h, ['servers', 'connect', String(id), '--client', 'cursor']);
    expect(connect.code, connect.stderr).toBe(0);
    expect(JSON.parse(connect.stdout)).toEqual(config.body.clients.cursor.config);
    expect(connect.stderr).toContain('~/.cursor/mcp.json');
    const tools = await runMcpctl(h, ['servers', 'tools', String(id)]);
    expect(tools.code, tools.stderr).toBe(0);
    expect(tools.stdout).toMatch(/echo\s+Echo the given text back/);
    const called = await runMcpctl(h, ['servers', 'call', String(id), 'echo', '--args', '{"text":"hi"}']);
    expect(called, called.stderr).toMatchObject({ code: 0, stdout: 'hi\n' });
    const other = await newOperator();
    const refused = await runMcpctl(h, ['servers', 'tools', String(id)], { MCPCTL_TOKEN: other });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`server ${id} not found`);
  });

  it('answers 401 with resource metadata without a token, and serves that metadata', async () => {
    const res = await fetch(`${h.apiUrl}/mcp/${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(401);
    const metadataUrl = `${h.apiUrl}/.well-known/oauth-protected-resource/mcp/${id}`;
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl}"`);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    const metadata = await (await fetch(metadataUrl)).json();
    expect(metadata).toMatchObject({ resource: `${h.apiUrl}/mcp/${id}`, bearer_methods_supported: ['header'] });
  });

  it("refuses another tenant's server and unknown ids with 404, and a foreign Origin with 403", async () => {
    const other = await newOperator();
    await expect(connect(h.apiUrl, id, other)).rejects.toMatchObject({ code: 404 });
    await expect(connect(h.apiUrl, 999_999, h.adminToken)).rejects.toMatchObject({ code: 404 });
    const res = await fetch(`${h.apiUrl}/mcp/${id}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.adminToken}`,
        origin: 'http://evil.example',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(403);
  });

  it('keeps a session through an API restart', async () => {
    const { client, transport } = await connect(h.apiUrl, id, h.adminToken);
    const sessionId = transport.sessionId!;
    await h.api.kill();
    h.api = await startApi(h.env, join(logDir, 'gateway-api.log'));
    // The same session id, verified by the new process from the secret in the ledger.
    expect(transport.sessionId).toBe(sessionId);
    expect(await client.callTool({ name: 'echo', arguments: { text: 'after restart' } })).toEqual({
      content: [{ type: 'text', text: 'after restart' }],
    });
    await client.close();
  });

  it('carries one session across two gateway processes behind a round-robin proxy', async () => {
    const port = await freePort();
    let second: ManagedProcess | undefined;
    const proxy = await roundRobin([h.apiUrl, `http://127.0.0.1:${port}`]);
    try {
      second = await startApi({ ...h.env, BIND_PORT: String(port) }, join(logDir, 'gateway-api-2.log'));
      const { client } = await connect(proxy.url, id, h.adminToken);
      for (let i = 0; i < 6; i++) {
        expect(await client.callTool({ name: 'echo', arguments: { text: `hop ${i}` } })).toEqual({
          content: [{ type: 'text', text: `hop ${i}` }],
        });
      }
      await client.close();
      expect(proxy.served.every((n) => n >= 3)).toBe(true);
    } finally {
      await second?.stop();
      await proxy.close();
    }
  });

  it('answers a session of the previous launch with 404 after a redeploy; the client starts a new one', async () => {
    const { client } = await connect(h.apiUrl, id, h.adminToken);
    const [before] = await h.sql`select started_at from server_runtimes where server_id = ${id}`;
    expect((await call('POST', `/api/servers/${id}/redeploy`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => {
        const [now] = await h.sql`select started_at, endpoint from server_runtimes where server_id = ${id}`;
        const s = (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
        return s.status === 'running' && now?.endpoint && now.started_at.getTime() !== before!.started_at.getTime();
      },
      240_000,
      'running again after the redeploy',
    );
    const err = await client.listTools().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect((err as StreamableHTTPError).code).toBe(404);
    await client.close();
    const again = await connect(h.apiUrl, id, h.adminToken);
    expect((await again.client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'arch']);
    await again.client.close();
  });

  it('answers 503 with Retry-After and a JSON-RPC error while the server is stopped', async () => {
    expect((await call('POST', `/api/servers/${id}/stop`, { token: h.adminToken })).status).toBe(202);
    await waitFor(id, ['stopped'], 'stopped');
    const res = await eventually(async () => {
      const r = await fetch(`${h.apiUrl}/mcp/${id}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.adminToken}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }),
      });
      return r.status === 503 ? r : undefined;
    }, 10_000);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toMatchObject({
      jsonrpc: '2.0',
      id: 7,
      error: { message: expect.stringMatching(/not running/) },
    });
  });
});

describe('what crosses the hop to the hosted server', () => {
  let id: number;

  beforeAll(async () => {
    // A server record whose runtime the ledger points at the recording server in this process.
    const built = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'gw-recorded',
        server_type: 'Example',
        source: { type: 'git', repository: stack.git.url('hello-mcp') },
      },
    });
    id = built.body.id;
    await waitFor(id, ['running'], 'running');
    await recordEndpoint(h.sql, id, upstream.url);
  }, 300_000);

  it('never forwards the client token or cookies; forwards the trace context; relays sampling, progress and cancellation', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { client } = await connect(h.apiUrl, id, h.adminToken);
    upstream.seen.length = 0;
    const traced = await fetch(`${h.apiUrl}/mcp/${id}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.adminToken}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
      }),
    });
    expect(traced.status).toBe(200);
    await traced.body?.cancel();

    expect(await client.callTool({ name: 'ask', arguments: { q: 'ping?' } })).toEqual({
      content: [{ type: 'text', text: 'sampled: re: ping?' }],
    });
    const progress: number[] = [];
    expect(
      await client.callTool({ name: 'slow', arguments: { steps: 3 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      }),
    ).toEqual({ content: [{ type: 'text', text: 'done 3' }] });
    expect(progress).toEqual([1, 2, 3]);
    const controller = new AbortController();
    const cancelled = client.callTool({ name: 'slow', arguments: { steps: 50 } }, undefined, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    await expect(cancelled).rejects.toThrow(/abort/i);
    await eventually(async () => upstream.cancelled > 0, 10_000, 'the server saw the cancellation');
    await client.close();

    expect(upstream.seen.length).toBeGreaterThan(4);
    for (const { headers } of upstream.seen) {
      expect(headers.authorization).toBeUndefined();
      expect(headers.cookie).toBeUndefined();
    }
    const sessions = new Set(upstream.seen.map((s) => s.headers['mcp-session-id']).filter(Boolean));
    // The server's own session ids, never the gateway's signed wrapper.
    for (const s of sessions) expect(s).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.seen.some((s) => String(s.headers.traceparent ?? '').includes(traceId))).toBe(true);
  });

  it('counts relayed requests in /metrics', async () => {
    const metrics = await (
      await fetch(`${h.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } })
    ).text();
    expect(metrics).toMatch(
      new RegExp(`mcp_gateway_requests_total\\{server="${id}",method="tools/call",outcome="ok"\\} \\d+`),
    );
    expect(metrics).toContain('mcp_gateway_request_duration_seconds_bucket');
    expect(metrics).toContain('mcp_gateway_open_sessions');
  });

  it('holds one rate limit per token across two gateway processes behind a round-robin proxy', async () => {
    const rate = 8; // a minute's worth is the burst: 8 requests, then about one every 7.5 s
    const env = { ...h.env, GATEWAY_RATE_PER_TOKEN: `${rate}/min` };
    const replicas: ManagedProcess[] = [];
    const backends: string[] = [];
    try {
      for (const i of [1, 2]) {
        const port = await freePort();
        replicas.push(await startApi({ ...env, BIND_PORT: String(port) }, join(logDir, `gateway-api-rate-${i}.log`)));
        backends.push(`http://127.0.0.1:${port}`);
      }
      const proxy = await roundRobin(backends);
      try {
        const made = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'gw-rate' } });
        expect(made.status, made.text).toBe(201);
        const { client } = await connect(proxy.url, id, made.body.token);
        let admitted = 1; // the initialize
        const refused: number[] = [];
        const began = Date.now();
        for (let i = 0; i < 2 * rate + 4; i++) {
          const answer = await client
            .callTool({ name: 'echo', arguments: { text: `call ${i}` } })
            .catch((e: unknown) => e);
          if (answer instanceof StreamableHTTPError) refused.push(answer.code ?? 0);
          else if (answer instanceof Error) throw answer;
          else admitted++;
        }
        const refills = Math.ceil(((Date.now() - began) / 60_000) * rate);
        await client.close();
        // Each replica counting alone would admit twice the rate (16 here) and twice the refills, which
        // the bound below stays clear of by rate − 2.
        // Shared, each replica decides on its copy, which misses what the other took since its last
        // reconciliation: with one call at a time, one call over per replica where the bucket runs dry,
        // and each token refilled meanwhile may be seen by both copies before either is charged for it.
        const replicaCount = backends.length;
        expect(admitted).toBeGreaterThanOrEqual(rate);
        expect(admitted).toBeLessThanOrEqual(rate + replicaCount * (1 + refills));
        expect(new Set(refused)).toEqual(new Set([429]));
        expect(proxy.served.every((n) => n >= rate)).toBe(true);
        const [bucket] = await h.sql<{ tokens: number }[]>`
          select tokens from gateway_rate_buckets where bucket like 'token:%' order by refilled_at desc limit 1`;
        expect(bucket!.tokens).toBeLessThan(1);
      } finally {
        await proxy.close();
      }
    } finally {
      for (const r of replicas) await r.stop();
    }
  });
});
