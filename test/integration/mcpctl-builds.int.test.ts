// mcpctl against the real build stack: builds start --watch (a success and a failing Dockerfile),
// builds list/get/watch, servers metrics (and --follow), servers webhook-secret, credentials status/rotate.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo, type GitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

const run = promisify(execFile);
const BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');
const BUILD_MS = 300_000;

let stack: BuildStack;
let h: Harness;
// Shared by the tests of the first describe: the first builds what the others read.
let serverId: number;
let repo: GitRepo;

const cliEnv = (env: Record<string, string | undefined> = {}) => ({
  PATH: process.env.PATH,
  MCPCTL_URL: h.apiUrl,
  MCPCTL_TOKEN: h.adminToken,
  ...env,
});

async function mcpctl(args: string[], env: Record<string, string | undefined> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: PROJECT_ROOT,
      env: cliEnv(env),
      timeout: BUILD_MS,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A stopped git server made by mcpctl, as an operator would before building it. */
async function createStoppedServer(name: string, dockerfile: string): Promise<{ id: number; repo: GitRepo }> {
  const repo = await createGitRepo({ dir: join(stack.gitDir, name), files: { Dockerfile: dockerfile } });
  const created = await mcpctl([
    'servers',
    'create',
    name,
    '--type',
    'Router',
    '--git',
    stack.git.url(name),
    '--no-start',
    '--json',
  ]);
  expect(created.code, created.stderr).toBe(0);
  const id = JSON.parse(created.stdout).id as number;
  const stopped = await mcpctl(['servers', 'watch', String(id), '--until', 'stopped', '--timeout', '60']);
  expect(stopped.code, stopped.stderr).toBe(0);
  return { id, repo };
}

beforeAll(async () => {
  stack = await startBuildStack('mcpctl-builds');
  h = await startHarness('mcpctl-builds', stack.env('linux/amd64'));
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('mcpctl builds', () => {
  it('builds start --watch follows the log to a successful end', { timeout: BUILD_MS }, async () => {
    ({ id: serverId, repo } = await createStoppedServer(
      'cli-hello',
      `FROM ${stack.base.reference}\nRUN uname -m > /arch\nCMD ["cat", "/arch"]\n`,
    ));

    const built = await mcpctl(['builds', 'start', String(serverId), '--watch']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stdout).toMatch(
      new RegExp(`^server\\s+intent\\s+status\\n-+\\s+-+\\s+-+\\n${serverId}\\s+build\\s+building\\n`),
    );
    expect(built.stdout).toMatch(/^\[linux\/amd64\] /m);
    expect(built.stdout).toMatch(/^\[build\] Cloning /m);
    expect(built.stdout).toMatch(/^build \d+ succeeded: \S+mcp-custom-\d+:latest sha256:[0-9a-f]{64}$/m);
    expect(built.stderr).toMatch(
      new RegExp(`^mcpctl: following build \\d+ of server ${serverId} at ${repo.revision.slice(0, 12)}$`, 'm'),
    );
    expect(built.stderr).not.toContain('error:');
  });

  it('builds list and get show the run, its platform and digest', async () => {
    const listed = await mcpctl(['builds', 'list', String(serverId), '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const runs = JSON.parse(listed.stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      server_id: serverId,
      status: 'succeeded',
      source_revision: repo.revision,
      failure_reason: null,
    });
    expect(runs[0].platforms.map((p: { platform: string }) => p.platform)).toEqual(['linux/amd64']);
    const digest = runs[0].manifest_digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const table = await mcpctl(['builds', 'list', String(serverId), '--limit', '5']);
    expect(table.stdout).toMatch(/^id\s+status\s+revision\s+platforms\s+digest\s+started\s+completed\s+failure$/m);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${runs[0].id}\\s+succeeded\\s+${repo.revision.slice(0, 12)}\\s+linux/amd64\\s+${digest.slice(0, 19)}\\s`,
        'm',
      ),
    );

    const detail = await mcpctl(['builds', 'get', String(runs[0].id)]);
    expect(detail.code, detail.stderr).toBe(0);
    expect(detail.stdout).toMatch(new RegExp(`^digest\\s+${digest}$`, 'm'));
    expect(detail.stdout).toMatch(
      new RegExp(`^linux/amd64\\s+sha256:[0-9a-f]{64}\\s+\\d+(\\.\\d)? (B|KiB)\\s+healthy\\s+latest-linux_amd64$`, 'm'),
    );

    // A finished run replays its log and ends at once, by id or as the server's newest.
    for (const args of [[String(runs[0].id)], ['--server', String(serverId)]]) {
      const watched = await mcpctl(['builds', 'watch', ...args]);
      expect(watched.code, watched.stderr).toBe(0);
      expect(watched.stdout).toMatch(/^\[linux\/amd64\] /m);
    }
    const lines = await mcpctl(['builds', 'watch', String(runs[0].id), '--json']);
    const first = JSON.parse(lines.stdout.split('\n')[0]!);
    expect(first).toMatchObject({ platform: null, line: expect.stringMatching(/^Cloning /) });
  });

  it('servers metrics shows the push, and --follow prints new events as they come', async () => {
    const table = await mcpctl(['servers', 'metrics', String(serverId)]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^id\s+time\s+event\s+details$/m);
    expect(table.stdout).toMatch(/^\d+\s+\S+\s+push_succeeded\s+\{"attempt":1,"retry_limit":\d+,"registry_endpoint":/m);
    const two = JSON.parse((await mcpctl(['servers', 'metrics', String(serverId), '--limit', '2', '--json'])).stdout);
    expect(two).toHaveLength(2);

    const child = spawn(process.execPath, [BIN, 'servers', 'metrics', String(serverId), '--follow', '--limit', '2'], {
      cwd: PROJECT_ROOT,
      env: cliEnv(),
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The latest page first, oldest first.
      await eventually(async () => out.split('\n').length > 2, 20_000, 'the latest events');
      expect(
        out
          .split('\n')
          .slice(0, 2)
          .map((l) => Number(l.split(' ')[0])),
      ).toEqual(two.map((m: { id: number }) => m.id).reverse());
      await new Promise((resolve) => setTimeout(resolve, 500)); // let the stream connect; a late connect replays anyway
      const details = {
        attempt: 1,
        retry_limit: 3,
        registry_endpoint: 'r/mcp-custom-x',
        platform: 'linux/amd64',
        reason: 'cli_follow',
        error: 'x',
      };
      const posted = await httpClient(h.apiUrl)('POST', `/api/servers/${serverId}/metrics`, {
        token: h.adminToken,
        json: { event_type: 'push_retry', details },
      });
      expect(posted.status).toBe(201);
      await eventually(async () => out.includes(`${posted.body.id}  `), 20_000, 'the followed event');
      expect(out).toMatch(
        new RegExp(`^${posted.body.id}\\s+\\S+\\s+push_retry\\s+\\{"attempt":1,.*"reason":"cli_follow"`, 'm'),
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('servers webhook-secret prints the webhook URL and the secret once', async () => {
    const res = await mcpctl(['servers', 'webhook-secret', String(serverId)]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^webhook URL\\s+${h.apiUrl}/api/servers/${serverId}/webhook$`, 'm'));
    const secret = /^ {4}(\S+)$/m.exec(res.stdout)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('credentials status shows a configured registry, and rotate runs a check', async () => {
    const json = await mcpctl(['credentials', 'status', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ registry: `http://${stack.registryHost}/mcp`, configured: true });
    const table = await mcpctl(['credentials', 'status']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^configured\s+true$/m);
    expect(table.stdout).toMatch(/^next check\s+\d{4}-\d\d-\d\dT/m);

    // Rotation waits for the workflow; no refresh command is configured, so it checks and says so.
    const rotated = await mcpctl(['credentials', 'rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/^status\s+healthy$/m);
    expect(rotated.stdout).toMatch(/^checked\s+\S+ \(manual\)$/m);
    expect(rotated.stdout).toMatch(/^rotation configured\s+false$/m);
    expect(rotated.stdout).toMatch(/^recent checks:\n/m);
    const after = JSON.parse((await mcpctl(['credentials', 'status', '--json'])).stdout);
    expect(after.latest).toMatchObject({ trigger: 'manual', status: 'healthy', rotation_attempted: false });
  });

  it(
    'start --watch behind a build under way follows its own run; watch --server follows the current one',
    { timeout: BUILD_MS },
    async () => {
      // A first build slow enough to still run while the commands below start.
      const { id: slowId } = await createStoppedServer('cli-slow', `FROM ${stack.base.reference}\nRUN sleep 5\n`);
      const id = String(slowId);
      const first = await mcpctl(['builds', 'start', id, '--json']);
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toEqual({ server_id: slowId, intent: 'build', status: 'building' });
      expect((await mcpctl(['servers', 'watch', id, '--until', 'building', '--timeout', '60'])).code).toBe(0);

      // While it runs: one command follows it, the other queues a build behind it and follows that one.
      const [watched, queued] = await Promise.all([
        mcpctl(['builds', 'watch', '--server', id]),
        mcpctl(['builds', 'start', id, '--watch']),
      ]);
      expect(watched.code, watched.stderr).toBe(0);
      expect(queued.code, queued.stderr).toBe(0);
      expect(queued.stderr).toContain(`mcpctl: server ${id} is building; the build starts once that is done`);
      const followed = (res: { stderr: string }) => Number(/^mcpctl: following build (\d+) /m.exec(res.stderr)?.[1]);
      const runs = JSON.parse((await mcpctl(['builds', 'list', id, '--json'])).stdout) as {
        id: number;
        status: string;
      }[];
      expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
      expect(followed(watched)).toBe(runs[1]!.id);
      expect(followed(queued)).toBe(runs[0]!.id);
      for (const res of [watched, queued]) expect(res.stdout).toMatch(/^build \d+ succeeded: /m);
    },
  );

  it('rejects bad build input locally, naming the option', async () => {
    const both = await mcpctl(['builds', 'watch', '1', '--server', '2']);
    expect(both.code).toBe(1);
    expect(both.stderr.trim()).toBe('error: BUILD_ID/--server: give exactly one');
    const limit = await mcpctl(['builds', 'list', String(serverId), '--limit', '0']);
    expect(limit.code).toBe(1);
    expect(limit.stderr.trim()).toBe('error: --limit: must be an integer between 1 and 1000');
    const missing = await mcpctl(['builds', 'get', '999999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: build 999999 not found/);
  });
});

describe('mcpctl builds, failing', () => {
  it('builds start --watch exits 1 naming the failure of a Dockerfile that fails', { timeout: BUILD_MS }, async () => {
    const { id } = await createStoppedServer('cli-broken', `FROM ${stack.base.reference}\nRUN exit 3\n`);
    const built = await mcpctl(['builds', 'start', String(id), '--watch']);
    expect(built.code).toBe(1);
    expect(built.stdout).toMatch(/^\[linux\/amd64\] /m);
    const errors = built.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: build \d+ failed: image build failed for linux\/amd64: .*(exit 3|code: 3)/);

    const runs = JSON.parse((await mcpctl(['builds', 'list', String(id), '--json'])).stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'failed', manifest_digest: null });
    // Watching it again gives the same verdict.
    const again = await mcpctl(['builds', 'watch', '--server', String(id)]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n').at(-1)).toBe(errors[0]);
  });
});
