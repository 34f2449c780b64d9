import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import {
  networkPolicyManifest,
  podManifest,
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
};

describe('podManifest', () => {
  it('wraps a stdio image in the bridge: an init container copies it into an emptyDir, the command runs it first', () => {
    const bridge = {
      image: '127.0.0.1:5000/mcp-host/stdio-bridge:abc',
      command: ['/.mcp-host/stdio-bridge', '--', 'node', 'server.js'],
      maxSessions: 4,
    };
    const pod = podManifest({ ...base, bridge });
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
    expect(container!.readinessProbe).toEqual({ httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 });
    expect(pod.spec!.volumes).toContainEqual({ name: 'stdio-bridge', emptyDir: { sizeLimit: '32Mi' } });
  });

  it('leaves a Streamable HTTP image as it is: no init container, no command', () => {
    const pod = podManifest(base);
    expect(pod.spec!.initContainers).toBeUndefined();
    expect(pod.spec!.containers[0]!.command).toBeUndefined();
    expect(pod.metadata!.annotations).toBeUndefined();
  });

  it('labels the pod, runs the image as container mcp with config as env and the service account', () => {
    const pod = podManifest(base);
    expect(pod.metadata).toMatchObject({
      name: 'mcp-server-7-d42',
      namespace: 'mcp',
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
    const pod = podManifest(base);
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
    const { resources } = podManifest(base).spec!.containers[0]!;
    expect(resources).toEqual({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } });
  });

  it('asks for the configured number of NVIDIA GPUs only when use_gpu is set', () => {
    expect(podManifest(base).spec!.containers[0]!.resources!.limits).not.toHaveProperty('nvidia.com/gpu');
    const gpu = podManifest({ ...base, useGpu: true, gpuCount: 2 }).spec!.containers[0]!.resources!;
    expect(gpu.limits).toMatchObject({ 'nvidia.com/gpu': '2' });
    expect(gpu.requests).not.toHaveProperty('nvidia.com/gpu');
  });

  it('references the pull secret only when one is configured', () => {
    expect(podManifest(base).spec!.imagePullSecrets).toBeUndefined();
    expect(podManifest({ ...base, pullSecret: 'registry-pull' }).spec!.imagePullSecrets).toEqual([
      { name: 'registry-pull' },
    ]);
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
      spec: { selector: { 'mcp-host.dev/server-id': '7' }, ports: [{ port: 8080, targetPort: 8080 }] },
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
