// SECRETS_RUN_DIR holds the secret files of Docker servers, written by the worker and bind-mounted by
// the daemon: it must be memory-backed (a secret never reaches a disk), and the worker must be able
// to chown files there to a server's uid. Launches check the first; a worker that runs in a container
// (compose) checks both when it starts, so a missing tmpfs or a worker without CAP_CHOWN is one line
// at start instead of a failed launch later.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvError } from '../env.js';

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** Whether a statfs `type` is a memory-backed file system (tmpfs or ramfs). */
export const isMemoryFs = (type: number | bigint): boolean =>
  Number(type) === TMPFS_MAGIC || Number(type) === RAMFS_MAGIC;

/** The uid a probe file is chowned to: nobody's, as an unprivileged server's; never the worker's own (that needs no privilege). */
const probeUid = () => (process.getuid?.() === 65534 ? 65533 : 65534);

/** Throws an EnvError naming SECRETS_RUN_DIR when `dir` is not on a tmpfs, or files there cannot be chowned. */
export async function checkSecretsRunDir(dir: string): Promise<void> {
  const invalid = (why: string) => new EnvError(`invalid environment: SECRETS_RUN_DIR: ${dir} ${why}`);
  await mkdir(dir, { recursive: true, mode: 0o711 }).catch((err: Error) => {
    throw invalid(`cannot be created (${err.message})`);
  });
  const { type } = await statfs(dir);
  if (!isMemoryFs(type))
    throw invalid(
      `is not on a tmpfs (secret files must never reach a disk); mount one there on the Docker host (mount -t tmpfs -o mode=0711 tmpfs ${dir}), or choose a directory under a tmpfs such as /run`,
    );
  const probe = join(dir, `.probe-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(probe, '', { mode: 0o400, flag: 'wx' });
    await chown(probe, probeUid(), probeUid());
  } catch (err) {
    throw invalid(
      `is not usable: ${(err as Error).message}; the worker writes secret files there and chowns them to each server's uid (run it as root with CAP_CHOWN, DAC_OVERRIDE and FOWNER)`,
    );
  } finally {
    await rm(probe, { force: true });
  }
}
