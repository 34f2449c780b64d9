// The Kubernetes executor: a Deployment (its ReplicaSets make the pods), a Service and a NetworkPolicy
// per MCP server in K8S_NAMESPACE, recorded in server_runtimes (backend `kubernetes`, workload = the
// Deployment) so stop, delete and logs work after any restart. A redeploy changes the Deployment's
// pod template, which rolls it to a new ReplicaSet. The server's status follows the pods of the
// launch's ReplicaSet: awaitReady watches them until one is Ready (running), they have failed (with
// the kubelet's reason), or the ready timeout passes — a server is never left in `starting`. A stdio
// image (its config read from its registry) runs behind the stdio bridge, so the pod answers
// Streamable HTTP like any other; the bridge binary is also every pod's MCP probe.
import { PassThrough, Writable } from 'node:stream';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { Log, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { kubeError, kubeStatus, type KubeClient } from '../../lib/kubernetes/client.js';
import { recordKubernetesLaunch, recordedWorkload } from '../../lib/ledger/runtime.js';
import { EXECUTORS } from '../../lib/policy/decide.js';
import {
  LogsUnavailable,
  NoLogsYet,
  type Executor,
  type LaunchInput,
  type Launched,
  type WorkloadState,
} from '../../lib/runtime/executor.js';
import {
  CONTAINER_NAME,
  DECISION_ID_LABEL,
  deploymentManifest,
  deploymentName,
  launchSelector,
  launchVerdict,
  networkPolicyManifest,
  podVerdict,
  serverSelector,
  serviceManifest,
  serviceName,
  type PodVerdict,
} from '../../lib/kubernetes/manifests.js';
import type { ImageConfig } from '../../lib/registry/client.js';
import { podChanged, type PodObservation } from '../../lib/server-health.js';
import { registryClientFor } from '../../lib/registry/image-digest.js';
import { parseImageReference, parseRegistry } from '../../lib/registry/reference.js';
import { bridgedCommand } from '../../lib/runtime/stdio-bridge.js';
import type { CredentialManager } from '../registry/credentials.js';
import { cachedProbe, launchResources, linesOf } from './shared.js';
import { applyServerSecrets, deleteServerSecret, kubernetesSecrets, type SecretDelivery } from './secret-delivery.js';

/** The port MCP servers listen on (told through PORT), and their Streamable HTTP path. */
const MCP_PORT = 8080;
const MCP_PATH = '/mcp';

export type KubernetesVerdict = PodVerdict | { state: 'timeout'; reason: string };

/** The last termination of a pod's server container, as an operator reads it: `exit code 137 (Error): …`. */
function lastTermination(pod: V1Pod): string | null {
  const status = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME);
  const t = status?.lastState?.terminated ?? status?.state?.terminated;
  if (!t) return null;
  return `exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message}` : ''}`;
}

const ignore404 = (what: string) => (err: unknown) => {
  if (kubeStatus(err) !== 404) throw kubeError(what, err);
};

/** Deleting a server's Deployment, pods and Service, and reading a pod's log. */
function kubernetesWorkloads(kube: KubeClient) {
  const namespace = kube.namespace;
  /** The server's pods; `bare`: only those no ReplicaSet owns (launched before servers were Deployments). */
  async function deletePods(serverId: number, which: 'all' | 'bare'): Promise<void> {
    const pods = await kube
      .core()
      .listNamespacedPod({ namespace, labelSelector: serverSelector(serverId) })
      .catch((err: unknown) => {
        throw kubeError(`listing pods of server ${serverId}`, err);
      });
    for (const pod of pods.items) {
      if (which === 'bare' && (pod.metadata!.ownerReferences ?? []).length > 0) continue;
      const name = pod.metadata!.name!;
      await kube
        .core()
        .deleteNamespacedPod({ name, namespace })
        .catch(ignore404(`deleting pod ${name}`));
    }
  }
  return {
    deletePods,
    /**
     * Deletes the Deployment, then its ReplicaSets and pods (a stop: the Service stays for the next
     * start). The garbage collector would delete them too, later; deleted here, none is left when
     * the stop is reported, and nothing is left to recreate them (the Deployment goes first).
     */
    async deleteDeployment(serverId: number): Promise<void> {
      const name = deploymentName(serverId);
      await kube
        .apps()
        .deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Background' })
        .catch(ignore404(`deleting deployment ${name}`));
      await kube
        .apps()
        .deleteCollectionNamespacedReplicaSet({
          namespace,
          labelSelector: serverSelector(serverId),
          propagationPolicy: 'Background',
        })
        .catch(ignore404(`deleting the replica sets of server ${serverId}`));
      await deletePods(serverId, 'all');
    },
    /** Deletes the server's Service and its NetworkPolicy (a delete: nothing of the server is left). */
    async deleteService(serverId: number): Promise<void> {
      const name = serviceName(serverId);
      await kube
        .core()
        .deleteNamespacedService({ name, namespace })
        .catch(ignore404(`deleting service ${name}`));
      await kube
        .networking()
        .deleteNamespacedNetworkPolicy({ name, namespace })
        .catch(ignore404(`deleting network policy ${name}`));
    },
    /**
     * The pod's last lines as the kubelet wrote them, newlines kept; empty while the pod
     * is on no node. Read as a byte stream: the generated client cannot parse plain-text answers.
     */
    async logs(pod: string, tailLines: number): Promise<string> {
      const chunks: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(Buffer.from(chunk));
          done();
        },
      });
      const finished = new Promise<void>((resolve, reject) => sink.once('finish', resolve).once('error', reject));
      try {
        await new Log(kube.config()).log(namespace, pod, CONTAINER_NAME, sink, { tailLines });
      } catch (err) {
        if (kubeStatus(err) === 204) return ''; // on no node yet: nothing written
        throw err;
      }
      await finished;
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Resolves at the next change of the pods asked for, after `ms`, or when the watch ends; rejects when cancelled. */
function nextChange(
  kube: KubeClient,
  query: { fieldSelector?: string; labelSelector?: string },
  resourceVersion: string | undefined,
  ms: number,
  cancelled: Promise<never>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let controller: AbortController | undefined;
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller?.abort();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => settle(), ms);
    cancelled.catch((err: unknown) => settle(err));
    // A watch that ends at once (API server away, resourceVersion too old) is retried after a pause.
    const ended = () => setTimeout(() => settle(), 1_000);
    kube
      .watch()
      .watch(`/api/v1/namespaces/${kube.namespace}/pods`, { ...query, resourceVersion }, () => settle(), ended)
      .then((c) => {
        controller = c;
        if (settled) c.abort();
      }, ended);
  });
}

/** A pod's log could not be read: nothing written yet (a 409 to the client), or the API server failed (502). */
function podLogError(pod: string, err: unknown): Error {
  // 204: the pod is on no node yet; 400: its container has not started: nothing to read.
  return [204, 400, 404].includes(kubeStatus(err) ?? 0)
    ? new NoLogsYet(kubeError(`pod ${pod} has no logs yet`, err).message)
    : new LogsUnavailable(kubeError(`reading logs of pod ${pod}`, err).message);
}

export function createKubernetesExecutor(
  sql: Sql,
  env: Env,
  kube: KubeClient,
  credentials?: CredentialManager,
  secrets?: SecretDelivery,
) {
  const namespace = kube.namespace;
  const workloads = kubernetesWorkloads(kube);
  const ownRegistry = env.REGISTRY ? parseRegistry(env.REGISTRY) : undefined;

  /**
   * The image's config from its registry, with the platform's credentials only for its own
   * registry; undefined when it cannot be read (the kubelet then reports what it finds pulling).
   */
  async function imageConfig(image: string): Promise<ImageConfig | undefined> {
    const own = ownRegistry?.host === parseImageReference(image).host;
    const { ref, client } = registryClientFor(image, {
      ownRegistry: env.REGISTRY,
      credentials: own ? await credentials?.current() : undefined,
      timeoutMs: 15_000,
    });
    try {
      return await client.getImageConfig(ref.repo, ref.reference, 'amd64');
    } catch (err) {
      log.warn(`image ${image}: config not readable (${(err as Error).message}); launched as Streamable HTTP`);
      return undefined;
    }
  }

  /** The bridge for a stdio image: what the pod's init container and command need. */
  async function bridgeFor(image: string) {
    const config = await imageConfig(image);
    if (config?.Labels?.['io.mcp-host.transport'] !== 'stdio') return undefined;
    const command = bridgedCommand(config.Entrypoint ?? null, config.Cmd ?? null);
    if (!command)
      throw ApplicationFailure.nonRetryable(
        `image ${image} is a stdio server (io.mcp-host.transport=stdio) without ENTRYPOINT or CMD: nothing to run`,
        ErrorType.LaunchFailed,
      );
    if (!env.K8S_STDIO_BRIDGE_IMAGE)
      throw ApplicationFailure.nonRetryable(
        `image ${image} is a stdio server: it runs on Kubernetes behind the stdio bridge, and K8S_STDIO_BRIDGE_IMAGE is not set`,
        ErrorType.LaunchFailed,
      );
    return { image: env.K8S_STDIO_BRIDGE_IMAGE, command, maxSessions: env.STDIO_BRIDGE_MAX_SESSIONS };
  }

  /**
   * A pod launched before servers were Deployments (its name recorded as the workload): its
   * verdict and version, failed (fatal) when it no longer exists.
   */
  async function readBarePod(
    serverId: number,
    name: string,
  ): Promise<{ verdict: PodVerdict; resourceVersion?: string }> {
    let pod: V1Pod;
    try {
      pod = await kube.core().readNamespacedPod({ name, namespace });
    } catch (err) {
      if (kubeStatus(err) === 404)
        return {
          verdict: { state: 'failed', fatal: true, reason: `pod ${name} of server ${serverId} no longer exists` },
        };
      throw kubeError(`reading pod ${name}`, err);
    }
    return { verdict: podVerdict(pod), resourceVersion: pod.metadata?.resourceVersion };
  }

  /** The server's Deployment; undefined when there is none. */
  async function readDeployment(serverId: number): Promise<V1Deployment | undefined> {
    const name = deploymentName(serverId);
    return kube
      .apps()
      .readNamespacedDeployment({ name, namespace })
      .catch((err: unknown) => {
        if (kubeStatus(err) === 404) return undefined;
        throw kubeError(`reading deployment ${name}`, err);
      });
  }

  /** The pods of the Deployment's current pod template (its newest ReplicaSet's), newest first. */
  async function currentPods(serverId: number, deployment: V1Deployment) {
    const decision = deployment.spec?.template?.metadata?.labels?.[DECISION_ID_LABEL] ?? '';
    const labelSelector = launchSelector(serverId, decision);
    const list = await kube
      .core()
      .listNamespacedPod({ namespace, labelSelector })
      .catch((err: unknown) => {
        throw kubeError(`listing pods of deployment ${deploymentName(serverId)}`, err);
      });
    const pods = [...list.items].sort((a, b) =>
      String(b.metadata?.creationTimestamp?.toISOString?.() ?? '').localeCompare(
        String(a.metadata?.creationTimestamp?.toISOString?.() ?? ''),
      ),
    );
    return { pods, labelSelector, resourceVersion: list.metadata?.resourceVersion };
  }

  /** The launch's verdict, and what to watch for its next change. */
  async function readLaunch(
    serverId: number,
    workload: string,
  ): Promise<{
    verdict: PodVerdict;
    query: { fieldSelector?: string; labelSelector?: string };
    resourceVersion?: string;
  }> {
    if (workload !== deploymentName(serverId)) {
      const { verdict, resourceVersion } = await readBarePod(serverId, workload);
      return { verdict, query: { fieldSelector: `metadata.name=${workload}` }, resourceVersion };
    }
    const deployment = await readDeployment(serverId);
    if (!deployment)
      return {
        verdict: {
          state: 'failed',
          fatal: true,
          reason: `deployment ${workload} of server ${serverId} no longer exists`,
        },
        query: { labelSelector: serverSelector(serverId) },
      };
    const { pods, labelSelector, resourceVersion } = await currentPods(serverId, deployment);
    return { verdict: launchVerdict(deployment, pods), query: { labelSelector }, resourceVersion };
  }

  /**
   * The pod that stands for the server, as the supervisor sees it: of the Deployment's current
   * template, not being deleted, the Ready one else the newest (a bare pod: itself).
   */
  async function observePods(
    serverId: number,
    workload: string,
  ): Promise<{
    observation: PodObservation;
    query: { fieldSelector?: string; labelSelector?: string };
    resourceVersion?: string;
  }> {
    let pods: V1Pod[];
    let query: { fieldSelector?: string; labelSelector?: string };
    let resourceVersion: string | undefined;
    let gone: string | undefined;
    if (workload !== deploymentName(serverId)) {
      query = { fieldSelector: `metadata.name=${workload}` };
      const pod = await kube
        .core()
        .readNamespacedPod({ name: workload, namespace })
        .catch((err: unknown) => {
          if (kubeStatus(err) === 404) return undefined;
          throw kubeError(`reading pod ${workload}`, err);
        });
      pods = pod ? [pod] : [];
      resourceVersion = pod?.metadata?.resourceVersion;
      if (!pod) gone = `pod ${workload} of server ${serverId} no longer exists`;
    } else {
      const deployment = await readDeployment(serverId);
      if (!deployment) {
        query = { labelSelector: serverSelector(serverId) };
        pods = [];
        gone = `deployment ${workload} of server ${serverId} no longer exists`;
      } else {
        const current = await currentPods(serverId, deployment);
        ({ pods, resourceVersion } = current);
        query = { labelSelector: current.labelSelector };
      }
    }
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const pod = live.find((p) => podVerdict(p).state === 'running') ?? live[0];
    if (!pod) {
      const reason = gone ?? `deployment ${workload} has no pod: its ReplicaSet is replacing it`;
      return {
        observation: { pod: null, restarts: 0, ready: false, reason, lastTermination: null },
        query,
        resourceVersion,
      };
    }
    const verdict = podVerdict(pod);
    const status = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME);
    return {
      observation: {
        pod: pod.metadata!.name!,
        restarts: status?.restartCount ?? 0,
        ready: verdict.state === 'running',
        reason: verdict.reason,
        lastTermination: lastTermination(pod),
      },
      query,
      resourceVersion,
    };
  }

  /**
   * The pod whose logs stand for the server's: the current template's Ready pod, else its newest,
   * else any of the server's (the old ReplicaSet's during a rollout); the workload itself for a bare pod.
   */
  async function logPod(serverId: number, workload: string): Promise<string> {
    if (workload !== deploymentName(serverId)) return workload;
    const deployment = await readDeployment(serverId);
    const { pods } = deployment ? await currentPods(serverId, deployment) : { pods: [] as V1Pod[] };
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const chosen = live.find((p) => podVerdict(p).state === 'running') ?? live[0] ?? pods[0];
    if (chosen) return chosen.metadata!.name!;
    const any = await kube
      .core()
      .listNamespacedPod({ namespace, labelSelector: serverSelector(serverId) })
      .catch((err: unknown) => {
        throw new LogsUnavailable(kubeError(`listing pods of server ${serverId}`, err).message);
      });
    const pod = any.items[0]?.metadata?.name;
    if (!pod) throw new NoLogsYet(`deployment ${workload} has no pod yet`);
    return pod;
  }

  return {
    backend: 'kubernetes',
    // CONTAINER_RUNTIME=kubernetes registers the cluster while its API server answers.
    describe: cachedProbe(async () =>
      env.CONTAINER_RUNTIME === 'kubernetes' && (await kube.reachable()) ? EXECUTORS.kubernetes : undefined,
    ),

    async launch(input: LaunchInput): Promise<Launched> {
      const name = deploymentName(input.serverId);
      const endpoint = env.K8S_SERVICE_ENDPOINT.replaceAll('{service}', serviceName(input.serverId))
        .replaceAll('{namespace}', namespace)
        .replaceAll('{port}', String(MCP_PORT))
        .replaceAll('{path}', MCP_PATH);
      // Recorded before the Deployment exists, so a crash in between leaves nothing untracked.
      await recordKubernetesLaunch(sql, {
        serverId: input.serverId,
        decisionId: input.decisionId,
        pod: name,
        image: input.image,
        endpoint,
      });
      const resources = launchResources(`deployment ${name}`, input.config, env);
      const bridge = await bridgeFor(input.image);
      // A server launched as a bare pod before it was a Deployment: that pod goes.
      await workloads.deletePods(input.serverId, 'bare');
      const core = kube.core();
      await core
        .createNamespacedService({ namespace, body: serviceManifest(input.serverId, namespace, MCP_PORT) })
        .catch((err: unknown) => {
          if (kubeStatus(err) !== 409) throw kubeError(`creating service ${serviceName(input.serverId)}`, err);
        });
      // Before any pod exists, so none runs without its policy.
      await kube
        .networking()
        .createNamespacedNetworkPolicy({ namespace, body: networkPolicyManifest(input.serverId, namespace, MCP_PORT) })
        .catch((err: unknown) => {
          if (kubeStatus(err) !== 409) throw kubeError(`creating network policy ${serviceName(input.serverId)}`, err);
        });
      const secretValues = await kubernetesSecrets(kube, secrets, input, name);
      const body = deploymentManifest({
        serverId: input.serverId,
        decisionId: input.decisionId,
        namespace,
        image: input.image,
        useGpu: input.useGpu,
        config: input.config,
        serviceAccount: env.K8S_SERVICE_ACCOUNT,
        pullSecret: env.K8S_REGISTRY_SECRET_NAME,
        port: MCP_PORT,
        resources,
        gpuCount: env.SERVER_GPU_COUNT,
        runAs: { uid: env.SERVER_DEFAULT_UID, gid: env.SERVER_DEFAULT_GID },
        tmpBytes: env.SERVER_TMPFS_SIZE,
        bridge,
        probeImage: env.K8S_STDIO_BRIDGE_IMAGE,
        probePeriodSeconds: env.K8S_PROBE_PERIOD_SECONDS,
        replicas: env.K8S_SERVER_REPLICAS,
      });
      body.spec!.template = applyServerSecrets(body.spec!.template, input.serverId, secretValues);
      const refused = (what: string) => (err: unknown) => {
        const status = kubeStatus(err);
        const failure = kubeError(what, err);
        // Refused as asked (invalid spec, quota): retrying cannot help. A conflict (409: changed
        // since it was read) is retried.
        if (status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429)
          throw ApplicationFailure.nonRetryable(failure.message, ErrorType.LaunchFailed);
        throw failure;
      };
      const apps = kube.apps();
      const existing = await readDeployment(input.serverId);
      if (!existing) {
        await apps.createNamespacedDeployment({ namespace, body }).catch(refused(`creating deployment ${name}`));
      } else {
        // A redeploy: the new template (its decision id) rolls the Deployment to a new ReplicaSet.
        // A retried attempt writes the same template again, which changes nothing.
        body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
        await apps.replaceNamespacedDeployment({ name, namespace, body }).catch(refused(`updating deployment ${name}`));
      }
      return {
        workload: name,
        endpoint,
        transport: 'streamable-http',
        ...(bridge && { bridgedFrom: 'stdio' as const }),
      };
    },

    /** A stop deletes the Deployment and its pods; the Service stays for the next start. */
    stop: ({ serverId }) => workloads.deleteDeployment(serverId),
    async remove({ serverId }) {
      await workloads.deleteDeployment(serverId);
      await workloads.deleteService(serverId);
      await deleteServerSecret(kube, serverId);
    },

    async logs({ serverId, workload }, { tail }) {
      const pod = await logPod(serverId, workload);
      return workloads.logs(pod, tail ?? 100).catch((err: unknown) => {
        throw podLogError(pod, err);
      });
    },

    async followLogs({ serverId, workload }, { tail }) {
      const pod = await logPod(serverId, workload);
      const out = new PassThrough();
      const request = await new Log(kube.config())
        .log(namespace, pod, CONTAINER_NAME, out, () => out.end(), { follow: true, tailLines: tail ?? 20 })
        .catch((err: unknown) => {
          throw podLogError(pod, err);
        });
      const stop = () => {
        request.abort();
        out.end();
      };
      return { lines: linesOf(out), stop, endReason: 'the workload stopped' };
    },

    async inspect({ serverId, workload }): Promise<WorkloadState> {
      const { verdict } = await readLaunch(serverId, workload);
      if (verdict.state === 'running') return { state: 'running', reason: verdict.reason };
      if (verdict.state === 'pending') return { state: 'starting', reason: verdict.reason };
      if (workload === deploymentName(serverId) && verdict.reason.endsWith('no longer exists'))
        return { state: 'gone', reason: verdict.reason };
      return { state: 'exited', reason: verdict.reason };
    },

    /**
     * Watches the launch's pods (those of the Deployment's current ReplicaSet) until one is Ready
     * or they have failed, heartbeating; after K8S_READY_TIMEOUT_SECONDS it answers `timeout` with
     * the last state as the reason. A pod deleted meanwhile is replaced by its ReplicaSet: the wait
     * follows the replacement.
     */
    async awaitReady({ serverId, workload }: { serverId: number; workload: string }): Promise<KubernetesVerdict> {
      const ctx = Context.current();
      const deadline = Date.now() + env.K8S_READY_TIMEOUT_SECONDS * 1000;
      for (;;) {
        ctx.heartbeat();
        const { verdict, query, resourceVersion } = await readLaunch(serverId, workload);
        if (verdict.state !== 'pending') return verdict;
        const left = deadline - Date.now();
        if (left <= 0)
          return { state: 'timeout', reason: `not ready after ${env.K8S_READY_TIMEOUT_SECONDS}s: ${verdict.reason}` };
        await nextChange(kube, query, resourceVersion, Math.min(left, 5_000), ctx.cancelled);
      }
    },

    /**
     * Watches the server's pod until the supervisor has something new to judge (another pod, a
     * restart by the kubelet, Ready gained or lost), heartbeating: a crashed container is noticed
     * within seconds, not at the next probe. `seen` absent: the pod as it is now.
     */
    async awaitPodChange({
      serverId,
      seen,
    }: {
      serverId: number;
      seen?: Pick<PodObservation, 'pod' | 'restarts' | 'ready'>;
    }): Promise<PodObservation> {
      const ctx = Context.current();
      const workload = (await recordedWorkload(sql, serverId))?.workload ?? deploymentName(serverId);
      for (;;) {
        ctx.heartbeat();
        const { observation, query, resourceVersion } = await observePods(serverId, workload);
        if (podChanged(seen, observation)) return observation;
        await nextChange(kube, query, resourceVersion, 5_000, ctx.cancelled);
      }
    },
  } satisfies Executor<LaunchInput, Launched> & {
    awaitReady(input: { serverId: number; workload: string }): Promise<KubernetesVerdict>;
    awaitPodChange(input: {
      serverId: number;
      seen?: Pick<PodObservation, 'pod' | 'restarts' | 'ready'>;
    }): Promise<PodObservation>;
  };
}

export type KubernetesExecutor = ReturnType<typeof createKubernetesExecutor>;
