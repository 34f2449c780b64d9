// The logins to the registries of a git source's base images (`source.registry_credentials`), read
// inside the build activity: the server's owner's secrets, each `username:password`, decrypted with the
// keyring and handed to the FROM pinning and the daemon's pull, nothing else (never a log line, an
// error message, a build argument or the image).
import { ApplicationFailure } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import { ErrorType } from '../../lib/errors.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { resolveSecretValues } from '../../lib/ledger/secrets.js';
import { findServer } from '../../lib/ledger/servers.js';
import type { RegistryCredentials } from '../../lib/registry/dockerconfig.js';
import type { Keyring } from '../../lib/secrets/keys.js';

/** Registry host (as FROM names it) → its login; empty for a server that names none. */
export type BaseRegistryLogins = (serverId: number) => Promise<Map<string, RegistryCredentials>>;

/** `username:password` (one trailing newline, as a file often ends, is not part of the password). */
export function parseRegistryLogin(value: string): RegistryCredentials | undefined {
  const text = value.replace(/\r?\n$/, '');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function baseRegistryLogins(sql: Sql, keyring: Keyring): BaseRegistryLogins {
  return async (serverId) => {
    const server = await findServer(sql, serverId, everyOwner);
    const refs = server.source.type === 'git' ? (server.source.registry_credentials ?? []) : [];
    const logins = new Map<string, RegistryCredentials>();
    if (refs.length === 0) return logins;
    const values = await resolveSecretValues(
      sql,
      keyring,
      server.owner_id,
      refs.map((r) => r.secret),
    );
    for (const { registry, secret } of refs) {
      const value = values.get(secret)?.value;
      if (!value) {
        throw ApplicationFailure.nonRetryable(
          `source.registry_credentials names the secret "${secret}", which the server's owner does not have`,
          ErrorType.BuildContextInvalid,
        );
      }
      const login = parseRegistryLogin(value.toString('utf8'));
      value.fill(0);
      if (!login) {
        throw ApplicationFailure.nonRetryable(
          `the secret "${secret}" for registry ${registry} must hold username:password`,
          ErrorType.BuildContextInvalid,
        );
      }
      logins.set(registry, login);
    }
    return logins;
  };
}
