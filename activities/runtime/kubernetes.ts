// The Kubernetes executor: a Pod per launch and a Service and NetworkPolicy per MCP server in K8S_NAMESPACE, recorded
// in server_runtimes (backend `kubernetes`, workload = the pod) so stop, delete and logs work after
// any restart. The server's status follows the pod: awaitReady watches it until it is Ready
// (running), failed (with the kubelet's reason), or the ready timeout passes — a server is never
// left in `starting`. A stdio image (its config read from its registry) runs behind the stdio bridge,
// so the pod answers Streamable HTTP like any other.
import { PassThrough, Writable } from 'node:stream';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { Log, type V1Pod } from '@kubernetes/client-node';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { kubeError, kubeStatus, type KubeClient } from '../../lib/kubernetes/client.js';
import { recordKubernetesLaunch } from '../../lib/ledger/runtime.js';
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
  networkPolicyManifest,
  podManifest,
  podName,
  podVerdict,
  serverSelector,
  serviceManifest,
  serviceName,
  type PodVerdict,
} from '../../lib/kubernetes/manifests.js';
import type { ImageConfig } from '../../lib/registry/client.js';
import { registryClientFor } from '../../lib/registry/image-digest.js';
import { parseImageReference, parseRegistry } from '../../lib/registry/reference.js';
import { bridgedCommand } from '../../lib/runtime/stdio-bridge.js';
import type { CredentialManager } from '../registry/credentials.js';
import { cachedProbe, launchResources, linesOf } from './shared.js';

/** The port MCP servers listen on (told through PORT), and their Streamable HTTP path. */
const MCP_PORT = 8080;
const MCP_PATH = '/mcp';

export type KubernetesVerdict = PodVerdict | { state: 'timeout'; reason: string };

const ignore404 = (what: string) => (err: unknown) => {
  if (kubeStatus(err) !== 404) throw kubeError(what, err);
};

