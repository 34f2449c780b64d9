// The build pipeline under faults: a registry connection reset mid-push, a password change healed by
// the refresher, credentials past their max age, a registry that goes down for good, the worker
// killed mid-push, one platform failing next to a slow one, and what reaches the build context.
// One build stack for the file; one harness per worker configuration (targets and credential
// settings are worker environment). Faults come from the proxy in front of the registry.
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../lib/registry/client.js';
import {
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  serverRepository,
  startBuildStack,
  type BuildStack,
} from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { dockerConfig, dockerConfigJson, writeHtpasswd } from '../support/htpasswd.js';
import { eventually, httpClient } from '../support/http.js';

type Details = Record<string, any>;
interface Metric {
  event_type: string;
  details: Details;
}
interface ServerState {
  status: string;
  status_reason: string | null;
}

// Exactly these detail keys (platform included) for the per-platform registry events.
const ATTEMPT_KEYS = ['attempt', 'retry_limit', 'registry_endpoint', 'platform'];
const CATALOGUE: Record<string, string[]> = {
  tag_started: ['registry_endpoint', 'tag', 'platform'],
  tag_succeeded: ['registry_endpoint', 'tag', 'platform'],
  push_started: ATTEMPT_KEYS,
  push_succeeded: ATTEMPT_KEYS,
  push_failed: [...ATTEMPT_KEYS, 'error', 'error_kind', 'auth_expired'],
  push_retry: [...ATTEMPT_KEYS, 'reason', 'error'],
  auth_refresh_started: ATTEMPT_KEYS,
  auth_refresh_succeeded: ATTEMPT_KEYS,
  auth_refresh_failed: [...ATTEMPT_KEYS, 'error'],
  auth_health_reported: [
    'registry_endpoint',
    'registry',
    'platform',
    'status',
    'observed_at',
    'expires_at',
    'seconds_until_expiry',
    'rotation_recommended',
    'rotation_configured',
    'source_path',
    'message',
  ],
  auth_rotation_started: ['registry_endpoint', 'registry', 'platform', 'status', 'observed_at'],
  auth_rotation_succeeded: ['registry_endpoint', 'registry', 'platform', 'status', 'observed_at'],
  auth_rotation_failed: ['registry_endpoint', 'registry', 'platform', 'status', 'error'],
  auth_rotation_skipped: ['registry_endpoint', 'registry', 'platform', 'status', 'reason'],
};

/** The push of one of this file's images: dockerd's manifest upload, the last request of a push. */
const MANIFEST_PUT = /^PUT \/v2\/mcp\/owner-\d+\/mcp-custom-\d+\/manifests\//;

let stack: BuildStack;

beforeAll(async () => {
  stack = await startBuildStack('build-faults');
}, 300_000);
afterAll(async () => {
  await stack?.stop();
});
// Whatever fault a test armed is gone before the next one starts.
afterEach(() => stack.proxy.setMode('pass'));

// --- helpers ----------------------------------------------------------------------------------

/** A git repository served as `name`, and a server (named `name`) that builds it (a build only: no launch). */
async function createBuildServer(h: Harness, name: string, files: Record<string, string>): Promise<number> {
  await createGitRepo({ dir: join(stack.gitDir, name), files });
  const call = httpClient(h.apiUrl);
  const res = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: {
      name,
      server_type: 'Router',
      source: { type: 'git', repository: stack.git.url(name), branch: 'main' },
      start: false,
    },
  });
  expect(res.status, res.text).toBe(201);
  const id = res.body.id as number;
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body?.status === 'stopped',
    30_000,
    'created',
  );
  expect((await call('POST', `/api/servers/${id}/builds`, { token: h.adminToken })).status).toBe(202);
  return id;
}

