// `npm start`: the whole development stack in the foreground until Ctrl-C, then everything it
// started is stopped again, in reverse order. Its children run in process groups of their own, so
// Ctrl-C reaches only this process and the order holds; .data/stack.json records them, so the next
// start refuses while this stack is up and stops what it left running if it was killed.
import { join } from 'node:path';
import { bootstrapAdmin } from '../lib/ledger/bootstrap.js';
import { createSql } from '../lib/db.js';
import { EnvError, parseEnvironment, readProcessEnv } from '../lib/env.js';
import { loadKeyring } from '../lib/secrets/keys.js';
import { migrate } from '../lib/migrate.js';
import { parseRegistry } from '../lib/registry/reference.js';
import { startApi, startWorker } from './stack/app.js';
import { ensureBaseImages } from './stack/base-images.js';
import { ensureBridgeImage } from './stack/bridge-image.js';
import { ensureGoBaseImages } from './stack/go-base-image.js';
import { ensureNodeBaseImages } from './stack/node-base-image.js';
import { ensurePythonBaseImages } from './stack/python-base-image.js';
import { startDockerd } from './stack/docker.js';
import { serveExamples } from './stack/examples.js';
import { startKubernetes } from './stack/kubernetes.js';
import { DATA_DIR } from './stack/paths.js';
import { resolvePostgres } from './stack/postgres.js';
import { portOpen, superviseChildren, type ManagedProcess } from './stack/process.js';
import { startRegistry } from './stack/registry.js';
import { ensureSecretsKeyFile } from './stack/secrets-key.js';
import { claimStack, PreviousStackRunning } from './stack/stack-record.js';
import { startTemporal } from './stack/temporal.js';

const LOGS = join(DATA_DIR, 'logs');
const stops: { name: string; stop: () => Promise<void> }[] = [];
const say = (line: string) => process.stdout.write(`${line}\n`);
let releaseRecord: (() => void) | undefined;

