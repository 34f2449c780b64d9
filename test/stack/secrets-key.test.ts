import { mkdtempSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeKey } from '../../lib/secrets/key-format.js';
import { ensureSecretsKeyFile } from '../../scripts/stack/secrets-key.js';

describe('the development stack key file', () => {
  it('is created once with mode 0600, then kept as it is', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'stack-key-')), 'data', 'secrets.key');
    expect(ensureSecretsKeyFile(file).created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readFileSync(file, 'utf8');
    expect(decodeKey(key)).toHaveLength(32);
    chmodSync(file, 0o644);
    expect(ensureSecretsKeyFile(file).created).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(key);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
