// A server's secrets on Kubernetes: one Secret per server (`mcp-server-<id>-secrets`) holding the
// values its config references, the backing store the cluster keeps; the pod mounts it at
// /run/secrets (a Secret volume is a tmpfs) and takes "as env" secrets through secretKeyRef, so the
// pod spec holds names and paths, never a value. Pure: the executor applies it to whatever pod spec
// it builds (a bare Pod's or a Deployment's template).
import type { V1PodSpec, V1Secret } from '@kubernetes/client-node';
import { SECRETS_MOUNT } from '../schemas/secrets.js';
import { serverLabels } from './manifests.js';

export const serverSecretName = (serverId: number) => `mcp-server-${serverId}-secrets`;

/** Keys of env secrets in the Secret: a prefix no file name (a secret name) can start with. */
const envKey = (variable: string) => `env.${variable}`;

export interface KubernetesSecrets {
  /** Secret name → value, delivered as files. */
  files: Map<string, Buffer>;
  /** Variable → value, delivered as env. */
  env: Map<string, Buffer>;
  /** Config key → secret name of each file reference (for `<KEY>_FILE`). */
  fileKeys: [string, string][];
}

export function serverSecretManifest(serverId: number, namespace: string, secrets: KubernetesSecrets): V1Secret {
  const data: Record<string, string> = {};
  for (const [name, value] of secrets.files) data[name] = value.toString('base64');
  for (const [variable, value] of secrets.env) data[envKey(variable)] = value.toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: serverSecretName(serverId),
      namespace,
      labels: serverLabels(serverId),
    },
    data,
  };
}

/** The pod spec with the Secret mounted at /run/secrets in its server container and env from secretKeyRef. */
export function withServerSecrets(
  spec: V1PodSpec,
  serverId: number,
  secrets: KubernetesSecrets,
  containerName: string,
): V1PodSpec {
  const secretName = serverSecretName(serverId);
  const files = [...secrets.files.keys()];
  return {
    ...spec,
    volumes: [
      ...(spec.volumes ?? []),
      ...(files.length > 0
        ? [
            {
              name: 'mcp-secrets',
              // 0400, group-readable through the pod's fsGroup (the kubelet adds it), nothing else.
              secret: { secretName, defaultMode: 0o400, items: files.map((key) => ({ key, path: key })) },
            },
          ]
        : []),
    ],
    containers: spec.containers.map((c) =>
      c.name !== containerName
        ? c
        : {
            ...c,
            env: [
              ...(c.env ?? []),
              ...secrets.fileKeys.map(([key, name]) => ({ name: `${key}_FILE`, value: `${SECRETS_MOUNT}/${name}` })),
              ...[...secrets.env.keys()].map((variable) => ({
                name: variable,
                valueFrom: { secretKeyRef: { name: secretName, key: envKey(variable) } },
              })),
            ],
            volumeMounts: [
              ...(c.volumeMounts ?? []),
              ...(files.length > 0 ? [{ name: 'mcp-secrets', mountPath: SECRETS_MOUNT, readOnly: true }] : []),
            ],
          },
    ),
  };
}
