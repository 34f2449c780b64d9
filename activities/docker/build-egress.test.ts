import { describe, expect, it } from 'vitest';
import { hostAllowed, hostOf } from './build-egress.js';

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
