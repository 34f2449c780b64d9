// Kubernetes servers as Deployments, on a real control plane: kube-apiserver, kube-controller-manager
// (its Deployment, ReplicaSet and garbage-collector controllers make the ReplicaSets and pods) and
// the kubelet stand-in as the node, which runs each pod's server (test/support/pod-mcp-server.mjs,
// an MCP server) and its probes — the pod template's exec of `stdio-bridge --probe`, the real bridge
// binary, against the server's MCP endpoint — and reports them as a kubelet would. So what is checked
// is what a cluster would do: a launch makes a Deployment, its ReplicaSet and a Ready pod; a
// redeploy rolls to a new ReplicaSet; a deleted pod comes back; a server that stops answering MCP
// is restarted by its liveness probe. The server's image is a tag in the file's own registry, so the
// decision resolves it as it would any image source, and the Deployment runs the digest it named.
// The servers are supervised by their workflow as Docker's are: probed over the gateway's path (a
// proxy stands for the cluster's Service routing, test/support/service-proxy.ts), a crashed pod
// noticed by the pod watch within seconds and its restart by Kubernetes counted, crashloop past the
// HEALTH_* thresholds (short here), supervision resumed after the worker is killed.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBridgeImage } from '../../scripts/stack/bridge-image.js';
import { startKubernetes, type KubernetesControlPlane } from '../../scripts/stack/kubernetes.js';
import { TOOLS_BIN } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory, replayTaskQueue } from '../support/histories.js';
import { eventually, httpClient } from '../support/http.js';
import { startKubeletStandIn, type KubeletStandIn, type PodRunner } from '../support/kubelet-stand-in.js';
import { pushMinimalImage } from '../support/registry-image.js';
import { startServiceProxy, type ServiceProxy } from '../support/service-proxy.js';
import { gatewayEcho, gatewayPost } from '../support/supervised.js';

const NAMESPACE = 'mcp-deployments';
/** The bridge binaries (with --probe); STDIO_BRIDGE_DIR as the worker reads it, else setup's. */
const BRIDGE_DIR = process.env.STDIO_BRIDGE_DIR ?? TOOLS_BIN;
const POD_SERVER = join(import.meta.dirname, '../support/pod-mcp-server.mjs');

let k8s: KubernetesControlPlane;
let kubelet: KubeletStandIn;
let node: PodRunner;
let core: CoreV1Api;
let apps: AppsV1Api;
let images: Registry;
/** The server's image source (a tag), and the digest the registry says it names. */
let routerImage: string;
let routerDigest: string;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let services: ServiceProxy;

const selector = (id: number) => `mcp-host.dev/server-id=${id}`;
const podsOf = async (id: number) =>
  (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector(id) })).items;
const replicaSetsOf = async (id: number) =>
  (await apps.listNamespacedReplicaSet({ namespace: NAMESPACE, labelSelector: selector(id) })).items;
const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const server = async (id: number) => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;

/**
 * What a failed wait saw, from the server down to its pods' probes: the API's status and reason,
 * the Deployment's and each ReplicaSet's counts and conditions, each pod's phase, Ready condition,
 * container state and restarts, and the last probe runs. A wait that times out says which link of
 * the chain (decision, Deployment, ReplicaSet, pod, probe) did not happen.
 */
