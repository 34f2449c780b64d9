// A private source's credentials, handed to one git command and gone after it. The secret's value goes
// into a file of a fresh 0700 directory (mode 0600), never onto a command line, into the URL, the
// environment, the checkout or a log: git reads an HTTPS token through GIT_ASKPASS (a fixed script
// that prints the file), ssh a deploy key through GIT_SSH_COMMAND's `-i <file>`. The directory is
// removed when the command ends, whatever its outcome.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_TOKEN_USERNAME = 'x-access-token';

/** The ssh options every clone uses: no config, agent or known identities of the worker's own. */
export const SSH_BASE =
  'ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no';

export interface GitCredential {
  /** Environment for the git command that needs it. */
  env: NodeJS.ProcessEnv;
  dispose(): Promise<void>;
}

// git asks "Username for 'https://host': " and "Password for 'https://user@host': ".
const ASKPASS = `#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$MCP_HOST_GIT_USERNAME" ;;
  *) cat "$MCP_HOST_GIT_SECRET_FILE" ;;
esac
`;

const isSsh = (repository: string) => !/^(https?|git):\/\//i.test(repository);

/** Materializes `value` for git against `repository`: a token for http(s), a private key for ssh. */
export async function gitCredential(
  repository: string,
  value: Buffer,
  username = DEFAULT_TOKEN_USERNAME,
): Promise<GitCredential> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-host-git-cred-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o700);
    const secretFile = join(dir, 'secret');
    if (isSsh(repository)) {
      // ssh refuses a key file without its final newline, and one readable by others.
      const key = value.at(-1) === 0x0a ? value : Buffer.concat([value, Buffer.from('\n')]);
      await writeFile(secretFile, key, { mode: 0o600 });
      return { env: { GIT_SSH_COMMAND: `${SSH_BASE} -o IdentityFile=${secretFile}` }, dispose };
    }
    await writeFile(secretFile, value.toString('utf8').replace(/\r?\n$/, ''), { mode: 0o600 });
    const askpass = join(dir, 'askpass');
    await writeFile(askpass, ASKPASS, { mode: 0o700 });
    return {
      env: { GIT_ASKPASS: askpass, MCP_HOST_GIT_USERNAME: username, MCP_HOST_GIT_SECRET_FILE: secretFile },
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** git's words for a remote that wants credentials it did not get, or refused the ones it got. */
export const AUTH_REFUSED =
  /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|The requested URL returned error: 40[13]|HTTP Basic: Access denied|invalid credentials/i;
