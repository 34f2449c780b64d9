import { describe, expect, it } from 'vitest';
import { apiBase, isDigest, isTag, parseImageReference, parseRegistry, repoPath, repositoryFor } from './reference.js';

describe('parseRegistry', () => {
  it.each([
    ['registry.example.com/org', { scheme: 'https', host: 'registry.example.com', pathPrefix: 'org' }],
    ['http://127.0.0.1:5000/demo', { scheme: 'http', host: '127.0.0.1:5000', pathPrefix: 'demo' }],
    // No scheme means https, loopback included: plain HTTP must be asked for explicitly.
    ['127.0.0.1:5000', { scheme: 'https', host: '127.0.0.1:5000', pathPrefix: '' }],
    ['localhost', { scheme: 'https', host: 'localhost', pathPrefix: '' }],
    [
      'https://Registry.Example.com:443/team/sub/',
      { scheme: 'https', host: 'registry.example.com:443', pathPrefix: 'team/sub' },
    ],
    ['  ghcr.io/acme  ', { scheme: 'https', host: 'ghcr.io', pathPrefix: 'acme' }],
    ['HTTP://localhost:5000', { scheme: 'http', host: 'localhost:5000', pathPrefix: '' }],
    ['http://[::1]:5000/x', { scheme: 'http', host: '[::1]:5000', pathPrefix: 'x' }],
  ])('parses %j', (value, expected) => expect(parseRegistry(value)).toEqual(expected));

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['ftp://registry.example.com', /scheme "ftp" is not supported/],
    ['://registry.example.com', /malformed scheme/],
    ['https://user:pass@registry.example.com', /must not contain "@"/],
    ['registry.example.com/org@sha256:abc', /must not contain "@"/],
    ['registry.example.com/Org', /path component "Org" is invalid/],
    ['registry.example.com/org//app', /path component "" is invalid/],
    ['registry.example.com/org/app:latest', /path component "app:latest" is invalid/],
    ['registry.example.com:99999', /port "99999" is invalid/],
    ['registry.example.com:', /port "" is invalid/],
    ['registry.example.com:0', /port "0" is invalid/],
    ['reg_istry.example.com', /not a valid host name/],
    ['-bad.example.com', /not a valid host name/],
    ['registry/org', /Docker Hub namespace/],
    ['https://', /must start with a host/],
    ['registry.example.com/org?x=1', /query or fragment/],
    ['registry.example.com/o rg', /whitespace/],
  ])('rejects %j', (value, problem) => expect(() => parseRegistry(value)).toThrow(problem));
});

describe('names derived from a registry', () => {
  it('drops the scheme from image references and keeps it for the API', () => {
    const reg = parseRegistry('http://127.0.0.1:5000/demo');
    expect(repositoryFor(reg, 'mcp-custom-12')).toBe('127.0.0.1:5000/demo/mcp-custom-12');
    expect(repoPath(reg, 'mcp-custom-12')).toBe('demo/mcp-custom-12');
    expect(apiBase(reg)).toBe('http://127.0.0.1:5000');
  });

  it('works without a path prefix and accepts the raw string', () => {
    expect(repositoryFor('registry.example.com', 'mcp-custom-1')).toBe('registry.example.com/mcp-custom-1');
    expect(repoPath('registry.example.com', 'mcp-custom-1')).toBe('mcp-custom-1');
    expect(apiBase('registry.example.com/org')).toBe('https://registry.example.com');
  });

  it('uses the Docker Hub API host for docker.io', () => {
    expect(apiBase('docker.io/acme')).toBe('https://registry-1.docker.io');
    expect(repositoryFor('docker.io/acme', 'app')).toBe('docker.io/acme/app');
  });

  it('rejects invalid image names', () => {
    expect(() => repoPath('registry.example.com', 'Bad')).toThrow(/image name "Bad" is invalid/);
    expect(() => repoPath('registry.example.com', '../x')).toThrow(/invalid/);
    expect(() => repoPath('registry.example.com', '')).toThrow(/invalid/);
  });

  it('tells tags from digests', () => {
    expect(isTag('latest-linux_amd64')).toBe(true);
    expect(isTag('.hidden')).toBe(false);
    expect(isTag('a'.repeat(129))).toBe(false);
    expect(isDigest(`sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(isDigest('sha256:short')).toBe(false);
    expect(isDigest('latest')).toBe(false);
  });
});

describe('parseImageReference', () => {
  it('splits host, repository and tag or digest as Docker reads them', () => {
    expect(parseImageReference('127.0.0.1:5000/mcp/mcp-custom-7:latest')).toEqual({
      host: '127.0.0.1:5000',
      repo: 'mcp/mcp-custom-7',
      reference: 'latest',
    });
    expect(parseImageReference('registry.example.com/team/app@sha256:abc')).toEqual({
      host: 'registry.example.com',
      repo: 'team/app',
      reference: 'sha256:abc',
    });
    expect(parseImageReference('localhost/app')).toEqual({ host: 'localhost', repo: 'app', reference: 'latest' });
    expect(parseImageReference('busybox:1.36')).toEqual({
      host: 'docker.io',
      repo: 'library/busybox',
      reference: '1.36',
    });
    expect(parseImageReference('team/app')).toEqual({ host: 'docker.io', repo: 'team/app', reference: 'latest' });
  });
});
