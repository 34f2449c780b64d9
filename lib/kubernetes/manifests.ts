// What the Kubernetes executor asks the API server for, and how it reads a pod's status back. Pure:
// unit-tested without a cluster, used by the activities (activities/kubernetes/).
//
// A server is a Deployment (K8S_SERVER_REPLICAS, 1 by default) whose pod template is built by
// podTemplate alone; a redeploy changes the template (a new decision id), so the Deployment rolls
// to a new ReplicaSet, the new pod Ready before the old one goes. Pods reference the registry pull
// secret, storage is an emptyDir (not a hostPath relative to the API process), and a pod's status
// is read into a verdict so a launch ends running, unhealthy or in error — never stuck in
// `starting`. A pod runs as the Docker executor's containers do: not as root, no capabilities, no
// privilege escalation, a read-only root with an emptyDir /tmp, the runtime's default seccomp
// profile, no service-account token, requests and limits; a NetworkPolicy lets only the gateway in
// and nothing out. A stdio image runs behind the stdio bridge: an init container copies the bridge
// binary into an emptyDir, and the server's container runs the bridge with the image's own command
// as its arguments. The same binary is the pod's MCP probe (`stdio-bridge --probe`, an exec probe
// the kubelet runs in the container): readiness and liveness pass only while the server answers MCP.
import type {
  V1Container,
  V1Deployment,
  V1NetworkPolicy,
  V1Pod,
  V1PodTemplateSpec,
  V1Probe,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { isPlatformConfigKey, type ServerResources } from '../runtime/resources.js';
import { BRIDGE_BINARY, BRIDGE_DIR, BRIDGE_MCP_PATH, bridgeEnvironment } from '../runtime/stdio-bridge.js';

export const SERVER_ID_LABEL = 'mcp-host.dev/server-id';
export const DECISION_ID_LABEL = 'mcp-host.dev/decision-id';
export const SYNCED_AT_ANNOTATION = 'mcp-host.dev/synced-at';
export const CONTAINER_NAME = 'mcp';
/** The init container that puts the stdio bridge into the pod. */
export const BRIDGE_CONTAINER_NAME = 'stdio-bridge';
/** On a bridged pod: the image speaks stdio, the bridge serves it as Streamable HTTP. */
export const BRIDGED_ANNOTATION = 'mcp-host.dev/bridged-from';
const MANAGED_LABELS = { 'app.kubernetes.io/name': 'mcp-server', 'app.kubernetes.io/managed-by': 'mcp-host' };
/** The label of the gateway's pods (and of the namespace it runs in): the only peers a server's pod admits. */
export const GATEWAY_LABELS = { 'app.kubernetes.io/component': 'mcp-gateway' };

/** The Service, NetworkPolicy and Deployment of a server (its pods are named by their ReplicaSet). */
export const serviceName = (serverId: number) => `mcp-server-${serverId}`;
export const deploymentName = serviceName;
export const serverSelector = (serverId: number) => `${SERVER_ID_LABEL}=${serverId}`;
/** The pods of one launch: those of the ReplicaSet its pod template made. */
export const launchSelector = (serverId: number, decisionId: string) =>
  `${serverSelector(serverId)},${DECISION_ID_LABEL}=${decisionId}`;

export interface PodSpecInput {
  serverId: number;
  decisionId: number;
  namespace: string;
  image: string;
  useGpu: boolean;
  config: Record<string, string | number | boolean>;
  serviceAccount: string;
  /** K8S_REGISTRY_SECRET_NAME, referenced as the pod's imagePullSecret. */
  pullSecret?: string;
  port: number;
  resources: ServerResources;
  /** GPUs a use_gpu server gets (SERVER_GPU_COUNT). */
  gpuCount: number;
  /** The unprivileged uid and gid the pod runs as (SERVER_DEFAULT_UID / _GID). */
  runAs: { uid: number; gid: number };
  /** Size of the /tmp emptyDir (SERVER_TMPFS_SIZE). */
  tmpBytes: number;
  /** A stdio image: the bridge image and the command line (bridge first, then the image's own command). */
  bridge?: { image: string; command: string[]; maxSessions: number };
  /**
   * The bridge image (K8S_STDIO_BRIDGE_IMAGE) for the MCP probe of any pod, stdio or not; without
   * it a Streamable HTTP pod falls back to TCP probes (the port is open, not that MCP answers).
   */
  probeImage?: string;
  /** Seconds between liveness probes (K8S_PROBE_PERIOD_SECONDS); readiness is probed twice as often. */
  probePeriodSeconds: number;
}

export interface DeploymentInput extends PodSpecInput {
  /** K8S_SERVER_REPLICAS. */
  replicas: number;
}

/** What every container of a server's pod runs with: nothing to gain, nothing to write but its volumes. */
const CONTAINER_SECURITY: V1Container['securityContext'] = {
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** Config entries become environment variables, as the Docker executor passes them; platform settings do not. */
export function configEnvironment(config: Record<string, string | number | boolean>): [string, string][] {
  return Object.entries(config)
    .filter(([key]) => !isPlatformConfigKey(key))
    .map(([key, value]) => [key, String(value)]);
}

/** The server's CPU, memory and pids limits as requests equal to limits; GPUs when asked (extended resources take the limit as the request). */
export function resourceLimits(resources: ServerResources, gpus: number) {
  const memory =
    resources.memoryBytes % 1024 ** 2 === 0 ? `${resources.memoryBytes / 1024 ** 2}Mi` : String(resources.memoryBytes);
  const limits: Record<string, string> = { cpu: `${Math.max(1, Math.round(resources.cpus * 1000))}m`, memory };
  const requests = { ...limits };
  if (gpus > 0) limits['nvidia.com/gpu'] = String(gpus);
  return { limits, requests };
}

export function serverLabels(serverId: number, decisionId?: number): Record<string, string> {
  return {
    ...MANAGED_LABELS,
    [SERVER_ID_LABEL]: String(serverId),
    ...(decisionId !== undefined && { [DECISION_ID_LABEL]: String(decisionId) }),
  };
}

/**
 * The probes of the server's container. With the bridge binary in the pod: an exec of
 * `stdio-bridge --probe` against the container's own MCP endpoint (initialize, ping or tools/list)
 * — what a kubelet runs inside the container, so it needs no route from the node and no HTTP probe
 * that could only see a port or a GET. Readiness takes the pod out of its Service at the first
 * failure; liveness restarts the container after three in a row. Without the binary: TCP.
 */
export function serverProbes(input: Pick<PodSpecInput, 'port' | 'probePeriodSeconds'>, mcpProbe: boolean) {
  const check: V1Probe = mcpProbe
    ? { exec: { command: [BRIDGE_BINARY, '--probe', `http://127.0.0.1:${input.port}${BRIDGE_MCP_PATH}`] } }
    : { tcpSocket: { port: input.port } };
  const period = input.probePeriodSeconds;
  return {
    readinessProbe: {
      ...check,
      periodSeconds: Math.max(1, Math.floor(period / 2)),
      timeoutSeconds: 5,
      failureThreshold: 1,
    },
    livenessProbe: {
      ...check,
      // A server gets one period to start before its first liveness probe.
      initialDelaySeconds: period,
      periodSeconds: period,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
  } satisfies Pick<V1Container, 'readinessProbe' | 'livenessProbe'>;
}

/**
 * The pod template of a server's Deployment: the one place a server's pod is described (what a
 * later feature mounts into the pod goes here too). Its decision-id label changes with every
 * launch, so every launch is a new ReplicaSet.
 */
export function podTemplate(input: PodSpecInput): V1PodTemplateSpec {
  const { bridge } = input;
  const bridgeImage = bridge?.image ?? input.probeImage;
  const env = [
    ...configEnvironment(input.config).map(([name, value]) => ({ name, value })),
    ...(bridge ? bridgeEnvironment(bridge.maxSessions).map(([name, value]) => ({ name, value })) : []),
    { name: 'PORT', value: String(input.port) },
    { name: 'MCP_SERVER_ID', value: String(input.serverId) },
  ];
  return {
    metadata: {
      labels: serverLabels(input.serverId, input.decisionId),
      ...(bridge && { annotations: { [BRIDGED_ANNOTATION]: 'stdio' } }),
    },
    spec: {
      serviceAccountName: input.serviceAccount,
      // A server has no business with the Kubernetes API.
      automountServiceAccountToken: false,
      // A server that exits is restarted; one that keeps exiting shows as CrashLoopBackOff.
      restartPolicy: 'Always',
      ...(input.pullSecret && { imagePullSecrets: [{ name: input.pullSecret }] }),
      // The cluster pulls the image, so its USER is not known here: every pod runs as the fixed unprivileged uid.
      securityContext: {
        runAsNonRoot: true,
        runAsUser: input.runAs.uid,
        runAsGroup: input.runAs.gid,
        fsGroup: input.runAs.gid,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      ...(bridgeImage && {
        initContainers: [
          {
            name: BRIDGE_CONTAINER_NAME,
            image: bridgeImage,
            // The bridge image holds the binary alone: it copies itself.
            command: ['/stdio-bridge', '--install', BRIDGE_DIR],
            resources: { limits: { cpu: '100m', memory: '32Mi' }, requests: { cpu: '100m', memory: '32Mi' } },
            securityContext: CONTAINER_SECURITY,
            volumeMounts: [{ name: 'stdio-bridge', mountPath: BRIDGE_DIR }],
          },
        ],
      }),
      containers: [
        {
          name: CONTAINER_NAME,
          image: input.image,
          // A command without args: the image's ENTRYPOINT and CMD are not added again.
          ...(bridge && { command: bridge.command }),
          env,
          ports: [{ name: 'mcp', containerPort: input.port, protocol: 'TCP' }],
          resources: resourceLimits(input.resources, input.useGpu ? input.gpuCount : 0),
          securityContext: CONTAINER_SECURITY,
          ...serverProbes(input, bridgeImage !== undefined),
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'tmp', mountPath: '/tmp' },
            ...(bridgeImage ? [{ name: 'stdio-bridge', mountPath: BRIDGE_DIR, readOnly: true }] : []),
          ],
        },
      ],
      volumes: [
        { name: 'data', emptyDir: {} },
        // In memory, like Docker's tmpfs /tmp, and counted against the pod's memory.
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: `${Math.ceil(input.tmpBytes / 1024 ** 2)}Mi` } },
        ...(bridgeImage ? [{ name: 'stdio-bridge', emptyDir: { sizeLimit: '32Mi' } }] : []),
      ],
    },
  };
}

