// Names carry an rt- prefix: every test file of a run shares one database (and the bootstrap admin).
// Hosting for real: the example MCP server goes from a git repository to a running container that
// answers MCP, with logs, decisions and manifest over the API; it survives API and worker restarts,
// stops, and is deleted with nothing left behind.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startApi } from '../../scripts/stack/app.js';
import { serverRepository, startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { recordHistory } from '../support/histories.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

/** examples/hello-mcp as a git repository, built FROM the hub-less busybox base. */
async function exampleRepo(name: string, dockerfileName = 'Dockerfile') {
  const dir = join(PROJECT_ROOT, 'examples', 'hello-mcp');
  const dockerfile = readFileSync(join(dir, dockerfileName), 'utf8').replace(
    /^FROM .*$/m,
    `FROM ${stack.base.reference}`,
  );
  return createGitRepo({
    dir: join(stack.gitDir, name),
    files: { Dockerfile: dockerfile, 'mcp.cgi': readFileSync(join(dir, 'mcp.cgi'), 'utf8') },
  });
}

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

    // The container: labelled, the built image, config as environment, restarted unless stopped.
    const inspected = await container(id).inspect();
    expect(inspected.Config.Labels).toMatchObject({ 'mcp-host.server-id': String(id), 'mcp-host.managed': 'true' });
    expect(inspected.Config.Image).toBe(decision.image);
    expect(inspected.Config.Env).toEqual(
      expect.arrayContaining(['GREETING=hi there', 'LEVEL=3', `MCP_SERVER_ID=${id}`]),
    );
    expect(inspected.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
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
    const [decision] = (await call('GET', `/api/servers/${fromImage}/decisions`, { token: h.adminToken })).body;
    expect(decision).toMatchObject({ image, requires_build: false, launchable: true });
    await call('DELETE', `/api/servers/${fromImage}`, { token: h.adminToken });
  });

  it('runs a stdio MCP server, checked by attaching to the container', async () => {
    await exampleRepo('hello-stdio', 'Dockerfile.stdio');
    const stdioServer = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'rt-stdio',
          server_type: 'Example',
          source: { type: 'git', repository: stack.git.url('hello-stdio') },
        },
      })
    ).body.id;
    const server = await waitFor(stdioServer, ['running', 'unhealthy', 'error'], 'stdio server running');
    expect(server.status, server.status_reason).toBe('running');
    const manifest = (await call('GET', `/api/servers/${stdioServer}/manifest`, { token: h.adminToken })).body;
    expect(manifest.tools.map((t: { name: string }) => t.name)).toEqual(['echo', 'arch']);
    const [runtime] = await h.sql`select transport, endpoint from server_runtimes where server_id = ${stdioServer}`;
    expect(runtime).toEqual({ transport: 'stdio', endpoint: null });
    expect((await container(stdioServer).inspect()).HostConfig.NetworkMode).toBe('none');
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