/** The server once its build is over (`ready` or `error`). */
function settled(h: Harness, id: number, timeoutMs = 120_000): Promise<ServerState> {
  const call = httpClient(h.apiUrl);
  return eventually(
    async () => {
      const s = (await call<ServerState>('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
      return s?.status === 'ready' || s?.status === 'error' ? s : undefined;
    },
    timeoutMs,
    `server ${id} to finish building`,
  );
}

async function metricsOf(h: Harness, id: number): Promise<Metric[]> {
  return h.sql<Metric[]>`select event_type, details from usage_metrics where server_id = ${id} order by id`;
}

const detailsOf = (metrics: Metric[], event: string) =>
  metrics.filter((m) => m.event_type === event).map((m) => m.details);

/** Every catalogued event carries exactly the catalogue's keys. */
function expectCatalogueKeys(metrics: Metric[]): void {
  for (const m of metrics) {
    const keys = CATALOGUE[m.event_type];
    if (keys) expect(Object.keys(m.details).sort(), m.event_type).toEqual([...keys].sort());
  }
}

async function runsOf(h: Harness, id: number) {
  return h.sql`select * from build_artifact_runs where server_id = ${id} order by id`;
}

async function buildLogOf(h: Harness, runId: number, platform?: string): Promise<string[]> {
  const rows = await h.sql<{ line: string }[]>`
    select line from build_logs
    where run_id = ${runId} and (${platform ?? null}::text is null or platform = ${platform ?? null})
    order by id`;
  return rows.map((r) => r.line);
}

/** Output of `sh -c script` in a container of `image` (with a TTY, so the output is not multiplexed). */
async function runIn(image: string, script: string): Promise<string> {
  const container = await stack.docker.createContainer({
    Image: image,
    // Generated images have an ENTRYPOINT (the server's command): the script replaces it.
    Entrypoint: ['sh', '-c'],
    Cmd: [script],
    Tty: true,
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.start();
    await container.wait();
    // As a stream: a buffered answer that happens to be JSON comes back parsed by docker-modem.
    const stream = await container.logs({ follow: true, stdout: true, stderr: true });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r/g, '').trim();
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** Waits for a daemon progress stream (build, push) to end; fails on an error it reports. */
async function daemonDone(request: Promise<NodeJS.ReadableStream>): Promise<void> {
  const stream = await request;
  const out = await new Promise<{ error?: string }[]>((resolve, reject) =>
    stack.docker.modem.followProgress(stream, (err: Error | null, res: { error?: string }[]) =>
      err ? reject(err) : resolve(res),
    ),
  );
  expect(out.find((m) => m.error)?.error).toBeUndefined();
}

/** The registry itself, bypassing the fault proxy. */
function directRegistry(): RegistryClient {
  return new RegistryClient({
    apiBase: `http://${stack.registry.address}`,
    credentials: { username: REGISTRY_USER, password: REGISTRY_PASSWORD },
  });
}

/** Tags of `repo` as the registry lists them ([] when the repository has none). */
async function registryTags(repo: string): Promise<string[]> {
  const auth = Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64');
  const res = await fetch(`http://${stack.registry.address}/v2/${repo}/tags/list`, {
    headers: { authorization: `Basic ${auth}` },
  });
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
}

/** A dockerconfig of its own for a harness, so credential tests never touch the shared one. */
function ownDockerConfig(name: string, password = REGISTRY_PASSWORD): { dir: string; path: string } {
  const dir = join(stack.dir, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'dockerconfig.json');
  dockerConfig(path, { registry: stack.registryHost, username: REGISTRY_USER, password });
  return { dir, path };
}

/**
 * A REGISTRY_AUTH_REFRESH_COMMAND: a script that writes the dockerconfig at `path` with `password`
 * (fresh mtime) and counts its runs in `<dir>/refreshes`.
 */
function refreshScript(dir: string, path: string, password: string): string {
  const json = JSON.stringify(dockerConfigJson([{ registry: stack.registryHost, username: REGISTRY_USER, password }]));
  const script = join(dir, 'refresh.sh');
  const lines = [
    '#!/bin/sh',
    'set -e',
    `cat > '${path}.tmp' <<'JSON'`,
    json,
    'JSON',
    `mv '${path}.tmp' '${path}'`,
    `echo refreshed >> '${dir}/refreshes'`,
  ];
  writeFileSync(script, `${lines.join('\n')}\n`, { mode: 0o755 });
  return script;
}

const refreshCount = (dir: string) => {
  try {
    return readFileSync(join(dir, 'refreshes'), 'utf8').trim().split('\n').length;
  } catch {
    return 0;
  }
};

const busybox = () => stack.base.reference;

// --- one platform, the stack's own credentials ------------------------------------------------

describe('one platform (linux/amd64)', () => {
  const NODE_STUB = () => `${stack.registryHost}/mcp-test/node-stub:1`;
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness('faults', { ...stack.env('linux/amd64'), BUILD_NODE_BASE_IMAGE: NODE_STUB() });
  }, 240_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('retries a push whose connection was reset, and succeeds on the next attempt', async () => {
    // Cut dockerd's manifest upload of the first attempt: the daemon reports it in its progress stream.
    const resetBefore = stack.proxy.connections.reset;
    stack.proxy.setMode('reset-next', 1, { match: MANIFEST_PUT });
    const id = await createBuildServer(h, 'reset-push', {
      Dockerfile: `FROM ${busybox()}\nRUN echo ok > /ok\nEXPOSE 8080\n`,
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');
    expect(stack.proxy.connections.reset).toBe(resetBefore + 1);

    const metrics = await metricsOf(h, id);
    expectCatalogueKeys(metrics);
    const [failed, ...moreFailures] = detailsOf(metrics, 'push_failed');
    expect(moreFailures).toEqual([]);
    expect(failed).toMatchObject({ attempt: 1, error_kind: 'push', auth_expired: false, platform: 'linux/amd64' });
    expect(failed!.error).toMatch(/^docker push failed: /);
    expect(detailsOf(metrics, 'push_retry')).toEqual([
      expect.objectContaining({ attempt: 1, reason: 'retryable_error' }),
    ]);
    expect(detailsOf(metrics, 'push_started')).toHaveLength(1);
    expect(detailsOf(metrics, 'push_succeeded')).toEqual([expect.objectContaining({ attempt: 2 })]);

    const runs = await runsOf(h, id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded', failure_reason: null });
    const platforms = await h.sql`select platform from build_artifact_platforms where run_id = ${runs[0]!.id}`;
    expect(platforms.map((p) => p.platform)).toEqual(['linux/amd64']);
  });

  it('retries a build whose base-image pull lost its connection, and succeeds on the next attempt', async () => {
    // Cut the daemon's first registry request of the pull (its `GET /v2/` ping): a transport fault,
    // not the Dockerfile's — the build must be retried, not failed.
    const resetBefore = stack.proxy.connections.reset;
    stack.proxy.setMode('reset-next', 1, { match: /^GET \/v2\/ HTTP/ });
    const id = await createBuildServer(h, 'reset-pull', {
      Dockerfile: `FROM ${busybox()}\nRUN echo pulled > /pulled\nEXPOSE 8080\n`,
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');
    expect(stack.proxy.connections.reset).toBe(resetBefore + 1);
    const runs = await runsOf(h, id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded', failure_reason: null });
    const log = await buildLogOf(h, runs[0]!.id, 'linux/amd64');
    expect(log.filter((line) => /could not reach the registry, will retry/.test(line))).toHaveLength(1);
  });

  it('fails the build when the registry goes down mid-push and stays down, leaving no tag behind', async () => {
    // Hold the first attempt's manifest upload (its layers are in), then take the registry down.
    const heldBefore = stack.proxy.connections.held;
    stack.proxy.setMode('hold', 1, { match: MANIFEST_PUT });
    const id = await createBuildServer(h, 'registry-down', {
      Dockerfile: `FROM ${busybox()}\nRUN echo down > /down\nEXPOSE 8080\n`,
    });
    await eventually(async () => stack.proxy.connections.held > heldBefore, 60_000, 'the manifest upload');
    stack.proxy.setMode('down');

    const server = await settled(h, id);
    expect(server.status).toBe('error');
    expect(server.status_reason).toMatch(/docker push failed/);

    const metrics = await metricsOf(h, id);
    expectCatalogueKeys(metrics);
    const failures = detailsOf(metrics, 'push_failed');
    expect(failures.map((f) => f.attempt)).toEqual([1, 2, 3]); // REGISTRY_PUSH_RETRIES attempts
    expect(failures.every((f) => f.error_kind === 'push' && f.auth_expired === false)).toBe(true);
    expect(detailsOf(metrics, 'push_retry').map((r) => r.reason)).toEqual(['retryable_error', 'retryable_error']);
    expect(detailsOf(metrics, 'push_succeeded')).toEqual([]);
    expect(detailsOf(metrics, 'manifest_published')).toEqual([]);

    const runs = await runsOf(h, id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'failed', manifest_digest: null, registry_image: null });
    expect(runs[0]!.failure_reason).toMatch(/docker push failed/);
    expect(await h.sql`select 1 from build_artifact_platforms where run_id = ${runs[0]!.id}`).toHaveLength(0);

    // The registry itself: no manifest list and no per-platform image under any tag.
    const repo = await serverRepository(h.sql, id);
    expect(await directRegistry().headManifest(repo, 'latest')).toBeUndefined();
    expect(await directRegistry().headManifest(repo, 'latest-linux_amd64')).toBeUndefined();
    expect(await registryTags(repo)).toEqual([]);
  });

  it('finishes a push that was under way when the worker was killed, with one ledger run', async () => {
    // Hold the manifest upload so the kill lands while the push activity is certainly running.
    const heldBefore = stack.proxy.connections.held;
    stack.proxy.setMode('hold', 1, { match: MANIFEST_PUT });
    const id = await createBuildServer(h, 'kill-mid-push', {
      Dockerfile: `FROM ${busybox()}\nRUN echo survived > /survived\nEXPOSE 8080\n`,
    });
    await eventually(async () => stack.proxy.connections.held > heldBefore, 60_000, 'the manifest upload');
    expect(detailsOf(await metricsOf(h, id), 'push_started')).toHaveLength(1);
    await h.worker.kill();
    stack.proxy.setMode('pass');
    await h.restartWorker();

    const server = await settled(h, id, 150_000);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');

    const runs = await runsOf(h, id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded' });
    const platforms = await h.sql`select platform, digest from build_artifact_platforms where run_id = ${runs[0]!.id}`;
    expect(platforms.map((p) => p.platform)).toEqual(['linux/amd64']);
    // The killed attempt never finished: the push was redone by the new worker.
    const metrics = await metricsOf(h, id);
    expect(detailsOf(metrics, 'push_started')).toHaveLength(1);
    expect(detailsOf(metrics, 'push_succeeded')).toEqual([expect.objectContaining({ attempt: 2 })]);
    // And what the ledger records is what the registry serves.
    const pushed = await directRegistry().headManifest(await serverRepository(h.sql, id), 'latest-linux_amd64');
    expect(pushed?.digest).toBe(platforms[0]!.digest);
  }, 240_000);

  it('sends the checkout without .git and without what .dockerignore excludes', async () => {
    const id = await createBuildServer(h, 'context-hygiene', {
      Dockerfile: `FROM ${busybox()}\nCOPY . /src\nEXPOSE 8080\n`,
      '.dockerignore': '# not for the image\nsecrets.txt\nlogs/\n',
      'secrets.txt': 'must not reach the build context\n',
      'logs/debug.log': 'neither must this\n',
      'app/keep.txt': 'kept\n',
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');

    const image = `${stack.registryHost}/${await serverRepository(h.sql, id)}:latest-linux_amd64`;
    // Exactly what `docker build` would copy: no .git, no ignored files, nothing of mcp-host's own.
    expect((await runIn(image, 'ls -A /src')).split(/\s+/).sort()).toEqual(['.dockerignore', 'Dockerfile', 'app']);
    expect(await runIn(image, 'cat /src/app/keep.txt')).toBe('kept');
  });

  it('generates a Dockerfile for a Node project without one, from BUILD_NODE_BASE_IMAGE', async () => {
    // The stub Node base: busybox plus an `npm` that only records how it was called, in the working
    // directory: the build stage's /app is what the generated Dockerfile copies into the image.
    const dir = join(stack.dir, 'node-stub');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${busybox()}\nCOPY npm /bin/npm\nRUN chmod 755 /bin/npm\n`);
    writeFileSync(join(dir, 'npm'), '#!/bin/sh\necho "npm $*" >> .npm-calls\n', { mode: 0o755 });
    const auth = { username: REGISTRY_USER, password: REGISTRY_PASSWORD, serveraddress: stack.registryHost };
    await daemonDone(
      stack.docker.buildImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, {
        t: NODE_STUB(),
        platform: 'linux/amd64',
        registryconfig: { [stack.registryHost]: auth },
      }),
    );
    await daemonDone(stack.docker.getImage(NODE_STUB()).push({ authconfig: auth }));

    const id = await createBuildServer(h, 'node-no-dockerfile', {
      'package.json': JSON.stringify({ name: 'node-no-dockerfile', version: '1.0.0', scripts: { start: 'node .' } }),
      'index.js': 'console.log("hello")\n',
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');

    const [run] = await runsOf(h, id);
    const log = await buildLogOf(h, run!.id);
    expect(log).toEqual(expect.arrayContaining([expect.stringMatching(/^No Dockerfile found, generating one/)]));
    const image = `${stack.registryHost}/${await serverRepository(h.sql, id)}:latest-linux_amd64`;
    const app = (await runIn(image, 'ls -A /app')).split(/\s+/);
    expect(app).toEqual(expect.arrayContaining(['package.json', 'index.js']));
    expect(await runIn(image, 'cat /app/package.json')).toContain('"name":"node-no-dockerfile"');
    // Dev dependencies for the build (no build script in this package.json); the production ones are
    // installed in a stage of their own, whose node_modules alone the image gets.
    expect(await runIn(image, 'cat /app/.npm-calls')).toBe('npm install --no-audit --no-fund');
    expect((await stack.docker.getImage(image).inspect()).Config.Entrypoint).toEqual(['npm', 'start']);
  });
});

// --- an auth failure healed by the refresher ----------------------------------------------------

describe('registry password changed, refresher configured', () => {
  const NEW_PASSWORD = 'rotated-secret-8d2e71';
  let h: Harness;
  let config: { dir: string; path: string };

  beforeAll(async () => {
    config = ownDockerConfig('refresh');
    h = await startHarness('faults-refresh', {
      ...stack.env('linux/amd64'),
      REGISTRY_AUTH_DOCKERCONFIG: config.path,
      REGISTRY_AUTH_REFRESH_COMMAND: refreshScript(config.dir, config.path, NEW_PASSWORD),
    });
  }, 240_000);
  afterAll(async () => {
    await h?.stop();
  });
  // The registry's password changes under the worker, whose dockerconfig keeps the old one; its
  // refresher knows the new one. Afterwards the registry takes the stack's password again.
  beforeEach(async () => {
    ownDockerConfig('refresh');
    writeHtpasswd(stack.htpasswdPath, { [REGISTRY_USER]: NEW_PASSWORD });
    await stack.restartRegistry();
  });
  afterEach(async () => {
    writeHtpasswd(stack.htpasswdPath, { [REGISTRY_USER]: REGISTRY_PASSWORD });
    await stack.restartRegistry();
  });

  it('refreshes the credentials after the push is refused and pushes again', async () => {
    const refreshesBefore = refreshCount(config.dir);
    // FROM scratch: the build pulls nothing, so the stale password first meets the registry at the push
    // (a base image from the registry is the next test).
    const id = await createBuildServer(h, 'password-changed', {
      Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\nEXPOSE 8080\n',
      'hello.txt': 'hello\n',
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');
    expect(refreshCount(config.dir)).toBe(refreshesBefore + 1);

    const metrics = await metricsOf(h, id);
    expectCatalogueKeys(metrics);
    const names = metrics.map((m) => m.event_type);
    // In this order: refused, refreshed, retried, pushed.
    const order = ['push_failed', 'auth_refresh_started', 'auth_refresh_succeeded', 'push_retry', 'push_succeeded'];
    expect(names.filter((n) => order.includes(n))).toEqual(order);
    expect(detailsOf(metrics, 'push_failed')[0]).toMatchObject({
      attempt: 1,
      error_kind: 'auth_expired',
      auth_expired: true,
    });
    expect(detailsOf(metrics, 'push_retry')[0]).toMatchObject({ attempt: 1, reason: 'auth_refresh' });
    expect(detailsOf(metrics, 'push_succeeded')[0]).toMatchObject({ attempt: 2 });

    const runs = await runsOf(h, id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded', auth_refresh_attempted: true, auth_refresh_succeeded: true });
    const [platform] = await h.sql`select * from build_artifact_platforms where run_id = ${runs[0]!.id}`;
    expect(platform).toMatchObject({ auth_refresh_attempted: true, auth_refresh_succeeded: true });
    // Neither password reaches a log line or an event.
    const everything = JSON.stringify([metrics, await buildLogOf(h, runs[0]!.id)]);
    expect(everything).not.toContain(REGISTRY_PASSWORD);
    expect(everything).not.toContain(NEW_PASSWORD);
  });

  it('refreshes the credentials the registry refuses for a base image it holds, before pulling it', async () => {
    const refreshesBefore = refreshCount(config.dir);
    const id = await createBuildServer(h, 'password-changed-base', {
      Dockerfile: `FROM ${busybox()}\nRUN echo fresh > /fresh\nEXPOSE 8080\n`,
    });
    const server = await settled(h, id);
    expect(server.status_reason ?? '').not.toMatch(/failed/);
    expect(server.status).toBe('ready');
    expect(refreshCount(config.dir)).toBe(refreshesBefore + 1);
    // The push found fresh credentials: nothing refused, nothing retried.
    const metrics = await metricsOf(h, id);
    expect(detailsOf(metrics, 'push_failed')).toEqual([]);
    expect(detailsOf(metrics, 'push_succeeded')).toEqual([expect.objectContaining({ attempt: 1 })]);
  });
});

// --- credentials past REGISTRY_AUTH_MAX_AGE_SECONDS --------------------------------------------

describe('credentials older than REGISTRY_AUTH_MAX_AGE_SECONDS', () => {
  const TWO_HOURS_AGO = new Date(Date.now() - 2 * 3600_000);

  /** A harness whose dockerconfig (valid, but last written 2 h ago) exceeds a 60 s max age. */
  async function staleCredentialsHarness(name: string, withRefresher: boolean) {
    const config = ownDockerConfig(name);
    const extra: NodeJS.ProcessEnv = {
      REGISTRY_AUTH_DOCKERCONFIG: config.path,
      REGISTRY_AUTH_MAX_AGE_SECONDS: '60',
      REGISTRY_AUTH_ROTATE_LEAD_SECONDS: '10',
    };
    if (withRefresher) extra.REGISTRY_AUTH_REFRESH_COMMAND = refreshScript(config.dir, config.path, REGISTRY_PASSWORD);
    utimesSync(config.path, TWO_HOURS_AGO, TWO_HOURS_AGO);
    const h = await startHarness(name, { ...stack.env('linux/amd64'), ...extra });
    return { h, config };
  }

  it('rotates them through the refresher before the push', async () => {
    const { h, config } = await staleCredentialsHarness('faults-rotate', true);
    try {
      const id = await createBuildServer(h, 'stale-rotated', {
        Dockerfile: `FROM ${busybox()}\nRUN echo rotated > /r\nEXPOSE 8080\n`,
      });
      const server = await settled(h, id);
      expect(server.status).toBe('ready');
      expect(refreshCount(config.dir)).toBe(1);

      const metrics = await metricsOf(h, id);
      expectCatalogueKeys(metrics);
      const [health] = detailsOf(metrics, 'auth_health_reported');
      expect(health).toMatchObject({
        status: 'expired',
        message: 'Credentials exceeded configured max age',
        rotation_recommended: true,
        rotation_configured: true,
        source_path: config.path,
      });
      // mtime + max age (the file system keeps the mtime to about a millisecond).
      expect(Math.abs(Date.parse(health!.expires_at) - (TWO_HOURS_AGO.getTime() + 60_000))).toBeLessThan(5);
      expect(health!.seconds_until_expiry).toBeLessThan(-7000);
      const [started] = detailsOf(metrics, 'auth_rotation_started');
      expect(started).toMatchObject({ status: 'expired', platform: 'linux/amd64' });
      const [rotated] = detailsOf(metrics, 'auth_rotation_succeeded');
      expect(rotated).toMatchObject({ status: 'expired', platform: 'linux/amd64' });
      expect(detailsOf(metrics, 'auth_rotation_skipped')).toEqual([]);
      // The rotation happened before the push started.
      const names = metrics.map((m) => m.event_type);
      expect(names.indexOf('auth_rotation_succeeded')).toBeLessThan(names.indexOf('push_started'));

      const [run] = await runsOf(h, id);
      expect(run).toMatchObject({
        status: 'succeeded',
        auth_rotation_attempted: true,
        auth_rotation_succeeded: true,
        auth_refresh_attempted: false,
      });
    } finally {
      await h.stop();
    }
  }, 240_000);

  it('reports them for rotation and still pushes when no refresher is configured', async () => {
    const { h, config } = await staleCredentialsHarness('faults-norotate', false);
    try {
      const id = await createBuildServer(h, 'stale-skipped', {
        Dockerfile: `FROM ${busybox()}\nRUN echo skipped > /s\nEXPOSE 8080\n`,
      });
      const server = await settled(h, id);
      expect(server.status).toBe('ready');

      const metrics = await metricsOf(h, id);
      expectCatalogueKeys(metrics);
      expect(detailsOf(metrics, 'auth_health_reported')[0]).toMatchObject({
        status: 'expired',
        rotation_recommended: true,
        rotation_configured: false,
        source_path: config.path,
      });
      expect(detailsOf(metrics, 'auth_rotation_skipped')).toEqual([
        expect.objectContaining({ status: 'expired', reason: 'refresher_unavailable', platform: 'linux/amd64' }),
      ]);
      expect(detailsOf(metrics, 'auth_rotation_started')).toEqual([]);
      expect(detailsOf(metrics, 'push_succeeded')).toHaveLength(1);

      const [run] = await runsOf(h, id);
      expect(run).toMatchObject({
        status: 'succeeded',
        auth_rotation_attempted: false,
        credential_health_status: 'expired',
      });
    } finally {
      await h.stop();
    }
  }, 240_000);
});

// --- two platforms: one fails, the other is cancelled ------------------------------------------

describe('two platforms (linux/amd64, linux/arm64)', () => {
  let h: Harness;

  beforeAll(async () => {
    // No build cache: every step really runs (and takes its time), whatever the daemon has cached.
    h = await startHarness('faults-multiarch', {
      ...stack.env('linux/amd64,linux/arm64'),
      REGISTRY_BUILD_PARALLELISM: '2',
      REGISTRY_BUILD_DISABLE_CACHE: 'true',
    });
  }, 240_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('fails fast when one platform fails, cancelling the other platform’s build on the daemon', async () => {
    const started = Date.now();
    // amd64 sleeps a minute in step 2; arm64 takes 10 s there (long enough for the amd64 build to be
    // well under way and heartbeating) and then fails in step 3.
    const id = await createBuildServer(h, 'fail-fast', {
      Dockerfile: [
        `FROM ${busybox()}`,
        'RUN if [ "$(uname -m)" = x86_64 ]; then sleep 60; else sleep 10; fi',
        'RUN [ "$(uname -m)" = x86_64 ] || exit 3',
        'EXPOSE 8080',
        '',
      ].join('\n'),
    });
    const server = await settled(h, id, 90_000);
    const elapsedMs = Date.now() - started;
    expect(server.status).toBe('error');
    // The daemon's own words, not just "build failed".
    expect(server.status_reason).toMatch(/linux\/arm64.*returned a non-zero code: 3/);
    expect(elapsedMs).toBeLessThan(40_000);

    const [run, ...others] = await runsOf(h, id);
    expect(others).toEqual([]);
    expect(run).toMatchObject({ status: 'failed' });
    expect(run!.failure_reason).toMatch(/returned a non-zero code: 3/);
    expect(detailsOf(await metricsOf(h, id), 'push_started')).toEqual([]); // nothing of a failed build is pushed

    // The amd64 build had started its sleep, was cancelled, and its container is gone.
    const amd64 = await buildLogOf(h, run!.id, 'linux/amd64');
    const sleeper = amd64
      .map((l) => /Running in ([0-9a-f]{12})/.exec(l)?.[1])
      .filter(Boolean)
      .at(-1);
    expect(sleeper, amd64.join('\n')).toBeDefined();
    expect(amd64).toContain('Build for linux/amd64 cancelled');
    const running = async () => (await stack.docker.listContainers()).filter((c) => c.Id.startsWith(sleeper!));
    await eventually(async () => (await running()).length === 0, 20_000, 'the cancelled build container to stop');
  }, 150_000);
});