/** Deleting a server's pods and its Service, and reading a pod's log. */
function kubernetesWorkloads(kube: KubeClient) {
  const namespace = kube.namespace;
  return {
    /** Deletes every pod of the server (a stop: the Service stays for the next start). */
    async deletePods(serverId: number, except?: string): Promise<void> {
      const labelSelector = serverSelector(serverId);
      const pods = await kube
        .core()
        .listNamespacedPod({ namespace, labelSelector })
        .catch((err: unknown) => {
          throw kubeError(`listing pods of server ${serverId}`, err);
        });
      for (const pod of pods.items) {
        const name = pod.metadata!.name!;
        if (name === except) continue;
        await kube
          .core()
          .deleteNamespacedPod({ name, namespace })
          .catch(ignore404(`deleting pod ${name}`));
      }
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

/** Resolves at the pod's next change, after `ms`, or when the watch ends; rejects when cancelled. */
function nextChange(
  kube: KubeClient,
  name: string,
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
      .watch(
        `/api/v1/namespaces/${kube.namespace}/pods`,
        { fieldSelector: `metadata.name=${name}`, resourceVersion },
        () => settle(),
        ended,
      )
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

export function createKubernetesExecutor(sql: Sql, env: Env, kube: KubeClient, credentials?: CredentialManager) {
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

  /** The pod's verdict and version; `gone` (a fatal failure) when it no longer exists. */
  async function readPod(serverId: number, name: string): Promise<{ verdict: PodVerdict; resourceVersion?: string }> {
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

  return {
    backend: 'kubernetes',
    // CONTAINER_RUNTIME=kubernetes registers the cluster while its API server answers.
    describe: cachedProbe(async () =>
      env.CONTAINER_RUNTIME === 'kubernetes' && (await kube.reachable()) ? EXECUTORS.kubernetes : undefined,
    ),

    async launch(input: LaunchInput): Promise<Launched> {
      const pod = podName(input.serverId, input.decisionId);
      const endpoint = `http://${serviceName(input.serverId)}.${namespace}.svc:${MCP_PORT}${MCP_PATH}`;
      // Recorded before the pod exists, so a crash in between leaves nothing untracked.
      await recordKubernetesLaunch(sql, {
        serverId: input.serverId,
        decisionId: input.decisionId,
        pod,
        image: input.image,
        endpoint,
      });
      const resources = launchResources(`pod ${pod}`, input.config, env);
      const bridge = await bridgeFor(input.image);
      // A redeploy replaces the previous launch's pod.
      await workloads.deletePods(input.serverId, pod);
      const core = kube.core();
      await core
        .createNamespacedService({ namespace, body: serviceManifest(input.serverId, namespace, MCP_PORT) })
        .catch((err: unknown) => {
          if (kubeStatus(err) !== 409) throw kubeError(`creating service ${serviceName(input.serverId)}`, err);
        });
      // Before the pod exists, so it never runs without its policy.
      await kube
        .networking()
        .createNamespacedNetworkPolicy({ namespace, body: networkPolicyManifest(input.serverId, namespace, MCP_PORT) })
        .catch((err: unknown) => {
          if (kubeStatus(err) !== 409) throw kubeError(`creating network policy ${serviceName(input.serverId)}`, err);
        });
      const body = podManifest({
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
      });
      await core.createNamespacedPod({ namespace, body }).catch((err: unknown) => {
        const status = kubeStatus(err);
        if (status === 409) return; // created by an earlier attempt of this launch
        const failure = kubeError(`creating pod ${pod}`, err);
        // Refused as asked (invalid spec, missing service account, quota): retrying cannot help.
        if (status !== undefined && status >= 400 && status < 500 && status !== 429)
          throw ApplicationFailure.nonRetryable(failure.message, ErrorType.LaunchFailed);
        throw failure;
      });
      return {
        workload: pod,
        endpoint,
        transport: 'streamable-http',
        ...(bridge && { bridgedFrom: 'stdio' as const }),
      };
    },

    /** A stop deletes the pods; the Service stays for the next start. */
    stop: ({ serverId }) => workloads.deletePods(serverId),
    async remove({ serverId }) {
      await workloads.deletePods(serverId);
      await workloads.deleteService(serverId);
    },

    logs: ({ workload }, { tail }) =>
      workloads.logs(workload, tail ?? 100).catch((err: unknown) => {
        throw podLogError(workload, err);
      }),

    async followLogs({ workload }, { tail }) {
      const out = new PassThrough();
      const request = await new Log(kube.config())
        .log(namespace, workload, CONTAINER_NAME, out, () => out.end(), { follow: true, tailLines: tail ?? 20 })
        .catch((err: unknown) => {
          throw podLogError(workload, err);
        });
      const stop = () => {
        request.abort();
        out.end();
      };
      return { lines: linesOf(out), stop, endReason: 'the workload stopped' };
    },

    async inspect({ serverId, workload }): Promise<WorkloadState> {
      const { verdict } = await readPod(serverId, workload);
      if (verdict.state === 'running') return { state: 'running', reason: verdict.reason };
      if (verdict.state === 'pending') return { state: 'starting', reason: verdict.reason };
      return { state: 'exited', reason: verdict.reason };
    },

    /**
     * Watches the launched pod until it is Ready or has failed, heartbeating; after
     * K8S_READY_TIMEOUT_SECONDS it answers `timeout` with the pod's last state as the reason.
     */
    async awaitReady({ serverId, workload }: { serverId: number; workload: string }): Promise<KubernetesVerdict> {
      const ctx = Context.current();
      const deadline = Date.now() + env.K8S_READY_TIMEOUT_SECONDS * 1000;
      for (;;) {
        ctx.heartbeat();
        const { verdict, resourceVersion } = await readPod(serverId, workload);
        if (verdict.state !== 'pending') return verdict;
        const left = deadline - Date.now();
        if (left <= 0)
          return { state: 'timeout', reason: `not ready after ${env.K8S_READY_TIMEOUT_SECONDS}s: ${verdict.reason}` };
        await nextChange(kube, workload, resourceVersion, Math.min(left, 5_000), ctx.cancelled);
      }
    },
  } satisfies Executor<LaunchInput, Launched> & {
    awaitReady(input: { serverId: number; workload: string }): Promise<KubernetesVerdict>;
  };
}

export type KubernetesExecutor = ReturnType<typeof createKubernetesExecutor>;
