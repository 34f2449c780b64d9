import { describe, expect, it } from 'vitest';
import { setSourcePolicy } from '../source-policy.js';
import { CreateServerBody, UpdateServerBody } from './servers.js';

const body = (source: unknown, extra: Record<string, unknown> = {}) => ({
  name: 'memory',
  server_type: 'Example',
  source,
  ...extra,
});

/** The path of the first issue, as the API's 422 names the field. */
const fieldOf = (input: unknown) => {
  const result = CreateServerBody.safeParse(input);
  return result.success ? undefined : result.error.issues[0]!.path.join('.');
};

describe('server sources', () => {
  it('accepts git with directory and dockerfile, and each package type', () => {
    const git = CreateServerBody.parse(
      body({
        type: 'git',
        repository: 'https://example.com/x.git',
        directory: 'src/everything',
        dockerfile: 'Dockerfile.mcp',
      }),
    );
    expect(git.source).toMatchObject({ branch: 'main', directory: 'src/everything', dockerfile: 'Dockerfile.mcp' });
    const npm = CreateServerBody.parse(
      body({ type: 'npm', package: '@modelcontextprotocol/server-memory', args: ['--x'], env: { LOG: '1' } }),
    );
    expect(npm.source).toMatchObject({ type: 'npm', version: 'latest', args: ['--x'] });
    expect(npm.transport).toBeUndefined();
    expect(
      CreateServerBody.parse(body({ type: 'pypi', package: 'mcp-server-fetch', version: '2025.4.7' })).source,
    ).toMatchObject({ type: 'pypi' });
    expect(
      CreateServerBody.parse(
        body({ type: 'go', module: 'github.com/a/b/cmd/server', version: 'v0.1.0' }, { transport: 'stdio' }),
      ),
    ).toMatchObject({ source: { type: 'go' }, transport: 'stdio' });
  });

  it('names the field of what it refuses', () => {
    expect(fieldOf(body({ type: 'git', repository: 'https://example.com/x.git', directory: '../etc' }))).toBe(
      'source.directory',
    );
    expect(fieldOf(body({ type: 'git', repository: 'https://example.com/x.git', directory: 'a/./b' }))).toBe(
      'source.directory',
    );
    expect(fieldOf(body({ type: 'git', repository: 'https://example.com/x.git', dockerfile: '/Dockerfile' }))).toBe(
      'source.dockerfile',
    );
    expect(fieldOf(body({ type: 'npm', package: 'Bad Name' }))).toBe('source.package');
    expect(fieldOf(body({ type: 'npm', package: 'x', version: '1.0; rm -rf /' }))).toBe('source.version');
    expect(fieldOf(body({ type: 'npm', package: 'x', env: { API_TOKEN: 'x' } }))).toBe('source.env.API_TOKEN');
    expect(fieldOf(body({ type: 'npm', package: 'x', args: ['a\0b'] }))).toBe('source.args.0');
    expect(fieldOf(body({ type: 'pypi', package: 'x' }))).toBe('source.version');
    expect(fieldOf(body({ type: 'go', module: 'not-a-module' }))).toBe('source.module');
    expect(fieldOf(body({ type: 'go', module: 'github.com/a/b', version: 'main' }))).toBe('source.version');
    expect(fieldOf(body({ type: 'cargo', package: 'x' }))).toBe('source.type');
    expect(fieldOf(body({ type: 'npm', package: 'x' }, { transport: 'sse' }))).toBe('transport');
  });
});

describe('secret_updates', () => {
  const image = { type: 'image', image: 'registry.example.com/x:1' };
  it('defaults to next-start and takes redeploy', () => {
    expect(CreateServerBody.parse(body(image)).secret_updates).toBe('next-start');
    expect(CreateServerBody.parse(body(image, { secret_updates: 'redeploy' })).secret_updates).toBe('redeploy');
  });
  it('refuses anything else, naming the field', () => {
    expect(fieldOf(body(image, { secret_updates: 'now' }))).toBe('secret_updates');
  });
});

describe('registry_credentials of a git source', () => {
  const git = (registry_credentials: unknown) =>
    body({ type: 'git', repository: 'https://example.com/x.git', registry_credentials });

  it('takes logins by registry host and secret name', () => {
    const parsed = CreateServerBody.parse(
      git([
        { registry: 'registry.example.com', secret: 'base-login' },
        { registry: 'docker.io', secret: 'hub' },
      ]),
    );
    expect(parsed.source).toMatchObject({ registry_credentials: [{ registry: 'registry.example.com' }, {}] });
  });

  it('refuses a URL, a path, a bad secret name, a registry twice, and one the source policy refuses', () => {
    expect(fieldOf(git([{ registry: 'https://r.example.com', secret: 's' }]))).toBe(
      'source.registry_credentials.0.registry',
    );
    expect(fieldOf(git([{ registry: 'r.example.com/team', secret: 's' }]))).toBe(
      'source.registry_credentials.0.registry',
    );
    expect(fieldOf(git([{ registry: 'r.example.com', secret: 'Bad Name' }]))).toBe(
      'source.registry_credentials.0.secret',
    );
    expect(
      fieldOf(
        git([
          { registry: 'r.example.com', secret: 'a' },
          { registry: 'r.example.com', secret: 'b' },
        ]),
      ),
    ).toBe('source.registry_credentials.1.registry');
    expect(fieldOf(git([{ registry: 'r.example.com', secret: 's', password: 'x' }]))).toBe(
      'source.registry_credentials.0',
    );
    // The API's policy (nothing private allowed), as set at its start; later cases name no private host.
    setSourcePolicy([]);
    expect(fieldOf(git([{ registry: '10.0.0.5:5000', secret: 's' }]))).toBe('source.registry_credentials.0.registry');
  });
});

describe('UpdateServerBody', () => {
  it('takes settings only, at least one', () => {
    expect(UpdateServerBody.parse({ secret_updates: 'redeploy' })).toEqual({ secret_updates: 'redeploy' });
    expect(UpdateServerBody.parse({ config: { A: 1, T: { secret: 'tok' } }, use_gpu: true })).toMatchObject({
      use_gpu: true,
    });
    expect(UpdateServerBody.safeParse({}).success).toBe(false);
    for (const fixed of ['source', 'owner_id', 'name', 'server_type']) {
      const result = UpdateServerBody.safeParse({ [fixed]: 'x', use_gpu: true });
      expect(result.success).toBe(false);
    }
  });
});
