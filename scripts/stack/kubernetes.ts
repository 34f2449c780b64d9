// A real Kubernetes control plane on loopback: etcd (Debian's etcd-server), kube-apiserver and
// kube-controller-manager, which `npm run setup` builds from the published Kubernetes Go modules
// (tools/kube-apiserver, tools/kube-controller-manager) into .tools/bin. The controller manager runs
// only the controllers servers need — Deployments make ReplicaSets, ReplicaSets make pods, and the
// garbage collector removes what an owner left — so a Deployment behaves as on a cluster. No
// scheduler or kubelet runs: pods stay unscheduled and never start by themselves (tests move pod
// status as a kubelet would, or run test/support/kubelet-stand-in.ts, which does).
//
// Authentication is a static admin token (group system:masters, so RBAC lets it do anything); the
// serving certificate is the one kube-apiserver generates in its cert dir, trusted by the kubeconfig.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { DATA_DIR, TOOLS_BIN } from './paths.js';
import { freePort, spawnManaged, waitUntil, type ManagedProcess } from './process.js';

export const KUBE_APISERVER_BIN = join(TOOLS_BIN, 'kube-apiserver');
export const KUBE_CONTROLLER_MANAGER_BIN = join(TOOLS_BIN, 'kube-controller-manager');
/** What servers' Deployments need, and nothing else (no node, service-account or volume controllers). */
const CONTROLLERS = ['deployment-controller', 'replicaset-controller', 'garbage-collector-controller'];
const ETCD_BIN = '/usr/bin/etcd';

export interface KubernetesOptions {
  /** Keeps etcd data, keys and the kubeconfig; when omitted, a fresh folder under .data, removed by stop(). */
  dir?: string;
  logDir?: string;
  /** Fixed ports (a restart reuses them, so the kubeconfig stays valid); free ones when omitted. */
  apiPort?: number;
  etcdPort?: number;
  etcdPeerPort?: number;
}

export interface KubernetesControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  kubeconfig: string;
  token: string;
  dir: string;
  apiPort: number;
  etcdPort: number;
  /**
   * The certificate kube-apiserver trusts for kubelets (self-signed, for 127.0.0.1): a process that
   * serves the kubelet's log endpoint with it, on a node registered at 127.0.0.1, answers pod logs.
   */
  kubeletTls: { cert: string; key: string };
  /** Milliseconds from spawning kube-apiserver to /readyz answering ok. */
  startMs: number;
  etcd: ManagedProcess;
  apiserver: ManagedProcess;
  controllerManager: ManagedProcess;
  /** GET an API path with the admin token (for readiness and quick checks). */
  get(path: string): Promise<{ status: number; body: string }>;
  /** POST a JSON object with the admin token (bootstrap objects such as a namespace). */
  post(path: string, body: unknown): Promise<{ status: number; body: string }>;
  /** Stops kube-apiserver only (etcd keeps the data), to test what happens while it is away. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port, with the same data and credentials. */
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

function writeOnce(path: string, make: () => string, mode = 0o600): string {
  if (!existsSync(path)) writeFileSync(path, make(), { mode });
  return readFileSync(path, 'utf8');
}

