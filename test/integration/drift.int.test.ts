// Names carry a dr- prefix and the server types DrEx/DrOk: every test file of a run shares one database.
// Tool drift (issue 18) on the real stack: examples/hello-mcp built from git, with two more tools —
// `grow`, after which its tools/list offers a tool `shout` and a changed input schema of `echo`, and
// `shrink`, which undoes that. The server is certified by an automatic evaluation (the surface it
// certified: echo, arch, grow, shrink as they are at start), then grown through the gateway: within
// a probe interval it goes `drifted` with the difference (a server_events row and an SSE frame), the
// session it has keeps working, a new gateway session is refused with the difference (audited as
// denied). Shrunk, it runs again and takes new sessions. A server of a type whose track allows drift
// goes `drifted` the same way and stays routable. Timings are the HEALTH_* settings, short here as
// in the supervision tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { helloMcpDockerfile } from '../support/mcp-probe.js';
import { FAST_HEALTH, gatewayPost } from '../support/supervised.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let stream: ReturnType<typeof collectSse>;

const admin = () => ({ token: h.adminToken });

const GROWN = '/tmp/hello-mcp-grown';
const TOOL = (name: string, description: string, properties = '{}', required = '') =>
  `{"name":"${name}","description":"${description}","inputSchema":{"type":"object","properties":${properties}${required}}}`;
const CERTIFIED_TOOLS = [
  TOOL('echo', 'Echo the given text back', '{"text":{"type":"string"}}', ',"required":["text"]'),
  TOOL('arch', 'The machine architecture this server runs on'),
  TOOL('grow', 'Offer one more tool, and a wider echo, from now on'),
  TOOL('shrink', 'Offer the tools it started with again'),
];
const GROWN_TOOLS = [
  TOOL(
    'echo',
    'Echo the given text back',
    '{"text":{"type":"string"},"loud":{"type":"boolean"}}',
    ',"required":["text"]',
  ),
  ...CERTIFIED_TOOLS.slice(1),
  TOOL('shout', 'Echo the given text back, louder', '{"text":{"type":"string"}}', ',"required":["text"]'),
];

/**
 * hello-mcp's CGI script with the grow and shrink tools: its tools/list is the certified one until
 * `grow` leaves a flag in /tmp (the server's tmpfs), then the grown one until `shrink` removes it.
 */
function driftingScript(): string {
  const original = readFileSync(join(PROJECT_ROOT, 'examples', 'hello-mcp', 'mcp.cgi'), 'utf8');
  const list = (tools: string[]) => `result '{"tools":[${tools.join(',')}]}'`;
  const script = original
    .replace(
      /^ {4}tools\/list\)\n.*$/m,
      `    tools/list)\n      if [ -e ${GROWN} ]; then ${list(GROWN_TOOLS)}; else ${list(CERTIFIED_TOOLS)}; fi ;;`,
    )
    .replace(
      /^( *)echo\) result /m,
      `$1grow) touch ${GROWN} && result '{"content":[{"type":"text","text":"grown"}]}' ;;\n` +
        `$1shrink) rm -f ${GROWN} && result '{"content":[{"type":"text","text":"shrunk"}]}' ;;\n` +
        `$1echo|shout) result `,
    );
  expect(script).toContain(`touch ${GROWN}`);
  expect(script).toContain('"name":"shout"');
  return script;
}

interface Run {
  id: number;
  manifest_digest: string;
  tier: string;
}

/** An MCP session through `/mcp/<id>` as the admin. */
async function gatewaySession(id: number): Promise<Client> {
  const client = new Client({ name: 'drift-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${h.apiUrl}/mcp/${id}`), {
      requestInit: { headers: { authorization: `Bearer ${h.adminToken}` } },
    }),
  );
  return client;
}

const text = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  ((await client.callTool({ name, arguments: args })) as { content: { text: string }[] }).content[0]!.text;

/** A new session's initialize, as a client sends it: the gateway's answer, status and body. */
async function openSession(id: number) {
  const res = await gatewayPost(h, id, {
    method: 'initialize',
    params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'drift-test', version: '1' } },
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as { error?: { message: string } } | null };
}

/** Creates a git server of the drifting repository, certifies its build automatically; its id and run. */
async function certifiedServer(name: string, type: string): Promise<{ id: number; run: Run }> {
  const created = await call('POST', '/api/servers', {
    ...admin(),
    json: { name, server_type: type, source: { type: 'git', repository: stack.git.url('dr-hello') } },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as number;
  const running = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], `${name} running`);
  expect(running.status, running.status_reason).toBe('running');
  const [run] = await h.sql<Run[]>`
    select id, manifest_digest, tier from build_artifact_runs
    where server_id = ${id} and status = 'succeeded' and manifest_digest is not null order by id desc limit 1`;
  const submitted = await call('POST', `/api/artifacts/${run!.id}/evaluations`, {
    ...admin(),
    json: {
      tier: run!.tier,
      policy_requirement: 'tools',
      evaluate: true,
      expected_tools: ['echo', 'arch', 'grow', 'shrink'],
    },
  });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
  const certified = await eventually(
    async () => {
      const c = (await call('GET', `/api/evaluations/${submitted.body.id}/status`, admin())).body;
      return c.status !== 'pending' && c;
    },
    120_000,
    `${name} evaluated`,
  );
  expect(certified.status, JSON.stringify(certified.evidence)).toBe('pass');
  return { id, run: run! };
}

