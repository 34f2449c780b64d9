// The aggregated gateway endpoint for real: examples/hello-mcp built from git and launched twice by
// mcp-host (servers `a` and `b` of one operator), another operator's server beside them, and the
// official SDK Client on {api}/mcp. It lists and calls both servers' tools under <server>__<tool>,
// never sees the other tenant's, hears tools/list_changed when a server stops, and keeps its session
// across a restart of the API that serves the gateway.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../scripts/stack/app.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
const clients: Client[] = [];

async function newOperator() {
  const email = `gwagg-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
  expect(user.status).toBe(201);
  const token = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'gw', user_id: user.body.id } });
  expect(token.status).toBe(201);
  return token.body.token as string;
}

async function launch(token: string, name: string): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token,
    json: { name, server_type: 'Example', source: { type: 'git', repository: stack.git.url('gwagg-hello') } },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id as number;
}

async function running(token: string, id: number) {
  const server = await waitForStatus(call, token, id, ['running', 'unhealthy', 'error'], `server ${id} running`);
  expect(server.status, server.status_reason).toBe('running');
}

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'gwagg-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${h.apiUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  clients.push(client);
  return client;
}

const toolNames = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]!.text;

let alice: string;
let bob: string;
let a: number;
let b: number;

beforeAll(async () => {
  stack = await startBuildStack('gwagg');
  h = await startHarness('gwagg', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  await helloMcpRepo(stack, 'gwagg-hello');
  alice = await newOperator();
  bob = await newOperator();
  a = await launch(alice, 'a');
  b = await launch(alice, 'b');
  const c = await launch(bob, 'c');
  await Promise.all([running(alice, a), running(alice, b), running(bob, c)]);
}, 600_000);
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {});
  await h?.stop();
  await stack?.stop();
});

describe('the aggregated endpoint /mcp', () => {
  let client: Client;

  it("lists and calls both of an operator's servers, and nothing of another tenant's", async () => {
    client = await connect(alice);
    expect(client.getServerCapabilities()?.tools).toMatchObject({ listChanged: true });
    expect(await toolNames(client)).toEqual(['a__arch', 'a__echo', 'b__arch', 'b__echo']);
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: 'from-a' } }))).toBe('from-a');
    expect(text(await client.callTool({ name: 'b__echo', arguments: { text: 'from-b' } }))).toBe('from-b');
    const foreign = await client.callTool({ name: 'c__echo', arguments: { text: 'x' } }).catch((e: Error) => e);
    expect(String(foreign)).toMatch(/unknown tool/);

    const other = await connect(bob);
    expect(await toolNames(other)).toEqual(['c__arch', 'c__echo']);
    // A session is its principal's: bob presenting alice's session id is told there is no such session.
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const stolen = await fetch(`${h.apiUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${bob}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(stolen.status).toBe(404);
    // Without a token: 401 pointing at the protected-resource metadata.
    const anonymous = await fetch(`${h.apiUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/resource_metadata=".*\/mcp"/);
  });

  it('sends tools/list_changed when a server stops, and the list shrinks', async () => {
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    expect((await call('POST', `/api/servers/${b}/stop`, { token: alice })).status).toBe(202);
    await waitForStatus(call, alice, b, ['stopped'], 'b stopped');
    await eventually(async () => changed > 0, 30_000, 'tools/list_changed');
    expect(await toolNames(client)).toEqual(['a__arch', 'a__echo']);
    const stopped = await client.callTool({ name: 'b__echo', arguments: { text: 'x' } }).catch((e: Error) => e);
    expect(String(stopped)).toMatch(/not running/);
  });

  it('keeps the session across a restart of the API that serves the gateway', async () => {
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId;
    await h.api.kill();
    h.api = await startApi(h.env, join(PROJECT_ROOT, '.data', 'test-logs', 'gwagg-api-2.log'));
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: 'after' } }))).toBe('after');
    expect((client.transport as StreamableHTTPClientTransport).sessionId).toBe(sessionId);
    expect(await toolNames(client)).toEqual(['a__arch', 'a__echo']);
  });
});
