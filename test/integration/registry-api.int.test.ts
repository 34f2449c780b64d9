// The catalog as the official MCP registry API (`/v0`) over real builds, checked against the
// registry's published OpenAPI shape; and a server.json of the registry's schema imported into a
// running server whose image (an oci package, by tag) runs by the digest the tag named.
// Names carry a reg- prefix: every test file of a run shares one database.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverRepository, startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';

/**
 * The response shapes of modelcontextprotocol/registry docs/reference/api/openapi.yaml (ServerList,
 * ServerResponse, ServerDetail, RemoteTransport and the official `_meta`), written out as JSON Schema
 * 2020-12 with the constraints the document states: required fields, the name pattern, the length
 * limits, and `additionalProperties: false` where it has it.
 */
const input = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    isRequired: { type: 'boolean' },
    isSecret: { type: 'boolean' },
    format: { enum: ['string', 'number', 'boolean', 'filepath'] },
    value: { type: 'string' },
    default: { type: 'string' },
  },
  required: ['name'],
};
const registrySchema = {
  $id: 'mcp-registry-server-list',
  $defs: {
    ServerDetail: {
      type: 'object',
      required: ['name', 'description', 'version'],
      properties: {
        name: { type: 'string', minLength: 3, maxLength: 200, pattern: '^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$' },
        description: { type: 'string', minLength: 1, maxLength: 100 },
        title: { type: 'string', minLength: 1, maxLength: 100 },
        version: { type: 'string', maxLength: 255 },
        repository: {
          type: 'object',
          required: ['url', 'source'],
          properties: { url: { type: 'string' }, source: { type: 'string' }, subfolder: { type: 'string' } },
        },
        packages: { type: 'array' },
        remotes: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type', 'url'],
            properties: {
              type: { enum: ['streamable-http', 'sse'] },
              url: { type: 'string', pattern: '^(https?://[^\\s]+|\\{[a-zA-Z_][a-zA-Z0-9_]*\\}[^\\s]*)$' },
              headers: { type: 'array', items: input },
            },
          },
        },
      },
    },
    ServerResponse: {
      type: 'object',
      required: ['server'],
      properties: {
        server: { $ref: '#/$defs/ServerDetail' },
        _meta: {
          type: 'object',
          properties: {
            'io.modelcontextprotocol.registry/official': {
              type: 'object',
              properties: {
                status: { enum: ['active', 'deprecated', 'deleted'] },
                publishedAt: { type: 'string', format: 'date-time' },
                updatedAt: { type: 'string', format: 'date-time' },
                isLatest: { type: 'boolean' },
              },
              additionalProperties: false,
            },
          },
          additionalProperties: true,
        },
      },
    },
    ServerList: {
      type: 'object',
      required: ['servers'],
      properties: {
        servers: { type: 'array', items: { $ref: '#/$defs/ServerResponse' } },
        metadata: {
          type: 'object',
          properties: { nextCursor: { type: 'string' }, count: { type: 'integer' } },
        },
      },
    },
  },
};
const ajv = new Ajv2020({ allErrors: true, strict: false });
// date-time as RFC 3339 (ajv-formats is not a dependency; this is the one format the shapes use).
ajv.addFormat('date-time', (v: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v));
ajv.addSchema(registrySchema);
const validList = ajv.getSchema('mcp-registry-server-list#/$defs/ServerList')!;
const validServer = ajv.getSchema('mcp-registry-server-list#/$defs/ServerResponse')!;
const conforms = (check: typeof validList, body: unknown) => {
  expect(check(body), JSON.stringify(check.errors)).toBe(true);
};

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let alice: string;
let bob: string;
let aliceId: number;
let bobId: number;
const runs: number[] = [];
let hello: number;

const META = 'dev.mcp-host/catalog';
const OFFICIAL = 'io.modelcontextprotocol.registry/official';
type Listed = { server: { name: string; version: string; remotes?: unknown[] }; _meta: Record<string, any> };

async function operator(name: string): Promise<[string, number]> {
  const user = await call('POST', '/api/users', {
    token: h.adminToken,
    json: { email: `${name}-${Date.now()}@example.test`, role: 'operator' },
  });
  const token = (await call('POST', '/api/tokens', { token: h.adminToken, json: { name, user_id: user.body.id } })).body
    .token;
  return [token, user.body.id];
}

async function build(token: string, server: number): Promise<number> {
  const before = await h.sql<{ id: number }[]>`select id from build_artifact_runs where server_id = ${server}`;
  expect((await call('POST', `/api/servers/${server}/builds`, { token })).status).toBe(202);
  const run = await eventually(
    async () => {
      const rows = await h.sql<{ id: number; status: string }[]>`
        select id, status from build_artifact_runs
        where server_id = ${server} and id not in ${h.sql([0, ...before.map((r) => r.id)])}`;
      return rows[0] && rows[0].status !== 'running' ? rows[0] : undefined;
    },
    240_000,
    `build of server ${server}`,
  );
  expect(run.status).toBe('succeeded');
  await waitForStatus(call, token, server, ['ready', 'stopped'], 'built');
  return run.id;
}

