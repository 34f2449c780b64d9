import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  findCredentials,
  inspectDockerConfig,
  loadCredentials,
  parseDockerConfig,
  readDockerConfig,
  xRegistryAuth,
  type DockerConfig,
} from './dockerconfig.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const config = (auths: DockerConfig['auths']): DockerConfig => ({ auths });

describe('findCredentials', () => {
  it.each([
    ['registry.example.com'],
    ['https://registry.example.com'],
    ['http://registry.example.com'],
    ['https://registry.example.com/v1/'],
    ['HTTPS://Registry.Example.com'],
  ])('finds an entry stored under %j', (key) => {
    const found = findCredentials(config({ [key]: { auth: b64('alice:s3cret') } }), 'registry.example.com');
    expect(found).toEqual({ username: 'alice', password: 's3cret' });
  });

  it('keeps the port as part of the host', () => {
    const c = config({ '127.0.0.1:5000': { auth: b64('a:b') } });
    expect(findCredentials(c, '127.0.0.1:5000')).toEqual({ username: 'a', password: 'b' });
    expect(findCredentials(c, '127.0.0.1')).toBeUndefined();
    expect(findCredentials(c, '127.0.0.1:5001')).toBeUndefined();
  });

  it('accepts username + password and passwords containing colons', () => {
    expect(findCredentials(config({ h: { username: 'u', password: 'p' } }), 'h')).toEqual({
      username: 'u',
      password: 'p',
    });
    expect(findCredentials(config({ h: { auth: b64('u:p:q') } }), 'h')).toEqual({ username: 'u', password: 'p:q' });
  });

  it.each([
    ['empty auth', { auth: '' }],
    ['auth without colon', { auth: b64('nocolon') }],
    ['auth with empty user', { auth: b64(':pw') }],
    ['username only', { username: 'u' }],
    ['password only', { password: 'p' }],
    ['empty entry', {}],
  ])('treats %s as no entry', (_label, entry) => {
    expect(findCredentials(config({ h: entry }), 'h')).toBeUndefined();
  });

  it('falls back to username + password when auth does not decode to user:pass', () => {
    expect(findCredentials(config({ h: { auth: b64('junk'), username: 'u', password: 'p' } }), 'h')).toEqual({
      username: 'u',
      password: 'p',
    });
  });

  it('skips an invalid entry under one key and uses a valid one under another', () => {
    const c = config({ h: { auth: '' }, 'https://h': { auth: b64('u:p') } });
    expect(findCredentials(c, 'h')).toEqual({ username: 'u', password: 'p' });
  });

  it('finds Docker Hub credentials under the legacy index key', () => {
    const c = config({ 'https://index.docker.io/v1/': { auth: b64('hub:pw') } });
    expect(findCredentials(c, 'docker.io')).toEqual({ username: 'hub', password: 'pw' });
  });
});

describe('parseDockerConfig', () => {
  it('drops malformed entries and fields', () => {
    expect(
      parseDockerConfig(JSON.stringify({ auths: { a: 'x', b: { auth: 5, username: 'u', password: 'p' } } })),
    ).toEqual({
      auths: { b: { username: 'u', password: 'p' } },
    });
    expect(parseDockerConfig('{}')).toEqual({ auths: {} });
  });

  it('never echoes file content in errors', () => {
    const secret = '{"auths": {"h": {"auth": "c2VjcmV0OnBhc3N3b3Jk"';
    expect(() => parseDockerConfig(secret)).toThrow('dockerconfig is not valid JSON');
    try {
      parseDockerConfig(secret);
    } catch (err) {
      expect((err as Error).message).not.toContain('c2VjcmV0');
    }
    expect(() => parseDockerConfig('[]')).toThrow(/must be a JSON object/);
    expect(() => parseDockerConfig('{"auths": []}')).toThrow(/"auths" must be an object/);
  });
});

describe('reading the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dockerconfig-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads credentials for a host', async () => {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ auths: { 'registry.example.com': { auth: b64('u:p') } } }));
    expect(await loadCredentials(path, 'registry.example.com')).toEqual({ username: 'u', password: 'p' });
    expect(await loadCredentials(path, 'other.example.com')).toBeUndefined();
    const facts = await inspectDockerConfig(path);
    expect(facts.ok && facts.mtimeMs).toBeGreaterThan(0);
  });

  it('reports a missing file without throwing from inspect', async () => {
    const path = join(dir, 'missing.json');
    await expect(readDockerConfig(path)).rejects.toThrow(/cannot read dockerconfig: ENOENT/);
    expect(await inspectDockerConfig(path)).toEqual({ ok: false, error: expect.stringMatching(/^ENOENT/) });
  });

  it('reports an unparsable file as a problem, without its content', async () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, 'hunter2');
    const facts = await inspectDockerConfig(path);
    expect(facts).toMatchObject({ ok: true, config: undefined, problem: expect.stringMatching(/not valid JSON/) });
    expect(JSON.stringify(facts)).not.toContain('hunter2');
  });
});

describe('xRegistryAuth', () => {
  it('is padded base64url of {username, password, serveraddress}', () => {
    const value = xRegistryAuth({ username: 'u?>', password: 'p~~~?' }, 'registry.example.com:50');
    expect(value).toMatch(/^[A-Za-z0-9_-]+=+$/); // this length needs padding; Go's URLEncoding requires it
    expect(value.length % 4).toBe(0);
    const decoded = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    expect(decoded).toEqual({ username: 'u?>', password: 'p~~~?', serveraddress: 'registry.example.com:50' });
    expect(Object.keys(decoded)).toEqual(['username', 'password', 'serveraddress']);
  });

  it('uses the URL-safe alphabet where standard base64 would use + and /', () => {
    const value = xRegistryAuth({ username: '>>>', password: '???' }, 'h');
    const standard = Buffer.from(JSON.stringify({ username: '>>>', password: '???', serveraddress: 'h' })).toString(
      'base64',
    );
    expect(standard).toMatch(/[+/]/);
    expect(value).toBe(standard.replace(/\+/g, '-').replace(/\//g, '_'));
  });
});