async function main(): Promise<void> {
  const raw = readProcessEnv();
  // The secret store's key: the one configured, else .data/secrets.key, created on first start.
  if (!raw.SECRETS_KEY && !raw.SECRETS_KEY_FILE) {
    const key = ensureSecretsKeyFile(join(DATA_DIR, 'secrets.key'));
    raw.SECRETS_KEY_FILE = key.file;
    if (key.created) say(`secrets    key-encryption key created in ${key.file} (mode 0600; back it up)`);
  }
  const env = parseEnvironment(raw); // a bad value stops here, with one line naming it
  loadKeyring(env); // and so does a missing or malformed key

  const record = await claimStack(join(DATA_DIR, 'stack.json'), say);
  releaseRecord = record.release;
  superviseChildren((proc) => record.child(proc.name, proc.child.pid!));

  const pg = await resolvePostgres({ databaseUrl: raw.DATABASE_URL });
  stops.push({ name: 'postgres', stop: pg.stop });
  say(`postgres   ${redactUrl(pg.url)} (${pg.source})`);

  let temporalAddress = env.TEMPORAL_ADDRESS;
  let temporalUi = 'n/a (external server)';
  if (!raw.TEMPORAL_ADDRESS) {
    const port = env.DEV_TEMPORAL_PORT;
    if (await portOpen(port))
      throw new Error(`port ${port} is taken; set TEMPORAL_ADDRESS to use that server, or DEV_TEMPORAL_PORT`);
    const temporal = await startTemporal({
      port,
      uiPort: env.DEV_TEMPORAL_UI_PORT,
      // Payloads are sealed by the payload codec: the Web UI has the API open them for a signed-in operator.
      uiCodecEndpoint: `http://${apiHostOf(env)}:${env.BIND_PORT}/codec`,
      dbFile: join(DATA_DIR, 'temporal.db'),
      logDir: LOGS,
    });
    stops.push({ name: 'temporal', stop: temporal.stop });
    temporalAddress = temporal.address;
    temporalUi = temporal.uiUrl!;
  }
  say(`temporal   ${temporalAddress}   Web UI ${temporalUi}`);
  if (!raw.TEMPORAL_ADDRESS)
    say(
      `           payloads are encrypted; to read them in the Web UI, sign in at http://${apiHostOf(env)}:${env.BIND_PORT}/codec/login`,
    );

  let dockerHost = env.DOCKER_HOST;
  let secretsRunDir: string | undefined;
  if (!dockerHost) {
    const docker = await startDockerd(join(DATA_DIR, 'docker'), LOGS, { egressAllow: env.SERVER_EGRESS_ALLOW });
    stops.push({ name: 'dockerd', stop: docker.stop });
    dockerHost = docker.host;
    secretsRunDir = docker.secretsDir;
  }
  say(`docker     ${dockerHost}`);

  let registry = env.REGISTRY;
  let exampleBase: string | undefined;
  let bridgeImage: string | undefined;
  let buildBases: Record<string, string> = {};
  if (!registry) {
    const reg = await startRegistry({ dir: join(DATA_DIR, 'registry'), port: env.DEV_REGISTRY_PORT, logDir: LOGS });
    stops.push({ name: 'registry', stop: reg.stop });
    registry = `http://${reg.address}/mcp`; // plain HTTP: without the scheme the registry client speaks TLS
    // No image hub needed: the examples build FROM a busybox published to this registry.
    exampleBase = (await ensureBaseImages({ registry: reg.address })).reference;
    // Pods of stdio servers take the stdio bridge from this image (an init container copies it out).
    bridgeImage = (await ensureBridgeImage({ registry: reg.address })).reference;
    buildBases = await publishBuildBases(reg.address, exampleBase);
  }
  say(`registry   ${registry}${exampleBase ? ` (base image ${exampleBase})` : ''}`);

  const examples = await serveExamples({
    dir: join(DATA_DIR, 'git'),
    port: env.DEV_GIT_PORT,
    logDir: LOGS,
    baseImage: exampleBase,
  });
  stops.push({ name: 'git daemon', stop: examples.daemon.stop });
  for (const name of examples.names) say(`example    ${examples.daemon.url(name)}   (examples/${name})`);

  // CONTAINER_RUNTIME=kubernetes without a cluster named: the loopback control plane (API server and
  // the Deployment controllers; no kubelet: pods are created but never run), with the namespace and
  // service account it needs.
  let kubeconfig = env.K8S_KUBECONFIG ?? env.KUBECONFIG;
  if (env.CONTAINER_RUNTIME === 'kubernetes' && !kubeconfig) {
    const k8s = await startKubernetes({
      dir: join(DATA_DIR, 'kubernetes'),
      logDir: LOGS,
      apiPort: 6443,
      etcdPort: 23790,
      etcdPeerPort: 23800,
    });
    stops.push({ name: 'kubernetes', stop: k8s.stop });
    kubeconfig = k8s.kubeconfig;
    for (const [path, body] of [
      ['/api/v1/namespaces', { metadata: { name: env.K8S_NAMESPACE } }],
      [`/api/v1/namespaces/${env.K8S_NAMESPACE}/serviceaccounts`, { metadata: { name: env.K8S_SERVICE_ACCOUNT } }],
    ] as const) {
      const res = await k8s.post(path, body);
      if (res.status !== 201 && res.status !== 409)
        throw new Error(`kubernetes: POST ${path} answered ${res.status}: ${res.body}`);
    }
  }
  if (kubeconfig) say(`kubernetes ${kubeconfig} (namespace ${env.K8S_NAMESPACE})`);

  const sql = createSql(pg.url, { max: 2 });
  try {
    const { applied, current } = await migrate(sql);
    say(`migrations version ${current}${applied.length ? ` (applied ${applied.join(', ')})` : ''}`);
    const { generatedToken } = await bootstrapAdmin(sql, {
      adminEmail: env.ADMIN_EMAIL,
      adminToken: env.ADMIN_TOKEN,
      defaultQuota: env.DEFAULT_SERVER_QUOTA,
    });
    if (generatedToken) say(`\nAdmin API token (shown once, store it now):\n  export MCPCTL_TOKEN=${generatedToken}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }

  const childEnv: NodeJS.ProcessEnv = {
    ...raw,
    DATABASE_URL: pg.url,
    TEMPORAL_ADDRESS: temporalAddress,
    // The console links workflow-backed objects to the Web UI of the Temporal server started here.
    ...(temporalUi.startsWith('http') && !raw.TEMPORAL_UI_URL && { TEMPORAL_UI_URL: temporalUi }),
    DOCKER_HOST: dockerHost,
    REGISTRY: registry,
    // Servers' secrets go to the private dockerd's tmpfs.
    ...(secretsRunDir && !raw.SECRETS_RUN_DIR && { SECRETS_RUN_DIR: secretsRunDir }),
    ...(kubeconfig && { K8S_KUBECONFIG: kubeconfig }),
    // The Web UI this stack runs may call the API's codec endpoint.
    ...(!raw.TEMPORAL_UI_ORIGINS && {
      TEMPORAL_UI_ORIGINS: `http://127.0.0.1:${env.DEV_TEMPORAL_UI_PORT},http://localhost:${env.DEV_TEMPORAL_UI_PORT}`,
    }),
    // Checkouts under the project, not in a temporary folder every stack on the machine shares.
    BUILD_WORK_DIR: raw.BUILD_WORK_DIR ?? join(DATA_DIR, 'builds'),
    // The network canary runs on the busybox the examples build from: no image hub needed.
    ...(exampleBase && !raw.DOCKER_CANARY_IMAGE && { DOCKER_CANARY_IMAGE: exampleBase }),
    ...(bridgeImage && !raw.K8S_STDIO_BRIDGE_IMAGE && { K8S_STDIO_BRIDGE_IMAGE: bridgeImage }),
    // Generated Dockerfiles build on the bases published here, unless the operator names others.
    ...Object.fromEntries(Object.entries(buildBases).filter(([key]) => !raw[key])),
    // Sources may name this stack's own git daemon and registry (loopback, refused otherwise).
    SOURCE_ALLOWED_HOSTS: [
      ...env.SOURCE_ALLOWED_HOSTS,
      `127.0.0.1:${examples.daemon.port}`,
      parseRegistry(registry).host,
    ].join(','),
  };
  const worker = await startWorker(childEnv, join(LOGS, 'worker.log'));
  stops.push({ name: 'worker', stop: () => worker.stop() });
  const api = await startApi(childEnv, join(LOGS, 'api.log'));
  stops.push({ name: 'api', stop: () => api.stop() });
  const apiHost = apiHostOf(env);
  say(`worker     task queue ${env.TEMPORAL_TASK_QUEUE} (log ${join(LOGS, 'worker.log')})`);
  say(`api        http://${apiHost}:${env.BIND_PORT} (log ${join(LOGS, 'api.log')}); console /ui, reference /docs`);
  say(`\nmcp-host is up. export MCPCTL_URL=http://${apiHost}:${env.BIND_PORT} and try: npx mcpctl servers list`);
  say('Ctrl-C stops everything.');

  for (const child of [worker, api]) watchChild(child);
}

