// The Kubernetes backend against a real kube-apiserver and kube-controller-manager (built from the
// Kubernetes Go modules by `npm run setup`) with etcd, started here on loopback: servers are
// Deployments whose ReplicaSets make the pods. No kubelet runs, so pods never start by themselves:
// the test moves pod status through the /status subresource as a kubelet would, and the server's
// status must follow (kubernetes-deployments.int.test.ts runs pods on the kubelet stand-in). Pull-secret rotation is checked on the secret itself, including while
// the API server is away (the patch lands once Temporal's retries find it back).
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../lib/registry/client.js';
import { ensureBridgeImage } from '../../scripts/stack/bridge-image.js';
import { startKubernetes, type KubernetesControlPlane } from '../../scripts/stack/kubernetes.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory, replayTaskQueue } from '../support/histories.js';
import { collectSse, eventually, httpClient } from '../support/http.js';
import { startKubeletStandIn, type KubeletStandIn } from '../support/kubelet-stand-in.js';
import { pushMinimalImage } from '../support/registry-image.js';

const NAMESPACE = 'mcp-servers';
const SERVICE_ACCOUNT = 'mcp-runner';
const PULL_SECRET = 'mcp-registry-pull';
const REGISTRY_HOST = '127.0.0.1:5999';
// Nothing listens at REGISTRY_HOST (the kubelet here pulls nothing): a reference pinned by digest names
// its image without a registry to ask, as a tag would be resolved at the decision (and refused unresolved).
const ROUTER_IMAGE = `${REGISTRY_HOST}/mcp/router@sha256:${'e'.repeat(64)}`;

let k8s: KubernetesControlPlane;
let kubelet: KubeletStandIn;
let core: CoreV1Api;
let networking: NetworkingV1Api;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let dir: string;
/** A real registry holding the bridge image and a stdio image, read by the executor as any registry. */
let images: Registry;
let bridgeImage: string;
const dockerconfig = () => join(dir, 'config.json');

async function waitFor(id: number, statuses: string[], what: string) {
  return eventually(
    async () => {
      const s = (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
      return statuses.includes(s.status) ? s : undefined;
    },
    60_000,
    what,
  );
}

const podsOf = async (id: number) =>
  (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `mcp-host.dev/server-id=${id}` })).items;
const onePod = (id: number) => eventually(async () => (await podsOf(id))[0], 30_000, `a pod for server ${id}`);

/** What a kubelet would write: the pod's phase, conditions and container states. */
async function setPodStatus(pod: V1Pod, status: V1Pod['status']): Promise<void> {
  await core.patchNamespacedPodStatus(
    { name: pod.metadata!.name!, namespace: NAMESPACE, body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

const readSecret = () => core.readNamespacedSecret({ name: PULL_SECRET, namespace: NAMESPACE });
const secretFile = async () => Buffer.from((await readSecret()).data!['.dockerconfigjson']!, 'base64').toString('utf8');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-host-k8s-'));
  const began = Date.now();
  k8s = await startKubernetes({ logDir: join(dir, 'logs') });
  console.log(`kubernetes control plane ready in ${Date.now() - began} ms (kube-apiserver ${k8s.startMs} ms)`);
  const kc = new KubeConfig();
  kc.loadFromFile(k8s.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  networking = kc.makeApiClient(NetworkingV1Api);
  // What a cluster has before mcp-host deploys into it: the namespace and the service account.
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: SERVICE_ACCOUNT } } });

  // The refresher writes a new dockerconfig each time (a counter in the password), atomically.
  writeFileSync(
    join(dir, 'refresh.sh'),
    [
      '#!/bin/sh',
      'set -e',
      `n=$(cat ${dir}/counter 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${dir}/counter`,
      `auth=$(printf 'robot:secret-%s' "$n" | base64)`,
      `printf '{"auths":{"${REGISTRY_HOST}":{"auth":"%s"}}}' "$auth" > ${dockerconfig()}.tmp`,
      `mv ${dockerconfig()}.tmp ${dockerconfig()}`,
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'refresh.sh'), 0o755);
  writeFileSync(
    dockerconfig(),
    JSON.stringify({ auths: { [REGISTRY_HOST]: { auth: Buffer.from('robot:secret-0').toString('base64') } } }),
  );

  images = await startRegistry({ dir: join(dir, 'registry'), port: await freePort(), logDir: join(dir, 'logs') });
  bridgeImage = (await ensureBridgeImage({ registry: images.address })).reference;
  // A stdio server's image as hello-mcp's Dockerfile.stdio makes it: the label and the command.
  await pushMinimalImage(images.address, 'mcp/hello-stdio', '1', {
    Labels: { 'io.mcp-host.transport': 'stdio' },
    Cmd: ['/usr/local/bin/hello-mcp', '--stdio'],
  });

  h = await startHarness('kubernetes', {
    CONTAINER_RUNTIME: 'kubernetes',
    K8S_KUBECONFIG: k8s.kubeconfig,
    K8S_NAMESPACE: NAMESPACE,
    K8S_SERVICE_ACCOUNT: SERVICE_ACCOUNT,
    K8S_REGISTRY_SECRET_NAME: PULL_SECRET,
    // Short, so a pod nobody starts ends the wait within the test (the other tests move pods sooner).
    K8S_READY_TIMEOUT_SECONDS: '15',
    REGISTRY: `${REGISTRY_HOST}/mcp`,
    REGISTRY_AUTH_DOCKERCONFIG: dockerconfig(),
    REGISTRY_AUTH_REFRESH_COMMAND: join(dir, 'refresh.sh'),
    // The rotation cases start every rotation themselves. The credential schedule's interval is
    // aligned to the clock (every 15 minutes fires at each quarter hour), so a run crossing one had
    // the schedule create the pull secret before the case that expects it absent: a day's interval,
    // and the schedule paused below.
    REGISTRY_AUTH_CHECK_INTERVAL_MINUTES: '1440',
    // No Docker daemon: the cluster is the only executor that answers.
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    K8S_STDIO_BRIDGE_IMAGE: bridgeImage,
  });
  await h.temporal.schedule
    .getHandle(h.workflowIds.credentials(REGISTRY_HOST))
    .pause('the rotation cases start their own');
  call = httpClient(h.apiUrl);
}, 240_000);

