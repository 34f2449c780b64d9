import { describe, expect, it } from 'vitest';
import { EnvError, parseEnvironment } from './env.js';

describe('environment schema', () => {
  it('applies the documented defaults', () => {
    const env = parseEnvironment({});
    expect(env.BIND_ADDRESS).toBe('0.0.0.0');
    expect(env.BIND_PORT).toBe(3000);
    expect(env.ALLOW_MIGRATION_FAILURE).toBe(false);
    expect(env.REGISTRY_ARCH_TARGETS).toEqual(['linux/amd64']);
    expect(env.REGISTRY_AUTH_MAX_AGE_SECONDS).toBe(86_400);
    expect(env.REGISTRY_AUTH_ROTATE_LEAD_SECONDS).toBe(3_600);
    expect(env.REGISTRY_PUSH_RETRIES).toBe(3);
    expect(env.REGISTRY_BUILD_PARALLELISM).toBeUndefined();
    expect(env.REGISTRY_BUILD_DISABLE_CACHE).toBe(false);
    expect(env.REGISTRY_BUILD_CACHE_FROM).toEqual([]);
    expect(env.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(env.TEMPORAL_NAMESPACE).toBe('default');
    expect(env.CONTAINER_RUNTIME).toBe('docker');
    expect(env.DOCKER_NETWORK_MODE).toBe('bridge');
    expect(env.ALLOW_HOST_NETWORK).toBe(false);
    expect(env.SERVER_EGRESS_ALLOW).toEqual([]);
  });

  it('shares the host network with hosted servers only when the operator allows it explicitly', () => {
    expect(parseEnvironment({ DOCKER_NETWORK_MODE: 'host', ALLOW_HOST_NETWORK: 'true' }).DOCKER_NETWORK_MODE).toBe(
      'host',
    );
    expect(() => parseEnvironment({ DOCKER_NETWORK_MODE: 'host', ALLOW_HOST_NETWORK: 'false' })).toThrow(EnvError);
    expect(parseEnvironment({ SERVER_EGRESS_ALLOW: '10.0.0.53:53, 192.168.1.10:443' }).SERVER_EGRESS_ALLOW).toEqual([
      '10.0.0.53:53',
      '192.168.1.10:443',
    ]);
    expect(parseEnvironment({}).DOCKER_ATTACH_CONTAINERS).toEqual([]);
    expect(
      parseEnvironment({ DOCKER_ATTACH_CONTAINERS: 'mcp-host-api, mcp-host-worker' }).DOCKER_ATTACH_CONTAINERS,
    ).toEqual(['mcp-host-api', 'mcp-host-worker']);
  });

  it('parses booleans from explicit words only', () => {
    expect(parseEnvironment({ ALLOW_MIGRATION_FAILURE: 'TRUE' }).ALLOW_MIGRATION_FAILURE).toBe(true);
    expect(parseEnvironment({ ALLOW_MIGRATION_FAILURE: 'yes' }).ALLOW_MIGRATION_FAILURE).toBe(true);
    expect(parseEnvironment({ ALLOW_MIGRATION_FAILURE: 'false' }).ALLOW_MIGRATION_FAILURE).toBe(false);
    expect(parseEnvironment({ REGISTRY_BUILD_DISABLE_CACHE: '0' }).REGISTRY_BUILD_DISABLE_CACHE).toBe(false);
    expect(() => parseEnvironment({ ALLOW_MIGRATION_FAILURE: 'maybe' })).toThrow(
      'invalid environment: ALLOW_MIGRATION_FAILURE: expected true or false, got "maybe"',
    );
  });

  it.each([
    ['BIND_PORT', 'abc', /BIND_PORT: expected an integer between 0 and 65535, got "abc"/],
    ['BIND_PORT', '70000', /BIND_PORT: expected an integer/],
    ['REGISTRY_PUSH_RETRIES', '0', /REGISTRY_PUSH_RETRIES: expected an integer between 1/],
    ['REGISTRY_ARCH_TARGETS', ' , ', /REGISTRY_ARCH_TARGETS: expected at least one platform/],
    [
      'REGISTRY_ARCH_TARGETS',
      'linux/amd64,amd64',
      /REGISTRY_ARCH_TARGETS: expected platforms as os\/arch\[\/variant\], got "amd64"/,
    ],
    ['CONTAINER_RUNTIME', 'podman', /CONTAINER_RUNTIME: /],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres:\/\/ URL/],
    ['ADMIN_TOKEN', 'short', /ADMIN_TOKEN: expected at least 16 characters/],
    ['DOCKER_NETWORK_MODE', 'host', /DOCKER_NETWORK_MODE: host shares the host network .* set ALLOW_HOST_NETWORK=true/],
    ['SERVER_EGRESS_ALLOW', '10.0.0.53', /SERVER_EGRESS_ALLOW: expected ipv4:port entries/],
    ['SERVER_EGRESS_ALLOW', 'dns.internal:53', /SERVER_EGRESS_ALLOW: expected ipv4:port entries/],
    // A server's own container is never joined to other servers' networks.
    ['DOCKER_ATTACH_CONTAINERS', 'mcp-host-api,mcp-server-7', /DOCKER_ATTACH_CONTAINERS: expected container names/],
    ['DOCKER_ATTACH_CONTAINERS', 'label=x', /DOCKER_ATTACH_CONTAINERS: expected container names/],
  ])('%s=%j stops start-up with one line naming it', (name, value, message) => {
    let error: unknown;
    try {
      parseEnvironment({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('normalises target lists: trims, drops blanks and duplicates, keeps variants', () => {
    const env = parseEnvironment({ REGISTRY_ARCH_TARGETS: ' linux/amd64, ,linux/arm64/v8,linux/amd64' });
    expect(env.REGISTRY_ARCH_TARGETS).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(parseEnvironment({ REGISTRY_BUILD_CACHE_FROM: 'a:1, b:2' }).REGISTRY_BUILD_CACHE_FROM).toEqual([
      'a:1',
      'b:2',
    ]);
  });
});
