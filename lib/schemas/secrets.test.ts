import { describe, expect, it } from 'vitest';
import { plainSettings, secretRefs, SecretName } from './secrets.js';
import { ServerConfig } from './servers.js';

const issues = (config: unknown) => {
  const r = ServerConfig.safeParse(config);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('server config with secret references', () => {
  it('takes plain settings of any name: the key-name deny list is gone', () => {
    expect(issues({ DB_PASSWORD_HINT: 'ask ops', GH_PAT_SCOPE: 'repo', OPENAI_KEY_ID: 3 })).toEqual([]);
  });

  it('takes {"secret": name} as a file and {"secret": name, "as": "env"}, nothing else', () => {
    expect(issues({ GH: { secret: 'github-token' }, DB: { secret: 'db-url', as: 'env' } })).toEqual([]);
    expect(issues({ GH: { secret: 'github-token', as: 'file' } })).toEqual([]);
    expect(issues({ GH: { secret: 'Bad/Name' } })[0]).toMatch(/^GH\.secret: must be 1-64 lowercase/);
    expect(issues({ GH: { secret: 'gh', as: 'stdin' } })[0]).toMatch(/^GH/);
    expect(issues({ GH: { secret: 'gh', value: 'x' } })[0]).toMatch(/^GH/);
    expect(issues({ GH: { name: 'gh' } })[0]).toMatch(/^GH/);
  });

  it('refuses a secret as a platform setting, and a plain KEY_FILE that a file reference would set', () => {
    expect(issues({ 'resources.cpus': { secret: 'gh' } })).toEqual([
      'resources.cpus: resources.cpus is a platform setting, not a secret',
    ]);
    expect(issues({ GH: { secret: 'gh' }, GH_FILE: '/x' })).toEqual([
      'GH_FILE: GH_FILE is set by the secret reference of GH',
    ]);
    expect(issues({ GH: { secret: 'gh', as: 'env' }, GH_FILE: '/x' })).toEqual([]);
  });

  it('leaves the policy for new versions to the server field, not a config key', () => {
    expect(issues({ 'secrets.on_change': 'redeploy' })).toEqual([
      'secrets.on_change: secrets.on_change is not a config key: set the server field secret_updates',
    ]);
  });

  it('splits references from settings', () => {
    const config = { A: 'a', B: { secret: 'b' }, C: 1 };
    expect(plainSettings(config)).toEqual({ A: 'a', C: 1 });
    expect(secretRefs(config)).toEqual([['B', { secret: 'b' }]]);
    expect(SecretName.safeParse('.hidden').success).toBe(false);
    expect(SecretName.safeParse('a'.repeat(65)).success).toBe(false);
    expect(SecretName.safeParse('github-token.v2').success).toBe(true);
  });
});
