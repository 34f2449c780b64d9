// Registry pull-secret rotation: the `kubernetes.io/dockerconfigjson` secret
// K8S_REGISTRY_SECRET_NAME in K8S_NAMESPACE is created or patched with the current dockerconfig
// (REGISTRY_AUTH_DOCKERCONFIG) and a synced-at annotation, after a successful credential refresh or
// rotation and on every registryCredentials run. A failure is recorded as an event and thrown, so
// Temporal retries it; the secret's contents are never logged, recorded or returned.
import { readFile } from 'node:fs/promises';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { kubeError, kubeStatus, type KubeClient } from '../../lib/kubernetes/client.js';
import { kubernetesServers } from '../../lib/ledger/runtime.js';
import { pullSecretManifest, SYNCED_AT_ANNOTATION } from '../../lib/kubernetes/manifests.js';
import type { Logger } from '../../lib/logger.js';
import type { Telemetry } from '../telemetry.js';

export interface PullSecretSyncInput {
  trigger: 'build' | 'schedule' | 'manual';
  /** The build whose credential refresh or rotation this follows. */
  serverId?: number;
  runId?: number;
}

export interface PullSecretSyncResult {
  synced: boolean;
  /** Why nothing was synced (not configured). */
  reason?: string;
  namespace?: string;
  secretName?: string;
  created?: boolean;
  syncedAt?: string;
}

export function createPullSecretActivities(deps: {
  sql: Sql;
  env: Env;
  kube: KubeClient;
  telemetry: Telemetry;
  log: Logger;
}) {
  const { sql, env, kube, telemetry, log } = deps;

  /**
   * usage_metrics rows need a server: the build's server, and every server whose pods use the
   * secret (those running on Kubernetes now).
   */
  async function emit(input: PullSecretSyncInput, eventType: string, details: Record<string, unknown>): Promise<void> {
    const servers = new Set([
      ...(input.serverId !== undefined ? [input.serverId] : []),
      ...(await kubernetesServers(sql)),
    ]);
    for (const serverId of servers)
      await telemetry.metric(serverId, serverId === input.serverId ? (input.runId ?? null) : null, eventType, details);
    if (servers.size === 0) log.info({ target: 'kubernetes.pull-secret', eventType, ...details }, eventType);
  }

  async function apply(name: string, dockerconfig: Buffer, syncedAt: Date): Promise<boolean> {
    const namespace = kube.namespace;
    const core = kube.core();
    const body = pullSecretManifest(name, namespace, dockerconfig, syncedAt);
    const existing = await core.readNamespacedSecret({ name, namespace }).catch((err: unknown) => {
      if (kubeStatus(err) === 404) return undefined;
      throw kubeError(`reading secret ${namespace}/${name}`, err);
    });
    if (!existing) {
      const created = await core.createNamespacedSecret({ namespace, body }).then(
        () => true,
        (err: unknown) => {
          if (kubeStatus(err) === 409) return false; // created meanwhile: patch it below
          throw kubeError(`creating secret ${namespace}/${name}`, err);
        },
      );
      if (created) return true;
    } else if (existing.type !== body.type) {
      // The type of a secret cannot change: an operator must remove or rename the other secret.
      throw ApplicationFailure.nonRetryable(
        `secret ${namespace}/${name} exists with type ${existing.type}, not ${body.type}`,
        ErrorType.PullSecretConflict,
      );
    }
    const patch = {
      metadata: { labels: body.metadata!.labels, annotations: body.metadata!.annotations },
      data: body.data,
    };
    await core
      .patchNamespacedSecret(
        { name, namespace, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((err: unknown) => {
        throw kubeError(`patching secret ${namespace}/${name}`, err);
      });
    return false;
  }

  return {
    async syncRegistryPullSecret(input: PullSecretSyncInput): Promise<PullSecretSyncResult> {
      const name = env.K8S_REGISTRY_SECRET_NAME;
      const path = env.REGISTRY_AUTH_DOCKERCONFIG;
      if (!name || !path) {
        log.warn(
          { target: 'kubernetes.pull-secret', trigger: input.trigger },
          'K8S_REGISTRY_SECRET_NAME and REGISTRY_AUTH_DOCKERCONFIG must both be set to sync the pull secret',
        );
        return { synced: false, reason: 'not_configured' };
      }
      // Only a cluster of ours (the kubernetes runtime, or a kubeconfig named for it), not any cluster.
      if (env.CONTAINER_RUNTIME !== 'kubernetes' && !env.K8S_KUBECONFIG) return { synced: false, reason: 'no_cluster' };
      const namespace = kube.namespace;
      const base = { namespace, secret_name: name, trigger: input.trigger, attempt: Context.current().info.attempt };
      try {
        const dockerconfig = await readFile(path).catch((err: { code?: string }) => {
          throw new Error(`reading REGISTRY_AUTH_DOCKERCONFIG failed (${err.code ?? 'error'})`);
        });
        try {
          if (typeof (JSON.parse(dockerconfig.toString('utf8')) as { auths?: unknown }).auths !== 'object')
            throw new Error();
        } catch {
          // Possibly caught mid-rewrite by a rotation: another attempt reads it again.
          throw new Error('REGISTRY_AUTH_DOCKERCONFIG is not a dockerconfig (JSON with "auths")');
        }
        const syncedAt = new Date();
        const created = await apply(name, dockerconfig, syncedAt);
        await emit(input, 'k8s_pull_secret_patched', {
          ...base,
          created,
          synced_at: syncedAt.toISOString(),
          annotation: SYNCED_AT_ANNOTATION,
        });
        return { synced: true, namespace, secretName: name, created, syncedAt: syncedAt.toISOString() };
      } catch (err) {
        const message = (err as Error).message;
        await emit(input, 'k8s_pull_secret_patch_failed', { ...base, error: message }).catch((e: unknown) =>
          log.warn({ err: e, target: 'kubernetes.pull-secret' }, 'recording the failed pull-secret sync failed'),
        );
        log.warn(
          { target: 'kubernetes.pull-secret', ...base, error: message },
          'Registry credentials refreshed but Kubernetes secret sync failed',
        );
        throw err;
      }
    },
  };
}
