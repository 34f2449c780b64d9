// Registry credential checks: one registry_credential_checks row per registryCredentials workflow
// run (scheduled or manual), written by its activity once per run, read by the API.
import type { Sql } from '../db.js';
import type { CredentialHealth, CredentialHealthStatus } from '../registry/credential-health.js';
import type { CredentialCheck } from '../schemas/registry.js';

export type CheckRow = Omit<CredentialCheck, 'observed_at' | 'expires_at'> & {
  observed_at: Date;
  expires_at: Date | null;
};

export const toCheck = (r: CheckRow) => ({
  id: r.id,
  trigger: r.trigger,
  status: r.status,
  message: r.message,
  observed_at: r.observed_at.toISOString(),
  expires_at: r.expires_at ? r.expires_at.toISOString() : null,
  seconds_until_expiry: r.seconds_until_expiry,
  rotation_recommended: r.rotation_recommended,
  rotation_configured: r.rotation_configured,
  rotation_attempted: r.rotation_attempted,
  rotation_succeeded: r.rotation_succeeded,
  rotation_error: r.rotation_error,
  workflow_id: r.workflow_id,
});

/** The registry's 20 latest checks, newest first. */
export function recentChecks(sql: Sql, registry: string): Promise<CheckRow[]> {
  return sql<
    CheckRow[]
  >`select * from registry_credential_checks where registry = ${registry} order by id desc limit 20`;
}

export interface WorkflowRun {
  workflowId: string;
  runId: string;
}

/** The check this workflow run recorded, if it has. */
export async function checkOfRun(sql: Sql, run: WorkflowRun) {
  const [done] = await sql<
    {
      status: CredentialHealthStatus;
      rotation_attempted: boolean;
      rotation_succeeded: boolean | null;
      message: string;
    }[]
  >`
    select status, rotation_attempted, rotation_succeeded, message from registry_credential_checks
    where workflow_id = ${run.workflowId} and workflow_run_id = ${run.runId}`;
  return done;
}

export interface CheckRecord {
  registry: string;
  trigger: 'schedule' | 'manual';
  health: CredentialHealth;
  rotationConfigured: boolean;
  rotationAttempted: boolean;
  rotationSucceeded: boolean | null;
  rotationError: string | null;
}

/** Records the check of a workflow run (once: a retried activity changes nothing). */
export async function recordCheck(sql: Sql, run: WorkflowRun, c: CheckRecord): Promise<void> {
  const { health } = c;
  await sql`
    insert into registry_credential_checks
      (registry, trigger, status, message, observed_at, expires_at, seconds_until_expiry, rotation_recommended,
       rotation_configured, rotation_attempted, rotation_succeeded, rotation_error, workflow_id, workflow_run_id)
    values (${c.registry}, ${c.trigger}, ${health.status}, ${health.message}, ${health.observed_at}, ${health.expires_at},
            ${health.seconds_until_expiry}, ${health.rotation_recommended}, ${c.rotationConfigured}, ${c.rotationAttempted},
            ${c.rotationSucceeded}, ${c.rotationError}, ${run.workflowId}, ${run.runId})
    on conflict (workflow_id, workflow_run_id) do nothing`;
}
