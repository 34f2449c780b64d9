// The aggregated gateway endpoint for real: examples/hello-mcp built from git and launched twice by
// mcp-host (servers `a` and `b` of one operator), another operator's server beside them, and the
// official SDK Client on {api}/mcp. It lists and calls both servers' tools under <server>__<tool>,
// never sees the other tenant's, hears tools/list_changed when a server stops, and keeps its session
// across a restart of the API that serves the gateway. A third operator's examples/conformance-mcp
// (sessions, logging, subscriptions) shows what the aggregate relays of a server's own messages, and
// that a client's DELETE ends the session upstream too, for good.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../scripts/stack/app.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { conformanceExampleRepo } from '../support/conformance.js';
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

async function launch(token: string, name: string, repo = 'gwagg-hello'): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token,
    json: { name, server_type: 'Example', source: { type: 'git', repository: stack.git.url(repo) } },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id as number;
}

async function running(token: string, id: number, timeoutMs?: number) {
  const server = await waitForStatus(
    call,
    token,
    id,
    ['running', 'unhealthy', 'error'],
    `server ${id} running`,
    timeoutMs,
  );
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
let carol: string;
let a: number;
let b: number;
let cf: number;

/** A raw request on a session id (the SDK Client forgets its id once it ended the session). */
const onSession = (token: string, sessionId: string) =>
  fetch(`${h.apiUrl}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });

/** How many sessions the conformance server says its clients ended with DELETE (its log, one line each). */
const deletedUpstream = async () => {
  const logs = await stack.docker.getContainer(`mcp-server-${cf}`).logs({ stdout: true, stderr: true });
  return logs.toString('utf8').split('a session ended by the client (DELETE)').length - 1;
};

beforeAll(async () => {
  stack = await startBuildStack('gwagg');
  h = await startHarness('gwagg', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  await Promise.all([helloMcpRepo(stack, 'gwagg-hello'), conformanceExampleRepo(stack, 'gwagg-conformance')]);
  alice = await newOperator();
  bob = await newOperator();
  carol = await newOperator();
  a = await launch(alice, 'a');
  b = await launch(alice, 'b');
  const c = await launch(bob, 'c');
  cf = await launch(carol, 'cf', 'gwagg-conformance');
  await Promise.all([running(alice, a), running(alice, b), running(bob, c), running(carol, cf, 1_080_000)]);
}, 1_200_000); // the Node example's build is the long part (its node_modules travel in the build context)
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

  it("relays a hosted server's log messages under cf/<logger>, and logging/setLevel reaches it", async () => {
    const client = await connect(carol);
    const messages: { level: string; logger?: string }[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params));
    await client.callTool({ name: 'cf__test_tool_with_logging', arguments: {} });
    await eventually(async () => messages.length === 3, 10_000, 'three log messages');
    expect(messages.map((m) => [m.level, m.logger])).toEqual([
      ['info', 'cf/conformance-mcp'],
      ['info', 'cf/conformance-mcp'],
      ['info', 'cf/conformance-mcp'],
    ]);
    // Above info: the server sends none of its info messages (the aggregate passed the level on).
    await client.setLoggingLevel('warning');
    messages.length = 0;
    expect(text(await client.callTool({ name: 'cf__test_tool_with_logging', arguments: {} }))).toMatch(/successfully/);
    await new Promise((r) => setTimeout(r, 500));
    expect(messages).toEqual([]);
  });

  it("passes a resource subscription through, and relays the server's update with the aggregate's uri", async () => {
    const client = await connect(carol);
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    const uri = 'mcp-host://cf/test://watched-resource';
    expect((await client.listResources()).resources.map((r) => r.uri)).toContain(uri);
    await client.subscribeResource({ uri });
    expect(text(await client.callTool({ name: 'cf__test_update_watched_resource', arguments: {} }))).toMatch(/^Sent/);
    await eventually(async () => updated.length > 0, 10_000, 'notifications/resources/updated');
    expect(updated).toEqual([uri]);
    await client.unsubscribeResource({ uri });
    expect(text(await client.callTool({ name: 'cf__test_update_watched_resource', arguments: {} }))).toMatch(
      /^Not subscribed/,
    );
  });

  let deletedSession: string;

  it('ends a session on DELETE, and the upstream session it opened; the id is 404 after', async () => {
    const client = await connect(carol);
    expect(text(await client.callTool({ name: 'cf__test_simple_text', arguments: {} }))).toMatch(/simple text/);
    const transport = client.transport as StreamableHTTPClientTransport;
    deletedSession = transport.sessionId!;
    expect((await onSession(carol, deletedSession)).status).toBe(200);
    const before = await deletedUpstream();
    await transport.terminateSession();
    await eventually(async () => (await deletedUpstream()) === before + 1, 10_000, 'the upstream session DELETEd');
    const after = await onSession(carol, deletedSession);
    expect(after.status).toBe(404);
    expect(await after.json()).toMatchObject({ error: { code: -32001 } });
  });

  it('keeps the session across a restart of the API that serves the gateway', async () => {
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId;
    await h.api.kill();
    h.api = await startApi(h.env, join(PROJECT_ROOT, '.data', 'test-logs', 'gwagg-api-2.log'));
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: 'after' } }))).toBe('after');
    expect((client.transport as StreamableHTTPClientTransport).sessionId).toBe(sessionId);
    expect(await toolNames(client)).toEqual(['a__arch', 'a__echo']);
    // An ended session stays ended for a process that never held it (the ledger's word, not memory).
    expect((await onSession(carol, deletedSession)).status).toBe(404);
  });
});
