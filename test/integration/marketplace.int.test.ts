// The marketplace catalog over artifacts from real builds: shape, every filter, paging, ownership.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

let stack: BuildStack;
let multi: Harness; // builds linux/amd64 + linux/arm64
let single: Harness; // builds linux/amd64 only, same database
let call: ReturnType<typeof httpClient>;
const ids: Record<string, { server: number; run: number }> = {};
let alice: string;
let bob: string;

async function operator(name: string): Promise<string> {
  const user = await call('POST', '/api/users', {
    token: multi.adminToken,
    json: { email: `${name}@example.test`, role: 'operator' },
  });
  return (await call('POST', '/api/tokens', { token: multi.adminToken, json: { name, user_id: user.body.id } })).body
    .token;
}

/** Creates a git server through `h`'s API and waits for its build to end; returns server and run ids. */
async function buildServer(h: Harness, token: string, name: string, type: string, dockerfile: string, repoName = name) {
  await createGitRepo({ dir: join(stack.gitDir, repoName), files: { Dockerfile: dockerfile } });
  const api = httpClient(h.apiUrl);
  const created = await api('POST', '/api/servers', {
    token,
    json: {
      name,
      server_type: type,
      source: { type: 'git', repository: stack.git.url(repoName), branch: 'main' },
      start: false,
    },
  });
  expect(created.status).toBe(201);
  const server = created.body.id as number;
  await eventually(
    async () => (await api('GET', `/api/servers/${server}`, { token })).body.status === 'stopped',
    30_000,
    'created',
  );
  expect((await api('POST', `/api/servers/${server}/builds`, { token })).status).toBe(202);
  const run = await eventually(
    async () => {
      const [r] = await h.sql`select id, status from build_artifact_runs where server_id = ${server}`;
      return r && r.status !== 'running' ? r : undefined;
    },
    240_000,
    `build of ${name}`,
  );
  ids[name] = { server, run: run.id };
}

beforeAll(async () => {
  stack = await startBuildStack('marketplace');
  multi = await startHarness('market-multi', stack.env('linux/amd64,linux/arm64'));
  single = await startHarness('market-single', { ...stack.env('linux/amd64'), ADMIN_TOKEN: multi.adminToken });
  call = httpClient(multi.apiUrl);
  alice = await operator('alice');
  bob = await operator('bob');
  const ok = `FROM ${stack.base.reference}\nRUN uname -m > /arch\n`;
  await buildServer(multi, alice, 'router-multi', 'MktRouter', ok);
  await buildServer(single, alice, 'pdf-single', 'Mkt PDF', ok, 'pdf_repo');
  await buildServer(single, bob, 'broken', 'MktRouter', `FROM ${stack.base.reference}\nRUN exit 3\n`);
}, 600_000);
afterAll(async () => {
  await single?.stop();
  await multi?.stop();
  await stack?.stop();
});

const names = (body: { server_name: string }[]) => body.map((e) => e.server_name).sort();
// Other test files share the database: `mine` narrows a listing to this file's artifacts (their
// source repositories are on this file's git daemon), and the server types are this file's own.
const mine = () => `q=${encodeURIComponent(`127.0.0.1:${stack.git.port}/`)}`;