afterAll(async () => {
  await h?.stop();
  await images?.stop();
  await k8s?.stop();
  await kubelet?.stop();
});

describe('the kubernetes backend', () => {
  it('launches a hardened pod, a service and a network policy, follows the pod to running, stops and deletes', async () => {
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'k8s-router',
        server_type: 'Router',
        source: { type: 'image', image: ROUTER_IMAGE },
        config: { LOG_LEVEL: 'debug', 'resources.cpus': 0.25, 'resources.memory': '128m' },
        use_gpu: true,
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id: number = created.body.id;

    const pod = await onePod(id);
    const [decision] = (await call('GET', `/api/servers/${id}/decisions`, { token: h.adminToken })).body;
    expect(decision).toMatchObject({ backend: 'kubernetes', executor_name: 'Kubernetes clusters', launchable: true });
    // The pod of the server's Deployment (made by its ReplicaSet), labelled with the launch's decision.
    expect(pod.metadata!.name).toMatch(new RegExp(`^mcp-server-${id}-`));
    expect(pod.metadata!.ownerReferences).toMatchObject([{ kind: 'ReplicaSet' }]);
    expect(pod.metadata!.labels).toMatchObject({
      'mcp-host.dev/server-id': String(id),
      'mcp-host.dev/decision-id': String(decision.id),
      'app.kubernetes.io/managed-by': 'mcp-host',
    });
    expect(pod.spec!.serviceAccountName).toBe(SERVICE_ACCOUNT);
    expect(pod.spec!.imagePullSecrets).toEqual([{ name: PULL_SECRET }]);
    const container = pod.spec!.containers[0]!;
    expect(container.image).toBe(ROUTER_IMAGE);
    expect(container.resources!.limits).toEqual({ cpu: '250m', memory: '128Mi', 'nvidia.com/gpu': '1' });
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'LOG_LEVEL', value: 'debug' },
        { name: 'MCP_SERVER_ID', value: String(id) },
      ]),
    );
    expect(container.env!.some((e) => e.name.startsWith('resources.'))).toBe(false);
    // Hardened as the API server stored it: non-root, nothing to escalate, read-only root, no token.
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    expect(pod.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    const service = await core.readNamespacedService({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    expect(service.spec!.selector).toEqual({ 'mcp-host.dev/server-id': String(id) });
    // Only the gateway gets in, and nothing gets out.
    const policy = await networking.readNamespacedNetworkPolicy({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    expect(policy.spec!.podSelector).toEqual({ matchLabels: { 'mcp-host.dev/server-id': String(id) } });
    expect(policy.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec!.ingress![0]!._from).toContainEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/component': 'mcp-gateway' } },
    });
    expect(policy.spec!.egress ?? []).toEqual([]);
    const [runtime] = await h.sql`select backend, workload, endpoint from server_runtimes where server_id = ${id}`;
    expect(runtime).toMatchObject({
      backend: 'kubernetes',
      workload: `mcp-server-${id}`,
      endpoint: `http://mcp-server-${id}.${NAMESPACE}.svc:8080/mcp`,
    });

    // Nothing runs the pod yet: the server waits in starting (for the pod, not forever).
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status).toBe('starting');

    // The "kubelet" starts it, then reports it ready: the server is running.
    await setPodStatus(pod, {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False', message: 'containers with unready status: [mcp]' }],
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status).toBe('starting');
    await setPodStatus(pod, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    const running = await waitFor(id, ['running', 'unhealthy', 'error'], 'running');
    expect(running.status, running.status_reason).toBe('running');
    expect(running.status_reason).toContain('ready');

    // Stop: the pod goes, the service stays for the next start.
    expect((await call('POST', `/api/servers/${id}/stop`, { token: h.adminToken })).status).toBe(202);
    await waitFor(id, ['stopped'], 'stopped');
    expect(await podsOf(id)).toHaveLength(0);
    await core.readNamespacedService({ name: `mcp-server-${id}`, namespace: NAMESPACE });

    // Delete: pod and service removed through the API, and the rows with them.
    expect((await call('POST', `/api/servers/${id}/start`, { token: h.adminToken })).status).toBe(202);
    await onePod(id);
    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
    expect(await podsOf(id)).toHaveLength(0);
    await expect(core.readNamespacedService({ name: `mcp-server-${id}`, namespace: NAMESPACE })).rejects.toMatchObject({
      code: 404,
    });
    await expect(
      networking.readNamespacedNetworkPolicy({ name: `mcp-server-${id}`, namespace: NAMESPACE }),
    ).rejects.toMatchObject({ code: 404 });
    for (const table of ['server_runtimes', 'runtime_policy_decisions', 'usage_metrics']) {
      expect(await h.sql`select 1 from ${h.sql(table)} where server_id = ${id}`, table).toHaveLength(0);
    }
    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.server(id),
      'server-lifecycle-kubernetes-launch-stop-start-delete',
    );
  });

  it('puts a server whose image cannot be pulled in error, and a crash-looping one in unhealthy, with the reason', async () => {
    const launch = async (name: string) => {
      const res = await call('POST', '/api/servers', {
        token: h.adminToken,
        // Pinned, so the decision resolves nothing and the pod exists for the stand-in to fail.
        json: {
          name,
          server_type: 'Router',
          source: { type: 'image', image: `${REGISTRY_HOST}/mcp/${name}@sha256:${'f'.repeat(64)}` },
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as number;
    };
    const pulling = await launch('k8s-no-image');
    const crashing = await launch('k8s-crashing');
    const waiting = (reason: string, message: string) => ({
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'mcp',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 3,
          state: { waiting: { reason, message } },
        },
      ],
    });
    await setPodStatus(await onePod(pulling), waiting('ImagePullBackOff', 'Back-off pulling image'));
    await setPodStatus(await onePod(crashing), {
      ...waiting('CrashLoopBackOff', 'back-off 40s restarting failed container'),
      phase: 'Running',
    });

    const failed = await waitFor(pulling, ['error', 'unhealthy', 'running'], 'image pull failure');
    expect(failed.status).toBe('error');
    expect(failed.status_reason).toContain('ImagePullBackOff: Back-off pulling image');
    const crashed = await waitFor(crashing, ['error', 'unhealthy', 'running'], 'crash loop');
    expect(crashed.status).toBe('unhealthy');
    expect(crashed.status_reason).toContain('CrashLoopBackOff');

    for (const id of [pulling, crashing]) {
      expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
      await eventually(
        async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
        60_000,
        'deleted',
      );
      expect(await podsOf(id)).toHaveLength(0);
    }
  });
});