/**
 * The server's Deployment. A rolling update never takes the only pod away before its successor is
 * Ready (maxUnavailable 0, one extra pod at a time); two old ReplicaSets are kept for a rollback.
 */
export function deploymentManifest(input: DeploymentInput): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentName(input.serverId),
      namespace: input.namespace,
      labels: serverLabels(input.serverId, input.decisionId),
    },
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: { [SERVER_ID_LABEL]: String(input.serverId) } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      revisionHistoryLimit: 2,
      template: podTemplate(input),
    },
  };
}

/** Only the gateway's pods reach a server's pod, on its MCP port; the pod reaches nothing (no egress rule). */
export function networkPolicyManifest(serverId: number, namespace: string, port: number): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: serviceName(serverId), namespace, labels: serverLabels(serverId) },
    spec: {
      podSelector: { matchLabels: { [SERVER_ID_LABEL]: String(serverId) } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          _from: [
            { podSelector: { matchLabels: GATEWAY_LABELS } },
            { namespaceSelector: { matchLabels: GATEWAY_LABELS }, podSelector: { matchLabels: GATEWAY_LABELS } },
          ],
          ports: [{ protocol: 'TCP', port }],
        },
      ],
      egress: [],
    },
  };
}

export function serviceManifest(serverId: number, namespace: string, port: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(serverId), namespace, labels: serverLabels(serverId) },
    spec: {
      selector: { [SERVER_ID_LABEL]: String(serverId) },
      // An MCP session lives in one pod: with more than one replica, a client stays on its pod.
      sessionAffinity: 'ClientIP',
      ports: [{ name: 'mcp', port, targetPort: port, protocol: 'TCP' }],
    },
  };
}

