import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCreateBody, buildUpdateBody, parseConfigPairs, type CreateOptions } from '../../cli/commands/servers.js';

describe('parseConfigPairs', () => {
  it('turns true/false into booleans and plain numbers into numbers', () => {
    expect(parseConfigPairs(['DEBUG=true', 'CACHE=false', 'PORT=8080', 'RATIO=-1.5', 'MODE=fast'])).toEqual({
      DEBUG: true,
      CACHE: false,
      PORT: 8080,
      RATIO: -1.5,
      MODE: 'fast',
    });
  });

  it('keeps as strings the values a number would change', () => {
    expect(
      parseConfigPairs([
        'ZIP=007',
        'VERSION=1.50',
        'EXP=1e3',
        'BIG=12345678901234567890',
        'INF=Infinity',
        'HEX=0x10',
        'CASE=TRUE',
        'EMPTY=',
      ]),
    ).toEqual({
      ZIP: '007',
      VERSION: '1.50',
      EXP: '1e3',
      BIG: '12345678901234567890',
      INF: 'Infinity',
      HEX: '0x10',
      CASE: 'TRUE',
      EMPTY: '',
    });
  });

  it('splits at the first "=" only', () => {
    expect(parseConfigPairs(['QUERY=a=b&c=d'])).toEqual({ QUERY: 'a=b&c=d' });
  });

  it('refuses pairs without a key or "=", and keys given twice', () => {
    expect(() => parseConfigPairs(['PORT'])).toThrow('--config: expected KEY=VALUE, got "PORT"');
    expect(() => parseConfigPairs(['=1'])).toThrow('--config: expected KEY=VALUE, got "=1"');
    expect(() => parseConfigPairs(['PORT=1', 'PORT=2'])).toThrow('--config: PORT is given more than once');
  });
});

