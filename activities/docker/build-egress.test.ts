import { describe, expect, it } from 'vitest';
import { forwardingProblem, hostAllowed, hostOf } from './build-egress.js';

describe('the build egress allow-list', () => {
  const allowed = new Set(['https://registry.npmjs.org', 'proxy.golang.org:443', '.pythonhosted.org'].map(hostOf));

  it('reads registry URLs, host:port and suffix entries as host names', () => {
    expect([...allowed]).toEqual(['registry.npmjs.org', 'proxy.golang.org', '.pythonhosted.org']);
  });

  it('lets the registries through and nothing else', () => {
    expect(hostAllowed('registry.npmjs.org', allowed)).toBe(true);
    expect(hostAllowed('REGISTRY.npmjs.org.', allowed)).toBe(true);
    expect(hostAllowed('files.pythonhosted.org', allowed)).toBe(true);
    expect(hostAllowed('npmjs.org', allowed)).toBe(false);
    expect(hostAllowed('registry.npmjs.org.evil.example', allowed)).toBe(false);
    expect(hostAllowed('127.0.0.1', allowed)).toBe(false);
    expect(hostAllowed('169.254.169.254', allowed)).toBe(false);
  });
});

describe('a worker container joined to build networks', () => {
  const sysctls = (values: Record<string, string>) => async (path: string) => values[path];

  it('must not forward IP packets, IPv4 or (where the kernel has it) IPv6', async () => {
    const off = { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/sys/net/ipv6/conf/all/forwarding': '0\n' };
    expect(await forwardingProblem(sysctls(off))).toBeUndefined();
    expect(await forwardingProblem(sysctls({ '/proc/sys/net/ipv4/ip_forward': '0\n' }))).toBeUndefined();
    expect(await forwardingProblem(sysctls({ ...off, '/proc/sys/net/ipv4/ip_forward': '1\n' }))).toMatch(
      /forwards IP packets \(net\.ipv4\.ip_forward=1\).*set it to 0/,
    );
    expect(await forwardingProblem(sysctls({ ...off, '/proc/sys/net/ipv6/conf/all/forwarding': '1\n' }))).toContain(
      'net.ipv6.conf.all.forwarding=1',
    );
  });
});
