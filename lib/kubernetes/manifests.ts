// What the Kubernetes executor asks the API server for, and how it reads a pod's status back. Pure:
// unit-tested without a cluster, used by the activities (activities/kubernetes/).
//
// Pods reference the registry pull secret, storage is an
// emptyDir (not a hostPath relative to the API process), and a pod's status is read into a verdict
// so a launch ends running, unhealthy or in error — never stuck in `starting`. A pod runs as the
// Docker executor's containers do: not as root, no capabilities, no privilege escalation, a
// read-only root with an emptyDir /tmp, the runtime's default seccomp profile, no service-account
// token, requests and limits; a NetworkPolicy lets only the gateway in and nothing out. A stdio
// image runs behind the stdio bridge: an init container copies the bridge binary into an emptyDir,
// and the server's container runs the bridge with the image's own command as its arguments.
import type { V1Container, V1NetworkPolicy, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { isPlatformConfigKey, type ServerResources } from '../runtime/resources.js';
import { BRIDGE_DIR, bridgeEnvironment } from '../runtime/stdio-bridge.js';
import { plainSettings, type ConfigValues } from '../schemas/secrets.js';

export const SERVER_ID_LABEL = 'mcp-host.dev/server-id';
export const SYNCED_AT_ANNOTATION = 'mcp-host.dev/synced-at';
export const CONTAINER_NAME = 'mcp';
/** The init container that puts the stdio bridge into the pod. */
export const BRIDGE_CONTAINER_NAME = 'stdio-bridge';
/** On a bridged pod: the image speaks stdio, the bridge serves it as Streamable HTTP. */
export const BRIDGED_ANNOTATION = 'mcp-host.dev/bridged-from';
const MANAGED_LABELS = { 'app.kubernetes.io/name': 'mcp-server', 'app.kubernetes.io/managed-by': 'mcp-host' };
/** The label of the gateway's pods (and of the namespace it runs in): the only peers a server's pod admits. */
export const GATEWAY_LABELS = { 'app.kubernetes.io/component': 'mcp-gateway' };

/** The Service (and the stable part of pod names) of a server. */
export const serviceName = (serverId: number) => `mcp-server-${serverId}`;
/** One pod per launch: a redeploy's pod never waits for the previous one to finish terminating. */
export const podName = (serverId: number, decisionId: number) => `mcp-server-${serverId}-d${decisionId}`;
export const serverSelector = (serverId: number) => `${SERVER_ID_LABEL}=${serverId}`;

export interface PodSpecInput {
  serverId: number;
  decisionId: number;
  namespace: string;
  image: string;
  useGpu: boolean;
  config: ConfigValues;
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
}

/** What every container of a server's pod runs with: nothing to gain, nothing to write but its volumes. */
const CONTAINER_SECURITY: V1Container['securityContext'] = {
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** Config entries become environment variables, as the Docker executor passes them; platform settings do not. */
export function configEnvironment(config: ConfigValues): [string, string][] {
  return Object.entries(plainSettings(config))
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
    ...(decisionId !== undefined && { 'mcp-host.dev/decision-id': String(decisionId) }),
  };
}

export function podManifest(input: PodSpecInput): V1Pod {
  const { bridge } = input;
  const env = [
    ...configEnvironment(input.config).map(([name, value]) => ({ name, value })),
    ...(bridge ? bridgeEnvironment(bridge.maxSessions).map(([name, value]) => ({ name, value })) : []),
    { name: 'PORT', value: String(input.port) },
    { name: 'MCP_SERVER_ID', value: String(input.serverId) },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(input.serverId, input.decisionId),
      namespace: input.namespace,
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
      ...(bridge && {
        initContainers: [
          {
            name: BRIDGE_CONTAINER_NAME,
            image: bridge.image,
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
          readinessProbe: bridge
            ? { httpGet: { path: '/healthz', port: input.port }, periodSeconds: 5 }
            : { tcpSocket: { port: input.port }, periodSeconds: 5 },
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'tmp', mountPath: '/tmp' },
            ...(bridge ? [{ name: 'stdio-bridge', mountPath: BRIDGE_DIR, readOnly: true }] : []),
          ],
        },
      ],
      volumes: [
        { name: 'data', emptyDir: {} },
        // In memory, like Docker's tmpfs /tmp, and counted against the pod's memory.
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: `${Math.ceil(input.tmpBytes / 1024 ** 2)}Mi` } },
        ...(bridge ? [{ name: 'stdio-bridge', emptyDir: { sizeLimit: '32Mi' } }] : []),
      ],
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
