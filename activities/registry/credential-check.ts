// The registryCredentials workflow's one activity: probe the credentials, rotate them when the probe
// recommends it (or when asked to), and record the outcome. Idempotent per workflow run.
import { Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import { checkOfRun, recordCheck } from '../../lib/ledger/registry.js';
import type { CredentialHealthStatus } from '../../lib/registry/credential-health.js';
import type { CredentialManager } from './credentials.js';

export interface CredentialCheckInput {
  registry: string;
  trigger: 'schedule' | 'manual';
  /** Rotate even outside the lead window (an operator's `mcpctl credentials rotate`). */
  force: boolean;
}

export interface CredentialCheckResult {
  status: CredentialHealthStatus;
  rotationAttempted: boolean;
  rotationSucceeded: boolean | null;
  message: string;
}

export function createCredentialCheckActivities(sql: Sql, credentials: CredentialManager) {
  return {
    async checkRegistryCredentials(input: CredentialCheckInput): Promise<CredentialCheckResult> {
      // Always run from the registryCredentials workflow, never standalone.
      const workflowExecution = Context.current().info.workflowExecution!;
      const done = await checkOfRun(sql, workflowExecution);
      if (done)
        return {
          status: done.status,
          rotationAttempted: done.rotation_attempted,
          rotationSucceeded: done.rotation_succeeded,
          message: done.message,
        };

      let health = await credentials.probe();
      let rotationAttempted = false;
      let rotationSucceeded: boolean | null = null;
      let rotationError: string | null = null;
      if ((health.rotation_recommended || input.force) && credentials.rotationConfigured) {
        rotationAttempted = true;
        try {
          await credentials.refresh();
          rotationSucceeded = true;
          health = await credentials.probe();
        } catch (err) {
          rotationSucceeded = false;
          rotationError = (err as Error).message;
        }
      }
      await recordCheck(sql, workflowExecution, {
        registry: input.registry,
        trigger: input.trigger,
        health,
        rotationConfigured: credentials.rotationConfigured,
        rotationAttempted,
        rotationSucceeded,
        rotationError,
      });
      if (rotationSucceeded === false) throw new Error(`credential rotation failed: ${rotationError}`);
      return { status: health.status, rotationAttempted, rotationSucceeded, message: health.message };
    },
  };
}