describe('a stdio server on kubernetes', () => {
  it("runs behind the stdio bridge: an init container from the bridge image, the image's command wrapped, hardened", async () => {
    const image = `${images.address}/mcp/hello-stdio:1`;
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name: 'k8s-stdio', server_type: 'Example', source: { type: 'image', image } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id: number = created.body.id;
    const pod = await onePod(id);
    expect(pod.metadata!.annotations).toMatchObject({ 'mcp-host.dev/bridged-from': 'stdio' });
    const [init] = pod.spec!.initContainers!;
    expect(init).toMatchObject({
      name: 'stdio-bridge',
      image: bridgeImage,
      command: ['/stdio-bridge', '--install', '/.mcp-host'],
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
    });
    const [container] = pod.spec!.containers;
    // The tag was read once, at the decision: the pod runs the digest it named.
    expect(container!.image).toMatch(
      new RegExp(`^${images.address.replace(/\./g, '\\.')}/mcp/hello-stdio@sha256:[a-f0-9]{64}$`),
    );
    expect(container!.command).toEqual(['/.mcp-host/stdio-bridge', '--', '/usr/local/bin/hello-mcp', '--stdio']);
    expect(container!.args ?? []).toEqual([]);
    expect(container!.volumeMounts).toContainEqual({ name: 'stdio-bridge', mountPath: '/.mcp-host', readOnly: true });
    // Probed over MCP by the bridge it runs behind.
    expect(container!.readinessProbe!.exec!.command).toEqual([
      '/.mcp-host/stdio-bridge',
      '--probe',
      'http://127.0.0.1:8080/mcp',
    ]);
    expect(container!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.spec!.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(pod.spec!.volumes).toContainEqual({ name: 'stdio-bridge', emptyDir: { sizeLimit: '32Mi' } });
    const [runtime] = await h.sql`select transport, endpoint from server_runtimes where server_id = ${id}`;
    expect(runtime).toEqual({
      transport: 'streamable-http',
      endpoint: `http://mcp-server-${id}.${NAMESPACE}.svc:8080/mcp`,
    });

    // The bridge image is what the dev stack pushes: the binary for both architectures, under one index.
    const platforms = await new RegistryClient({ apiBase: `http://${images.address}` }).listIndexPlatforms(
      'mcp-host/stdio-bridge',
      bridgeImage.split(':').pop()!,
    );
    expect(platforms.map((p) => p.platform).sort()).toEqual(['linux/amd64', 'linux/arm64/v8']);

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  });
});

describe('a pod that never becomes ready', () => {
  it("leaves the server unhealthy after K8S_READY_TIMEOUT_SECONDS, with the pod's state as the reason", async () => {
    const id: number = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'k8s-never-ready',
          server_type: 'Router',
          source: { type: 'image', image: ROUTER_IMAGE },
        },
      })
    ).body.id;
    const pod = await onePod(id);
    await setPodStatus(pod, {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False', message: 'containers with unready status: [mcp]' }],
    });
    const began = Date.now();
    const server = await waitFor(id, ['running', 'unhealthy', 'error'], 'the ready timeout');
    expect(server.status).toBe('unhealthy');
    expect(server.status_reason).toBe(
      `not ready after 15s: pod ${pod.metadata!.name} running: containers with unready status: [mcp]`,
    );
    expect(Date.now() - began).toBeLessThan(20_000);

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  });
});