async function gitServer(token: string, name: string, repo: string): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token,
    json: { name, server_type: 'RegExample', source: { type: 'git', repository: stack.git.url(repo) }, start: false },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await waitForStatus(call, token, created.body.id, ['stopped'], 'created');
  return created.body.id;
}

beforeAll(async () => {
  stack = await startBuildStack('registry-api');
  h = await startHarness('registry-api', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  [alice, aliceId] = await operator('reg-alice');
  [bob, bobId] = await operator('reg-bob');
  await helloMcpRepo(stack, 'reg-hello');
  hello = await gitServer(alice, 'reg-hello', 'reg-hello');
  runs.push(await build(alice, hello));
  runs.push(await build(alice, hello));
  await build(bob, await gitServer(bob, 'reg-bobs', 'reg-hello'));
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('GET /v0/servers', () => {
  it("lists the caller's versions in the official registry's shape, mcp-host's facts under one _meta key", async () => {
    const res = await call('GET', '/v0/servers', { token: alice });
    expect(res.status).toBe(200);
    conforms(validList, res.body);
    const servers: Listed[] = res.body.servers;
    const name = `dev.mcp-host.user-${aliceId}/reg-hello`;
    // Alice sees her two builds, newest first, and nothing of Bob's.
    expect(servers.map((s) => [s.server.name, s.server.version])).toEqual([
      [name, `0.0.${runs[1]}`],
      [name, `0.0.${runs[0]}`],
    ]);
    expect(res.body.metadata).toEqual({ count: 2 });
    expect(servers.map((s) => s._meta[OFFICIAL].isLatest)).toEqual([true, false]);
    const [latest] = servers;
    expect(latest!.server.remotes).toEqual([
      expect.objectContaining({ type: 'streamable-http', url: `${h.apiUrl}/mcp/${hello}` }),
    ]);
    const [run] = await h.sql<{ manifest_digest: string; registry_image: string }[]>`
      select manifest_digest, registry_image from build_artifact_runs where id = ${runs[1]!}`;
    expect(latest!._meta[META]).toMatchObject({
      serverId: hello,
      runId: runs[1],
      serverType: 'RegExample',
      tier: 'silver:RegExample',
      health: { overall: 'healthy', issues: [] },
      manifestDigest: run!.manifest_digest,
      registryImage: run!.registry_image,
      multiArch: false,
      platforms: [expect.objectContaining({ platform: 'linux/amd64' })],
      promotion: null,
    });
    expect((await call('GET', '/v0/servers', { token: bob })).body.servers.map((s: Listed) => s.server.name)).toEqual([
      `dev.mcp-host.user-${bobId}/reg-bobs`,
    ]);
  });

  it('pages with cursor and limit, and filters by version=latest, search and updated_since', async () => {
    const first = await call('GET', '/v0/servers?limit=1', { token: alice });
    conforms(validList, first.body);
    expect(first.body.metadata.count).toBe(1);
    const cursor: string = first.body.metadata.nextCursor;
    expect(cursor).toBeTruthy();
    expect(first.body.metadata.next_cursor).toBe(cursor);
    const second = await call('GET', `/v0/servers?limit=1&cursor=${encodeURIComponent(cursor)}`, { token: alice });
    expect(second.body.servers.map((s: Listed) => s.server.version)).toEqual([`0.0.${runs[0]}`]);
    expect(second.body.metadata).toEqual({ count: 1 });

    const latest = await call('GET', '/v0/servers?version=latest', { token: alice });
    expect(latest.body.servers.map((s: Listed) => s.server.version)).toEqual([`0.0.${runs[1]}`]);
    expect((await call('GET', '/v0/servers?search=HELLO', { token: alice })).body.metadata.count).toBe(2);
    expect((await call('GET', '/v0/servers?search=nothing-like-it', { token: alice })).body.servers).toEqual([]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await call('GET', `/v0/servers?updated_since=${future}`, { token: alice })).body.servers).toEqual([]);
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect((await call('GET', `/v0/servers?updated_since=${past}`, { token: alice })).body.metadata.count).toBe(2);
  });

  it('refuses bad queries with 422 naming the parameter, and callers without a token with 401', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['updated_since=yesterday', 'updated_since'],
      ['version=1.0.0', 'version'],
      ['cursor=not-ours', 'cursor'],
      ['offset=5', 'offset'],
    ] as const) {
      const res = await call('GET', `/v0/servers?${query}`, { token: alice });
      expect(res.status, query).toBe(422);
      expect(res.body.error.field, query).toBe(field);
    }
    expect((await call('GET', '/v0/servers')).status).toBe(401);
  });
});

