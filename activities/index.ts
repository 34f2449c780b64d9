// Merges every area's activities. Only worker/main.ts builds the real dependencies.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import { createKubeClient, type KubeClient } from '../lib/kubernetes/client.js';
import type { Logger } from '../lib/logger.js';
import { createBuildLedgerActivities } from './db/builds.js';
import { createGovernanceDbActivities } from './db/governance.js';
import { createEvaluationActivities } from './evaluation/certify.js';
import { createServerDbActivities } from './db/servers.js';
import { createDockerBuildActivities } from './docker/build.js';
import { createGitActivities } from './git/checkout.js';
import { createKubernetesExecutorActivities, kubernetesWorkloads } from './kubernetes/executor.js';
import { createPullSecretActivities } from './kubernetes/pull-secret.js';
import { createCredentialCheckActivities } from './registry/credential-check.js';
import { createCredentialManager } from './registry/credentials.js';
import { createRegistryActivities } from './registry/push.js';
import { createDecisionActivities } from './runtime/decide.js';
import { createDockerExecutorActivities } from './runtime/docker-executor.js';
import { createHealthActivities } from './runtime/health.js';
import { createWorkloadActivities } from './runtime/workloads.js';
import { createTelemetry } from './telemetry.js';
import { createVmActivities, vmActivityDeps } from './vm/executor.js';

export interface ActivityDeps {
  sql: Sql;
  env: Env;
  docker: Docker;
  log: Logger;
  /** The cluster of CONTAINER_RUNTIME=kubernetes and the pull secret; built from the env when omitted (lazily: no cluster needed until used). */
  kube?: KubeClient;
}

export function createActivities(deps: ActivityDeps) {
  const { sql, env, docker, log } = deps;
  const telemetry = createTelemetry(sql, log);
  const credentials = createCredentialManager({
    registry: env.REGISTRY,
    dockerconfigPath: env.REGISTRY_AUTH_DOCKERCONFIG,
    maxAgeSeconds: env.REGISTRY_AUTH_MAX_AGE_SECONDS,
    rotateLeadSeconds: env.REGISTRY_AUTH_ROTATE_LEAD_SECONDS,
    refreshCommand: env.REGISTRY_AUTH_REFRESH_COMMAND,
  });
  const vm = createVmActivities(vmActivityDeps(sql, env));
  const kube = deps.kube ?? createKubeClient(env);
  return {
    ...createServerDbActivities(sql),
    ...createGovernanceDbActivities(sql),
    ...createEvaluationActivities(sql, env, docker, credentials),
    ...createBuildLedgerActivities(sql, env),
    ...createGitActivities({
      workDir: env.BUILD_WORK_DIR ?? join(tmpdir(), 'mcp-host-builds'),
      telemetry,
      baseImages: { node: env.BUILD_NODE_BASE_IMAGE, python: env.BUILD_PYTHON_BASE_IMAGE },
    }),
    ...createDockerBuildActivities(docker, telemetry, credentials),
    ...createRegistryActivities({ docker, telemetry, credentials }),
    ...createCredentialCheckActivities(sql, credentials),
    ...createDecisionActivities(sql, env, docker, kube),
    ...createDockerExecutorActivities(sql, env, docker, credentials),
    ...createHealthActivities(sql, docker),
    ...createWorkloadActivities(sql, docker, vm, kubernetesWorkloads(kube)),
    ...createKubernetesExecutorActivities(sql, env, kube),
    ...createPullSecretActivities({ sql, env, kube, telemetry, log }),
    ...vm,
  };
}

export type Activities = ReturnType<typeof createActivities>;
