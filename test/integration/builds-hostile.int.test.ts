// Hostile build sources: repositories whose Dockerfile or .dockerignore points outside the checkout
// (or is no file at all), an oversized repository, a FROM naming a registry the source policy
// refuses, and git or image sources naming private addresses. Each fails with a reason naming what
// was refused, never with the contents of a file outside the checkout, and leaves no checkout behind.
// No daemon is needed: each build is refused before an image would be built.
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { commit, createGitRepo, startGitDaemon, type GitDaemon } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

let h: Harness;
let daemon: GitDaemon;
let call: ReturnType<typeof httpClient>;
const dir = join(DATA_DIR, 'test-builds', `builds-hostile-${process.pid}`);
const gitDir = join(dir, 'git');
const workDir = join(dir, 'work');
// What the worker's environment holds and a leaked /proc/self/environ would show.
const CANARY = `canary-${randomBytes(8).toString('hex')}`;
const REGISTRY_HOST = 'registry.mcp.test:5000';

beforeAll(async () => {
  mkdirSync(gitDir, { recursive: true });
  daemon = await startGitDaemon({
    baseDir: gitDir,
    port: await freePort(),
    logFile: join(DATA_DIR, 'test-logs', 'builds-hostile-git.log'),
  });
  h = await startHarness('builds-hostile', {
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    BUILD_WORK_DIR: workDir,
    // Only this file's git daemon: Postgres and the rest of loopback stay refused.
    SOURCE_ALLOWED_HOSTS: `127.0.0.1:${daemon.port}`,
    CHECKOUT_MAX_BYTES: String(2 * 1024 * 1024),
    CHECKOUT_MAX_FILES: '500',
    BUILD_CANARY: CANARY,
    // A registry name (never contacted here) whose owner namespaces images are placed in.
    REGISTRY: `http://${REGISTRY_HOST}/mcp`,
  });
  call = httpClient(h.apiUrl);
}, 180_000);
afterAll(async () => {
  await h?.stop();
  await daemon?.stop();
});

/** A repository whose files are written by `setup` (symlinks, directories) and committed. */
async function repoWith(name: string, files: Record<string, string>, setup?: (path: string) => void): Promise<void> {
  const repo = await createGitRepo({ dir: join(gitDir, name), files });
  if (setup) {
    setup(repo.path);
    await commit(repo, {}, 'hostile files');
  }
}

/** Builds `name` from its repository; the finished run's failure reason and the build log. */
async function buildFails(name: string): Promise<{ reason: string; log: string; serverId: number }> {
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: {
      name,
      server_type: 'Router',
      source: { type: 'git', repository: daemon.url(name), branch: 'main' },
      start: false,
    },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as number;
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body?.status === 'stopped',
    30_000,
    'created',
  );
  expect((await call('POST', `/api/servers/${id}/builds`, { token: h.adminToken })).status).toBe(202);
  const run = await eventually(
    async () => {
      const runs = (await call('GET', `/api/servers/${id}/builds`, { token: h.adminToken })).body as {
        id: number;
        status: string;
        failure_reason: string | null;
      }[];
      return runs?.[0] && !['running', 'pending'].includes(runs[0].status) ? runs[0] : undefined;
    },
    90_000,
    `build of ${name} to finish`,
  );
  expect(run.status).toBe('failed');
  const viaApi = (await call('GET', `/api/builds/${run.id}`, { token: h.adminToken })).body as {
    failure_reason: string;
  };
  const logs = (await call('GET', `/api/builds/${run.id}/logs`, { token: h.adminToken })).text;
  return { reason: viaApi.failure_reason, log: logs, serverId: id };
}

/** No checkout of the server is left on the worker host. */
function expectNoCheckout(serverId: number): void {
  const serverDir = join(workDir, `server-${serverId}`);
  expect(existsSync(serverDir) ? readdirSync(serverDir) : []).toEqual([]);
}

const DOCKERFILE = 'FROM scratch\nCOPY . /app\nEXPOSE 8080\n';

