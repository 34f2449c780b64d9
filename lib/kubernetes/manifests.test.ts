import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { podManifest, podVerdict, pullSecretManifest, resourceLimits, serviceManifest, SYNCED_AT_ANNOTATION } from './manifests.js';

const base = {
  serverId: 7,
  decisionId: 42,
  namespace: 'mcp',
  image: '127.0.0.1:5000/mcp/mcp-custom-7:latest',
  useGpu: false,
  config: { LOG_FORMAT: 'json', cpu_limit: 0.5, memory_limit: 256, runtime: 'kubernetes', DEBUG: true },
  serviceAccount: 'mcp-runner',
  port: 8080,
};

describe('podManifest', () => {
  it('labels the pod, runs the image as container mcp with config as env and the service account', () => {
    const pod = podManifest(base);
    expect(pod.metadata).toMatchObject({
      name: 'mcp-server-7-d42',
      namespace: 'mcp',
      labels: { 'mcp-host.dev/server-id': '7', 'mcp-host.dev/decision-id': '42', 'app.kubernetes.io/managed-by': 'mcp-host' },
    });
    expect(pod.spec!.serviceAccountName).toBe('mcp-runner');
    const [container] = pod.spec!.containers;
    expect(container!.name).toBe('mcp');
    expect(container!.image).toBe(base.image);
    expect(container!.env).toEqual([
      { name: 'LOG_FORMAT', value: 'json' },
      { name: 'cpu_limit', value: '0.5' },
      { name: 'memory_limit', value: '256' },
      { name: 'DEBUG', value: 'true' },
      { name: 'PORT', value: '8080' },
      { name: 'MCP_SERVER_ID', value: '7' },
    ]);
    // No hostPath relative to the API process.
    expect(pod.spec!.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
  });

  it('sets cpu and memory limits (and equal requests) from config', () => {
    const { resources } = podManifest(base).spec!.containers[0]!;
    expect(resources).toEqual({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } });
  });

  it('asks for one NVIDIA GPU only when use_gpu is set', () => {
    expect(podManifest(base).spec!.containers[0]!.resources!.limits).not.toHaveProperty('nvidia.com/gpu');
    const gpu = podManifest({ ...base, useGpu: true }).spec!.containers[0]!.resources!;
    expect(gpu.limits).toMatchObject({ 'nvidia.com/gpu': '1' });
    expect(gpu.requests).not.toHaveProperty('nvidia.com/gpu');
  });

  it('references the pull secret only when one is configured', () => {
    expect(podManifest(base).spec!.imagePullSecrets).toBeUndefined();
    expect(podManifest({ ...base, pullSecret: 'registry-pull' }).spec!.imagePullSecrets).toEqual([{ name: 'registry-pull' }]);
  });
});

describe('resourceLimits', () => {
  it.each([
    [{}, {}],
    [{ cpu_limit: 2 }, { cpu: '2000m' }],
    [{ cpu_limit: '1.25' }, { cpu: '1250m' }],
    [{ cpu_limit: 0.0001 }, { cpu: '1m' }],
    [{ cpu_limit: -1, memory_limit: 0 }, {}],
    [{ cpu_limit: 'lots', memory_limit: 'big' }, {}],
    [{ memory_limit: 12.5 }, {}],
    [{ memory_limit: '1024' }, { memory: '1024Mi' }],
  ])('%j → %j', (config, limits) => {
    expect(resourceLimits(config, false)).toEqual({ limits, requests: limits });
  });
});

describe('serviceManifest', () => {
  it('selects the server\'s pods by label', () => {
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
    ['running but not ready', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', message: 'containers with unready status: [mcp]' }] }, 'pending', /unready/],
    ['running and ready', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }, 'running', /running and ready/],
    ['crash looping', { phase: 'Running', containerStatuses: [{ name: 'mcp', image: 'i', imageID: '', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' } } }] }, 'failed', /CrashLoopBackOff: back-off/],
    ['image not pullable', { phase: 'Pending', containerStatuses: [{ name: 'mcp', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }] }, 'failed', /ImagePullBackOff/],
    ['failed phase', { phase: 'Failed', reason: 'Evicted', message: 'low on memory' }, 'failed', /failed: Evicted \(low on memory\)/],
    ['exited', { phase: 'Succeeded', containerStatuses: [{ name: 'mcp', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }, 'failed', /succeeded: Completed/],
  ])('%s', (_, status, state, reason) => {
    const verdict = podVerdict(pod(status));
    expect(verdict.state).toBe(state);
    expect(verdict.reason).toMatch(reason);
  });

  it('calls image and config problems fatal (error), crash loops not (unhealthy)', () => {
    const waiting = (reason: string) =>
      podVerdict(pod({ phase: 'Pending', containerStatuses: [{ name: 'mcp', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason } } }] }));
    expect(waiting('ErrImagePull')).toMatchObject({ state: 'failed', fatal: true });
    expect(waiting('CreateContainerConfigError')).toMatchObject({ state: 'failed', fatal: true });
    expect(waiting('CrashLoopBackOff')).toMatchObject({ state: 'failed', fatal: false });
    expect(waiting('ContainerCreating')).toMatchObject({ state: 'pending' });
  });
});