describe('GET /v0/servers/{name}/versions[/{version}]', () => {
  it('lists one server’s versions and fetches one, `latest` included; another owner’s is not found', async () => {
    const name = encodeURIComponent(`dev.mcp-host.user-${aliceId}/reg-hello`);
    const versions = await call('GET', `/v0/servers/${name}/versions`, { token: alice });
    expect(versions.status).toBe(200);
    conforms(validList, versions.body);
    expect(versions.body.servers.map((s: Listed) => s.server.version)).toEqual([`0.0.${runs[1]}`, `0.0.${runs[0]}`]);

    const older = await call('GET', `/v0/servers/${name}/versions/0.0.${runs[0]}`, { token: alice });
    expect(older.status).toBe(200);
    conforms(validServer, older.body);
    expect(older.body._meta[OFFICIAL].isLatest).toBe(false);
    const latest = await call('GET', `/v0/servers/${name}/versions/latest`, { token: alice });
    expect(latest.body.server.version).toBe(`0.0.${runs[1]}`);
    expect(latest.body._meta[OFFICIAL].isLatest).toBe(true);

    expect((await call('GET', `/v0/servers/${name}/versions`, { token: bob })).status).toBe(404);
    expect((await call('GET', `/v0/servers/${name}/versions/latest`, { token: bob })).status).toBe(404);
    expect((await call('GET', `/v0/servers/${name}/versions/9.9.9`, { token: alice })).status).toBe(404);
    expect(
      (await call('GET', `/v0/servers/${encodeURIComponent('io.github.x/y')}/versions`, { token: alice })).status,
    ).toBe(404);
    // Admins see every owner's.
    expect((await call('GET', `/v0/servers/${name}/versions/latest`, { token: h.adminToken })).status).toBe(200);
  });
});

describe('a server.json imported to a running server', () => {
  it('runs its oci package by the digest its tag named at the decision', async () => {
    const repository = `${stack.registryHost}/${await serverRepository(h.sql, hello)}`;
    const serverJson = {
      $schema: 'https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json',
      name: 'io.github.example/hello-mcp',
      description: 'The busybox example MCP server',
      version: '1.0.0',
      packages: [
        {
          registryType: 'oci',
          // The tag in the identifier, as the registry's later schema has it: `version` may not be "latest".
          identifier: `${repository}:latest`,
          transport: { type: 'streamable-http', url: 'http://localhost:8080/cgi-bin/mcp' },
          environmentVariables: [
            { name: 'GREETING', default: 'hello from server.json' },
            { name: 'SEARCH_KEY', isSecret: true },
          ],
        },
      ],
    };
    // A secret given as a value is refused before anything is created, naming the variable.
    const refused = await call('POST', '/api/servers', {
      token: alice,
      json: {
        name: 'reg-json',
        server_type: 'RegExample',
        source: { type: 'registry', server: serverJson },
        config: { SEARCH_KEY: 'sk-1' },
      },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.field).toBe('config.SEARCH_KEY');

    const created = await call('POST', '/api/servers', {
      token: alice,
      json: { name: 'reg-json', server_type: 'RegExample', source: { type: 'registry', server: serverJson } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      source: { type: 'image', image: `${repository}:latest` },
      transport: 'streamable-http',
      config: { GREETING: 'hello from server.json' },
    });
    const id: number = created.body.id;
    const server = await waitForStatus(call, alice, id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');
    expect(server.status_reason).toBe('MCP server hello-mcp with 2 tool(s)');

    const [run] = await h.sql<{ manifest_digest: string }[]>`
      select manifest_digest from build_artifact_runs where id = ${runs[1]!}`;
    const pinned = `${repository}@${run!.manifest_digest}`;
    const [decision] = (await call('GET', `/api/servers/${id}/decisions`, { token: alice })).body;
    expect(decision).toMatchObject({ image: pinned, manifest_digest: run!.manifest_digest, launchable: true });
    expect(decision.notes).toContain('image:pinned-by-digest');
    const [recorded] = await h.sql<{ manifest_digest: string }[]>`
      select manifest_digest from runtime_policy_decisions where id = ${decision.id}`;
    expect(recorded!.manifest_digest).toBe(run!.manifest_digest);
    const inspected = await stack.docker.getContainer(`mcp-server-${id}`).inspect();
    expect(inspected.Config.Image).toBe(pinned);
    expect(inspected.Config.Env).toContain('GREETING=hello from server.json');
    await call('DELETE', `/api/servers/${id}`, { token: alice });
  });

  it('refuses to launch an image whose tag its registry does not have, saying so', async () => {
    const repository = `${stack.registryHost}/${await serverRepository(h.sql, hello)}`;
    const created = await call('POST', '/api/servers', {
      token: alice,
      json: {
        name: 'reg-notag',
        server_type: 'RegExample',
        source: { type: 'image', image: `${repository}:no-such-tag` },
      },
    });
    expect(created.status).toBe(201);
    const server = await waitForStatus(call, alice, created.body.id, ['running', 'error'], 'decided');
    expect(server.status).toBe('error');
    expect(server.status_reason).toContain('image:unresolved:not-found');
    await call('DELETE', `/api/servers/${created.body.id}`, { token: alice });
  });
});
