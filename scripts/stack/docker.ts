// A private dockerd (Debian's docker.io) on a socket under .data, for when DOCKER_HOST is not set.
// No iptables/bridge: it runs in containers and sandboxes without kernel privileges. Its storage is
// overlay2 where the kernel mounts overlayfs on the data root (a build step or container costs no copy
// of its image), else vfs, which needs nothing of the kernel but copies every layer in full.
// Hosted servers get a bridge network each (from a /28 pool), and the host's tenant network policy
// (sandbox.nft) keeps them away from the host, from each other and from private ranges. The daemon
// never switches on IP forwarding or writes firewall rules: other stacks on the machine keep theirs.
// Starting cleans what a killed dockerd of the same directory left (pid files, mounts); stopping
// leaves nothing mounted.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { mountsUnder, unmountUnder } from './mounts.js';
import { processArgv, spawnManaged, stopPid, waitUntil, type ManagedProcess } from './process.js';

export interface DockerDaemon {
  host: string;
  /** A tmpfs for the secrets of this daemon's servers (SECRETS_RUN_DIR), unmounted on stop. */
  secretsDir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

const DOCKERD = '/usr/sbin/dockerd';
const SANDBOX_POLICY = join(dirname(fileURLToPath(import.meta.url)), 'sandbox.nft');
/** Where servers' networks come from: a /28 each, skipping subnets already routed on the host. */
const SERVER_ADDRESS_POOL = 'base=10.203.0.0/16,size=28';

/**
 * Loads the tenant network policy (idempotent; shared by every stack on the machine, so never removed
 * on stop) and adds the operator's egress allow-list (`ipv4:port`, TCP and UDP) to it.
 */
export function installSandboxPolicy(egressAllow: readonly string[] = []): void {
  const nft = (args: string[]) => execFileSync('nft', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    nft(['-f', SANDBOX_POLICY]);
    for (const entry of egressAllow) {
      const [address, port] = entry.split(':');
      nft([
        'add',
        'element',
        'inet',
        'mcphost',
        'egress_allow4_port',
        `{ ${address} . tcp . ${port}, ${address} . udp . ${port} }`,
      ]);
    }
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(
      `cannot install the tenant network policy (nft -f ${SANDBOX_POLICY}): ${detail}; run "npm run setup" (installs nftables), as root`,
    );
  }
}

export function dockerPing(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startDockerd(
  dir: string,
  logDir: string,
  opts: { egressAllow?: readonly string[] } = {},
): Promise<DockerDaemon> {
  if (!existsSync(DOCKERD)) throw new Error(`${DOCKERD} not found; run "npm run setup" (installs docker.io)`);
  installSandboxPolicy(opts.egressAllow);
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  // exec-root holds unix sockets, whose paths must stay short: keep it under /run.
  const execRoot = `/run/mcp-host-docker-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;
  const pidFile = join(dir, 'docker.pid');
  const secretsDir = `${execRoot}-secrets`;
  await clearDeadDaemon(dir, execRoot, pidFile);
  if (mountsUnder([secretsDir]).length > 0) unmountUnder([secretsDir]);
  // Servers' secret files live in memory only: never on the data root's disk.
  mkdirSync(secretsDir, { recursive: true, mode: 0o711 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0711,size=16m,nosuid,nodev,noexec', 'tmpfs', secretsDir]);
  const proc = spawnManaged(
    'dockerd',
    DOCKERD,
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      execRoot,
      '--pidfile',
      pidFile,
      `--storage-driver=${storageDriver(dir)}`,
      '--iptables=false',
      '--bridge=none',
      '--ip-forward=false',
      '--default-address-pool',
      SERVER_ADDRESS_POOL,
    ],
    { logFile: join(logDir, 'dockerd.log') },
  );
  await waitUntil('dockerd', () => dockerPing(socket), { proc, timeoutMs: 60_000 }).catch(async (err: unknown) => {
    await proc.stop();
    try {
      unmountUnder([dir, execRoot, secretsDir]);
    } catch {
      // the failed start is what to report
    }
    throw err;
  });
  return {
    host: `unix://${socket}`,
    secretsDir,
    process: proc,
    async stop() {
      // dockerd leaves its networks' bridges in the host's namespace when it exits; it makes them again
      // at its next start from what its data root records.
      const bridges = await serverBridges(socket);
      await proc.stop(20_000);
      for (const bridge of bridges.filter((b) => existsSync(`/sys/class/net/${b}`))) {
        try {
          execFileSync('ip', ['link', 'delete', bridge], { stdio: 'ignore' });
        } catch {
          // gone meanwhile
        }
      }
      // After a clean exit this finds nothing; after the grace period's SIGKILL, dockerd's own mounts.
      await stopStaleContainerd(execRoot);
      unmountUnder([dir, execRoot, secretsDir]);
      rmSync(execRoot, { recursive: true, force: true });
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}

/**
 * overlay2 when an overlay mount works in `dir` (on its filesystem), else vfs. A data root that already
 * holds a vfs store keeps it: its images would not be seen by another driver.
 */
function storageDriver(dir: string): 'overlay2' | 'vfs' {
  if (existsSync(join(dir, 'data', 'vfs')) && !existsSync(join(dir, 'data', 'overlay2'))) return 'vfs';
  const probe = join(dir, 'overlay-probe');
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(probe, d));
  try {
    for (const d of [lower, upper, work, merged]) mkdirSync(d!, { recursive: true });
    execFileSync(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged!],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('umount', [merged!], { stdio: 'ignore' });
    return 'overlay2';
  } catch {
    return 'vfs';
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** The Linux bridges of the daemon's server networks (named mcpn-… or mcpe-…). */
function serverBridges(socketPath: string): Promise<string[]> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/networks', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          const networks = JSON.parse(body) as { Options?: Record<string, string> }[];
          const names = networks
            .map((n) => n.Options?.['com.docker.network.bridge.name'] ?? '')
            .filter((b) => /^mcp[ne]-/.test(b));
          resolve(names);
        } catch {
          resolve([]);
        }
      });
    });
    req.once('error', () => resolve([]));
    req.once('timeout', () => {
      req.destroy();
      resolve([]);
    });
    req.end();
  });
}

/**
 * Refuses while a dockerd of `dir` still runs (one line, with its pid); otherwise removes what a dead
 * one left: its containerd, its pid files, the mounts under its data and exec roots.
 */
async function clearDeadDaemon(dir: string, execRoot: string, pidFile: string): Promise<void> {
  const pid = readPid(pidFile);
  if (pid !== undefined && processArgv(pid)?.includes(join(dir, 'data'))) {
    throw new Error(`a dockerd for ${dir} is still running (pid ${pid}): a previous stack is still up; stop it first`);
  }
  await stopStaleContainerd(execRoot);
  if (mountsUnder([dir, execRoot]).length > 0) unmountUnder([dir, execRoot]);
  rmSync(pidFile, { force: true });
  rmSync(execRoot, { recursive: true, force: true });
}

/** The containerd a dead dockerd started under `execRoot`, if it outlived it. */
async function stopStaleContainerd(execRoot: string): Promise<void> {
  const pidFile = join(execRoot, 'containerd', 'containerd.pid');
  const pid = readPid(pidFile);
  if (pid !== undefined && processArgv(pid)?.some((arg) => arg.startsWith(execRoot))) await stopPid(pid, 5_000);
  rmSync(pidFile, { force: true });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
