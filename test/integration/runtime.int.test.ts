// Names carry an rt- prefix: every test file of a run shares one database (and the bootstrap admin).
// Hosting for real: the example MCP server goes from a git repository to a running container that
// answers MCP, with logs, decisions and manifest over the API; it survives API and worker restarts,
// stops, and is deleted with nothing left behind.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startApi } from '../../scripts/stack/app.js';
import { serverRepository, startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { recordHistory } from '../support/histories.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

const exampleRepo = (name: string, dockerfileName?: string) => helloMcpRepo(stack, name, dockerfileName);

const waitFor = (id: number, statuses: string[], what: string) => waitForStatus(call, h.adminToken, id, statuses, what);

const container = (id: number) => stack.docker.getContainer(`mcp-server-${id}`);

beforeAll(async () => {
  stack = await startBuildStack('runtime');
  h = await startHarness('runtime', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('hosting an MCP server', () => {
  let id: number;

  it('builds the example from git and runs it, answering MCP with its tools', async () => {
    await exampleRepo('hello-mcp');
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'rt-hello',
        server_type: 'Example',
        source: { type: 'git', repository: stack.git.url('hello-mcp') },
        config: { GREETING: 'hi there', LEVEL: 3 },
      },
    });
    id = created.body.id;
    const server = await waitFor(id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');
    expect(server.status_reason).toBe('MCP server hello-mcp with 2 tool(s)');

    const manifest = (await call('GET', `/api/servers/${id}/manifest`, { token: h.adminToken })).body;
    expect(manifest).toMatchObject({ name: 'hello-mcp', version: '1.0.0' });
    expect(manifest.tools.map((t: { name: string }) => t.name)).toEqual(['echo', 'arch']);

    // The decision came after the build and names its artifact, pinned by digest.
    const [decision] = (await call('GET', `/api/servers/${id}/decisions`, { token: h.adminToken })).body;
    const [run] = await h.sql`select id, manifest_digest from build_artifact_runs where server_id = ${id}`;
    expect(decision).toMatchObject({
      backend: 'docker',
      launchable: true,
      artifact_run_id: run!.id,
      requires_build: true,
    });
    expect(decision.image).toBe(`${stack.registryHost}/${await serverRepository(h.sql, id)}@${run!.manifest_digest}`);
    expect(decision.notes).toEqual([...decision.notes].sort());

    // The container: labelled, the built image, config as environment, and no restart policy (its
    // supervisor restarts it, with backoff).
    const inspected = await container(id).inspect();
    expect(inspected.Config.Labels).toMatchObject({ 'mcp-host.server-id': String(id), 'mcp-host.managed': 'true' });
    expect(inspected.Config.Image).toBe(decision.image);
    expect(inspected.Config.Env).toEqual(
      expect.arrayContaining(['GREETING=hi there', 'LEVEL=3', `MCP_SERVER_ID=${id}`]),
    );
    expect(inspected.HostConfig.RestartPolicy?.Name).toBe('no');
  });

  it('serves its logs, tail and live', async () => {
    const logs = await call('GET', `/api/servers/${id}/logs`, { token: h.adminToken });
    expect(logs.status).toBe(200);
    expect(logs.text).toMatch(/hello-mcp listening on port \d+/);
    const stream = collectSse(`${h.apiUrl}/api/servers/${id}/logs/stream?tail=5`, h.adminToken);
    await eventually(
      async () => stream.frames.some((f) => f.event === 'log' && /listening/.test(f.data.line)),
      15_000,
      'streamed log line',
    );
    await stream.stop();
  });

  it('shows logs, decisions and VM posture through mcpctl', async () => {
    const mcpctl = async (...args: string[]) =>
      (
        await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'cli', 'bin.mjs'), ...args], {
          env: { PATH: process.env.PATH, MCPCTL_URL: h.apiUrl, MCPCTL_TOKEN: h.adminToken },
        })
      ).stdout;
    expect(await mcpctl('servers', 'logs', String(id), '--tail', '50')).toMatch(/hello-mcp listening on port \d+/);
    const decisions = JSON.parse(await mcpctl('policy', 'decisions', String(id), '--json'));
    expect(decisions[0]).toMatchObject({ backend: 'docker', launchable: true });
    expect(await mcpctl('policy', 'decisions', String(id))).toMatch(/docker/);
    expect(await mcpctl('policy', 'vm', String(id))).toContain('No VM instances recorded for this server');
  });

  it('stops and logs after the API and the worker have restarted', async () => {
    await h.restartWorker({ kill: true });
    await h.api.kill();
    h.api = await startApi(h.env, join(PROJECT_ROOT, '.data', 'test-logs', 'runtime-api.log'));
    expect((await call('GET', `/api/servers/${id}/logs?tail=10`, { token: h.adminToken })).text).toMatch(/listening/);
    expect((await call('POST', `/api/servers/${id}/stop`, { token: h.adminToken })).status).toBe(202);
    await waitFor(id, ['stopped'], 'stopped');
    expect((await container(id).inspect()).State.Running).toBe(false);
    expect((await call('GET', `/api/servers/${id}/logs`, { token: h.adminToken })).text).toMatch(/listening/);
  });

  it('starts the built artifact again without rebuilding, then deletes with nothing left behind', async () => {
    expect((await call('POST', `/api/servers/${id}/start`, { token: h.adminToken })).status).toBe(202);
    await waitFor(id, ['running'], 'running again');
    expect(await h.sql`select 1 from build_artifact_runs where server_id = ${id}`).toHaveLength(1); // same revision: no rebuild
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-git-launch-stop-start-open');

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
    await expect(container(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    for (const table of ['server_runtimes', 'runtime_policy_decisions', 'build_artifact_runs', 'usage_metrics']) {
      expect(await h.sql`select 1 from ${h.sql(table)} where server_id = ${id}`, table).toHaveLength(0);
    }
  });

  it('runs an image source: the image built above, pulled with the registry credentials', async () => {
    await exampleRepo('hello-image');
    const built = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'rt-builder',
          server_type: 'Example',
          source: { type: 'git', repository: stack.git.url('hello-image') },
          start: false,
        },
      })
    ).body.id;
    await waitFor(built, ['stopped'], 'created');
    await call('POST', `/api/servers/${built}/builds`, { token: h.adminToken });
    await waitFor(built, ['ready'], 'built');
    const image = `${stack.registryHost}/${await serverRepository(h.sql, built)}:latest`;
    const fromImage = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: { name: 'rt-from-image', server_type: 'Example', source: { type: 'image', image } },
      })
    ).body.id;
    const server = await waitFor(fromImage, ['running', 'unhealthy', 'error'], 'running from image');
    expect(server.status, server.status_reason).toBe('running');
    // The tag was read once, at the decision: the decision, the ledger and the container name its digest.
    const [decision] = (await call('GET', `/api/servers/${fromImage}/decisions`, { token: h.adminToken })).body;
    const digest = (
      await h.sql<{ manifest_digest: string }[]>`
      select manifest_digest from build_artifact_runs where server_id = ${built} order by id desc limit 1`
    )[0]!.manifest_digest;
    const pinned = `${image.replace(/:latest$/, '')}@${digest}`;
    expect(decision).toMatchObject({ image: pinned, manifest_digest: digest, requires_build: false, launchable: true });
    expect(decision.notes).toContain('image:pinned-by-digest');
    expect(decision.notes).not.toContain('artifact:none');
    expect((await container(fromImage).inspect()).Config.Image).toBe(pinned);
    await call('DELETE', `/api/servers/${fromImage}`, { token: h.adminToken });
  });

  it('runs a stdio MCP server behind the stdio bridge: hardened, on its own network, answering the SDK client at its endpoint', async () => {
    await exampleRepo('hello-stdio', 'Dockerfile.stdio');
    // An earlier bridge's volume that nothing mounts: removed when the worker fills its own.
    const stale = 'mcp-stdio-bridge-amd64-0000000000000000';
    await stack.docker.createVolume({
      Name: stale,
      Labels: { 'mcp-host.managed': 'true', 'mcp-host.stdio-bridge': 'true' },
    });
    const stdioServer = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'rt-stdio',
          server_type: 'Example',
          source: { type: 'git', repository: stack.git.url('hello-stdio') },
          config: { GREETING: 'hi' },
        },
      })
    ).body.id;
    const server = await waitFor(stdioServer, ['running', 'unhealthy', 'error'], 'stdio server running');
    expect(server.status, server.status_reason).toBe('running');
    const manifest = (await call('GET', `/api/servers/${stdioServer}/manifest`, { token: h.adminToken })).body;
    expect(manifest.tools.map((t: { name: string }) => t.name)).toEqual(['echo', 'arch']);

    // Recorded as what clients speak to it; the container says the image speaks stdio behind the bridge.
    const [runtime] = await h.sql<{ transport: string; endpoint: string }[]>`
      select transport, endpoint from server_runtimes where server_id = ${stdioServer}`;
    const inspected = await container(stdioServer).inspect();
    const ip = inspected.NetworkSettings.Networks[`mcp-server-${stdioServer}`]?.IPAddress;
    expect(runtime).toEqual({ transport: 'streamable-http', endpoint: `http://${ip}:8080/mcp` });
    expect(inspected.Config.Labels).toMatchObject({
      'mcp-host.transport': 'streamable-http',
      'mcp-host.bridged-from': 'stdio',
    });
    // The bridge at the entrypoint, the image's own command as its arguments, from a read-only volume.
    expect(inspected.Config.Entrypoint).toEqual([
      '/.mcp-host/stdio-bridge',
      '--',
      '/usr/local/bin/hello-mcp',
      '--stdio',
    ]);
    expect(inspected.Config.Cmd ?? []).toEqual([]);
    expect(inspected.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Destination: '/.mcp-host', RW: false }),
    ]);
    expect(inspected.Mounts[0]!.Name).toMatch(/^mcp-stdio-bridge-amd64-[0-9a-f]{16}$/);
    expect(
      await stack.docker
        .getVolume(stale)
        .inspect()
        .catch((e: { statusCode?: number }) => e.statusCode),
    ).toBe(404);
    // Hardened as any server, on its own network with no egress (stdio's default).
    expect(inspected.Config.User).toBe('65532:65532');
    expect(inspected.HostConfig).toMatchObject({
      NetworkMode: `mcp-server-${stdioServer}`,
      // The bridge is not PID 1: Docker's init is, and reaps what the children leave.
      Init: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Privileged: false,
    });
    expect(inspected.Config.OpenStdin).toBe(false);
    const network = await stack.docker.getNetwork(`mcp-server-${stdioServer}`).inspect();
    expect(network.Options?.['com.docker.network.bridge.name']).toMatch(/^mcpn-[0-9a-f]{10}$/);
    expect(network.Internal).toBe(true);
    // Nothing of the platform's secrets is in what Docker holds of it.
    const everything = JSON.stringify(inspected);
    for (const secret of [h.adminToken, h.env.DATABASE_URL!, new URL(h.env.DATABASE_URL!).password].filter(Boolean))
      expect(everything).not.toContain(secret);
    expect(inspected.Config.Env.filter((e) => !/^(PATH|GREETING|MCP_SERVER_ID|MCP_BRIDGE_\w+|PORT)=/.test(e))).toEqual(
      [],
    );

    // The official SDK client, straight at the recorded endpoint: each session gets a child of its own.
    /** The bridge's children (`docker top`: UID PID PPID … CMD), each a hello-mcp process. */
    const hostProcesses = async () => {
      const top = (await container(stdioServer).top()) as { Titles: string[]; Processes?: string[][] };
      const [pid, ppid, cmd] = ['PID', 'PPID', 'CMD'].map((t) => top.Titles.indexOf(t)) as [number, number, number];
      const rows = top.Processes ?? [];
      const bridge = rows.find((p) => p[cmd]!.startsWith('/.mcp-host/stdio-bridge'));
      expect(bridge, JSON.stringify(rows)).toBeDefined();
      const children = rows.filter((p) => p[ppid] === bridge![pid]);
      for (const c of children) expect(c[cmd]).toContain('hello-mcp --stdio');
      return children;
    };
    const clients = await Promise.all(
      [1, 2].map(async (n) => {
        const transport = new StreamableHTTPClientTransport(new URL(runtime!.endpoint));
        const client = new Client({ name: `rt-client-${n}`, version: '1.0.0' });
        await client.connect(transport);
        return { client, transport };
      }),
    );
    try {
      for (const [n, { client }] of clients.entries()) {
        expect(client.getServerVersion()).toMatchObject({ name: 'hello-mcp', version: '1.0.0' });
        expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'arch']);
        const result = await client.callTool({ name: 'echo', arguments: { text: `hello ${n}` } });
        expect(result.content).toEqual([{ type: 'text', text: `hello ${n}` }]);
      }
      // Two sessions, two children (the health check's session was ended with DELETE, and its child with it).
      await eventually(async () => (await hostProcesses()).length === 2, 10_000, 'one child per session');
      const sessions = clients.map((c) => c.transport.sessionId);
      expect(new Set(sessions).size).toBe(2);
      // Every child runs as the container's unprivileged user.
      for (const p of await hostProcesses()) expect(p[0]).toBe('65532');
      await clients[0]!.transport.terminateSession();
      await eventually(async () => (await hostProcesses()).length === 1, 10_000, "the deleted session's child gone");
      const after = await clients[1]!.client.callTool({ name: 'echo', arguments: { text: 'still here' } });
      expect(after.content).toEqual([{ type: 'text', text: 'still here' }]);
    } finally {
      for (const { client } of clients) await client.close();
    }

    // The children's stderr is the container's log.
    expect((await call('GET', `/api/servers/${stdioServer}/logs`, { token: h.adminToken })).text).toContain(
      'speaking MCP on stdio',
    );
    await call('DELETE', `/api/servers/${stdioServer}`, { token: h.adminToken });
    await eventually(
      async () => (await call('GET', `/api/servers/${stdioServer}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  });

  it('refuses a GPU server on a daemon without GPUs, with the note that says so', async () => {
    const gpu = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'rt-gpu',
          server_type: 'Example',
          source: { type: 'image', image: `${stack.registryHost}/mcp/anything:1` },
          use_gpu: true,
        },
      })
    ).body.id;
    const server = await waitFor(gpu, ['error', 'running'], 'decided');
    expect(server.status).toBe('error');
    expect(server.status_reason).toContain('capabilities:unsatisfied:docker:gpu');
    await expect(container(gpu).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
