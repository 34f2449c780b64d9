// The executor registry as a process builds it from its environment: the worker (to launch, stop
// and remove) and the API (to read logs) each build one at start-up and pass it in.
import type Docker from 'dockerode';
import { createDockerExecutor } from '../activities/runtime/docker.js';
import { createKubernetesExecutor } from '../activities/runtime/kubernetes.js';
import { createExecutorRegistry, type Executors } from '../activities/runtime/registry.js';
import { createVmExecutor, vmActivityDeps } from '../activities/runtime/vm.js';
import { credentialsFromEnv, type CredentialManager } from '../activities/registry/credentials.js';
import { createSecretDelivery } from '../activities/runtime/secret-delivery.js';
import type { Sql } from '../lib/db.js';
import type { Keyring } from '../lib/secrets/keys.js';
import type { Env } from '../lib/env.js';
import { createKubeClient, type KubeClient } from '../lib/kubernetes/client.js';

export interface ExecutorDeps {
  sql: Sql;
  env: Env;
  docker: Docker;
  /** This installation's id (lib/ledger/installation.ts): it keys the servers' network names. */
  installation: string;
  /** The cluster; built from the env when omitted (lazily: no cluster is needed until one is used). */
  kube?: KubeClient;
  /** The registry credentials image pulls use; from the env when omitted (the API, which pulls nothing). */
  credentials?: CredentialManager;
  /** The secret store's keys: launches resolve secret references with them (the worker; the API launches nothing). */
  keyring?: Keyring;
}

export function createExecutors({ sql, env, docker, installation, ...deps }: ExecutorDeps): Executors {
  const kube = deps.kube ?? createKubeClient(env);
  const credentials = deps.credentials ?? credentialsFromEnv(env);
  const secrets = deps.keyring && createSecretDelivery(sql, deps.keyring, env);
  return createExecutorRegistry(sql, {
    docker: createDockerExecutor(sql, env, docker, credentials, installation, secrets),
    kubernetes: createKubernetesExecutor(sql, env, kube, credentials),
    'virtual-machine': createVmExecutor(vmActivityDeps(sql, env), env.CONTAINER_RUNTIME === 'virtual-machine'),
  });
}
