// The registryCredentials workflow's one activity: probe the credentials, rotate them when the probe
// recommends it (or when asked to), and record the outcome. Idempotent per workflow run.
import { Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
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
      const [done] = await sql<{ status: CredentialHealthStatus; rotation_attempted: boolean; rotation_succeeded: boolean | null; message: string }[]>`
        select status, rotation_attempted, rotation_succeeded, message from registry_credential_checks
        where workflow_id = ${workflowExecution.workflowId} and workflow_run_id = ${workflowExecution.runId}`;
      if (done) return { status: done.status, rotationAttempted: done.rotation_attempted, rotationSucceeded: done.rotation_succeeded, message: done.message };

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
      await sql`
        insert into registry_credential_checks
          (registry, trigger, status, message, observed_at, expires_at, seconds_until_expiry, rotation_recommended,
           rotation_configured, rotation_attempted, rotation_succeeded, rotation_error, workflow_id, workflow_run_id)
        values (${input.registry}, ${input.trigger}, ${health.status}, ${health.message}, ${health.observed_at}, ${health.expires_at},
                ${health.seconds_until_expiry}, ${health.rotation_recommended}, ${credentials.rotationConfigured}, ${rotationAttempted},
                ${rotationSucceeded}, ${rotationError}, ${workflowExecution.workflowId}, ${workflowExecution.runId})
        on conflict (workflow_id, workflow_run_id) do nothing`;
      if (rotationSucceeded === false) throw new Error(`credential rotation failed: ${rotationError}`);
      return { status: health.status, rotationAttempted, rotationSucceeded, message: health.message };
    },
  };
}