/**
 * The bases of generated builds for linux/amd64 and linux/arm64, made from this host and the package
 * registries (no image hub): Node (npm sources, Node projects), the Go toolchain, Python (Debian's,
 * with venv and pip), and busybox for Go binaries. The first start makes them (a few minutes: the Go toolchains, Node for arm64 and Debian's
 * arm64 packages are downloaded once); later starts find them in the registry. One that cannot be
 * made is reported and left to the defaults.
 */
async function publishBuildBases(registry: string, busybox: string): Promise<Record<string, string>> {
  const bases: Record<string, string> = { BUILD_STATIC_BASE_IMAGE: busybox };
  for (const [key, what, make] of [
    ['BUILD_NODE_BASE_IMAGE', 'node', () => ensureNodeBaseImages({ registry })],
    ['BUILD_GO_BASE_IMAGE', 'go', () => ensureGoBaseImages({ registry })],
    ['BUILD_PYTHON_BASE_IMAGE', 'python', () => ensurePythonBaseImages({ registry })],
  ] as const) {
    const t = Date.now();
    try {
      const made = await make();
      bases[key] = made.reference;
      if (made.made)
        say(
          `base       ${made.reference} (${what}, linux/amd64 + linux/arm64; made in ${Math.round((Date.now() - t) / 1000)} s)`,
        );
    } catch (err) {
      say(`base       ${what}: not published (${(err as Error).message}); ${key} keeps its default`);
    }
  }
  return bases;
}

/** Where a browser on this machine reaches the API. */
const apiHostOf = (env: { BIND_ADDRESS: string }) => (env.BIND_ADDRESS === '0.0.0.0' ? '127.0.0.1' : env.BIND_ADDRESS);

function watchChild(proc: ManagedProcess): void {
  proc.child.once('exit', (code, signal) => {
    if (shuttingDown) return;
    say(`${proc.name} exited unexpectedly (${code ?? signal}); see ${proc.logFile}`);
    void shutdown(1);
  });
}

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const { name, stop } of stops.reverse()) {
    say(`stopping ${name}`);
    await stop().catch((err: unknown) => say(`  ${name}: ${(err as Error).message}`));
  }
  releaseRecord?.();
  process.exit(code);
}

function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGHUP', () => void shutdown(0)); // the terminal closed: stop as for Ctrl-C

main().catch(async (err: unknown) => {
  say(
    err instanceof EnvError || err instanceof PreviousStackRunning
      ? err.message
      : `start failed: ${(err as Error).message}`,
  );
  await shutdown(1);
});
