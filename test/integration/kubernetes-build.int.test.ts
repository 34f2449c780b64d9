// The build pipeline's side of the pull secret: a build whose push rotates stale
// registry credentials syncs them into the cluster's pull secret, and the built image then runs as a
// pod that references that secret. Real dockerd, registry (htpasswd), git daemon and kube-apiserver.
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubernetes, type KubernetesControlPlane } from '../../scripts/stack/kubernetes.js';
import { startBuildStack, REGISTRY_PASSWORD, REGISTRY_USER, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { dockerConfig, dockerConfigJson } from '../support/htpasswd.js';
import { eventually, httpClient } from '../support/http.js';

const NAMESPACE = 'mcp-builds';
const PULL_SECRET = 'mcp-registry-pull';

let stack: BuildStack;
let k8s: KubernetesControlPlane;
let core: CoreV1Api;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let configPath: string;

beforeAll(async () => {
  [stack, k8s] = await Promise.all([startBuildStack('kubernetes-build'), startKubernetes()]);
  const kc = new KubeConfig();
  kc.loadFromFile(k8s.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'default' } } });

  // Valid credentials last written two hours ago, past a 60 s max age: the push rotates them first.
  const dir = join(stack.dir, 'k8s-credentials');
  mkdirSync(dir, { recursive: true });
  configPath = join(dir, 'dockerconfig.json');
  dockerConfig(configPath, { registry: stack.registryHost, username: REGISTRY_USER, password: REGISTRY_PASSWORD });
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(configPath, twoHoursAgo, twoHoursAgo);
  const refreshed = JSON.stringify({
    ...dockerConfigJson([{ registry: stack.registryHost, username: REGISTRY_USER, password: REGISTRY_PASSWORD }]),
    rotated: true,
  });
  const script = join(dir, 'refresh.sh');
  writeFileSync(
    script,
    `#!/bin/sh\nset -e\ncat > '${configPath}.tmp' <<'JSON'\n${refreshed}\nJSON\nmv '${configPath}.tmp' '${configPath}'\n`,
    { mode: 0o755 },
  );

  h = await startHarness('kubernetes-build', {
    ...stack.env('linux/amd64'),
    CONTAINER_RUNTIME: 'kubernetes',
    K8S_KUBECONFIG: k8s.kubeconfig,
    K8S_NAMESPACE: NAMESPACE,
    K8S_REGISTRY_SECRET_NAME: PULL_SECRET,
    REGISTRY_AUTH_DOCKERCONFIG: configPath,
    REGISTRY_AUTH_MAX_AGE_SECONDS: '60',
    REGISTRY_AUTH_ROTATE_LEAD_SECONDS: '10',
    REGISTRY_AUTH_REFRESH_COMMAND: script,
  });
  call = httpClient(h.apiUrl);
}, 300_000);

afterAll(async () => {
  await h?.stop();
  await Promise.all([stack?.stop(), k8s?.stop()]);
});

describe('a build that rotates registry credentials', () => {
  it('patches the pull secret with them, and the built image runs as a pod that references it', async () => {
    const name = 'k8s-built';
    await createGitRepo({
      dir: join(stack.gitDir, name),
      files: { Dockerfile: `FROM ${stack.base.reference}\nRUN echo k8s > /k\nEXPOSE 8080\n` },
    });
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name, server_type: 'Router', source: { type: 'git', repository: stack.git.url(name), branch: 'main' } },
    });
    expect(created.status, created.text).toBe(201);
    const id: number = created.body.id;

    // Built, pushed (after the rotation), then launched on the cluster: a pod appears.
    const pod = await eventually(
      async () =>
        (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `mcp-host.dev/server-id=${id}` }))
          .items[0],
      240_000,
      "the built server's pod",
    );
    const [run] = await h.sql<
      { id: number; registry_image: string; manifest_digest: string; auth_rotation_succeeded: boolean }[]
    >`
      select id, registry_image, manifest_digest, auth_rotation_succeeded from build_artifact_runs where server_id = ${id}`;
    expect(run).toMatchObject({ auth_rotation_succeeded: true });
    // The decision pins the published manifest list by digest.
    expect(pod.spec!.containers[0]!.image).toBe(
      `${run!.registry_image.replace(/:latest$/, '')}@${run!.manifest_digest}`,
    );
    expect(pod.spec!.imagePullSecrets).toEqual([{ name: PULL_SECRET }]);

    const secret = await core.readNamespacedSecret({ name: PULL_SECRET, namespace: NAMESPACE });
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    const content = Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8');
    expect(content).toBe(readFileSync(configPath, 'utf8'));
    expect(JSON.parse(content)).toMatchObject({ rotated: true });
    const [event] = await h.sql<{ run_id: number; details: Record<string, unknown> }[]>`
      select run_id, details from usage_metrics where server_id = ${id} and event_type = 'k8s_pull_secret_patched'`;
    expect(event).toMatchObject({
      run_id: run!.id,
      details: { trigger: 'build', namespace: NAMESPACE, secret_name: PULL_SECRET, created: true },
    });
    expect(secret.metadata!.annotations!['mcp-host.dev/synced-at']).toBe(event!.details.synced_at);
    expect(JSON.stringify(event)).not.toContain(secret.data!['.dockerconfigjson']!);

    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  }, 300_000);
});
