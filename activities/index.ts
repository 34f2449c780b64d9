// Merges every area's activities. Only worker/main.ts builds the real dependencies.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import type { KubeClient } from '../lib/kubernetes/client.js';
import type { Logger } from '../lib/logger.js';
import type { Keyring } from '../lib/secrets/keys.js';
import { hostPolicy } from '../lib/source-policy.js';
import { createBuildLedgerActivities } from './db/builds.js';
import { createGovernanceDbActivities } from './db/governance.js';
import { createEvaluationActivities } from './evaluation/certify.js';
import { createServerDbActivities } from './db/servers.js';
import { baseRegistryLogins } from './docker/base-registry-logins.js';
import { createDockerBuildActivities, type BuildNetworkSettings } from './docker/build.js';
import { buildBaseImages } from '../lib/build/dockerfile.js';
import { createGitActivities } from './git/checkout.js';
import { sourceSecretReader } from './git/source-secret.js';
import { createPackageActivities } from './packages/resolve.js';
import { createPullSecretActivities } from './kubernetes/pull-secret.js';
import { createCredentialCheckActivities } from './registry/credential-check.js';
import type { CredentialManager } from './registry/credentials.js';
import { createRegistryActivities } from './registry/push.js';
import { createDecisionActivities } from './runtime/decide.js';
import { imagePuller } from './runtime/docker.js';
import { createHealthActivities } from './runtime/health.js';
import { createSupervisionActivities } from './runtime/supervision.js';
import type { Executors } from './runtime/registry.js';
import { createWorkloadActivities } from './runtime/workloads.js';
import { createTelemetry } from './telemetry.js';

export interface ActivityDeps {
  sql: Sql;
  env: Env;
  docker: Docker;
  log: Logger;
  /** The cluster of the pull secret (built lazily: no cluster needed until used). */
  kube: KubeClient;
  credentials: CredentialManager;
  /** This installation's id (lib/ledger/installation.ts): it keys the servers' network names. */
  installation: string;
  /** The secret store's key-encryption keys: launches resolve secret references with them. */
  keyring: Keyring;
  /** Launch, stop and remove go through these; decisions ask them what they offer. */
  executors: Executors;
  /** Registers what runs when the worker stops, after its activities finished. */
  onShutdown: (hook: () => Promise<void>) => void;
}

export function createActivities(deps: ActivityDeps) {
  const { sql, env, docker, log, kube, credentials, executors, installation, keyring } = deps;
  const telemetry = createTelemetry(sql, log);
  const sourcePolicy = hostPolicy(env.SOURCE_ALLOWED_HOSTS);
  return {
    ...createServerDbActivities(sql),
    ...createGovernanceDbActivities(sql),
    ...createEvaluationActivities(sql, env, docker, credentials, installation),
    ...createBuildLedgerActivities(sql, env),
    ...createGitActivities({
      workDir: env.BUILD_WORK_DIR ?? join(tmpdir(), 'mcp-host-builds'),
      telemetry,
      baseImages: buildBaseImages(env),
      sourcePolicy,
      checkoutLimits: { maxBytes: env.CHECKOUT_MAX_BYTES, maxFiles: env.CHECKOUT_MAX_FILES },
      readSecret: sourceSecretReader(sql, keyring),
    }),
    ...createPackageActivities({
      workDir: env.BUILD_WORK_DIR ?? join(tmpdir(), 'mcp-host-builds'),
      baseImages: buildBaseImages(env),
      registries: {
        npm: env.BUILD_NPM_REGISTRY,
        goproxy: env.BUILD_GOPROXY,
        gosumdb: env.BUILD_GOSUMDB,
        pypi: env.BUILD_PIP_INDEX_URL,
      },
    }),
    ...createDockerBuildActivities(
      docker,
      telemetry,
      credentials,
      sourcePolicy,
      buildNetworkSettings(deps),
      baseRegistryLogins(sql, keyring),
    ),
    ...createRegistryActivities({ docker, telemetry, credentials }),
    ...createCredentialCheckActivities(sql, credentials),
    ...createDecisionActivities(sql, env, executors, credentials),
    ...createHealthActivities(sql, executors),
    ...createSupervisionActivities(sql, env, executors),
    ...createWorkloadActivities(executors),
    ...createPullSecretActivities({ sql, env, kube, telemetry, log }),
  };
}

/** The build network: its canary's image, and the registries a build's RUN steps reach. */
function buildNetworkSettings({
  env,
  docker,
  credentials,
  installation,
  log,
  onShutdown,
}: ActivityDeps): BuildNetworkSettings {
  const ensureImage = imagePuller(docker, env, credentials);
  return {
    canaryImage: env.DOCKER_CANARY_IMAGE,
    ensureCanaryImage: () => ensureImage(env.DOCKER_CANARY_IMAGE, 'platform').then(() => undefined),
    allowedHosts: [
      env.BUILD_NPM_REGISTRY,
      env.BUILD_GOPROXY,
      env.BUILD_PIP_INDEX_URL,
      ...(env.BUILD_GOSUMDB === 'off' ? [] : [env.BUILD_GOSUMDB.split(/\s+/)[0]!]),
      // PyPI's files live on a host of their own.
      ...(new URL(env.BUILD_PIP_INDEX_URL).hostname === 'pypi.org' ? ['files.pythonhosted.org'] : []),
      ...env.BUILD_EGRESS_ALLOWED_HOSTS,
    ],
    registryArgs: {
      npm_config_registry: env.BUILD_NPM_REGISTRY,
      GOPROXY: env.BUILD_GOPROXY,
      GOSUMDB: env.BUILD_GOSUMDB,
      PIP_INDEX_URL: env.BUILD_PIP_INDEX_URL,
      // A registry away makes npm fail within minutes, with the reason, instead of retrying for long.
      npm_config_fetch_timeout: '60000',
      npm_config_fetch_retries: '2',
    },
    idleTimeoutMs: env.BUILD_IDLE_TIMEOUT_SECONDS * 1000,
    installation,
    egressContainer: env.BUILD_EGRESS_CONTAINER,
    poolSize: env.BUILD_NETWORK_POOL_SIZE,
    warn: (message) => log.warn(message),
    onShutdown,
  };
}

export type Activities = ReturnType<typeof createActivities>;
