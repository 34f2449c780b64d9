import { describe, expect, it } from 'vitest';
import {
  gitRemoteHost,
  hostPolicy,
  imageRegistryHost,
  isPrivateAddress,
  literalHostProblem,
  parseAllowedHost,
  resolveAllowedHost,
  SourceHostRefused,
} from './source-policy.js';

const none = hostPolicy([]);
const lookupTo =
  (...addresses: string[]) =>
  async () =>
    addresses.map((address) => ({ address }));

describe('source host policy', () => {
  it.each([
    '169.254.169.254',
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '0.0.0.0',
    '100.64.0.1',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
  ])('treats %s as private', (ip) => expect(isPrivateAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '172.32.0.1', '192.169.0.1', '2606:4700::1111', 'example.com'])('treats %s as public', (ip) =>
    expect(isPrivateAddress(ip)).toBe(false),
  );

  it('refuses literal private addresses and localhost unless listed, by host or by host:port', () => {
    expect(literalHostProblem(none, '169.254.169.254', 80)).toMatch(/169\.254\.169\.254:80.*SOURCE_ALLOWED_HOSTS/);
    expect(literalHostProblem(none, 'localhost', 9418)).toBeDefined();
    expect(literalHostProblem(none, 'registry.localhost', 443)).toBeDefined();
    expect(literalHostProblem(none, 'github.com', 443)).toBeUndefined();
    const listed = hostPolicy(['127.0.0.1:9418', '10.1.2.3', '[::1]:5000']);
    expect(literalHostProblem(listed, '127.0.0.1', 9418)).toBeUndefined();
    expect(literalHostProblem(listed, '127.0.0.1', 5432)).toBeDefined();
    expect(literalHostProblem(listed, '10.1.2.3', 22)).toBeUndefined();
    expect(literalHostProblem(listed, '[::1]', 5000)).toBeUndefined();
    expect(literalHostProblem(listed, '::1', 5001)).toBeDefined();
  });

  it('parses allow-list entries and rejects malformed ones', () => {
    expect(parseAllowedHost('Git.Example.com:9418')).toEqual({ host: 'git.example.com', port: 9418 });
    expect(parseAllowedHost('::1')).toEqual({ host: '::1' });
    expect(parseAllowedHost('http://x')).toBeUndefined();
    expect(parseAllowedHost('host:99999')).toBeUndefined();
  });

  it('checks every address a name resolves to, once, and returns them to connect to', async () => {
    await expect(resolveAllowedHost(none, 'example.com', 443, lookupTo('93.184.216.34'))).resolves.toEqual([
      '93.184.216.34',
    ]);
    await expect(
      resolveAllowedHost(none, 'rebind.example', 80, lookupTo('93.184.216.34', '169.254.169.254')),
    ).rejects.toThrow(SourceHostRefused);
    await expect(
      resolveAllowedHost(none, 'rebind.example', 80, lookupTo('93.184.216.34', '169.254.169.254')),
    ).rejects.toThrow(/resolves to 169\.254\.169\.254/);
    await expect(
      resolveAllowedHost(hostPolicy(['git.internal']), 'git.internal', 22, lookupTo('10.0.0.5')),
    ).resolves.toEqual(['10.0.0.5']);
    let looked = false;
    const spy = async () => ((looked = true), []);
    await expect(resolveAllowedHost(none, '10.0.0.1', 9418, spy)).rejects.toThrow(SourceHostRefused);
    expect(looked).toBe(false);
  });

  it('finds the host and port of git remotes and image registries', () => {
    expect(gitRemoteHost('git://10.0.0.1/x')).toEqual({ host: '10.0.0.1', port: 9418, scheme: 'git:' });
    expect(gitRemoteHost('http://127.0.0.1:5432/x')).toEqual({ host: '127.0.0.1', port: 5432, scheme: 'http:' });
    expect(gitRemoteHost('https://[::1]/x')).toEqual({ host: '::1', port: 443, scheme: 'https:' });
    expect(gitRemoteHost('git@github.com:org/repo.git')).toEqual({ host: 'github.com', port: 22, scheme: 'ssh:' });
    expect(imageRegistryHost('127.0.0.1:5000/mcp/x:1')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(imageRegistryHost('node:24')).toEqual({ host: 'registry-1.docker.io', port: 443 });
    expect(imageRegistryHost('ghcr.io/o/x')).toEqual({ host: 'ghcr.io', port: 443 });
  });
});
