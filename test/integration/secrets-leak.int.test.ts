// A secret's value goes where it is delivered and nowhere else. The value is a unique marker; a server
// built from a private repository (git's http-backend behind basic auth, its token a secret too) uses
// it as a file and as env, and a tool call proves both arrived (by hash: the answer is a response the
// test received, too). Then every place a value could leak to is searched for the marker and the repo
// token: a pg_dump of the database, every Temporal history of the run as Temporal stores it, the API
// and worker logs, every API response and SSE frame of the test, /metrics and `docker inspect`. A second
// registry with htpasswd auth holds a base image: a build FROM it fails without the server's
// registry_credentials and succeeds with them, and that registry's password is searched for too.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR, TEMPORAL_BIN } from '../../scripts/stack/paths.js';
import { ensureBaseImages } from '../../scripts/stack/base-images.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo, git } from '../support/git-fixture.js';
import { writeHtpasswd } from '../support/htpasswd.js';
import { startGitHttpServer, type GitHttpServer } from '../support/git-http.js';
import { startHarness, type Harness } from '../support/harness.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { callTool } from '../support/mcp-probe.js';

const NAME = 'secrets-leak';
const MARKER = `leak-marker-${randomBytes(12).toString('hex')}`;
const REPO_TOKEN = `repo-token-${randomBytes(12).toString('hex')}`;
const BASE_USER = 'base-puller';
const BASE_PASSWORD = `registry-marker-${randomBytes(12).toString('hex')}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The marker, the token and the base registry's password, as text, hex (bytea in a dump) and base64 (a
 * payload's bytes); the registry login also as basic auth's base64 of user:password.
 */
const needles = [
  ...[MARKER, REPO_TOKEN, BASE_PASSWORD].flatMap((v) => [
    v,
    Buffer.from(v).toString('hex'),
    Buffer.from(v).toString('base64').slice(0, 24),
  ]),
  Buffer.from(`${BASE_USER}:${BASE_PASSWORD}`).toString('base64').slice(0, 32),
];
const leaksIn = (text: string) => needles.filter((n) => text.includes(n));

// The server: hello-mcp's shape, with one tool that answers the hashes of what it was given.
const PROOF_CGI = `#!/bin/sh
body=$(head -c "\${CONTENT_LENGTH:-0}" | tr -d '\\n')
id=$(printf '%s' "$body" | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p')
method=$(printf '%s' "$body" | sed -n 's/.*"method"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p')
[ -n "$id" ] || { printf 'Status: 202 Accepted\\r\\n\\r\\n'; exit 0; }
case "$method" in
  initialize) r='{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"proof","version":"1.0.0"}}' ;;
  tools/list) r='{"tools":[{"name":"proof","description":"Hashes of the secrets it got","inputSchema":{"type":"object","properties":{}}}]}' ;;
  tools/call)
    f=$(sha256sum "$API_TOKEN_FILE" | cut -d' ' -f1)
    e=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
    r="{\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"file=$f env=$e\\"}]}" ;;
  *) r='{}' ;;
