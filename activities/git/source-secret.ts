// A private source's secret, read inside the checkout activities: the server's owner's secret of that
// name, decrypted with the keyring, handed to ./credentials.ts and nothing else.
import { ApplicationFailure } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import { ErrorType } from '../../lib/errors.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { resolveSecretValues } from '../../lib/ledger/secrets.js';
import { findServer } from '../../lib/ledger/servers.js';
import type { Keyring } from '../../lib/secrets/keys.js';
import type { SourceSecretReader } from './checkout.js';

export function sourceSecretReader(sql: Sql, keyring: Keyring): SourceSecretReader {
  return async ({ serverId, name }) => {
    const server = await findServer(sql, serverId, everyOwner);
    const value = (await resolveSecretValues(sql, keyring, server.owner_id, [name])).get(name)?.value;
    if (!value) {
      throw ApplicationFailure.nonRetryable(
        `source.credentials names the secret "${name}", which the server's owner does not have`,
        ErrorType.GitAuthFailed,
      );
    }
    return value;
  };
}