describe('hostile build contexts', () => {
  it('refuses a Dockerfile that is a symlink to a file outside the checkout, without its contents', async () => {
    await repoWith('environ-link', { 'main.txt': 'x' }, (path) =>
      symlinkSync('/proc/self/environ', join(path, 'Dockerfile')),
    );
    const { reason, log, serverId } = await buildFails('environ-link');
    expect(reason).toMatch(/Dockerfile is a symbolic link/);
    for (const text of [reason, log]) {
      expect(text).not.toContain(CANARY);
      expect(text).not.toContain('DATABASE_URL');
      expect(text).not.toContain(h.adminToken);
    }
    expectNoCheckout(serverId);
  }, 120_000);

  it('refuses a Dockerfile that points at /dev/zero and one that is a directory', async () => {
    await repoWith('zero-link', { 'main.txt': 'x' }, (path) => symlinkSync('/dev/zero', join(path, 'Dockerfile')));
    expect((await buildFails('zero-link')).reason).toMatch(/Dockerfile is a symbolic link/);
    await repoWith('dockerfile-dir', { 'Dockerfile/inner': DOCKERFILE });
    expect((await buildFails('dockerfile-dir')).reason).toMatch(/Dockerfile is not a regular file/);
  }, 240_000);

  it('refuses a .dockerignore that is a symlink (to /dev/zero)', async () => {
    await repoWith('ignore-link', { Dockerfile: DOCKERFILE }, (path) =>
      symlinkSync('/dev/zero', join(path, '.dockerignore')),
    );
    const { reason, serverId } = await buildFails('ignore-link');
    expect(reason).toMatch(/\.dockerignore is a symbolic link/);
    expectNoCheckout(serverId);
  }, 120_000);

  it('fails a build whose checkout is larger than CHECKOUT_MAX_BYTES, and removes it', async () => {
    await repoWith('oversized', {
      Dockerfile: DOCKERFILE,
      'blob.bin': randomBytes(3 * 1024 * 1024).toString('base64'),
    });
    const { reason, serverId } = await buildFails('oversized');
    expect(reason).toMatch(/checkout is too large: more than CHECKOUT_MAX_BYTES \(2097152 bytes\)/);
    expectNoCheckout(serverId);
  }, 120_000);

  it('fails a build whose FROM names a registry on a private address, before contacting it', async () => {
    await repoWith('private-from', { Dockerfile: 'FROM 10.0.0.1:5000/base:1\nEXPOSE 8080\n' });
    const { reason, serverId } = await buildFails('private-from');
    expect(reason).toMatch(
      /base image 10\.0\.0\.1:5000\/base:1 names 10\.0\.0\.1:5000, a private, loopback or link-local address/,
    );
    expectNoCheckout(serverId);
  }, 120_000);
});

describe("another owner's images", () => {
  it("fails a build whose FROM names another owner's namespace of the registry, or a local build", async () => {
    await repoWith('foreign-from', { Dockerfile: `FROM ${REGISTRY_HOST}/mcp/owner-999999/mcp-custom-7:latest\n` });
    const foreign = await buildFails('foreign-from');
    expect(foreign.reason).toMatch(
      /base image .*owner-999999\/mcp-custom-7:latest not found \(it is not in your namespace/,
    );
    await repoWith('local-from', { Dockerfile: 'FROM mcp-custom-7-linux_amd64\n' });
    expect((await buildFails('local-from')).reason).toMatch(/base image mcp-custom-7-linux_amd64 not found/);
  }, 120_000);

  it("refuses an operator's image source in another owner's namespace with 404, as any other tenant's resource", async () => {
    const email = `ns-${randomBytes(4).toString('hex')}@example.test`;
    const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
    const token = (
      await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'ns', user_id: user.body.id } })
    ).body.token as string;
    const create = (image: string, as = token) =>
      call('POST', '/api/servers', {
        token: as,
        json: {
          name: `ns-${randomBytes(3).toString('hex')}`,
          server_type: 'Router',
          source: { type: 'image', image },
          start: false,
        },
      });
    for (const image of [
      `${REGISTRY_HOST}/mcp/owner-${user.body.id + 1}/mcp-custom-7:latest`,
      `${REGISTRY_HOST}/mcp/mcp-custom-7:latest`, // pushed before namespaces: no one's to name
      'mcp-custom-7', // a build's local image on the daemon
    ]) {
      const res = await create(image);
      expect(res.status, `${image}: ${res.text}`).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'not_found', field: 'source.image' });
    }
    // Their own namespace, and images outside mcp-host's registry path, are theirs to name.
    for (const image of [
      `${REGISTRY_HOST}/mcp/owner-${user.body.id}/mcp-custom-7:latest`,
      `${REGISTRY_HOST}/mcp-base/busybox:1`,
      'ghcr.io/example/router:1',
    ]) {
      const res = await create(image);
      expect(res.status, `${image}: ${res.text}`).toBe(201);
    }
    // An admin sees every owner's resources, and may name them.
    expect(
      (await create(`${REGISTRY_HOST}/mcp/owner-${user.body.id + 1}/mcp-custom-7:latest`, h.adminToken)).status,
    ).toBe(201);
  });
});

describe('sources naming private addresses', () => {
  it.each([
    ['http://169.254.169.254/x', 'source.repository'],
    ['http://127.0.0.1:5432/x', 'source.repository'],
    ['git://10.0.0.1/x', 'source.repository'],
    ['https://[::1]/x', 'source.repository'],
  ])('refuses the git source %s with 422 naming %s', async (repository, field) => {
    const res = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: `ssrf-${randomBytes(3).toString('hex')}`,
        server_type: 'Router',
        source: { type: 'git', repository },
        start: false,
      },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toMatch(/private, loopback or link-local/);
  });

  it.each(['169.254.169.254/x:1', '127.0.0.1:5000/mcp/mcp-custom-7:latest', '10.1.2.3:443/team/x'])(
    'refuses the image source %s with 422 naming source.image',
    async (image) => {
      const res = await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: `ssrf-${randomBytes(3).toString('hex')}`,
          server_type: 'Router',
          source: { type: 'image', image },
          start: false,
        },
      });
      expect(res.status, res.text).toBe(422);
      expect(res.body.error.field).toBe('source.image');
    },
  );

  it('accepts the allowed git daemon', async () => {
    const res = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: `allowed-${randomBytes(3).toString('hex')}`,
        server_type: 'Router',
        source: { type: 'git', repository: daemon.url('x') },
        start: false,
      },
    });
    expect(res.status, res.text).toBe(201);
  });
});
