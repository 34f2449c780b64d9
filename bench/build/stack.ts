// Everything the build benchmark runs on: Temporal, a fresh Postgres database, a private dockerd, an
// htpasswd registry, the multi-arch base image, a git daemon, and the API + worker pair.
//
// Why not test/support/build-stack.ts as is: it keeps its dockerd in .data/test-docker, which an
// integration run going on at the same time also uses (same data root, pid file and socket). This
// composes the same building blocks with a dockerd of its own in .data/bench-docker (a fixed folder,
// so its exec-root under /run is reused; deleted after each run, so every run starts from an empty
// image store and leaves no vfs layers behind), and talks to the registry directly rather than
// through the tests' fault proxy (a test device: both paths would pay its hop, and nothing here
// injects faults).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBaseImages, type BaseImages } from '../../scripts/stack/base-images.js';
import { startApi, startWorker } from '../../scripts/stack/app.js';
import { startDockerd } from '../../scripts/stack/docker.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry } from '../../scripts/stack/registry.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { startGitDaemon, type GitDaemon } from '../../test/support/git-fixture.js';
import { dockerConfig, writeHtpasswd } from '../../test/support/htpasswd.js';

export const REGISTRY_USER = 'mcphost';
export const REGISTRY_PASSWORD = `bench-${randomUUID()}`;

export interface BenchStackOptions {
  targets: string[];
  /** REGISTRY_BUILD_DISABLE_CACHE for the worker; the direct path must match it. */
  noCache: boolean;
  parallelism: number;
  /** More settings for the API and the worker. */
  env?: NodeJS.ProcessEnv;
}