export async function startKubernetes(options: KubernetesOptions = {}): Promise<KubernetesControlPlane> {
  if (!existsSync(KUBE_APISERVER_BIN))
    throw new Error(`${KUBE_APISERVER_BIN} not found; run "npm run setup" (builds it from tools/kube-apiserver)`);
  if (!existsSync(KUBE_CONTROLLER_MANAGER_BIN))
    throw new Error(
      `${KUBE_CONTROLLER_MANAGER_BIN} not found; run "npm run setup" (builds it from tools/kube-controller-manager)`,
    );
  if (!existsSync(ETCD_BIN)) throw new Error(`${ETCD_BIN} not found; run "npm run setup" (installs etcd-server)`);
  const apiPort = options.apiPort ?? (await freePort());
  const etcdPort = options.etcdPort ?? (await freePort());
  const peerPort = options.etcdPeerPort ?? (await freePort());
  const dir = options.dir ?? join(DATA_DIR, `kubernetes-${apiPort}`);
  const logDir = options.logDir ?? join(DATA_DIR, 'logs');
  const certDir = join(dir, 'pki');
  mkdirSync(certDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });

  // Service-account tokens are signed with this key; kube-apiserver refuses to start without one.
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  if (!existsSync(saKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  }
  const kubeletCert = join(dir, 'kubelet.crt');
  const kubeletKey = join(dir, 'kubelet.key');
  if (!existsSync(kubeletCert)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '365',
        '-keyout',
        kubeletKey,
        '-out',
        kubeletCert,
        '-subj',
        '/CN=mcp-host-test-kubelet',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
  }
  const tokenFile = join(dir, 'tokens.csv');
  const token = writeOnce(
    tokenFile,
    () => `${randomBytes(24).toString('hex')},mcp-host-admin,mcp-host-admin,"system:masters"\n`,
  ).split(',')[0]!;

  const etcd = spawnManaged(
    'etcd',
    ETCD_BIN,
    [
      '--name',
      'mcp-host-test',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `mcp-host-test=http://127.0.0.1:${peerPort}`,
      '--log-level',
      'warn',
    ],
    { logFile: join(logDir, `etcd-${etcdPort}.log`) },
  );
  await waitUntil(
    'etcd',
    async () => {
      const res = await fetch(`http://127.0.0.1:${etcdPort}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    { proc: etcd, timeoutMs: 30_000 },
  );

  const server = `https://127.0.0.1:${apiPort}`;
  const args = [
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--cert-dir=${certDir}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    // Only an address range to allocate Service IPs from: nothing routes to it here.
    '--service-cluster-ip-range=10.96.0.0/24',
    // Pod logs are fetched from the node's kubelet; tests register nodes on loopback.
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-certificate-authority=${kubeletCert}`,
    '--profiling=false',
    '-v=1',
  ];
  let apiserver!: ManagedProcess;
  // Started once the kubeconfig it reads is written (below).
  const controllers: { manager?: ManagedProcess } = {};
  let startMs = 0;
  const agent = () => new Agent({ ca: readFileSync(join(certDir, 'apiserver.crt')) });
  const send = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const req = request(`${server}${path}`, { method, agent: agent(), headers, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const get = (path: string) => send('GET', path);
  const startApiServer = async () => {
    const began = Date.now();
    apiserver = spawnManaged('kube-apiserver', KUBE_APISERVER_BIN, args, {
      logFile: join(logDir, `kube-apiserver-${apiPort}.log`),
    });
    await waitUntil(
      'kube-apiserver',
      async () => existsSync(join(certDir, 'apiserver.crt')) && (await get('/readyz')).status === 200,
      {
        proc: apiserver,
        timeoutMs: 120_000,
        intervalMs: 250,
      },
    );
    startMs = Date.now() - began;
    plane.startMs = startMs;
  };

  const kubeconfig = join(dir, 'kubeconfig');
  const plane: KubernetesControlPlane = {
    server,
    kubeconfig,
    token,
    dir,
    apiPort,
    etcdPort,
    kubeletTls: { cert: readFileSync(kubeletCert, 'utf8'), key: readFileSync(kubeletKey, 'utf8') },
    startMs,
    etcd,
    get apiserver() {
      return apiserver;
    },
    get controllerManager() {
      return controllers.manager!;
    },
    get,
    post: (path, body) => send('POST', path, body),
    stopApiServer: () => apiserver.stop(),
    startApiServer,
    async stop() {
      await controllers.manager?.stop();
      await apiserver?.stop();
      await etcd.stop();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await startApiServer();
  } catch (err) {
    await plane.stop();
    throw err;
  }
  const ca = readFileSync(join(certDir, 'apiserver.crt')).toString('base64');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: mcp-host-test',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      '- name: mcp-host-admin',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: mcp-host-test',
      '  context:',
      '    cluster: mcp-host-test',
      '    user: mcp-host-admin',
      'current-context: mcp-host-test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // With the admin's kubeconfig (system:masters), one instance (no leader election), no serving
  // port of its own (parallel stacks would fight over 10257). It rides out an API server restart.
  controllers.manager = spawnManaged(
    'kube-controller-manager',
    KUBE_CONTROLLER_MANAGER_BIN,
    [
      `--kubeconfig=${kubeconfig}`,
      `--controllers=${CONTROLLERS.join(',')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '-v=1',
    ],
    { logFile: join(logDir, `kube-controller-manager-${apiPort}.log`) },
  );
  return plane;
}