describe('kubernetes server logs', () => {
  it("reads the pod's output through the API server, newlines intact, and follows it live", async () => {
    // A node at 127.0.0.1 whose kubelet endpoint is the stand-in; the pod is bound to it as the
    // scheduler would.
    kubelet = await startKubeletStandIn(k8s.kubeletTls);
    await core.createNode({ body: { metadata: { name: 'stand-in-node' } } });
    await core.patchNodeStatus(
      {
        name: 'stand-in-node',
        body: {
          status: {
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const id: number = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'k8s-logger',
          server_type: 'Router',
          source: { type: 'image', image: ROUTER_IMAGE },
        },
      })
    ).body.id;
    const pod = await onePod(id);
    const name = pod.metadata!.name!;

    // Not on a node yet: nothing written.
    const early = await call('GET', `/api/servers/${id}/logs`, { token: h.adminToken });
    expect(early.status, early.text).toBe(200);
    expect(early.text).toBe('');

    await core.createNamespacedPodBinding({
      name,
      namespace: NAMESPACE,
      body: { metadata: { name }, target: { kind: 'Node', name: 'stand-in-node' } },
    });
    kubelet.logs.set(`${NAMESPACE}/${name}/mcp`, 'starting\nlistening on :8080\n  {"tool": "echo"}\n\nready\n');
    const logs = await call('GET', `/api/servers/${id}/logs?tail=4`, { token: h.adminToken });
    expect(logs.status, logs.text).toBe(200);
    expect(logs.text).toBe('listening on :8080\n  {"tool": "echo"}\n\nready\n');
    expect(kubelet.requests).toContain(`/containerLogs/${NAMESPACE}/${name}/mcp?tailLines=4`);

    const live = collectSse(`${h.apiUrl}/api/servers/${id}/logs/stream?tail=5`, h.adminToken);
    await eventually(async () => live.frames.some((f) => f.event === 'end'), 15_000, 'the pod log stream');
    await live.stop();
    expect(live.frames.filter((f) => f.event === 'log').map((f) => f.data.line)).toEqual([
      'starting',
      'listening on :8080',
      '  {"tool": "echo"}',
      '',
      'ready',
    ]);

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
    // A pod on a node terminates gracefully: asked to go, it waits for its kubelet to confirm.
    for (const p of await podsOf(id)) expect(p.metadata!.deletionTimestamp).toBeTruthy();
  });
});

