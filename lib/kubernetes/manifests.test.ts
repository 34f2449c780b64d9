import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import {
  deploymentManifest,
  launchVerdict,
  networkPolicyManifest,
  podTemplate,
  podVerdict,
  pullSecretManifest,
  resourceLimits,
  serviceManifest,
  SYNCED_AT_ANNOTATION,
} from './manifests.js';

const base = {
  serverId: 7,
  decisionId: 42,
  namespace: 'mcp',
  image: '127.0.0.1:5000/mcp/mcp-custom-7:latest',
  useGpu: false,
  config: { LOG_FORMAT: 'json', 'resources.cpus': 0.5, runtime: 'kubernetes', DEBUG: true },
  serviceAccount: 'mcp-runner',
  port: 8080,
  resources: { cpus: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 128 },
  gpuCount: 1,
  runAs: { uid: 65532, gid: 65532 },
  tmpBytes: 64 * 1024 ** 2,
  probePeriodSeconds: 10,
};
const BRIDGE_IMAGE = '127.0.0.1:5000/mcp-host/stdio-bridge:abc';
const MCP_PROBE = { exec: { command: ['/.mcp-host/stdio-bridge', '--probe', 'http://127.0.0.1:8080/mcp'] } };

describe('podTemplate', () => {
  it('wraps a stdio image in the bridge: an init container copies it into an emptyDir, the command runs it first', () => {
    const bridge = {
      image: BRIDGE_IMAGE,
      command: ['/.mcp-host/stdio-bridge', '--', 'node', 'server.js'],
      maxSessions: 4,
    };
    const pod = podTemplate({ ...base, bridge });
    expect(pod.metadata!.annotations).toEqual({ 'mcp-host.dev/bridged-from': 'stdio' });
    const [init] = pod.spec!.initContainers!;
    expect(init).toMatchObject({
      name: 'stdio-bridge',
      image: bridge.image,
      command: ['/stdio-bridge', '--install', '/.mcp-host'],
      volumeMounts: [{ name: 'stdio-bridge', mountPath: '/.mcp-host' }],
    });
    // The init container is as unprivileged as the server, and bounded.
    expect(init!.securityContext).toEqual(pod.spec!.containers[0]!.securityContext);
    expect(init!.resources!.limits).toEqual({ cpu: '100m', memory: '32Mi' });
    const [container] = pod.spec!.containers;
    expect(container!.image).toBe(base.image);
    expect(container!.command).toEqual(bridge.command);
    expect(container!.args).toBeUndefined(); // the image's CMD is not appended again
    expect(container!.env).toEqual(
      expect.arrayContaining([
        { name: 'MCP_BRIDGE_MAX_SESSIONS', value: '4' },
        { name: 'MCP_BRIDGE_PATH', value: '/mcp' },
        { name: 'PORT', value: '8080' },
      ]),
    );
    expect(container!.volumeMounts).toContainEqual({ name: 'stdio-bridge', mountPath: '/.mcp-host', readOnly: true });
    expect(container!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // Probed over MCP through the bridge itself, as the gateway reaches it.
    expect(container!.readinessProbe).toEqual({
      ...MCP_PROBE,
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 1,
    });
    expect(pod.spec!.volumes).toContainEqual({ name: 'stdio-bridge', emptyDir: { sizeLimit: '32Mi' } });
  });

  it('leaves a Streamable HTTP image as it is: no init container, no command, TCP probes without a probe image', () => {
    const pod = podTemplate(base);
    expect(pod.spec!.initContainers).toBeUndefined();
    expect(pod.spec!.containers[0]!.command).toBeUndefined();
    expect(pod.metadata!.annotations).toBeUndefined();
    expect(pod.spec!.containers[0]!.readinessProbe).toMatchObject({ tcpSocket: { port: 8080 } });
    expect(pod.spec!.containers[0]!.livenessProbe).toMatchObject({ tcpSocket: { port: 8080 } });
  });

  it('probes a Streamable HTTP image over MCP with the bridge binary from the probe image, its command untouched', () => {
    const pod = podTemplate({ ...base, probeImage: BRIDGE_IMAGE });
    expect(pod.spec!.initContainers!.map((c) => [c.name, c.image])).toEqual([['stdio-bridge', BRIDGE_IMAGE]]);
    const [container] = pod.spec!.containers;
    expect(container!.command).toBeUndefined();
    expect(pod.metadata!.annotations).toBeUndefined(); // not bridged: the image speaks HTTP itself
    expect(container!.volumeMounts).toContainEqual({ name: 'stdio-bridge', mountPath: '/.mcp-host', readOnly: true });
    expect(container!.readinessProbe).toEqual({
      ...MCP_PROBE,
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 1,
    });
    // Liveness: three failed MCP probes in a row restart the container, not one slow answer.
    expect(container!.livenessProbe).toEqual({
      ...MCP_PROBE,
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    });
    expect(
      podTemplate({ ...base, probeImage: BRIDGE_IMAGE, probePeriodSeconds: 3 }).spec!.containers[0]!.readinessProbe,
    ).toMatchObject({ periodSeconds: 1 });
  });

  it('labels the pod, runs the image as container mcp with config as env and the service account', () => {
    const pod = podTemplate(base);
    expect(pod.metadata).toMatchObject({
      labels: {
        'mcp-host.dev/server-id': '7',
        'mcp-host.dev/decision-id': '42',
        'app.kubernetes.io/managed-by': 'mcp-host',
      },
    });
    expect(pod.spec!.serviceAccountName).toBe('mcp-runner');
    const [container] = pod.spec!.containers;
    expect(container!.name).toBe('mcp');
    expect(container!.image).toBe(base.image);
    expect(container!.env).toEqual([
      { name: 'LOG_FORMAT', value: 'json' },
      { name: 'DEBUG', value: 'true' },
      { name: 'PORT', value: '8080' },
      { name: 'MCP_SERVER_ID', value: '7' },
    ]);
    // No hostPath relative to the API process; /tmp in memory, as the root is read-only.
    expect(pod.spec!.volumes).toEqual([
      { name: 'data', emptyDir: {} },
      { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    ]);
    expect(container!.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('runs unprivileged: non-root uid, no capabilities or escalation, read-only root, default seccomp, no token', () => {
    const pod = podTemplate(base);
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    expect(pod.spec!.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec!.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('sets cpu and memory limits (and equal requests) from the server resources', () => {
    const { resources } = podTemplate(base).spec!.containers[0]!;
    expect(resources).toEqual({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } });
  });

  it('asks for the configured number of NVIDIA GPUs only when use_gpu is set', () => {
    expect(podTemplate(base).spec!.containers[0]!.resources!.limits).not.toHaveProperty('nvidia.com/gpu');
    const gpu = podTemplate({ ...base, useGpu: true, gpuCount: 2 }).spec!.containers[0]!.resources!;
    expect(gpu.limits).toMatchObject({ 'nvidia.com/gpu': '2' });
    expect(gpu.requests).not.toHaveProperty('nvidia.com/gpu');
  });

  it('references the pull secret only when one is configured', () => {
    expect(podTemplate(base).spec!.imagePullSecrets).toBeUndefined();
    expect(podTemplate({ ...base, pullSecret: 'registry-pull' }).spec!.imagePullSecrets).toEqual([
      { name: 'registry-pull' },
    ]);
  });
});

describe('deploymentManifest', () => {
  it('is one Deployment per server selecting its pods by server id, rolling without ever going below its replicas', () => {
    const deployment = deploymentManifest({ ...base, replicas: 1 });
    expect(deployment.metadata).toMatchObject({ name: 'mcp-server-7', namespace: 'mcp' });
    expect(deployment.spec).toMatchObject({
      replicas: 1,
      // Not the decision id: the selector is immutable, and every launch's pods must match it.
      selector: { matchLabels: { 'mcp-host.dev/server-id': '7' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    });
    expect(deployment.spec!.template).toEqual(podTemplate(base));
    // A redeploy's template differs (its decision id), which is what makes a new ReplicaSet.
    const redeployed = deploymentManifest({ ...base, decisionId: 43, replicas: 1 });
    expect(redeployed.spec!.template.metadata!.labels!['mcp-host.dev/decision-id']).toBe('43');
    expect(redeployed.spec!.selector).toEqual(deployment.spec!.selector);
  });
});

describe('launchVerdict', () => {
  const deployment = (conditions: { type: string; status: string; reason?: string; message?: string }[] = []) => ({
    metadata: { name: 'mcp-server-7' },
    status: { conditions },
  });
  const ready: V1Pod = {
    metadata: { name: 'mcp-server-7-abc-1' },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
  const crashing: V1Pod = {
    metadata: { name: 'mcp-server-7-abc-2' },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'mcp',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 4,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
        },
      ],
    },
  };
  it('waits for the ReplicaSet to create a pod', () => {
    expect(launchVerdict(deployment(), [])).toEqual({
      state: 'pending',
      reason: 'deployment mcp-server-7: waiting for its ReplicaSet to create a pod',
    });
  });
  it('is running once a pod of the launch is Ready, failed with a pod failure otherwise', () => {
    expect(launchVerdict(deployment(), [crashing, ready]).state).toBe('running');
    expect(launchVerdict(deployment(), [crashing])).toMatchObject({ state: 'failed', fatal: false });
  });
  it('ignores pods being deleted', () => {
    const leaving = { ...ready, metadata: { ...ready.metadata, deletionTimestamp: new Date() } };
    expect(launchVerdict(deployment(), [leaving]).state).toBe('pending');
  });
  it("fails for good when the ReplicaSet cannot create pods, with the controller's reason", () => {
    const refused = deployment([
      { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'serviceaccount "x" not found' },
    ]);
    expect(launchVerdict(refused, [])).toEqual({
      state: 'failed',
      fatal: true,
      reason: 'deployment mcp-server-7: FailedCreate: serviceaccount "x" not found',
    });
  });
});

describe('resourceLimits', () => {
  it.each([
    [
      { cpus: 2, memoryBytes: 1024 ** 3, pids: 64 },
      { cpu: '2000m', memory: '1024Mi' },
    ],
    [
      { cpus: 1.25, memoryBytes: 256 * 1024 ** 2, pids: 64 },
      { cpu: '1250m', memory: '256Mi' },
    ],
    [
      { cpus: 0.0001, memoryBytes: 10_000_000, pids: 64 },
      { cpu: '1m', memory: '10000000' },
    ],
  ])('%j → %j', (resources, limits) => {
    expect(resourceLimits(resources, 0)).toEqual({ limits, requests: limits });
  });
});

describe('networkPolicyManifest', () => {
  it("admits only the gateway's pods on the MCP port and allows no egress", () => {
    expect(networkPolicyManifest(7, 'mcp', 8080)).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: 'mcp-server-7',
        namespace: 'mcp',
        labels: expect.objectContaining({ 'mcp-host.dev/server-id': '7' }),
      },
      spec: {
        podSelector: { matchLabels: { 'mcp-host.dev/server-id': '7' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            _from: [
              { podSelector: { matchLabels: { 'app.kubernetes.io/component': 'mcp-gateway' } } },
              {
                namespaceSelector: { matchLabels: { 'app.kubernetes.io/component': 'mcp-gateway' } },
                podSelector: { matchLabels: { 'app.kubernetes.io/component': 'mcp-gateway' } },
              },
            ],
            ports: [{ protocol: 'TCP', port: 8080 }],
          },
        ],
        egress: [],
      },
    });
  });
});

describe('serviceManifest', () => {
  it("selects the server's pods by label", () => {
    expect(serviceManifest(7, 'mcp', 8080)).toMatchObject({
      metadata: { name: 'mcp-server-7', namespace: 'mcp' },
      spec: {
        selector: { 'mcp-host.dev/server-id': '7' },
        sessionAffinity: 'ClientIP',
        ports: [{ port: 8080, targetPort: 8080 }],
      },
    });
  });
});

describe('pullSecretManifest', () => {
  it('is a dockerconfigjson secret holding the file as is, with the synced-at annotation', () => {
    const file = Buffer.from('{"auths":{"r.example":{"auth":"dTpw"}}}');
    const at = new Date('2026-11-25T10:00:00Z');
    const secret = pullSecretManifest('registry-pull', 'mcp', file, at);
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').equals(file)).toBe(true);
    expect(secret.metadata!.annotations).toEqual({ [SYNCED_AT_ANNOTATION]: '2026-11-25T10:00:00.000Z' });
  });
});

describe('podVerdict', () => {
  const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, status });
  it.each<[string, V1Pod['status'], string, RegExp]>([
    ['no status yet', undefined, 'pending', /waiting to be scheduled/],
    [
      'running but not ready',
      {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False', message: 'containers with unready status: [mcp]' }],
      },
      'pending',
      /unready/,
    ],
    [
      'running and ready',
      { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      'running',
      /running and ready/,
    ],
    [
      'crash looping',
      {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'mcp',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 5,
            state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' } },
          },
        ],
      },
      'failed',
      /CrashLoopBackOff: back-off/,
    ],
    [
      'image not pullable',
      {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'mcp',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ImagePullBackOff' } },
          },
        ],
      },
      'failed',
      /ImagePullBackOff/,
    ],
    [
      'failed phase',
      { phase: 'Failed', reason: 'Evicted', message: 'low on memory' },
      'failed',
      /failed: Evicted \(low on memory\)/,
    ],
    [
      'exited',
      {
        phase: 'Succeeded',
        containerStatuses: [
          {
            name: 'mcp',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 0, reason: 'Completed' } },
          },
        ],
      },
      'failed',
      /succeeded: Completed/,
    ],
  ])('%s', (_, status, state, reason) => {
    const verdict = podVerdict(pod(status));
    expect(verdict.state).toBe(state);
    expect(verdict.reason).toMatch(reason);
  });

  it('calls image and config problems fatal (error), crash loops not (unhealthy)', () => {
    const waiting = (reason: string) =>
      podVerdict(
        pod({
          phase: 'Pending',
          containerStatuses: [
            { name: 'mcp', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason } } },
          ],
        }),
      );
    expect(waiting('ErrImagePull')).toMatchObject({ state: 'failed', fatal: true });
    expect(waiting('CreateContainerConfigError')).toMatchObject({ state: 'failed', fatal: true });
    expect(waiting('CrashLoopBackOff')).toMatchObject({ state: 'failed', fatal: false });
    expect(waiting('ContainerCreating')).toMatchObject({ state: 'pending' });
  });
});
