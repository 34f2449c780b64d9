// The checkout activities against a private repository: real git, served by git's http-backend behind
// basic auth (test/support/git-http.ts), and ssh's key handling. The secret reaches git only through a
// removed-after temp file: never the command line, the URL, the checkout, the build log or an error.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncLocalStorage, type Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPolicy } from '../../lib/source-policy.js';
import { createGitRepo, git } from '../../test/support/git-fixture.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/support/git-http.js';
import type { Telemetry } from '../telemetry.js';
import { createGitActivities, type SourceSecretReader } from './checkout.js';
import { gitCredential } from './credentials.js';

const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'mcp-host-private-git-'));
const workDir = join(root, 'builds');
const logLines: string[] = [];
const telemetry: Telemetry = {
  metric: async () => undefined,
  buildLog: () => ({ line: (text) => void logLines.push(text), flush: async () => undefined }),
  steps: () => ({ time: (_step, fn) => fn(), flush: async () => undefined }),
};
let server: GitHttpServer;
let revision: string;
const reads: { serverId: number; name: string }[] = [];

function activities(secrets: Record<string, string>) {
  const readSecret: SourceSecretReader = async (ref) => {
    reads.push(ref);
    const value = secrets[ref.name];
    if (value === undefined) throw new Error(`secret ${ref.name} not found`);
    return Buffer.from(value);
  };
  return createGitActivities({
    workDir,
    telemetry,
    baseImages: { node: 'node:24', python: 'python:3', go: 'golang:1', static: 'busybox:1' },
    sourcePolicy: hostPolicy(['127.0.0.1']),
    checkoutLimits: { maxBytes: 10_000_000, maxFiles: 1_000 },
    readSecret,
  });
}

beforeAll(async () => {
  const repo = await createGitRepo({
    dir: join(root, 'repos', 'private.git-src'),
    files: { Dockerfile: 'FROM busybox\n', 'README.md': 'private\n' },
  });
  revision = repo.revision;
  // http-backend serves bare repositories by path.
  await git(root, 'clone', '-q', '--bare', repo.path, join(root, 'repos', 'private.git'));
  server = await startGitHttpServer({ projectRoot: join(root, 'repos'), username: 'deploy', password: TOKEN });
});

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

// The activities heartbeat; @temporalio/testing (MockActivityEnvironment) is not a dependency here.
const env = {
  run: <I, O>(fn: (input: I) => Promise<O>, input: I): Promise<O> =>
    asyncLocalStorage.run({ heartbeat: () => undefined } as unknown as Context, () => fn(input)),
};
const repository = () => `${server.baseUrl}/private.git`;
const credentials = { secret: 'gh-token', username: 'deploy' };

describe('private git sources', () => {
  it('resolves and checks out a private repository with the secret, which is kept nowhere', async () => {
    const acts = activities({ 'gh-token': `${TOKEN}\n` });
    const resolved = await env.run(acts.resolveRevision, {
      repository: repository(),
      branch: 'main',
      serverId: 7,
      credentials,
    });
    expect(resolved.revision).toBe(revision);
    const prepared = await env.run(acts.prepareCheckout, {
      runId: 1,
      serverId: 7,
      repository: repository(),
      branch: 'main',
      revision,
      credentials,
    });
    expect(readdirSync(prepared.contextDir)).toContain('Dockerfile');
    expect(reads).toContainEqual({ serverId: 7, name: 'gh-token' });
    expect(server.requests.some((r) => r.authorized)).toBe(true);
    // The checkout (its .git/config included), the build log and the temp dir hold no trace of the token.
    const config = readFileSync(join(prepared.contextDir, '.git', 'config'), 'utf8');
    expect(config).toContain(repository());
    expect(config).not.toContain(TOKEN);
    expect(logLines.join('\n')).not.toContain(TOKEN);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('mcp-host-git-cred-'))).toEqual([]);
  });

  it('fails clearly, without retrying, when the secret is missing or wrong', async () => {
    const without = activities({});
    const noCredentials = env.run(without.resolveRevision, { repository: repository(), branch: 'main' });
    await expect(noCredentials).rejects.toMatchObject({
      type: 'GitAuthFailed',
      nonRetryable: true,
      message: expect.stringMatching(/^the repository asks for credentials: name a secret in source.credentials/),
    });

    const wrong = activities({ 'gh-token': 'not-the-token' });
    const refused = env.run(wrong.prepareCheckout, {
      runId: 2,
      serverId: 8,
      repository: repository(),
      branch: 'main',
      revision,
      credentials,
    });
    await expect(refused).rejects.toMatchObject({
      type: 'GitAuthFailed',
      nonRetryable: true,
      message: expect.stringMatching(/^the repository refused the credentials of secret "gh-token"/),
    });
    await expect(refused).rejects.not.toMatchObject({ message: expect.stringContaining('not-the-token') });
  });

  it('gives ssh a deploy key in a 0600 file named by GIT_SSH_COMMAND, removed afterwards', async () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----';
    const credential = await gitCredential('git@example.com:team/repo.git', Buffer.from(key));
    const command = credential.env.GIT_SSH_COMMAND!;
    expect(command).not.toContain(key);
    const file = /IdentityFile=(\S+)$/.exec(command)![1]!;
    expect(readFileSync(file, 'utf8')).toBe(`${key}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await credential.dispose();
    expect(() => statSync(file)).toThrow();
  });
});
