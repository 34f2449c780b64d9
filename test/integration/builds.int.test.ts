// git → two platform images → registry (htpasswd auth) → manifest list → ledger, end to end.
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../lib/registry/client.js';
import {
  serverRepository,
  startBuildStack,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  type BuildStack,
} from '../support/build-stack.js';
import { runInImage } from '../support/built-servers.js';
import { commit, createGitRepo, type GitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory, replayTaskQueue } from '../support/histories.js';
import { collectSse, eventually, httpClient } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
// Shared by the tests below: the first builds what the others read.
let serverId: number;
let repo: GitRepo;

/** What the image for `platform` recorded in /arch: `uname -m` of its RUN step. */
const runImage = (image: string, platform: string) =>
  runInImage(stack.docker, image, platform, { Cmd: ['cat', '/arch'] });

beforeAll(async () => {
  stack = await startBuildStack('builds');
  h = await startHarness('builds', stack.env('linux/amd64,linux/arm64'));
  call = httpClient(h.apiUrl);
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('build and publish', () => {
  it('builds both platforms, publishes a manifest list whose entries run, and records the ledger', async () => {
    repo = await createGitRepo({
      dir: join(stack.gitDir, 'hello-mcp'),
      files: {
        Dockerfile: `FROM ${stack.base.reference}\nRUN uname -m > /arch\nEXPOSE 8080\nCMD ["cat", "/arch"]\n`,
        '.dockerignore': 'secrets.txt\n',
        'secrets.txt': 'must not reach the build context\n',
      },
    });
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'hello',
        server_type: 'Router',
        source: { type: 'git', repository: stack.git.url('hello-mcp'), branch: 'main' },
        start: false,
      },
    });
    expect(created.status).toBe(201);
    const id = (serverId = created.body.id as number);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status === 'stopped',
      30_000,
      'created',
    );
    // A build alone (the runtime tests launch): building → ready.
    expect((await call('POST', `/api/servers/${id}/builds`, { token: h.adminToken })).status).toBe(202);
    const server = await eventually(
      async () => {
        const s = (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
        return s.status === 'ready' || s.status === 'error' ? s : undefined;
      },
      240_000,
      'build to finish',
    );
    expect(server.status_reason ?? '', String(server.status_reason)).not.toMatch(/failed/);
    expect(server.status).toBe('ready');
    // The checkout is gone once the images are built.
    expect(existsSync(join(h.env.BUILD_WORK_DIR!, `server-${id}`))).toBe(false);

    const [run] = await h.sql`select * from build_artifact_runs where server_id = ${id}`;
    // Pushed into the owner's own namespace of the registry.
    const repository = await serverRepository(h.sql, id);
    expect(repository).toMatch(new RegExp(`^mcp/owner-${created.body.owner_id}/mcp-custom-${id}$`));
    expect(run).toMatchObject({
      status: 'succeeded',
      source_revision: repo.revision,
      multi_arch: true,
      manifest_tag: 'latest',
      registry_image: `${stack.registryHost}/${repository}:latest`,
      credential_health_status: 'healthy',
    });
    const platforms = await h.sql`select * from build_artifact_platforms where run_id = ${run!.id} order by platform`;
    expect(platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);

    // The registry holds what the ledger says.
    const client = new RegistryClient({
      apiBase: `http://${stack.registryHost}`,
      credentials: { username: REGISTRY_USER, password: REGISTRY_PASSWORD },
    });
    const index = await client.getManifest(repository, 'latest');
    expect(index.digest).toBe(run!.manifest_digest);
    const entries = (index.body.manifests ?? []) as {
      digest: string;
      size: number;
      platform: { architecture: string };
    }[];
    expect(entries.map((e) => e.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const p of platforms) {
      const entry = entries.find((e) => `linux/${e.platform.architecture}` === p.platform)!;
      expect(entry.digest).toBe(p.digest);
      expect(entry.size).toBe(Number(p.size));
    }
    const byRevision = await client.headManifest(repository, repo.revision.slice(0, 12));
    expect(byRevision?.digest).toBe(run!.manifest_digest);

    // Provenance travels with the image.
    const labels = (await stack.docker.getImage(`mcp-custom-${id}-linux_arm64:latest`).inspect()).Config.Labels;
    expect(labels).toMatchObject({ 'mcp-host.server-id': String(id), 'mcp-host.revision': repo.revision });

    // Each entry runs as its own architecture.
    const image = `${stack.registryHost}/${repository}`;
    expect(await runImage(`${image}:latest-linux_amd64`, 'linux/amd64')).toBe('x86_64');
    expect(await runImage(`${image}:latest-linux_arm64`, 'linux/arm64')).toBe('aarch64');

    // Telemetry with the catalogue's names and keys.
    const events = await h.sql<{ event_type: string; details: Record<string, unknown> }[]>`
      select event_type, details from usage_metrics where server_id = ${id} order by id`;
    const names = events.map((e) => e.event_type);
    for (const name of [
      'tag_started',
      'tag_succeeded',
      'auth_health_reported',
      'push_started',
      'push_succeeded',
      'manifest_published',
    ]) {
      expect(names).toContain(name);
    }
    const published = events.find((e) => e.event_type === 'manifest_published')!.details;
    expect(published).toMatchObject({
      tag: 'latest',
      digest: run!.manifest_digest,
      architectures: ['linux/amd64', 'linux/arm64'],
    });
    for (const e of events.filter((e) => e.event_type.startsWith('push_'))) {
      expect(Object.keys(e.details)).toEqual(
        expect.arrayContaining(['attempt', 'retry_limit', 'registry_endpoint', 'platform']),
      );
    }
    // Build logs were kept; the ignored file never reached the daemon; no secret in any log or event.
    const logs = await h.sql<{ line: string }[]>`select line from build_logs where run_id = ${run!.id} order by id`;
    expect(logs.length).toBeGreaterThan(5);
    const everything = JSON.stringify([logs, events]);
    expect(everything).not.toContain(REGISTRY_PASSWORD);
    recordHistory(h.env.TEMPORAL_ADDRESS!, run!.workflow_id, 'build-and-publish-two-platforms');
  });
});

