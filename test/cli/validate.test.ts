import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../cli/client.js';
import { buildTokenBody } from '../../cli/commands/token.js';
import { buildUserBody } from '../../cli/commands/users.js';
import { z } from 'zod';
import { checkBody, checkOption, collect, Id, noneOr, parseJsonOption } from '../../cli/validate.js';

const TOKEN = 'mcp_abcdefghijklmnop';

describe('ids', () => {
  it('accepts positive 32-bit integers only', () => {
    expect(checkOption('ID', Id, '12')).toBe(12);
    for (const bad of ['0', '-1', '1.5', '1e3', '12abc', '', '2147483648']) {
      expect(() => checkOption('ID', Id, bad), bad).toThrow(/^ID: must be a positive/);
    }
  });
});

describe('resolveConfig', () => {
  it('needs a token', () => {
    expect(() => resolveConfig({})).toThrow('no API token; set MCPCTL_TOKEN or pass --token');
    expect(() => resolveConfig({ token: '  ' })).toThrow('no API token; set MCPCTL_TOKEN or pass --token');
  });

  it('defaults the URL and timeout, and trims what a shell may leave around them', () => {
    expect(resolveConfig({ token: `${TOKEN}\n` })).toEqual({
      baseUrl: 'http://127.0.0.1:3000',
      token: TOKEN,
      timeoutMs: 30_000,
    });
    expect(resolveConfig({ token: TOKEN, url: 'https://mcp.example.com/', timeout: '2.5' })).toMatchObject({
      baseUrl: 'https://mcp.example.com',
      timeoutMs: 2500,
    });
  });

  it('refuses a URL that is not http(s), and a timeout that is not a positive number', () => {
    expect(() => resolveConfig({ token: TOKEN, url: '127.0.0.1:3000' })).toThrow(
      '--url: must be an http:// or https:// URL',
    );
    expect(() => resolveConfig({ token: TOKEN, timeout: '0' })).toThrow('--timeout: must be more than 0 seconds');
    expect(() => resolveConfig({ token: TOKEN, timeout: '30s' })).toThrow('--timeout: must be a number of seconds');
  });

  it('refuses a token that cannot be sent in a header', () => {
    expect(() => resolveConfig({ token: 'two words' })).toThrow(/must be printable ASCII without spaces/);
  });
});

describe('users create options', () => {
  it('sends only what was given', () => {
    expect(buildUserBody({ email: 'ada@example.com' })).toEqual({ email: 'ada@example.com' });
    expect(buildUserBody({ email: 'ada@example.com', role: 'viewer', quota: '0' })).toEqual({
      email: 'ada@example.com',
      role: 'viewer',
      server_quota: 0,
    });
  });

  it('names the option at fault', () => {
    expect(() => buildUserBody({ email: 'ada' })).toThrow('--email: must be an email address');
    expect(() => buildUserBody({ email: 'ada@example.com', role: 'root' })).toThrow(/^--role: /);
    expect(() => buildUserBody({ email: 'ada@example.com', quota: 'lots' })).toThrow('--quota: must be a whole number');
    expect(() => buildUserBody({ email: 'ada@example.com', quota: '200000' })).toThrow(/^--quota: /);
  });
});

describe('token create options', () => {
  it('converts the numbers', () => {
    expect(buildTokenBody('ci', { expiresInDays: '90', user: '4' })).toEqual({
      name: 'ci',
      expires_in_days: 90,
      user_id: 4,
    });
  });

  it('names the option at fault', () => {
    expect(() => buildTokenBody('ci', { expiresInDays: '0' })).toThrow(/^--expires-in-days: /);
    expect(() => buildTokenBody('ci', { expiresInDays: '1.5' })).toThrow('--expires-in-days: must be a whole number');
    expect(() => buildTokenBody('ci', { user: 'bob' })).toThrow('--user: must be a positive integer');
    expect(() => buildTokenBody('  ', {})).toThrow(/^NAME: /);
  });

  it('builds the grants of a gateway client token', () => {
    expect(buildTokenBody('laptop', { gateway: true, server: ['3'], tool: ['echo*'] })).toEqual({
      name: 'laptop',
      gateway: { servers: [3], tools: ['echo*'], resources: [], prompts: [] },
    });
    expect(buildTokenBody('all', { server: ['*'], prompt: ['*'] }).gateway).toEqual({
      servers: '*',
      tools: [],
      resources: [],
      prompts: ['*'],
    });
    expect(buildTokenBody('api', {})).not.toHaveProperty('gateway');
  });

  it('names the gateway option at fault', () => {
    expect(() => buildTokenBody('laptop', { gateway: true })).toThrow(/^--server: a gateway token needs/);
    expect(() => buildTokenBody('laptop', { server: ['three'] })).toThrow('--server: must be a positive integer');
    expect(() => buildTokenBody('laptop', { server: ['3'], tool: [''] })).toThrow(/^--tool: /);
  });
});

describe('repeated and clearable options', () => {
  it('labels an item of a repeated option by the option alone', () => {
    const schema = z.object({ notes: z.array(z.string().min(1, 'must not be empty')) });
    expect(() => checkBody(schema, { notes: ['a', ''] }, { notes: '--note' })).toThrow('--note: must not be empty');
  });

  it('collects repeats, parses JSON options and maps "none" to null', () => {
    expect(collect('b', collect('a'))).toEqual(['a', 'b']);
    expect(parseJsonOption('--evidence', '{"a":[1]}')).toEqual({ a: [1] });
    expect(() => parseJsonOption('--evidence', 'nope')).toThrow(/^--evidence: must be JSON/);
    expect(noneOr(undefined, Number)).toBeUndefined();
    expect(noneOr('none', Number)).toBeNull();
    expect(noneOr('5', Number)).toBe(5);
  });
});