export interface BenchStack {
  dir: string;
  logDir: string;
  dockerHost: string;
  /** host:port of the registry, as image references use it. */
  registryHost: string;
  /** Folder holding config.json with the registry login: DOCKER_CONFIG for the docker CLI. */
  dockerConfigDir: string;
  base: BaseImages;
  git: GitDaemon;
  gitDir: string;
  apiUrl: string;
  adminToken: string;
  databaseUrl: string;
  temporalAddress: string;
  /** Stops the worker and starts it again with `env` over its environment (a build setting changed). */
  restartWorker(env: NodeJS.ProcessEnv): Promise<void>;
  /** Stops whatever was started, newest first; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the stack. Each piece registers its stop as soon as it is up, so a failure half-way stops
 * what had started before the error is rethrown.
 */
export async function startBenchStack(opts: BenchStackOptions): Promise<BenchStack> {
  const stops: { what: string; stop: () => Promise<void> }[] = [];
  // One shared promise: a signal handler and the main path's finally may both ask, and both must
  // wait for the whole stop before the process exits.
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of stops.splice(0).reverse()) {
        await s
          .stop()
          .catch((err: unknown) => process.stderr.write(`bench: stopping ${s.what}: ${(err as Error).message}\n`));
      }
    })());
  // Ctrl-C or a kill. While starting, the next piece to come up throws (below), so the start stops
  // what it has and no piece comes up after the stop; once started, stop now and leave.
  let starting = true;
  let interrupted: NodeJS.Signals | undefined;
  // Handled every time, acted on once: Ctrl-C reaches this process twice (from the terminal, and
  // relayed by tsx), and the default action of a second SIGINT would cut the stop short.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      process.stderr.write(`bench: ${signal}: stopping the stack\n`);
      interrupted = signal;
      if (!starting) void stop().finally(() => process.exit(130));
    });
  }
  const onStop = (what: string, fn: () => Promise<void>) => {
    stops.push({ what, stop: fn });
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  };

  try {
    const dir = join(DATA_DIR, `bench-build-${process.pid}`);
    const logDir = join(DATA_DIR, 'bench-logs'); // kept after the run, replaced by the next one
    rmSync(logDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    onStop('work dir', async () => rmSync(dir, { recursive: true, force: true }));

    const database = `mcp_host_bench_${process.pid}`;
    const pg = await resolvePostgres({ database });
    onStop('postgres', () => pg.stop());
    onStop(`database ${database}`, () => dropDatabase(pg.url));

    const temporal = await startTemporal({ port: await freePort(), logDir });
    onStop('temporal', () => temporal.stop());

    const htpasswd = join(dir, 'htpasswd');
    writeHtpasswd(htpasswd, { [REGISTRY_USER]: REGISTRY_PASSWORD });
    const dockerDir = join(DATA_DIR, 'bench-docker');
    rmSync(dockerDir, { recursive: true, force: true });
    onStop('docker data', async () => rmSync(dockerDir, { recursive: true, force: true }));
    // Side by side; allSettled so that when one fails, the other is up (and registered) before the stop.
    const [d, r] = await Promise.allSettled([
      startDockerd(dockerDir, logDir).then((daemon) => (onStop('dockerd', () => daemon.stop()), daemon)),
      freePort()
        .then((port) => startRegistry({ dir: join(dir, 'registry'), port, logDir, htpasswd }))
        .then((reg) => (onStop('registry', () => reg.stop()), reg)),
    ]);
    if (d.status === 'rejected') throw d.reason;
    if (r.status === 'rejected') throw r.reason;
    const [dockerd, registry] = [d.value, r.value];
    const registryHost = registry.address;
    const dockerConfigDir = join(dir, 'docker-config');
    dockerConfig(join(dockerConfigDir, 'config.json'), {
      registry: registryHost,
      username: REGISTRY_USER,
      password: REGISTRY_PASSWORD,
    });
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
    onStop('git daemon', () => git.stop());

    // The env test/support/harness.ts gives the pair, plus the build settings under test. Everything
    // is spelled out so that a developer's .env (read beneath the real environment) cannot change them.
    const port = await freePort();
    const adminToken = `bench-admin-${randomUUID()}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info', // the worker is "ready" once it logs "worker started"
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `bench-build-${process.pid}`,
      BIND_ADDRESS: '127.0.0.1',
      BIND_PORT: String(port),
      ADMIN_TOKEN: adminToken,
      SECRETS_KEY: randomBytes(32).toString('base64'),
      DOCKER_HOST: dockerd.host,
      REGISTRY: `http://${registryHost}/mcp`,
      REGISTRY_AUTH_DOCKERCONFIG: join(dockerConfigDir, 'config.json'),
      REGISTRY_ARCH_TARGETS: opts.targets.join(','),
      REGISTRY_BUILD_PARALLELISM: String(opts.parallelism),
      REGISTRY_BUILD_DISABLE_CACHE: String(opts.noCache),
      REGISTRY_BUILD_CACHE_FROM: '',
      BUILD_WORK_DIR: join(dir, 'work'),
      // As test/support/build-stack.ts: the build network's canary from the stack's own base image
      // (nothing is pulled from a hub), the loopback git daemon and registry allowed as sources, and
      // the daemon's tmpfs for servers' secret files (bench:launch runs servers on this stack).
      DOCKER_CANARY_IMAGE: base.reference,
      SOURCE_ALLOWED_HOSTS: `127.0.0.1:${git.port},${registryHost}`,
      SECRETS_RUN_DIR: dockerd.secretsDir,
      ...opts.env,
    };
    const api = await startApi(env, join(logDir, 'api.log'));
    onStop('api', () => api.stop());
    let worker = await startWorker(env, join(logDir, 'worker.log'));
    onStop('worker', () => worker.stop());
    const restartWorker = async (overrides: NodeJS.ProcessEnv) => {
      await worker.stop();
      worker = await startWorker({ ...env, ...overrides }, join(logDir, 'worker.log'));
    };

    starting = false;
    return {
      dir,
      logDir,
      dockerHost: dockerd.host,
      registryHost,
      dockerConfigDir,
      base,
      git,
      gitDir,
      apiUrl: `http://127.0.0.1:${port}`,
      adminToken,
      databaseUrl: pg.url,
      temporalAddress: temporal.address,
      restartWorker,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** fetch against the stack's API as the bootstrap admin; throws unless the status is the expected one. */
export async function api<T = any>(
  stack: BenchStack,
  method: string,
  path: string,
  expect: number,
  json?: unknown,
): Promise<T> {
  const res = await fetch(stack.apiUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${stack.adminToken}`,
      ...(json !== undefined && { 'content-type': 'application/json' }),
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
