// What build tests share: a private dockerd, a registry with htpasswd auth (behind a fault proxy the
// test controls), the hub-less multi-arch base image, a dockerconfig, and a git daemon.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Sql } from '../../lib/db.js';
import { ownerNamespace } from '../../lib/registry/namespace.js';
import { ensureBaseImages, type BaseImages } from '../../scripts/stack/base-images.js';
import { startDockerd, type DockerDaemon } from '../../scripts/stack/docker.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startGitDaemon, type GitDaemon } from './git-fixture.js';
import { dockerConfig, writeHtpasswd } from './htpasswd.js';

export const REGISTRY_USER = 'mcphost';
export const REGISTRY_PASSWORD = 'registry-secret-4f9a1c';

export interface BuildStack {
  dir: string;
  dockerd: DockerDaemon;
  docker: Docker;
  registry: Registry;
  /** The proxy the product talks to; `registry.address` is the real one. */
  proxy: FaultProxy;
  /** host:port of the proxy, as image references use it. */
  registryHost: string;
  htpasswdPath: string;
  dockerconfigPath: string;
  base: BaseImages;
  git: GitDaemon;
  gitDir: string;
  /** Restarts the registry (e.g. after rewriting htpasswd, which it reads at start). */
  restartRegistry(): Promise<void>;
  /** Env for the API/worker pair. */
  env(targets: string): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startBuildStack(name: string): Promise<BuildStack> {
  const dir = join(DATA_DIR, 'test-builds', `${name}-${process.pid}`);
  const logDir = join(DATA_DIR, 'test-logs', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const htpasswdPath = join(dir, 'htpasswd');
  writeHtpasswd(htpasswdPath, { [REGISTRY_USER]: REGISTRY_PASSWORD });
  const registryPort = await freePort();
  const startReg = () =>
    startRegistry({ dir: join(dir, 'registry'), port: registryPort, logDir, htpasswd: htpasswdPath });
  // A daemon of this stack's own: test files (and developers' parallel runs) never share one.
  const dockerDir = join(DATA_DIR, 'test-docker', `${name}-${process.pid}`);
  const [dockerd, registry] = await Promise.all([startDockerd(dockerDir, logDir), startReg()]);
  const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: registryPort } });
  const registryHost = `127.0.0.1:${proxy.port}`;
  const dockerconfigPath = join(dir, 'dockerconfig.json');
  dockerConfig(dockerconfigPath, { registry: registryHost, username: REGISTRY_USER, password: REGISTRY_PASSWORD });
  const base = await ensureBaseImages({
    registry: registryHost,
    auth: { username: REGISTRY_USER, password: REGISTRY_PASSWORD },
  });
  const gitDir = join(dir, 'git');
  const git = await startGitDaemon({
    baseDir: gitDir,
    port: await freePort(),
    logFile: join(logDir, 'git-daemon.log'),
  });
  const stack: BuildStack = {
    dir,
    dockerd,
    docker: new Docker({ socketPath: dockerd.host.replace(/^unix:\/\//, '') }),
    registry,
    proxy,
    registryHost,
    htpasswdPath,
    dockerconfigPath,
    base,
    git,
    gitDir,
    async restartRegistry() {
      await stack.registry.stop();
      stack.registry = await startReg();
    },
    env: (targets) => ({
      DOCKER_HOST: dockerd.host,
      SECRETS_RUN_DIR: dockerd.secretsDir,
      REGISTRY: `http://${registryHost}/mcp`,
      REGISTRY_AUTH_DOCKERCONFIG: dockerconfigPath,
      REGISTRY_ARCH_TARGETS: targets,
      BUILD_WORK_DIR: join(dir, 'work'),
      DOCKER_CANARY_IMAGE: base.reference,
      // The loopback git daemon and registry (behind its proxy) the builds use, as npm start allows its own.
      SOURCE_ALLOWED_HOSTS: `127.0.0.1:${git.port},${registryHost}`,
    }),
    async stop() {
      await Promise.all([git.stop(), proxy.stop(), stack.registry.stop()]);
      await dockerd.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(dockerDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** A server's image repository below the registry host, in its owner's namespace: `mcp/owner-<owner>/mcp-custom-<id>`. */
export async function serverRepository(sql: Sql, serverId: number): Promise<string> {
  const [server] = await sql<{ owner_id: number }[]>`select owner_id from mcp_servers where id = ${serverId}`;
  return `mcp/${ownerNamespace(server!.owner_id)}/mcp-custom-${serverId}`;
}