async function clusterState(id: number): Promise<string> {
  const lines: string[] = [];
  const safely = async (what: string, read: () => Promise<void>) =>
    read().catch((err: Error & { code?: number }) =>
      lines.push(`${what}: ${err.code === 404 ? 'not found' : err.message.split('\n')[0]!.slice(0, 300)}`),
    );
  await safely('server', async () => {
    const s = await server(id);
    lines.push(`server ${id}: ${s?.status} (${s?.status_reason ?? 'no reason'})`);
  });
  await safely(`deployment mcp-server-${id}`, async () => {
    const d = await apps.readNamespacedDeployment({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    const st = d.status ?? {};
    const conditions = (st.conditions ?? []).map((c) => `${c.type}=${c.status} ${c.reason ?? ''}: ${c.message ?? ''}`);
    lines.push(
      `deployment ${d.metadata!.name} generation ${d.metadata!.generation}/${st.observedGeneration ?? '-'}: ` +
        `replicas ${st.replicas ?? 0}, updated ${st.updatedReplicas ?? 0}, ready ${st.readyReplicas ?? 0}, ` +
        `available ${st.availableReplicas ?? 0}; image ${d.spec!.template.spec!.containers[0]!.image}`,
      ...conditions.map((c) => `  ${c}`),
    );
  });
  await safely('replica sets', async () => {
    const sets = await replicaSetsOf(id);
    if (sets.length === 0) lines.push('no replica sets');
    for (const rs of sets)
      lines.push(
        `replica set ${rs.metadata!.name}: want ${rs.spec?.replicas ?? '-'}, have ${rs.status?.replicas ?? 0}, ` +
          `ready ${rs.status?.readyReplicas ?? 0}` +
          (rs.status?.conditions ?? []).map((c) => `; ${c.type}=${c.status} ${c.message ?? ''}`).join(''),
      );
  });
  await safely('pods', async () => {
    const pods = await podsOf(id);
    if (pods.length === 0) lines.push('no pods');
    for (const p of pods) {
      const c = p.status?.containerStatuses?.[0];
      const state = c?.state ? Object.keys(c.state).find((k) => c.state![k as keyof typeof c.state]) : 'none';
      const ready = p.status?.conditions?.find((x) => x.type === 'Ready');
      lines.push(
        `pod ${p.metadata!.name} of ${p.metadata!.ownerReferences?.[0]?.name ?? 'no owner'} on ` +
          `${p.spec?.nodeName ?? 'no node'}${p.metadata!.deletionTimestamp ? ' (being deleted)' : ''}: ` +
          `${p.status?.phase ?? 'no phase'}, Ready=${ready?.status ?? '-'}, container ${state}, ` +
          `restarts ${c?.restartCount ?? 0}`,
      );
      for (const probe of node.probes.filter((r) => r.pod === p.metadata!.name).slice(-3))
        lines.push(`  ${probe.kind} ${probe.ok ? 'ok' : 'failed'}: ${probe.output.slice(0, 300)}`);
    }
  });
  return lines.join('\n');
}

/** Creates a server of the registry's router image; its id. */
async function createRouter(name: string, config: Record<string, unknown> = {}): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Router', source: { type: 'image', image: routerImage }, config },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id;
}

/** The server's one Ready pod, not being deleted, matching `also`. */
const readyPod = (id: number, what: string, also: (pod: V1Pod) => boolean = () => true) =>
  eventually(
    async () => (await podsOf(id)).find((p) => !p.metadata!.deletionTimestamp && isReady(p) && also(p)),
    60_000,
    what,
    () => clusterState(id),
  );

/** Deletes the server and waits until it is gone. */
async function deleteServer(id: number): Promise<void> {
  expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
    60_000,
    'deleted',
    () => clusterState(id),
  );
}

