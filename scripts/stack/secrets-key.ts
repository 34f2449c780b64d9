// The development stack's key-encryption key: created once, on first start, in .data/secrets.key
// (mode 0600, readable by this user only), and handed to the API and worker as SECRETS_KEY_FILE.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function ensureSecretsKeyFile(file: string): { file: string; created: boolean } {
  mkdirSync(dirname(file), { recursive: true });
  try {
    // 'wx': never overwrite a key that exists (secrets wrapped by it would be lost).
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    return { file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // A key others may read is tightened, not refused: it is this checkout's own file.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return { file, created: false };
}