/** The registry pull secret: the dockerconfig file as is, and when it was synced. */
export function pullSecretManifest(name: string, namespace: string, dockerconfig: Buffer, syncedAt: Date): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'mcp-host' },
      annotations: { [SYNCED_AT_ANNOTATION]: syncedAt.toISOString() },
    },
    data: { '.dockerconfigjson': dockerconfig.toString('base64') },
  };
}

export type PodVerdict =
  | { state: 'running'; reason: string }
  | { state: 'pending'; reason: string }
  /** `fatal`: the launch itself failed (the image cannot be pulled or the pod cannot be created as asked). */
  | { state: 'failed'; fatal: boolean; reason: string };

// A container waiting for one of these will not start without a change of image or spec.
const FATAL_WAITING = [
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
];
const FAILED_WAITING = ['CrashLoopBackOff', 'RunContainerError', ...FATAL_WAITING];

/** A pod's status as the server's: running once Ready, failed with the kubelet's reason, else pending. */
export function podVerdict(pod: V1Pod): PodVerdict {
  const name = pod.metadata?.name ?? 'pod';
  const status = pod.status ?? {};
  const phase = status.phase ?? 'Pending';
  const containers = status.containerStatuses ?? [];
  for (const c of containers) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && FAILED_WAITING.includes(waiting.reason)) {
      return {
        state: 'failed',
        fatal: FATAL_WAITING.includes(waiting.reason),
        reason: `pod ${name}: container ${c.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
      };
    }
  }
  if (phase === 'Failed' || phase === 'Succeeded') {
    const terminated = containers.map((c) => c.state?.terminated ?? c.lastState?.terminated).find((t) => t);
    const why = status.reason ?? terminated?.reason ?? (terminated ? `exit code ${terminated.exitCode}` : undefined);
    const message = status.message ?? terminated?.message;
    return {
      state: 'failed',
      fatal: false,
      reason: `pod ${name} ${phase.toLowerCase()}${why ? `: ${why}` : ''}${message ? ` (${message})` : ''}`,
    };
  }
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (phase === 'Running' && ready?.status === 'True')
    return { state: 'running', reason: `pod ${name} running and ready` };
  const unscheduled = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  const detail =
    unscheduled?.message ??
    ready?.message ??
    (phase === 'Running' ? 'not ready' : 'waiting to be scheduled and started');
  return { state: 'pending', reason: `pod ${name} ${phase.toLowerCase()}: ${detail}` };
}

/**
 * A launch's verdict from its Deployment and the pods of its ReplicaSet (those with the launch's
 * decision id): running once one of them is Ready; failed with a pod's reason, or with the
 * Deployment's when its ReplicaSet cannot create pods at all (a missing service account, a quota):
 * that will not pass without a change, so it is fatal. Pods being deleted do not count.
 */
export function launchVerdict(deployment: V1Deployment, pods: V1Pod[]): PodVerdict {
  const name = deployment.metadata?.name ?? 'deployment';
  const verdicts = pods.filter((p) => !p.metadata?.deletionTimestamp).map(podVerdict);
  const decided = verdicts.find((v) => v.state === 'running') ?? verdicts.find((v) => v.state === 'failed');
  if (decided) return decided;
  const failure = deployment.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (failure)
    return {
      state: 'failed',
      fatal: true,
      reason: `deployment ${name}: ${failure.reason ?? 'ReplicaFailure'}${failure.message ? `: ${failure.message}` : ''}`,
    };
  return verdicts[0] ?? { state: 'pending', reason: `deployment ${name}: waiting for its ReplicaSet to create a pod` };
}
