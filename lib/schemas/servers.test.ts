import { describe, expect, it } from 'vitest';
import { CreateServerBody } from './servers.js';

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