describe('buildCreateBody', () => {
  const git: CreateOptions = { type: 'python', git: 'https://github.com/acme/weather.git', start: true };

  it('builds a git source, leaving the branch default to the API', () => {
    expect(buildCreateBody('weather', { ...git, config: ['PORT=8080'], gpu: true })).toEqual({
      name: 'weather',
      server_type: 'python',
      source: { type: 'git', repository: 'https://github.com/acme/weather.git' },
      config: { PORT: 8080 },
      use_gpu: true,
      start: true,
    });
  });

  it('builds an image source and passes --no-start on', () => {
    const body = buildCreateBody('w', { type: 'node', image: 'ghcr.io/acme/w:1.0', start: false });
    expect(body.source).toEqual({ type: 'image', image: 'ghcr.io/acme/w:1.0' });
    expect(body.start).toBe(false);
  });

  it('passes --secret-updates on, refused by name when it is neither policy', () => {
    expect(buildCreateBody('w', { ...git, secretUpdates: 'redeploy' }).secret_updates).toBe('redeploy');
    expect(buildCreateBody('w', git)).not.toHaveProperty('secret_updates');
    expect(() => buildCreateBody('w', { ...git, secretUpdates: 'now' })).toThrow('--secret-updates');
  });

  it('needs exactly one source', () => {
    const one = '--git/--image/--npm/--pypi/--go/--from: give exactly one source';
    expect(() => buildCreateBody('w', { type: 'node', start: true })).toThrow(one);
    expect(() => buildCreateBody('w', { ...git, image: 'acme/w' })).toThrow(one);
    expect(() => buildCreateBody('w', { type: 'node', image: 'acme/w', branch: 'dev', start: true })).toThrow(
      '--branch: only applies with --git',
    );
  });

  it('names the option at fault when the API schema refuses the input', () => {
    expect(() => buildCreateBody('Weather_1', git)).toThrow(/^NAME: must be 1-63 lowercase/);
    expect(() => buildCreateBody('w', { ...git, type: '' })).toThrow(/^--type: /);
    expect(() => buildCreateBody('w', { ...git, git: 'file:///etc' })).toThrow(
      /^--git: repository uses the unsupported scheme "file:"/,
    );
    expect(() => buildCreateBody('w', { ...git, branch: '../x' })).toThrow(/^--branch: /);
    expect(() => buildCreateBody('w', { type: 'node', image: 'Not An Image', start: true })).toThrow(
      /^--image: must be an image reference/,
    );
    expect(() => buildCreateBody('w', { ...git, config: ['resources.cpus=x'] })).toThrow(/^--config resources\.cpus: /);
  });

  it('takes config as plain settings and secrets as references', () => {
    // No key-name deny list: a setting named like a secret is a setting; secrets are references.
    expect(buildCreateBody('w', { ...git, config: ['DB_PASSWORD_HINT=ask'] }).config).toEqual({
      DB_PASSWORD_HINT: 'ask',
    });
    expect(buildCreateBody('w', { ...git, secret: ['GH_TOKEN=gh', 'DB_URL=db:env'] }).config).toEqual({
      GH_TOKEN: { secret: 'gh' },
      DB_URL: { secret: 'db', as: 'env' },
    });
    expect(() => buildCreateBody('w', { ...git, secret: ['GH_TOKEN'] })).toThrow(/^--secret: expected KEY=NAME/);
    expect(() => buildCreateBody('w', { ...git, secret: ['GH_TOKEN=Bad Name'] })).toThrow(/GH_TOKEN/);
  });

  it('--from reads a server.json: its name by default, MCP as the type, no plain value for a secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpctl-from-'));
    const file = join(dir, 'server.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'io.github.example/Weather_Server',
        description: 'Weather',
        version: '1.0.0',
        packages: [
          {
            registryType: 'npm',
            identifier: '@example/weather-mcp',
            version: '1.0.0',
            transport: { type: 'stdio' },
            environmentVariables: [{ name: 'WEATHER_KEY', isSecret: true }],
          },
        ],
      }),
    );
    try {
      // A server.json's optional secret left out; given, it is a reference only (the secret store's).
      const body = buildCreateBody(undefined, { from: file, start: true });
      expect(body).toMatchObject({ name: 'weather-server', server_type: 'MCP', config: {} });
      expect(body.source).toMatchObject({ type: 'registry', server: { name: 'io.github.example/Weather_Server' } });
      expect(() => buildCreateBody('w', { from: file, config: ['WEATHER_KEY=plain'], start: true })).toThrow(
        /WEATHER_KEY/,
      );
      expect(() => buildCreateBody('w', { from: file, version: '2', start: true })).toThrow(
        '--version: does not apply with --from',
      );
      expect(() => buildCreateBody('w', { from: join(dir, 'missing.json'), start: true })).toThrow('--from:');
      expect(() => buildCreateBody('w', { type: 'node', image: 'acme/w', package: '0', start: true })).toThrow(
        '--package: only applies with --from',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('buildUpdateBody (mcpctl servers update)', () => {
  it('sends only what is given: the policy, the GPU, a whole new config of settings and references', () => {
    expect(buildUpdateBody({ secretUpdates: 'redeploy' })).toEqual({ secret_updates: 'redeploy' });
    expect(buildUpdateBody({ gpu: false })).toEqual({ use_gpu: false });
    expect(buildUpdateBody({ config: ['MODE=fast', 'PORT=8080'], secret: ['GH_TOKEN=gh:env'] })).toEqual({
      config: { MODE: 'fast', PORT: 8080, GH_TOKEN: { secret: 'gh', as: 'env' } },
    });
    expect(buildUpdateBody({ clearConfig: true })).toEqual({ config: {} });
  });

  it('refuses, naming the option, before calling the API', () => {
    expect(() => buildUpdateBody({})).toThrow(/^give at least one of --config/);
    expect(() => buildUpdateBody({ secretUpdates: 'now' })).toThrow(/^--secret-updates: /);
    expect(() => buildUpdateBody({ config: ['egress=everywhere'] })).toThrow(/^--config\/--secret egress: /);
    expect(() => buildUpdateBody({ clearConfig: true, config: ['A=1'] })).toThrow(/^--clear-config: /);
    expect(() => buildUpdateBody({ config: ['A=1'], secret: ['A=a'] })).toThrow(/^--secret: A is also given/);
  });
});

describe('--registry-secret (mcpctl servers create)', () => {
  it("becomes the git source's registry_credentials, and only applies with --git", () => {
    const body = buildCreateBody('w', {
      type: 'Example',
      git: 'https://git.example.com/team/server.git',
      registrySecret: ['registry.example.com:5000=base-login'],
      start: false,
    });
    expect(body.source).toMatchObject({
      registry_credentials: [{ registry: 'registry.example.com:5000', secret: 'base-login' }],
    });
    expect(() =>
      buildCreateBody('w', { type: 'Example', image: 'team/x:1', registrySecret: ['r.example.com=s'], start: false }),
    ).toThrow(/^--registry-secret: only applies with --git/);
    expect(() =>
      buildCreateBody('w', {
        type: 'Example',
        git: 'https://git.example.com/team/server.git',
        registrySecret: ['https://r.example.com=s'],
        start: false,
      }),
    ).toThrow(/registry_credentials\.0\.registry: must be a registry host/);
  });
});
