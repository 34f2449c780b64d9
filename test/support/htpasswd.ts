// Registry credentials for tests: a bcrypt htpasswd file for docker-registry's htpasswd auth (which
// accepts bcrypt only), and a Docker config.json carrying the matching login.
//
// bcrypt without apache2-utils or an npm package: Perl's crypt() is glibc's libcrypt, which on Debian
// is libxcrypt and implements "$2y$" (bcrypt). perl-base is Essential on Debian, so it is always there.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A bcrypt hash ("$2y$<cost>$…"). Cost 5 (htpasswd -B's default): the registry checks the hash on
 * every request, so a high cost only slows tests down.
 */
export function bcryptHash(password: string, cost = 5): string {
  const salt = Array.from(randomBytes(22), (b) => BCRYPT_ALPHABET[b & 63]).join('');
  const setting = `$2y$${String(cost).padStart(2, '0')}$${salt}`;
  // Password and salt through the environment: no quoting issues, nothing on the command line.
  const hash = execFileSync('perl', ['-e', 'print crypt($ENV{PW}, $ENV{SALT})'], {
    env: { PATH: process.env.PATH, PW: password, SALT: setting },
    encoding: 'utf8',
  });
  if (!hash.startsWith(`$2y$`) || hash.length !== 60) {
    throw new Error(
      `this system's crypt() cannot do bcrypt (got "${hash.slice(0, 10)}…"); install apache2-utils and use htpasswd -B`,
    );
  }
  return hash;
}

export function writeHtpasswd(path: string, users: Record<string, string>): void {
  for (const user of Object.keys(users))
    if (user.includes(':')) throw new Error(`htpasswd: user name with ":": ${user}`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    Object.entries(users)
      .map(([user, pw]) => `${user}:${bcryptHash(pw)}\n`)
      .join(''),
    { mode: 0o600 },
  );
}

/** The `{auths: {...}}` document of a Docker config.json / kubernetes dockerconfigjson secret. */
export function dockerConfigJson(logins: { registry: string; username: string; password: string }[]): {
  auths: Record<string, { auth: string }>;
} {
  return {
    auths: Object.fromEntries(
      logins.map((l) => [l.registry, { auth: Buffer.from(`${l.username}:${l.password}`).toString('base64') }]),
    ),
  };
}

/**
 * Writes a Docker config.json with one login. `path` is the file; point the docker CLI at its folder
 * with DOCKER_CONFIG=<dirname(path)>.
 */
export function dockerConfig(path: string, login: { registry: string; username: string; password: string }): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(dockerConfigJson([login]), null, 2)}\n`, { mode: 0o600 });
}
