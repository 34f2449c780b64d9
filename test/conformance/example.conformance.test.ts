// npm run test:conformance: the official MCP conformance suite's server scenarios against
// examples/conformance-mcp started here on loopback, with no stack — what a developer runs after touching
// the example. The integration run does the same, then runs them again through mcp-host's gateway
// (test/integration/conformance.int.test.ts). The example's stdio mode answers too.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import {
  EXAMPLE_SERVER,
  notPassing,
  runServerScenarios,
  serverScenarios,
  startExampleServer,
  summary,
  type ExampleServer,
} from '../support/conformance.js';

let server: ExampleServer;
beforeAll(async () => {
  server = await startExampleServer();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe('examples/conformance-mcp', () => {
  it('passes every server scenario of the suite, active and pending, without a warning', async () => {
    const t = Date.now();
    const [scenarios, outcomes] = await Promise.all([serverScenarios(), runServerScenarios(server.url)]);
    console.log(`conformance suite against ${server.url} in ${Date.now() - t} ms:\n${summary(outcomes)}`);
    expect(scenarios.length).toBeGreaterThanOrEqual(30);
    expect([...outcomes.keys()].sort()).toEqual([...scenarios].sort());
    expect(notPassing(outcomes)).toEqual([]);
  }, 300_000);

  it('refuses what is not an MCP request in a session with 4xx and a JSON body that says why', async () => {
    const post = (body: string, headers: Record<string, string> = {}, url = server.url) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body,
      });
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const cases: [string, Response, number, RegExp][] = [
      ['not JSON', await post('{"jsonrpc":'), 400, /Parse error/],
      ['no session, not initialize', await post(ping), 400, /no Mcp-Session-Id/],
      ['unknown session', await post(ping, { 'mcp-session-id': 'no-such-session' }), 404, /Session not found/],
      ['foreign Origin', await post(ping, { origin: 'http://evil.example.com' }), 403, /Invalid Origin header/],
      ['too large', await post(`"${'x'.repeat(5 * 1024 * 1024)}"`), 413, /larger than/],
      ['another path', await post(ping, {}, new URL('/other', server.url).toString()), 404, /MCP endpoint is \/mcp/],
      ['PUT', await fetch(server.url, { method: 'PUT' }), 405, /Method not allowed/],
    ];
    for (const [what, res, status, message] of cases) {
      expect(res.status, what).toBe(status);
      expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
      expect(await res.text(), what).toMatch(message);
    }
  });

  it('speaks stdio with --stdio: the same tools, resources and prompts', async () => {
    const client = new Client({ name: 'conformance-stdio-check', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({ command: process.execPath, args: [EXAMPLE_SERVER, '--stdio'], cwd: PROJECT_ROOT }),
    );
    try {
      expect(client.getServerVersion()).toMatchObject({ name: 'conformance-mcp' });
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('test_simple_text');
      expect(await client.callTool({ name: 'test_simple_text' })).toMatchObject({
        content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
      });
      expect((await client.readResource({ uri: 'test://template/7/data' })).contents[0]).toMatchObject({
        uri: 'test://template/7/data',
        text: JSON.stringify({ id: '7', templateTest: true, data: 'Data for ID: 7' }),
      });
      expect((await client.listPrompts()).prompts).toHaveLength(4);
    } finally {
      await client.close();
    }
  }, 60_000);
});