async function waitFor(id: number, status: string, what: string) {
  return eventually(
    async () => {
      const s = await server(id);
      return s.status === status ? s : undefined;
    },
    90_000,
    what,
    () => clusterState(id),
  );
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-host-k8s-deployments-'));
  k8s = await startKubernetes({ logDir: join(dir, 'logs') });
  const kc = new KubeConfig();
  kc.loadFromFile(k8s.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'default' } } });
  images = await startRegistry({ dir: join(dir, 'registry'), port: await freePort(), logDir: join(dir, 'logs') });
  const bridgeImage = (await ensureBridgeImage({ registry: images.address, binDir: BRIDGE_DIR })).reference;
  // The kubelet stand-in pulls nothing, but the decision reads the tag's digest from this registry.
  routerImage = `${images.address}/mcp/router:1`;
  routerDigest = await pushMinimalImage(images.address, 'mcp/router', '1', { Cmd: ['/router'] });

  kubelet = await startKubeletStandIn(k8s.kubeletTls);
  node = await kubelet.runPods({
    kubeconfig: k8s.kubeconfig,
    namespace: NAMESPACE,
    bridgeBinary: join(BRIDGE_DIR, 'stdio-bridge-amd64'),
    // POD_CRASH (the server's config): a server that exits as soon as it starts, every time.
    start: (_pod, _container, env) =>
      env.POD_CRASH
        ? spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' })
        : spawn(process.execPath, [POD_SERVER], { env: { ...process.env, ...env }, stdio: 'ignore' }),
  });
  services = await startServiceProxy({ kubeconfig: k8s.kubeconfig, node });

  h = await startHarness('kubernetes-deployments', {
    CONTAINER_RUNTIME: 'kubernetes',
    K8S_KUBECONFIG: k8s.kubeconfig,
    K8S_NAMESPACE: NAMESPACE,
    K8S_READY_TIMEOUT_SECONDS: '60',
    // Liveness every 4 s (readiness every 2 s): three failures restart the server within seconds,
    // and a server process slow to start on a loaded machine still gets 12 s.
    K8S_PROBE_PERIOD_SECONDS: '4',
    K8S_STDIO_BRIDGE_IMAGE: bridgeImage,
    K8S_SERVICE_ENDPOINT: services.endpoint,
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    // Probes every 2 s; three restarts within five minutes are crashloop. Slow enough that a loaded
    // machine's answers are not taken for a degraded server.
    HEALTH_PROBE_INTERVAL_MS: '2000',
    HEALTH_PROBE_TIMEOUT_MS: '3000',
    HEALTH_DEGRADED_LATENCY_MS: '3000',
    HEALTH_FAILURE_THRESHOLD: '3',
    HEALTH_CRASHLOOP_RESTARTS: '3',
    HEALTH_CRASHLOOP_WINDOW_MS: '300000',
  });
  call = httpClient(h.apiUrl);
}, 240_000);

afterAll(async () => {
  await h?.stop();
  await services?.stop();
  await kubelet?.stop();
  await images?.stop();
  await k8s?.stop();
});