esac
printf 'Content-Type: application/json\\r\\n\\r\\n{"jsonrpc":"2.0","id":%s,"result":%s}' "$id" "$r"
`;
const dockerfile = (base: string) => `FROM ${base}
COPY mcp.cgi /www/cgi-bin/mcp
RUN chmod 755 /www/cgi-bin/mcp
LABEL io.mcp-host.transport="streamable-http" io.mcp-host.port="8080" io.mcp-host.path="/cgi-bin/mcp"
CMD ["sh", "-c", "exec httpd -f -v -p 0.0.0.0:\${PORT:-8080} -h /www"]
`;

let stack: BuildStack;
let gitHttp: GitHttpServer;
let h: Harness;
/** Every response body and SSE frame the test received. */
const received: string[] = [];
let call: ReturnType<typeof httpClient>;
let repository: string;
/** The registry with auth of its own, and the base image it alone holds. */
let baseRegistry: Registry;
let privateBase: string;

beforeAll(async () => {
  stack = await startBuildStack(NAME);
  const source = await createGitRepo({
    dir: join(stack.dir, 'private-src'),
    files: { Dockerfile: dockerfile(stack.base.reference), 'mcp.cgi': PROOF_CGI },
  });
  await git(stack.dir, 'clone', '-q', '--bare', source.path, join(stack.dir, 'http', 'proof.git'));
  gitHttp = await startGitHttpServer({
    projectRoot: join(stack.dir, 'http'),
    username: 'deploy',
    password: REPO_TOKEN,
  });
  repository = `${gitHttp.baseUrl}/proof.git`;
  const htpasswd = join(stack.dir, 'base-registry.htpasswd');
  writeHtpasswd(htpasswd, { [BASE_USER]: BASE_PASSWORD });
  baseRegistry = await startRegistry({
    dir: join(stack.dir, 'base-registry'),
    port: await freePort(),
    logDir: join(DATA_DIR, 'test-logs', NAME),
    htpasswd,
  });
  privateBase = (
    await ensureBaseImages({
      registry: baseRegistry.address,
      repository: 'private-base/busybox',
      auth: { username: BASE_USER, password: BASE_PASSWORD },
    })
  ).reference;
  const env = stack.env('linux/amd64');
  h = await startHarness(NAME, {
    ...env,
    SOURCE_ALLOWED_HOSTS: `${env.SOURCE_ALLOWED_HOSTS},${new URL(gitHttp.baseUrl).host},${baseRegistry.address}`,
    // A bridge built from this checkout when the shared one predates --env-from (local runs only).
    ...(process.env.STDIO_BRIDGE_DIR && { STDIO_BRIDGE_DIR: process.env.STDIO_BRIDGE_DIR }),
  });
  const raw = httpClient(h.apiUrl);
  call = async (...args) => {
    const res = await raw(...args);
    received.push(res.text, JSON.stringify([...res.headers]));
    return res;
  };
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await gitHttp?.stop();
  await baseRegistry?.stop();
  await stack?.stop();
});

describe('a secret, delivered and seen nowhere else', () => {
  let id: number;
  const events = () => collectSse(`${h.apiUrl}/api/servers/stream`, h.adminToken);
  let stream: ReturnType<typeof events>;

  it('refuses a repository URL that embeds credentials, naming source.repository', async () => {
    const refused = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'leak-url',
        server_type: 'Example',
        source: { type: 'git', repository: repository.replace('//', `//deploy:${REPO_TOKEN}@`) },
        start: false,
      },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.field).toBe('source.repository');
    expect(refused.body.error.message).toMatch(/must not embed credentials/);
  });

  it('builds from the private repository with its secret and delivers the marker as a file and as env', async () => {
    stream = events();
    for (const [name, value] of [
      ['leak-marker', MARKER],
      ['leak-repo-token', REPO_TOKEN],
    ] as const) {
      expect((await call('POST', '/api/secrets', { token: h.adminToken, json: { name, value } })).status).toBe(201);
    }
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'leak-proof',
        server_type: 'Example',
        source: {
          type: 'git',
          repository,
          credentials: { secret: 'leak-repo-token', username: 'deploy' },
        },
        config: {
          API_TOKEN: { secret: 'leak-marker' },
          API_KEY: { secret: 'leak-marker', as: 'env' },
          GREETING: 'plain',
        },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.source.credentials).toEqual({ secret: 'leak-repo-token', username: 'deploy' });
    id = created.body.id;
    const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');
    expect(gitHttp.requests.some((r) => r.authorized)).toBe(true);

    const [runtime] = await h.sql<{ endpoint: string }[]>`select endpoint from server_runtimes where server_id = ${id}`;
    expect(await callTool(runtime!.endpoint, 'proof')).toBe(`file=${sha256(MARKER)} env=${sha256(MARKER)}`);
  });

  it('fails the build of the same private repository without credentials, saying so', async () => {
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name: 'leak-nocreds', server_type: 'Example', source: { type: 'git', repository } },
    });
    const failed = await waitForStatus(call, h.adminToken, created.body.id, ['error', 'running'], 'error');
    expect(failed.status).toBe('error');
    expect(failed.status_reason).toMatch(/the repository asks for credentials: name a secret in source.credentials/);
  });

  let baseId: number;

  it('refuses registry credentials naming no secret of the owner, or a registry the policy refuses, naming the field', async () => {
    const source = (registry_credentials: unknown) => ({
      type: 'git',
      repository: stack.git.url('private-base'),
      registry_credentials,
    });
    const create = (json: unknown, token = h.adminToken) => call('POST', '/api/servers', { token, json });
    const missing = await create({
      name: 'base-missing',
      server_type: 'Example',
      source: source([{ registry: baseRegistry.address, secret: 'no-such-secret' }]),
      start: false,
    });
    expect(missing.status).toBe(422);
    expect(missing.body.error.field).toBe('source.registry_credentials.0.secret');

    // Another owner's secret is not the caller's: the same 422.
    const user = await call('POST', '/api/users', {
      token: h.adminToken,
      json: { email: 'base-op@example.test', role: 'operator' },
    });
    const opToken = (
      await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 't', user_id: user.body.id } })
    ).body.token as string;
    expect(
      (await call('POST', '/api/secrets', { token: opToken, json: { name: 'op-registry', value: 'u:p' } })).status,
    ).toBe(201);
    const others = await create({
      name: 'base-others',
      server_type: 'Example',
      source: source([{ registry: baseRegistry.address, secret: 'op-registry' }]),
      start: false,
    });
    expect(others.status).toBe(422);
    expect(others.body.error.field).toBe('source.registry_credentials.0.secret');

    const refused = await create({
      name: 'base-refused',
      server_type: 'Example',
      source: source([{ registry: '10.20.30.40:5000', secret: 'op-registry' }]),
      start: false,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.field).toBe('source.registry_credentials.0.registry');
    expect(refused.body.error.message).toMatch(/private, loopback or link-local/);
  });

  it("builds FROM a private registry with the server's registry credentials, and fails without them", async () => {
    await createGitRepo({
      dir: join(stack.gitDir, 'private-base'),
      files: { Dockerfile: `FROM ${privateBase}\nLABEL example="private base"\n` },
    });
    const build = async (name: string, extra: Record<string, unknown>) => {
      const created = await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name,
          server_type: 'Example',
          source: { type: 'git', repository: stack.git.url('private-base'), ...extra },
          start: false,
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const sid = created.body.id as number;
      await waitForStatus(call, h.adminToken, sid, ['stopped'], 'stopped');
      expect((await call('POST', `/api/servers/${sid}/builds`, { token: h.adminToken })).status).toBe(202);
      return waitForStatus(call, h.adminToken, sid, ['ready', 'error'], 'built');
    };

    const without = await build('base-nocreds', {});
    expect(without.status).toBe('error');
    expect(without.status_reason).toMatch(/image build failed/);

    expect(
      (
        await call('POST', '/api/secrets', {
          token: h.adminToken,
          json: { name: 'leak-base-registry', value: `${BASE_USER}:${BASE_PASSWORD}\n` },
        })
      ).status,
    ).toBe(201);
    const credentials = [{ registry: baseRegistry.address, secret: 'leak-base-registry' }];
    const withCreds = await build('base-creds', { registry_credentials: credentials });
    expect(withCreds.status, withCreds.status_reason).toBe('ready');
    baseId = withCreds.id;
    expect(withCreds.source.registry_credentials).toEqual(credentials);
    // Pinned to the digest through the login, then pulled with it.
    const [run] = await h.sql<{ id: number }[]>`select id from build_artifact_runs where server_id = ${baseId}`;
    const logs = await eventually(
      async () => {
        const res = await call('GET', `/api/builds/${run!.id}/logs`, { token: h.adminToken });
        return res.text.includes('Base image') ? res.text : undefined;
      },
      10_000,
      'the build log',
    );
    expect(logs).toContain(
      `Base image ${privateBase} for linux/amd64 is ${privateBase.replace(/:latest$/, '')}@sha256:`,
    );

    // The secret is in use while a source names it.
    const inUse = await call('DELETE', '/api/secrets/leak-base-registry', { token: h.adminToken });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.message).toContain(`base-creds (${baseId})`);
  });

  it('leaves the marker and the repo token out of the database, histories, logs, responses, metrics and docker inspect', async () => {
    // Read back what an operator would look at, so it counts among the responses searched.
    for (const path of [`/api/servers/${id}`, '/api/servers', '/api/secrets', `/api/servers/${id}/logs`]) {
      await call('GET', path, { token: h.adminToken });
    }
    for (const sid of [id, baseId]) {
      const builds = await call('GET', `/api/servers/${sid}/builds`, { token: h.adminToken });
      for (const build of Array.isArray(builds.body) ? builds.body : []) {
        await call('GET', `/api/builds/${build.id}/logs`, { token: h.adminToken });
      }
    }
    await call('GET', '/api/marketplace', { token: h.adminToken });
    const metrics = await fetch(`${h.apiUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } });
    expect(metrics.status).toBe(200);
    received.push(await metrics.text());
    await stream.stop();
    received.push(...stream.frames.map((f) => JSON.stringify(f)));
    expect(stream.frames.length).toBeGreaterThan(3);

    const found: Record<string, string[]> = {};
    const search = (where: string, text: string) => {
      const hits = leaksIn(text);
      if (hits.length > 0) found[where] = hits;
    };

    // The database, whole; the ciphertexts are random bytes, so no column needs leaving out.
    const dump = execFileSync('pg_dump', ['--data-only', h.env.DATABASE_URL!], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    expect(dump).toContain('leak-proof');
    search('pg_dump', dump);

    // Every workflow of this file's task queue, as Temporal stores it (no codec).
    const ids: string[] = [];
    for await (const wf of h.temporal.workflow.list({ query: `TaskQueue = "${h.env.TEMPORAL_TASK_QUEUE}"` })) {
      ids.push(wf.workflowId);
    }
    // Four servers (the refused ones have none), and their builds: the server without repository
    // credentials stops at resolving its revision.
    expect(new Set(ids.filter((w) => /(^|\/)server\/\d+$/.test(w))).size).toBe(4);
    expect(ids.some((w) => new RegExp(`(^|/)build/${baseId}/`).test(w))).toBe(true);
    expect(ids.some((w) => new RegExp(`(^|/)build/${id}/`).test(w))).toBe(true);
    for (const workflowId of new Set(ids)) {
      const history = execFileSync(
        TEMPORAL_BIN,
        ['workflow', 'show', '--workflow-id', workflowId, '--address', h.env.TEMPORAL_ADDRESS!, '--output', 'json'],
        { encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      search(`history ${workflowId}`, history);
      search(`history ${workflowId} (payload bytes)`, payloadBytes(history));
    }

    for (const part of ['api', 'worker']) {
      const log = readFileSync(join(DATA_DIR, 'test-logs', `${NAME}-${part}.log`), 'utf8');
      expect(log.length).toBeGreaterThan(0);
      search(`${part} log`, log);
    }
    search('API responses and SSE frames', received.join('\n'));
    search('docker inspect', JSON.stringify(await stack.docker.getContainer(`mcp-server-${id}`).inspect()));

    expect(found).toEqual({});
  });
});

/** Every payload's bytes in a history, decoded from base64. */
function payloadBytes(history: string): string {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const { data } = node as { data?: unknown };
    if (typeof data === 'string') out.push(Buffer.from(data, 'base64').toString('latin1'));
    Object.values(node).forEach(walk);
  };
  walk(JSON.parse(history));
  return out.join('\n');
}