describe('builds, logs and telemetry over the API', () => {
  it('lists runs with platforms and serves the build log, live stream included', async () => {
    const runs = await call('GET', `/api/servers/${serverId}/builds`, { token: h.adminToken });
    expect(runs.status).toBe(200);
    expect(runs.body).toHaveLength(1);
    const run = runs.body[0];
    expect(run).toMatchObject({ status: 'succeeded', source_revision: repo.revision, multi_arch: true });
    expect(run.platforms.map((p: { platform: string }) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect((await call('GET', `/api/builds/${run.id}`, { token: h.adminToken })).body.manifest_digest).toBe(
      run.manifest_digest,
    );

    const lines = await call('GET', `/api/builds/${run.id}/logs`, { token: h.adminToken });
    expect(lines.body.some((l: { line: string }) => l.line.startsWith('Manifest list published'))).toBe(true);
    // The stream of a finished build replays every line, then ends by itself.
    const stream = collectSse(`${h.apiUrl}/api/builds/${run.id}/logs/stream`, h.adminToken);
    await eventually(async () => stream.frames.some((f) => f.event === 'end'), 15_000, 'end of the log stream');
    await stream.stop();
    expect(stream.frames.filter((f) => f.event === 'log').length).toBe(lines.body.length);
  });

  it('pages metrics newest first, validates posted registry events with 422, and streams them', async () => {
    const page1 = await call('GET', `/api/servers/${serverId}/metrics?limit=3`, { token: h.adminToken });
    expect(page1.body).toHaveLength(3);
    const ids = page1.body.map((m: { id: number }) => m.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    const page2 = await call('GET', `/api/servers/${serverId}/metrics?limit=3&before=${ids.at(-1)}`, {
      token: h.adminToken,
    });
    expect(page2.body[0].id).toBeLessThan(ids.at(-1));

    const bad = await call('POST', `/api/servers/${serverId}/metrics`, {
      token: h.adminToken,
      json: { event_type: 'push_failed', details: { attempt: 1, retry_limit: 3 } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('details.registry_endpoint');

    const stream = collectSse(`${h.apiUrl}/api/servers/${serverId}/metrics/stream`, h.adminToken);
    await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 10_000, 'stream ready');
    const details = {
      attempt: 2,
      retry_limit: 5,
      registry_endpoint: 'r/mcp-custom-1',
      platform: 'linux/amd64',
      reason: 'retryable_error',
      error: 'x',
    };
    const good = await call('POST', `/api/servers/${serverId}/metrics`, {
      token: h.adminToken,
      json: { event_type: 'push_retry', details },
    });
    expect(good.status).toBe(201);
    await eventually(
      async () => stream.frames.some((f) => f.event === 'metric' && f.data.id === good.body.id),
      10_000,
      'streamed metric',
    );
    await stream.stop();
    expect(stream.frames.find((f) => f.data?.id === good.body.id)!.data.details).toEqual(details);
  });

  it('rebuilds on a signed push webhook and refuses unsigned ones', async () => {
    const secret = await call('POST', `/api/servers/${serverId}/webhook-secret`, { token: h.adminToken });
    expect(secret.status).toBe(201);
    const revision = await commit(repo, { 'README.md': 'second revision\n' }, 'second');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: revision });
    const sign = (key: string) => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
    const post = (signature: string | undefined, event = 'push') =>
      fetch(`${h.apiUrl}/api/servers/${serverId}/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': event,
          ...(signature && { 'x-hub-signature-256': signature }),
        },
        body,
      });
    expect((await post(undefined)).status).toBe(401);
    expect((await post(sign('wrong-secret'))).status).toBe(401);
    expect((await post(sign(secret.body.webhook_secret), 'ping')).status).toBe(200);
    expect((await post(sign(secret.body.webhook_secret))).status).toBe(202);

    const run = await eventually(
      async () => {
        const [r] =
          await h.sql`select * from build_artifact_runs where server_id = ${serverId} and source_revision = ${revision}`;
        return r && r.status !== 'running' ? r : undefined;
      },
      240_000,
      'the webhook build',
    );
    expect(run.status).toBe('succeeded');
    await eventually(
      async () => (await call('GET', `/api/servers/${serverId}`, { token: h.adminToken })).body.status === 'ready',
      30_000,
      'ready',
    );
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(serverId), 'server-lifecycle-git-two-builds-open');
  });

  it('checks credentials on a schedule and rotates them on demand', async () => {
    const status = await call('GET', '/api/registry/credentials', { token: h.adminToken });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ registry: `http://${stack.registryHost}/mcp`, configured: true });
    expect(status.body.schedule.next_runs.length).toBeGreaterThan(0);
    const rotated = await call('POST', '/api/registry/credentials/rotate', { token: h.adminToken });
    expect(rotated.status).toBe(200);
    // No refresh command configured: the check runs and says so, nothing is rotated.
    expect(rotated.body.latest).toMatchObject({
      trigger: 'manual',
      status: 'healthy',
      rotation_configured: false,
      rotation_attempted: false,
    });
    expect(JSON.stringify(rotated.body)).not.toContain(REGISTRY_PASSWORD);
  });
});

describe('secrets', () => {
  it('never reach the API and worker logs, in clear or as the dockerconfig auth value', async () => {
    const logs = ['builds-api.log', 'builds-worker.log']
      .map((f) => readFileSync(join(DATA_DIR, 'test-logs', f), 'utf8'))
      .join('\n');
    expect(logs.length).toBeGreaterThan(1000); // the logs are there, and were written
    expect(logs).toContain('manifest_published');
    expect(logs).not.toContain(REGISTRY_PASSWORD);
    expect(logs).not.toContain(Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64'));
    expect(logs).not.toContain(h.adminToken);
  });
});

describe('workflow determinism', () => {
  it('every lifecycle, build and credential history of this file replays against the current code', async () => {
    expect(await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThanOrEqual(4);
  });
});