describe('a kubernetes server is a Deployment', () => {
  let id: number;
  let firstSet: string;

  it('launches as a Deployment whose ReplicaSet makes a pod, Ready by its MCP probe', async () => {
    id = await createRouter('k8s-deployed');
    const running = await waitFor(id, 'running', 'the server running');
    expect(running.status_reason).toContain('running and ready');

    const deployment = await apps.readNamespacedDeployment({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    expect(deployment.spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    });
    const [set, ...others] = await replicaSetsOf(id);
    expect(others).toHaveLength(0);
    expect(set!.metadata!.ownerReferences).toMatchObject([{ kind: 'Deployment', name: `mcp-server-${id}` }]);
    firstSet = set!.metadata!.name!;
    const pod = await readyPod(id, 'a Ready pod');
    expect(pod.metadata!.ownerReferences).toMatchObject([{ kind: 'ReplicaSet', name: firstSet }]);
    // The pod is as hardened as a bare pod was: no token, non-root, the bridge init container.
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    expect(pod.spec!.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['stdio-bridge']);
    // The tag was read once, at the decision: the pod runs the digest it named.
    expect(pod.spec!.containers[0]!.image).toBe(`${images.address}/mcp/router@${routerDigest}`);
    // Ready because the server answered MCP through the bridge's probe, run as the pod declares it.
    const probe = ['/.mcp-host/stdio-bridge', '--probe', 'http://127.0.0.1:8080/mcp'];
    expect(pod.spec!.containers[0]!.readinessProbe!.exec!.command).toEqual(probe);
    expect(pod.spec!.containers[0]!.livenessProbe!.exec!.command).toEqual(probe);
    expect(node.probes).toContainEqual(
      expect.objectContaining({ pod: pod.metadata!.name, kind: 'readiness', what: probe.join(' '), ok: true }),
    );
    const [runtime] = await h.sql`select workload from server_runtimes where server_id = ${id}`;
    expect(runtime).toEqual({ workload: `mcp-server-${id}` });
  }, 120_000);

  it('rolls to a new ReplicaSet on redeploy, the old one scaled down once the new pod is Ready', async () => {
    const before = await podsOf(id);
    expect((await call('POST', `/api/servers/${id}/redeploy`, { token: h.adminToken })).status).toBe(202);
    const sets = await eventually(
      async () => {
        const all = await replicaSetsOf(id);
        return all.length === 2 ? all : undefined;
      },
      60_000,
      'a second replica set',
      () => clusterState(id),
    );
    const fresh = sets.find((s) => s.metadata!.name !== firstSet)!;
    const pod = await readyPod(id, "the new ReplicaSet's Ready pod", (p) =>
      p.metadata!.ownerReferences!.some((o) => o.name === fresh.metadata!.name),
    );
    expect(pod.metadata!.labels!['mcp-host.dev/decision-id']).not.toBe(
      before[0]!.metadata!.labels!['mcp-host.dev/decision-id'],
    );
    await eventually(
      async () => {
        const old = (await replicaSetsOf(id)).find((s) => s.metadata!.name === firstSet);
        return old?.spec?.replicas === 0 && (old.status?.replicas ?? 0) === 0;
      },
      60_000,
      'the old replica set scaled to zero',
      () => clusterState(id),
    );
    await eventually(
      async () => !(await podsOf(id)).some((p) => p.metadata!.uid === before[0]!.metadata!.uid),
      60_000,
      'the old pod gone',
      () => clusterState(id),
    );
    // The server's status followed the new ReplicaSet's pod.
    await eventually(
      async () => {
        const s = await server(id);
        return s.status === 'running' && String(s.status_reason).includes(pod.metadata!.name!);
      },
      60_000,
      'running on the new pod',
      () => clusterState(id),
    );
  }, 150_000);

  it('gets a deleted pod back from its ReplicaSet, Ready again', async () => {
    const [pod] = (await podsOf(id)).filter((p) => !p.metadata!.deletionTimestamp);
    if (!pod) throw new Error(`no pod to delete; seen:\n${await clusterState(id)}`);
    await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE });
    const back = await readyPod(id, 'a replacement pod', (p) => p.metadata!.uid !== pod.metadata!.uid);
    expect(back.metadata!.ownerReferences![0]!.name).toBe(pod.metadata!.ownerReferences![0]!.name);
    const deployment = await apps.readNamespacedDeployment({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    // The replacement is of the current template (its labels, plus the ReplicaSet's pod-template-hash).
    expect(back.metadata!.labels).toMatchObject(deployment.spec!.template.metadata!.labels!);
  }, 90_000);

  it('restarts a server that stops answering MCP (its liveness probe), counting the restart', async () => {
    const pod = await readyPod(id, 'a Ready pod');
    const name = pod.metadata!.name!;
    const child = node.process(name)!;
    // Wedged: the process is there, its port accepts connections, nothing answers.
    child.kill('SIGSTOP');
    const restarted = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name, namespace: NAMESPACE });
        return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isReady(p) ? p : undefined;
      },
      60_000,
      'the container restarted and Ready',
      () => clusterState(id),
    );
    const status = restarted.status!.containerStatuses![0]!;
    expect(status.lastState!.terminated).toMatchObject({ exitCode: 137 });
    expect(status.lastState!.terminated!.message).toContain('liveness probe failed');
    expect(node.probes.some((p) => p.pod === name && p.kind === 'liveness' && !p.ok)).toBe(true);
    expect(node.process(name)!.pid).not.toBe(child.pid);
  }, 90_000);

  it('deletes the Deployment, its ReplicaSets and pods with the server', async () => {
    await deleteServer(id);
    await expect(
      apps.readNamespacedDeployment({ name: `mcp-server-${id}`, namespace: NAMESPACE }),
    ).rejects.toMatchObject({ code: 404 });
    expect(await replicaSetsOf(id)).toHaveLength(0);
    // Pods on a node go once their kubelet confirms.
    await eventually(
      async () => (await podsOf(id)).length === 0,
      30_000,
      'no pods left',
      () => clusterState(id),
    );
  }, 90_000);
});

