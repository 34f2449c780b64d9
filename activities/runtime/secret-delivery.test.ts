import { describe, expect, it } from 'vitest';
import { envFromCommand, numericUser, planDelivery, secretMounts, secretsCommand } from './secret-delivery.js';

describe('secret delivery plan', () => {
  it('files once per secret (every key that names it gets its _FILE), env per key', () => {
    const plan = planDelivery({
      A: { secret: 'gh' },
      B: { secret: 'gh', as: 'file' },
      C: { secret: 'db', as: 'env' },
      D: 'plain',
    });
    expect([...plan.files]).toEqual([['gh', ['A', 'B']]]);
    expect([...plan.env]).toEqual([['C', 'db']]);
    expect(plan.names.sort()).toEqual(['db', 'gh']);
    expect(planDelivery({ D: 'plain' }).names).toEqual([]);
  });

  it('chowns only to numeric users', () => {
    expect(numericUser('65532:65532')).toEqual({ uid: 65532, gid: 65532 });
    expect(numericUser('1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(numericUser('node')).toBeUndefined();
    expect(numericUser('1000:staff')).toBeUndefined();
  });

  it('runs the command through the bridge only when a secret is env', () => {
    const secrets = { env: [], hostDir: '/run/x/mcp-server-1', asEnv: false, versions: {} };
    const image = { entrypoint: null, cmd: ['httpd', '-f'] };
    expect(secretsCommand(undefined, null, image)).toBeNull();
    expect(secretsCommand(secrets, null, image)).toBeNull();
    expect(secretsCommand({ ...secrets, asEnv: true }, null, image)).toEqual(envFromCommand(['httpd', '-f']));
    expect(envFromCommand(['httpd', '-f'])).toEqual([
      '/.mcp-host/stdio-bridge',
      '--env-from',
      '/run/secrets/.env',
      '--',
      'httpd',
      '-f',
    ]);
    // A bridged stdio server: --env-from first, then the bridge as before.
    const bridged = ['/.mcp-host/stdio-bridge', '--', 'node', 'server.js'];
    expect(secretsCommand({ ...secrets, asEnv: true }, bridged, image)).toEqual(envFromCommand(bridged));
    expect(secretsCommand({ ...secrets, asEnv: true }, null, { entrypoint: null, cmd: null })).toBeNull();
    expect(secretMounts(secrets)).toEqual([
      { Type: 'bind', Source: '/run/x/mcp-server-1', Target: '/run/secrets', ReadOnly: true },
    ]);
    expect(secretMounts(undefined)).toEqual([]);
  });
});