describe('registry pull-secret rotation', () => {
  it('creates, then patches the dockerconfigjson secret with the rotated credentials and a synced-at annotation', async () => {
    await expect(readSecret()).rejects.toMatchObject({ code: 404 });
    const first = await call('POST', '/api/registry/credentials/rotate', { token: h.adminToken });
    expect(first.status, first.text).toBe(200);
    const secret = await readSecret();
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(await secretFile()).toBe(readFileSync(dockerconfig(), 'utf8'));
    expect(await secretFile()).toContain(Buffer.from('robot:secret-1').toString('base64'));
    const syncedAt = secret.metadata!.annotations!['mcp-host.dev/synced-at']!;
    expect(Date.parse(syncedAt)).toBeGreaterThan(Date.now() - 60_000);
    // The API answer does not carry the credentials.
    expect(first.text).not.toContain(Buffer.from('robot:secret-1').toString('base64'));

    const second = await call('POST', '/api/registry/credentials/rotate', { token: h.adminToken });
    expect(second.status, second.text).toBe(200);
    expect(await secretFile()).toContain(Buffer.from('robot:secret-2').toString('base64'));
    const after = (await readSecret()).metadata!.annotations!['mcp-host.dev/synced-at']!;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(syncedAt));
  });

  it('lands the patch once the API server is back, after failed attempts that are recorded', async () => {
    // A server running on the cluster: the secret's sync events are recorded against it.
    const id: number = (
      await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'k8s-rotation-witness',
          server_type: 'Router',
          source: { type: 'image', image: ROUTER_IMAGE },
        },
      })
    ).body.id;
    await onePod(id);
    const events = async (type: string) => h.sql<{ details: Record<string, unknown> }[]>`
      select details from usage_metrics where server_id = ${id} and event_type = ${type} order by id`;

    await k8s.stopApiServer();
    const handle = await h.temporal.workflow.start('registryCredentials', {
      workflowId: `credentials-test-${Date.now()}`,
      taskQueue: h.env.TEMPORAL_TASK_QUEUE!,
      args: [{ registry: `${REGISTRY_HOST}/mcp`, trigger: 'manual', force: true }],
    });
    // The rotation itself succeeds (a file); the patch fails while nothing answers, and says so.
    await eventually(
      async () => (await events('k8s_pull_secret_patch_failed')).length >= 2,
      60_000,
      'failed patch attempts',
    );
    const failures = await events('k8s_pull_secret_patch_failed');
    expect(failures[0]!.details).toMatchObject({ namespace: NAMESPACE, secret_name: PULL_SECRET, trigger: 'manual' });
    expect(String(failures[0]!.details.error)).toMatch(/ECONNREFUSED|connect/);
    expect(JSON.stringify(failures)).not.toContain(Buffer.from('robot:secret-3').toString('base64'));

    await k8s.startApiServer();
    const result = await handle.result();
    recordHistory(h.env.TEMPORAL_ADDRESS!, handle.workflowId, 'registry-credentials-pull-secret-retried');
    expect(result).toMatchObject({
      rotationAttempted: true,
      rotationSucceeded: true,
      pullSecret: { synced: true, namespace: NAMESPACE, secretName: PULL_SECRET, created: false },
    });
    expect(await secretFile()).toContain(Buffer.from('robot:secret-3').toString('base64'));
    expect(await secretFile()).toBe(readFileSync(dockerconfig(), 'utf8'));
    const patched = await events('k8s_pull_secret_patched');
    expect(patched).toHaveLength(1);
    expect(Number(patched[0]!.details.attempt)).toBeGreaterThan(2);
    expect((await readSecret()).metadata!.annotations!['mcp-host.dev/synced-at']).toBe(patched[0]!.details.synced_at);

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  });
});

describe('workflow determinism', () => {
  it('replays every workflow this file ran against the current code', async () => {
    expect(await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThanOrEqual(8);
  });
});