/** The server's events with this status, oldest first. */
const eventsOf = (id: number, status: string) =>
  h.sql<{ id: number; reason: string | null }[]>`
    select id, reason from server_events where server_id = ${id} and status = ${status} order by id`;

/** The server's first `drifted` event, once there is one (within a few probe intervals). */
const firstDrifted = (id: number) =>
  eventually(async () => (await eventsOf(id, 'drifted'))[0], 10_000, `server ${id} drifted`);

beforeAll(async () => {
  stack = await startBuildStack('drift');
  h = await startHarness('drift', { ...stack.env('linux/amd64'), ...FAST_HEALTH });
  call = httpClient(h.apiUrl);
  await createGitRepo({
    dir: join(stack.gitDir, 'dr-hello'),
    files: { Dockerfile: helloMcpDockerfile(stack.base.reference), 'mcp.cgi': driftingScript() },
  });
  stream = collectSse(`${h.apiUrl}/api/servers/stream`, h.adminToken);
  await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'stream ready');
}, 300_000);
afterAll(async () => {
  await stream?.stop();
  await h?.stop();
  await stack?.stop();
});

const DIFFERENCE = 'added tool shout; changed tool echo: input schema';

describe('a server whose tools change after it was certified', () => {
  let id: number;
  let run: Run;
  let session: Client;

  it('runs with the tools it was certified with', async () => {
    ({ id, run } = await certifiedServer('dr-hello', 'DrEx'));
    // Probed against the certified surface, it stays running.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await call('GET', `/api/servers/${id}`, admin())).body.status).toBe('running');
    expect(await eventsOf(id, 'drifted')).toEqual([]);
    session = await gatewaySession(id);
    expect(await text(session, 'echo', { text: 'certified' })).toBe('certified');
  }, 360_000);

  it('goes drifted within a probe interval, with the difference in server_events and the stream', async () => {
    const grownAt = Date.now();
    expect(await text(session, 'grow')).toBe('grown');
    const drifted = await firstDrifted(id);
    const [row] = await h.sql<{ created_at: Date }[]>`select created_at from server_events where id = ${drifted.id}`;
    // HEALTH_PROBE_INTERVAL_MS is 1 s: the next probe saw it (with room for a loaded machine).
    expect(row!.created_at.getTime() - grownAt).toBeLessThan(5_000);
    expect(drifted.reason).toBe(`tools differ from those certified for ${run.manifest_digest}: ${DIFFERENCE}`);
    const frame = await eventually(
      async () => stream.frames.find((f) => f.data?.id === id && f.data.status === 'drifted'),
      10_000,
      'the drifted frame on the stream',
    );
    expect(frame.data).toMatchObject({ previous_status: 'running', reason: drifted.reason });
    expect((await call('GET', `/api/servers/${id}`, admin())).body).toMatchObject({
      status: 'drifted',
      status_reason: drifted.reason,
    });
  });

  it('keeps the session it has, refuses a new one with the difference, and audits the refusal', async () => {
    // The open session still reaches the server, and sees what it offers now.
    expect(await text(session, 'echo', { text: 'still here' })).toBe('still here');
    expect((await session.listTools()).tools.map((t) => t.name)).toContain('shout');

    const refused = await openSession(id);
    expect(refused.status).toBe(403);
    expect(refused.body?.error?.message).toBe(
      `server ${id} refuses new sessions: tools differ from those certified for ${run.manifest_digest}: ${DIFFERENCE}`,
    );
    const audited = await eventually(
      async () => {
        const [r] = await h.sql<{ outcome: string; http_status: number; error: string | null }[]>`
          select outcome, http_status, error from gateway_audit
          where server_id = ${id} and method = 'initialize' and http_status = 403 order by id desc limit 1`;
        return r;
      },
      15_000,
      'the refusal in the gateway audit',
    );
    expect(audited).toMatchObject({ outcome: 'denied', http_status: 403 });
    expect(audited.error).toContain(DIFFERENCE);
  });

  it('runs again, taking new sessions, once it offers the certified tools again', async () => {
    expect(await text(session, 'shrink')).toBe('shrunk');
    await session.close();
    await waitForStatus(call, h.adminToken, id, ['running'], 'running again', 15_000);
    const fresh = await gatewaySession(id);
    expect(await text(fresh, 'echo', { text: 'back' })).toBe('back');
    await fresh.close();
    // Drift is no failure: nothing was restarted.
    expect(await eventsOf(id, 'restarting')).toEqual([]);
  });
});

describe('a drifted server whose track allows drift', () => {
  it('stays routable: new sessions are taken', async () => {
    const track = await call('POST', '/api/promotions/tracks', {
      ...admin(),
      json: { name: 'dr-lenient', tier: 'DrOk', allow_drift: true },
    });
    expect(track.status, JSON.stringify(track.body)).toBe(201);
    expect(track.body.allow_drift).toBe(true);
    const { id, run } = await certifiedServer('dr-lenient', 'DrOk');
    const session = await gatewaySession(id);
    expect(await text(session, 'grow')).toBe('grown');
    const drifted = await firstDrifted(id);
    expect(drifted.reason).toBe(`tools differ from those certified for ${run.manifest_digest}: ${DIFFERENCE}`);
    const fresh = await gatewaySession(id);
    expect(await text(fresh, 'shout', { text: 'allowed' })).toBe('allowed');
    await fresh.close();
    await session.close();
    expect((await call('GET', `/api/servers/${id}`, admin())).body.status).toBe('drifted');
  }, 360_000);
});
