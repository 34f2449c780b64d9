// registryCredentials (`credentials/<registry host>`, started by a Temporal Schedule between builds,
// or by an operator): probe the registry credentials and rotate them inside the lead window.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CredentialCheckInput, CredentialCheckResult } from '../activities/registry/credential-check.js';

const { checkRegistryCredentials } = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  // A failed rotation is recorded once; the next scheduled run tries again.
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

export async function registryCredentials(input: CredentialCheckInput): Promise<CredentialCheckResult> {
  return checkRegistryCredentials(input);
}