describe('marketplace catalog', () => {
  it('pins the entry shape with derived tier and health', async () => {
    const res = await call('GET', '/api/marketplace', { token: alice });
    expect(res.status).toBe(200);
    const gold = res.body.find((e: { server_name: string }) => e.server_name === 'router-multi');
    expect(Object.keys(gold).sort()).toEqual(
      [
        'run_id',
        'server_id',
        'server_name',
        'server_type',
        'manifest_tag',
        'manifest_digest',
        'registry_image',
        'local_image',
        'status',
        'last_built_at',
        'source_repo',
        'source_branch',
        'source_revision',
        'multi_arch',
        'credential_health_status',
        'tier',
        'health',
        'platforms',
        'promotion',
        'promotion_history',
      ].sort(),
    );
    expect(gold).toMatchObject({
      run_id: ids['router-multi']!.run,
      server_id: ids['router-multi']!.server,
      status: 'succeeded',
      multi_arch: true,
      tier: 'gold:MktRouter',
      health: { overall: 'healthy', issues: [] },
      manifest_tag: 'latest',
      promotion: null,
      promotion_history: [],
    });
    expect(gold.platforms.map((p: { platform: string }) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(Object.keys(gold.platforms[0]).sort()).toEqual(
      [
        'platform',
        'remote_image',
        'remote_tag',
        'digest',
        'auth_refresh_attempted',
        'auth_refresh_succeeded',
        'auth_rotation_attempted',
        'auth_rotation_succeeded',
        'credential_health_status',
      ].sort(),
    );
    const silver = res.body.find((e: { server_name: string }) => e.server_name === 'pdf-single');
    expect(silver).toMatchObject({ multi_arch: false, tier: 'silver:Mkt PDF', health: { overall: 'healthy' } });
  });

  it('shows operators their own artifacts and admins everyone’s', async () => {
    expect(names((await call('GET', '/api/marketplace', { token: alice })).body)).toEqual([
      'pdf-single',
      'router-multi',
    ]);
    expect(names((await call('GET', '/api/marketplace', { token: bob })).body)).toEqual(['broken']);
    expect(names((await call('GET', `/api/marketplace?${mine()}`, { token: multi.adminToken })).body)).toEqual([
      'broken',
      'pdf-single',
      'router-multi',
    ]);
    expect((await call('GET', `/api/marketplace/${ids.broken!.run}`, { token: alice })).status).toBe(404);
    expect((await call('GET', '/api/marketplace')).status).toBe(401);
  });

  it('records failed builds as blocked watchlist artifacts', async () => {
    const broken = (await call('GET', `/api/marketplace/${ids.broken!.run}`, { token: bob })).body;
    expect(broken).toMatchObject({
      status: 'failed',
      tier: 'watchlist:MktRouter',
      health: { overall: 'blocked', issues: ['build_status:failed'] },
      platforms: [],
    });
  });

  it('filters by tier (case-insensitive), type, status and q in SQL, before the limit', async () => {
    const admin = multi.adminToken;
    const get = async (query: string) => names((await call('GET', `/api/marketplace?${query}`, { token: admin })).body);
    expect(await get('tier=GOLD:mktrouter')).toEqual(['router-multi']);
    expect(await get('tier=watchlist:MktRouter&limit=1')).toEqual(['broken']); // limit counts matching rows
    expect(await get(`server_type=${encodeURIComponent('Mkt PDF')}`)).toEqual(['pdf-single']);
    expect(await get('status=failed&server_type=MktRouter')).toEqual(['broken']);
    expect(await get('q=ROUTER-mu&server_type=MktRouter')).toEqual(['router-multi']);
    const digest = (await call('GET', `/api/marketplace/${ids['router-multi']!.run}`, { token: admin })).body
      .manifest_digest as string;
    expect(await get(`q=${encodeURIComponent(digest.slice(0, 15))}`)).toEqual(['router-multi']);
    expect(await get('q=%25')).toEqual([]); // a literal %, not a wildcard
    expect(await get('q=pdf_&server_type=Mkt%20PDF')).toEqual(['pdf-single']); // matches the source repository …/pdf_repo
    expect(await get('q=pdf%5Fr&server_type=Mkt%20PDF')).toEqual(['pdf-single']);
    expect(await get('q=rou_er&server_type=MktRouter')).toEqual([]); // `_` is literal too
  });

  it('pages with a cursor without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    type Page = { body: { server_name: string }[]; headers: Headers };
    for (let page = 0; page < 5; page++) {
      const res: Page = await call('GET', `/api/marketplace?${mine()}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, {
        token: multi.adminToken,
      });
      seen.push(...res.body.map((e: { server_name: string }) => e.server_name));
      cursor = res.headers.get('x-next-cursor');
      if (!cursor) break;
    }
    expect(seen.sort()).toEqual(['broken', 'pdf-single', 'router-multi']);
    const bad = await call('GET', '/api/marketplace?cursor=bm90LWEtY3Vyc29y', { token: multi.adminToken });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('cursor');
    expect((await call('GET', '/api/marketplace?limit=201', { token: multi.adminToken })).status).toBe(422);
  });
});

describe('mcpctl marketplace', () => {
  const mcpctl = async (args: string[], token: string) => {
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'cli', 'bin.mjs'), ...args], {
        env: { PATH: process.env.PATH, MCPCTL_URL: multi.apiUrl, MCPCTL_TOKEN: token },
      });
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('lists with the same filters as a table or JSON, and shows one artifact', async () => {
    const table = await mcpctl(['marketplace', 'list', '--tier', 'gold:mktrouter'], alice);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^run\s+server\s+name\s+type\s+tier/);
    expect(table.stdout).toMatch(/router-multi\s+MktRouter\s+gold:MktRouter\s+healthy/);
    expect(table.stdout).not.toContain('pdf-single');
    const json = JSON.parse((await mcpctl(['marketplace', 'list', '--type', 'Mkt PDF', '--json'], alice)).stdout);
    expect(json.map((e: { server_name: string }) => e.server_name)).toEqual(['pdf-single']);
    const all = JSON.parse(
      (
        await mcpctl(
          ['marketplace', 'list', '--limit', '1', '--all', '--json', '--q', `127.0.0.1:${stack.git.port}/`],
          multi.adminToken,
        )
      ).stdout,
    );
    expect(all).toHaveLength(3);
    const shown = await mcpctl(['marketplace', 'show', String(ids['router-multi']!.run)], alice);
    expect(shown.stdout).toMatch(/tier\s+gold:MktRouter/);
    expect(shown.stdout).toMatch(/platform linux\/arm64/);
    const refused = await mcpctl(['marketplace', 'list', '--limit', '500'], alice);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: --limit: /);
  });
});
