import { describe, expect, it } from 'vitest';
import { parseRegistryLogin } from './base-registry-logins.js';

describe('parseRegistryLogin', () => {
  it('splits username:password at the first colon; the password may hold colons, a file its newline', () => {
    expect(parseRegistryLogin('puller:s3cr:et')).toEqual({ username: 'puller', password: 's3cr:et' });
    expect(parseRegistryLogin('puller:token\n')).toEqual({ username: 'puller', password: 'token' });
    expect(parseRegistryLogin('puller:token\r\n')).toEqual({ username: 'puller', password: 'token' });
  });

  it('refuses a value without a user name or a password', () => {
    for (const value of ['token-only', ':password', 'puller:', 'puller:\n', ''])
      expect(parseRegistryLogin(value), value).toBeUndefined();
  });
});
