// The stdio bridge on Docker: the worker's bridge binary (the daemon's architecture) goes into a
// named volume of its own, once per binary, through the Docker API; every stdio container mounts it
// read-only at /.mcp-host. The binary travels in the API call, not as a path on the daemon's host, so
// this works as well when the daemon is remote (a socket proxy, another machine) as when it is local,
// and it needs no image of its own.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { bridgeArch } from '../../lib/runtime/stdio-bridge.js';

/** Where `npm run setup` builds the bridge: the checkout's .tools/bin. */
const DEFAULT_BRIDGE_DIR = join(PROJECT_ROOT, '.tools', 'bin');

/** Where the helper container sees the volume while the binary goes in. */
const FILL_PATH = '/bridge';

const missing = (err: { statusCode?: number }) => {
  if (err.statusCode !== 404) throw err;
  return undefined;
};

export function createDockerBridge(docker: Docker, env: Env) {
  const dir = env.STDIO_BRIDGE_DIR ?? DEFAULT_BRIDGE_DIR;
  let known: Promise<Filled> | undefined;

  async function binary(): Promise<{ bytes: Buffer; volume: string; file: string }> {
    const { Architecture: architecture = '' } = (await docker.info()) as { Architecture?: string };
    const arch = bridgeArch(architecture);
    if (!arch) {
      throw ApplicationFailure.nonRetryable(
        `stdio servers cannot run here: no stdio bridge is built for the Docker daemon's architecture ${architecture}`,
        ErrorType.LaunchFailed,
      );
    }
    const file = join(dir, `stdio-bridge-${arch}`);
    const bytes = await readFile(file).catch(() => {
      throw ApplicationFailure.nonRetryable(
        `stdio servers cannot run here: the stdio bridge ${file} is missing (npm run setup builds it; STDIO_BRIDGE_DIR names another folder)`,
        ErrorType.LaunchFailed,
      );
    });
    // Named by the binary, so a new bridge goes to a new volume and running servers keep theirs.
    const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    return { bytes, volume: `mcp-stdio-bridge-${arch}-${digest}`, file };
  }

  /** Creates the volume and puts the binary in, unless it is there already. */
  async function fill(helperImage: string): Promise<Filled> {
    const { bytes, volume, file } = await binary();
    await docker.createVolume({
      Name: volume,
      Labels: { 'mcp-host.managed': 'true', 'mcp-host.stdio-bridge': 'true' },
    });
    // Never started: a created container is enough to reach its volumes through the archive API.
    const helper = await docker.createContainer({
      Image: helperImage,
      Entrypoint: ['/nonexistent'],
      Cmd: [],
      Labels: { 'mcp-host.managed': 'true', 'mcp-host.stdio-bridge': 'fill' },
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volume, Target: FILL_PATH }] },
    });
    try {
      const present = await helper.infoArchive({ path: `${FILL_PATH}/stdio-bridge` }).then(
        () => true,
        () => false,
      );
      if (!present) await helper.putArchive(archiveOf(dir, bytes), { path: FILL_PATH });
    } finally {
      await helper.remove({ force: true }).catch(missing);
    }
    // Once per worker process (and bridge): earlier bridges' volumes go when nothing mounts them.
    await pruneStale(volume);
    // A bridge built before --env-from takes the flag for the command to bridge and serves its own
    // HTTP at /mcp on the server's port: the server would answer 404 at its path, its secrets unread.
    return { volume, file, envFrom: bytes.includes('--env-from') };
  }

  /**
   * Removes the volumes of earlier bridges that no container uses any more (Docker refuses to remove
   * a volume a container, even a stopped one, still mounts: those stay until their server goes).
   */
  async function pruneStale(current: string): Promise<void> {
    const { Volumes: volumes = [] } = await docker
      .listVolumes({ filters: JSON.stringify({ label: ['mcp-host.stdio-bridge=true'] }) })
      .catch(() => ({ Volumes: [] }));
    for (const { Name: name } of volumes) {
      if (name === current || !name.startsWith('mcp-stdio-bridge-')) continue;
      await docker
        .getVolume(name)
        .remove()
        .catch(() => {}); // in use (409), or gone meanwhile: nothing to do
    }
  }

  return {
    /**
     * The volume that holds the bridge, filled once per process (through a container of
     * `helperImage`, an image the daemon has), and again if someone removed it. With `envFrom`, the
     * bridge must have the --env-from mode (secrets delivered as env).
     */
    async volume(helperImage: string, { envFrom = false } = {}): Promise<string> {
      if (known) {
        const filled = await known.catch(() => undefined);
        if (!filled || !(await docker.getVolume(filled.volume).inspect().catch(missing))) known = undefined;
      }
      known ??= fill(helperImage);
      const filled = await known.catch((err: unknown) => {
        known = undefined;
        throw err;
      });
      if (envFrom && !filled.envFrom) {
        throw ApplicationFailure.nonRetryable(
          `secrets delivered as env need the stdio bridge's --env-from mode, which ${filled.file} predates (npm run setup rebuilds it; STDIO_BRIDGE_DIR names another folder)`,
          ErrorType.LaunchFailed,
        );
      }
      return filled.volume;
    },
  };
}

/** The bridge's volume, the file it was filled from, and whether that bridge has --env-from. */
interface Filled {
  volume: string;
  file: string;
  envFrom: boolean;
}

/** A tar stream of the one file, root-owned and executable by any uid the server runs as. */
function archiveOf(dir: string, bytes: Buffer): NodeJS.ReadableStream {
  return tar.pack(dir, {
    ignore: () => true,
    finalize: false,
    finish: (pack) => {
      pack.entry({ name: 'stdio-bridge', mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) }, bytes);
      pack.finalize();
    },
  }) as unknown as NodeJS.ReadableStream;
}

export type DockerBridge = ReturnType<typeof createDockerBridge>;
