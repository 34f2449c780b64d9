// registryCredentials (`credentials/<registry host>`, started by a Temporal Schedule between builds,
// or by an operator): probe the registry credentials and rotate them inside the lead window, then
// sync the Kubernetes pull secret with whatever the dockerconfig now holds.
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CredentialCheckInput, CredentialCheckResult } from '../activities/registry/credential-check.js';
import type { PullSecretSyncResult } from '../activities/kubernetes/pull-secret.js';
import { ErrorType } from '../lib/errors.js';

const { checkRegistryCredentials } = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  // A failed rotation is recorded once; the next scheduled run tries again.
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

// An API server that is away (an upgrade, a restart) comes back: keep trying for about ten minutes;
// every failed attempt is recorded as a k8s_pull_secret_patch_failed event.
const { syncRegistryPullSecret } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 25,
    nonRetryableErrorTypes: [ErrorType.PullSecretConflict],
  },
});

/** Runs started before the pull-secret sync existed replay without it. */
const PULL_SECRET_PATCH = 'registry-pull-secret-sync-v1';

export interface RegistryCredentialsResult extends CredentialCheckResult {
  pullSecret?: PullSecretSyncResult;
}

export async function registryCredentials(input: CredentialCheckInput): Promise<RegistryCredentialsResult> {
  const result = await checkRegistryCredentials(input);
  if (!patched(PULL_SECRET_PATCH)) return result;
  // Reached only when no rotation failed (a failed one throws above): the file is the current truth.
  return { ...result, pullSecret: await syncRegistryPullSecret({ trigger: input.trigger }) };
}