describe('a kubernetes server under supervision', () => {
  let id: number;

  interface EventRow {
    id: number;
    status: string;
    reason: string | null;
    created_at: Date;
  }
  const eventsAfter = (after: number) =>
    h.sql<EventRow[]>`
      select id, status, reason, created_at from server_events where server_id = ${id} and id > ${after} order by id`;
  const lastEventId = async () => (await eventsAfter(0)).at(-1)?.id ?? 0;
  /** Waits until the events after `after` hold `statuses` in this order (others may come between). */
  const eventsInOrder = (after: number, statuses: string[], timeoutMs: number) =>
    eventually(
      async () => {
        const events = await eventsAfter(after);
        let i = 0;
        for (const e of events) if (e.status === statuses[i]) i += 1;
        return i === statuses.length && events;
      },
      timeoutMs,
      `events ${statuses.join(' → ')} of server ${id}`,
      () => clusterState(id),
    );
  const launches = async (serverId: number) =>
    (
      await h.sql<
        { n: number }[]
      >`select count(*)::int as n from runtime_policy_decisions where server_id = ${serverId}`
    )[0]!.n;

  it('is probed over the gateway path while it runs, and serves gateway calls', async () => {
    id = await createRouter('k8s-supervised');
    await waitFor(id, 'running', 'the supervised server running');
    const probes = await eventually(
      async () => {
        const r = await call('GET', `/api/servers/${id}/probes`, { token: h.adminToken });
        return r.body.length >= 2 && r.body;
      },
      30_000,
      'two probes',
      () => clusterState(id),
    );
    expect(probes[0]).toMatchObject({ ok: true, error: null });
    expect(probes[0].tools_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const [runtime] = await h.sql`select endpoint from server_runtimes where server_id = ${id}`;
    expect(runtime!.endpoint).toBe(
      services.endpoint
        .replace('{namespace}', NAMESPACE)
        .replace('{service}', `mcp-server-${id}`)
        .replace('{path}', '/mcp'),
    );
    expect(await gatewayEcho(h, id, 'through the service')).toEqual({
      content: [{ type: 'text', text: 'through the service' }],
    });
  }, 120_000);

  it("notices a crashed pod within seconds, counts Kubernetes' restart of it, and does not relaunch", async () => {
    const pod = await readyPod(id, 'a Ready pod');
    const name = pod.metadata!.name!;
    const launched = await launches(id);
    const mark = await lastEventId();
    const killedAt = Date.now();
    node.process(name)!.kill('SIGKILL');
    const events = await eventsInOrder(mark, ['unhealthy', 'running'], 60_000);
    const unhealthy = events.find((e) => e.status === 'unhealthy')!;
    console.log(`k8s supervision: crash noticed in ${unhealthy.created_at.getTime() - killedAt} ms`);
    // The watch on the pod saw it, not a probe (2 s apart, three failures needed).
    expect(unhealthy.created_at.getTime() - killedAt).toBeLessThan(5_000);
    expect(unhealthy.reason).toContain(`restarted by Kubernetes (once), last exit: exit code 137`);
    expect(unhealthy.reason).toContain(name);
    // Kubernetes restarted the container in its pod: the same pod, no new launch, no relaunch.
    const after = await core.readNamespacedPod({ name, namespace: NAMESPACE });
    expect(after.status!.containerStatuses![0]!.restartCount).toBe(1);
    expect(await launches(id)).toBe(launched);
    expect(events.filter((e) => e.status === 'restarting')).toHaveLength(0);
    expect(await gatewayEcho(h, id, 'after the crash')).toEqual({
      content: [{ type: 'text', text: 'after the crash' }],
    });
  }, 90_000);

  it('resumes supervision after the worker is killed, counting the restart once', async () => {
    await waitFor(id, 'running', 'running');
    const [pod] = (await podsOf(id)).filter((p) => !p.metadata!.deletionTimestamp);
    const name = pod!.metadata!.name!;
    const restartsBefore = pod!.status!.containerStatuses![0]!.restartCount;
    const launched = await launches(id);
    const mark = await lastEventId();
    await h.worker.kill();
    const killedAt = Date.now();
    node.process(name)!.kill('SIGKILL');
    await h.restartWorker({ kill: true }); // already dead: this starts the new one
    const events = await eventsInOrder(mark, ['unhealthy', 'running'], 120_000);
    const recovered = events.findLast((e) => e.status === 'running')!;
    // Settled: the new worker's probes find it well since, and the dead worker's watch has long
    // timed out (10 s without a heartbeat), so a late report of the same restart would be in.
    await eventually(
      async () => {
        const [row] = await h.sql<{ n: number }[]>`
          select count(*)::int as n from server_probes
          where server_id = ${id} and ok and probed_at > ${recovered.created_at}`;
        return row!.n >= 3 && Date.now() - killedAt > 30_000;
      },
      90_000,
      'probes after the recovery',
      () => clusterState(id),
    );
    const after = await eventsAfter(mark);
    const statuses = after.map((e) => e.status);
    expect(
      statuses.filter((s) => s === 'unhealthy'),
      statuses.join(' → '),
    ).toHaveLength(1);
    // Seen by a probe that failed and looked at the pod, or by the watch retried on the new worker:
    // either way the pod's restart is the reason.
    expect(after.find((e) => e.status === 'unhealthy')!.reason).toContain(
      `restarted by Kubernetes (once), last exit: exit code 137`,
    );
    // Counted once: with the previous case's restart that is two within the window; counted twice,
    // three, and the server would be crashloop (HEALTH_CRASHLOOP_RESTARTS=3).
    expect(statuses).not.toContain('crashloop');
    expect(statuses.at(-1)).toBe('running');
    // Kubernetes restarted the container once; nothing relaunched it.
    const now = await core.readNamespacedPod({ name, namespace: NAMESPACE });
    expect(now.status!.containerStatuses![0]!.restartCount).toBe(restartsBefore + 1);
    expect(statuses).not.toContain('restarting');
    expect(await launches(id)).toBe(launched);
    expect(await gatewayEcho(h, id, 'resumed')).toEqual({ content: [{ type: 'text', text: 'resumed' }] });
    recordHistory(
      h.env.TEMPORAL_ADDRESS!,
      h.workflowIds.server(id),
      'server-lifecycle-kubernetes-supervised-pod-check-open',
    );
  }, 240_000);

  it('goes crashloop when its pod keeps crashing, and the gateway answers 503 with Retry-After', async () => {
    // Every file of a run shares one database: a name of this file's own (kubernetes.int has a k8s-crashing).
    const crashing = await createRouter('k8s-deployment-crashing', { POD_CRASH: '1' });
    const events = await eventually(
      async () => {
        const rows = await h.sql<EventRow[]>`
          select id, status, reason, created_at from server_events where server_id = ${crashing} order by id`;
        return rows.some((e) => e.status === 'crashloop') && rows;
      },
      120_000,
      'crashloop',
      () => clusterState(crashing),
    );
    expect(events.map((e) => e.status)).toEqual(expect.arrayContaining(['unhealthy', 'crashloop']));
    expect(events.find((e) => e.status === 'crashloop')!.reason).toMatch(
      /^3 restarts within 300 s \(Kubernetes restarts it, backing off\); last failure: .*(CrashLoopBackOff|exit code 3)/,
    );
    // One launch: Kubernetes did the restarts.
    expect(await launches(crashing)).toBe(1);
    const refused = await gatewayPost(h, crashing, { method: 'ping' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await call('POST', `/api/servers/${crashing}/stop`, { token: h.adminToken })).status).toBe(202);
    await waitFor(crashing, 'stopped', 'the crashing server stopped');
    await deleteServer(crashing);
  }, 180_000);

  it('is deleted with its Deployment', () => deleteServer(id), 90_000);
});

describe("a kubernetes server's secrets", () => {
  const fileValue = `k8s-file-${randomUUID()}`;
  const envValue = `k8s-env-${randomUUID()}`;
  let id: number;
  const secretName = () => `mcp-server-${id}-secrets`;

  it('are one Secret of the server, mounted read-only at /run/secrets and taken by secretKeyRef', async () => {
    for (const [name, value] of [
      ['k8s-file', fileValue],
      ['k8s-env', envValue],
    ] as const) {
      const made = await call('POST', '/api/secrets', { token: h.adminToken, json: { name, value } });
      expect(made.status, made.text).toBe(201);
    }
    id = await createRouter('k8s-secrets', {
      API_TOKEN: { secret: 'k8s-file' },
      ENV_TOKEN: { secret: 'k8s-env', as: 'env' },
    });
    await waitFor(id, 'running', 'the server with secrets running');

    const secret = await core.readNamespacedSecret({ name: secretName(), namespace: NAMESPACE });
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(data).toEqual({ 'k8s-file': fileValue, 'env.ENV_TOKEN': envValue });

    // The Deployment and its pod hold names and paths: the values are in the Secret only.
    const deployment = await apps.readNamespacedDeployment({ name: `mcp-server-${id}`, namespace: NAMESPACE });
    const pod = await readyPod(id, 'the pod with secrets Ready');
    for (const object of [deployment, pod]) {
      expect(JSON.stringify(object)).not.toContain(fileValue);
      expect(JSON.stringify(object)).not.toContain(envValue);
    }
    const spec = pod.spec!;
    const volume = spec.volumes!.find((v) => v.secret);
    expect(volume!.secret).toMatchObject({ secretName: secretName(), defaultMode: 0o400 });
    const container = spec.containers.find((c) => c.volumeMounts?.some((m) => m.name === volume!.name))!;
    expect(container.volumeMounts!.find((m) => m.name === volume!.name)).toMatchObject({
      mountPath: '/run/secrets',
      readOnly: true,
    });
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'API_TOKEN_FILE', value: '/run/secrets/k8s-file' },
        { name: 'ENV_TOKEN', valueFrom: { secretKeyRef: { name: secretName(), key: 'env.ENV_TOKEN' } } },
      ]),
    );

    // What the server's process got from the node: the env value, and the file with its mode.
    const child = node.process(pod.metadata!.name!);
    const environ = new Map(
      (await readFile(`/proc/${child!.pid}/environ`, 'utf8'))
        .split('\0')
        .filter(Boolean)
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const),
    );
    expect(environ.get('ENV_TOKEN')).toBe(envValue);
    const file = environ.get('API_TOKEN_FILE')!;
    expect(file).toBe(`${node.mounts(pod.metadata!.name!)!.get('/run/secrets')}/k8s-file`);
    expect(await readFile(file, 'utf8')).toBe(fileValue);
    expect((await stat(file)).mode & 0o777).toBe(0o400);
  });

  it('deletes the Secret with the server', async () => {
    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () =>
        core.readNamespacedSecret({ name: secretName(), namespace: NAMESPACE }).then(
          () => undefined,
          (err: { code?: number }) => (err.code === 404 ? true : undefined),
        ),
      90_000,
      'the Secret deleted',
      () => clusterState(id),
    );
    // The server's row goes after its workload: until then the secrets are in use.
    for (const name of ['k8s-file', 'k8s-env'])
      await expect
        .poll(async () => (await call('DELETE', `/api/secrets/${name}`, { token: h.adminToken })).status, {
          timeout: 60_000,
          interval: 500,
        })
        .toBe(204);
  });
});

describe('workflow determinism', () => {
  it('replays every workflow this file ran against the current code', async () => {
    expect(await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThanOrEqual(1);
  });
});
