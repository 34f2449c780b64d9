import { describe, expect, it } from 'vitest';
import { bridgeArch, bridgedCommand } from './stdio-bridge.js';

describe('bridgedCommand', () => {
  it("puts the bridge in front of the image's entrypoint and command, in the runtime's order", () => {
    expect(bridgedCommand(['node'], ['server.js', '--stdio'])).toEqual([
      '/.mcp-host/stdio-bridge',
      '--',
      'node',
      'server.js',
      '--stdio',
    ]);
    expect(bridgedCommand(null, ['/usr/local/bin/hello-mcp', '--stdio'])).toEqual([
      '/.mcp-host/stdio-bridge',
      '--',
      '/usr/local/bin/hello-mcp',
      '--stdio',
    ]);
    expect(bridgedCommand(['/entry.sh'], null)).toEqual(['/.mcp-host/stdio-bridge', '--', '/entry.sh']);
  });

  it('has nothing to run for an image without a command', () => {
    expect(bridgedCommand(null, null)).toBeNull();
    expect(bridgedCommand([], [])).toBeNull();
  });
});

describe('bridgeArch', () => {
  it("maps Docker's and OCI's names, and nothing else", () => {
    expect(bridgeArch('x86_64')).toBe('amd64');
    expect(bridgeArch('amd64')).toBe('amd64');
    expect(bridgeArch('aarch64')).toBe('arm64');
    expect(bridgeArch('arm64')).toBe('arm64');
    expect(bridgeArch('s390x')).toBeUndefined();
  });
});
