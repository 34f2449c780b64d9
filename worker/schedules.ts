// Temporal Schedules the worker owns, created or updated at start so their spec follows the env.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Env } from '../lib/env.js';
import type { Logger } from '../lib/logger.js';
import { parseRegistry } from '../lib/registry/reference.js';
import type { WorkflowIds } from '../lib/workflow-ids.js';
import type { registryCredentials } from '../workflows/registry-credentials.js';

/** The registryCredentials schedule, when there are credentials to look after. */
export async function ensureCredentialSchedule(
  client: Client,
  env: Env,
  log: Logger,
  workflowIds: WorkflowIds,
): Promise<void> {
  if (!env.REGISTRY || !env.REGISTRY_AUTH_DOCKERCONFIG) return;
  const registry = env.REGISTRY;
  const scheduleId = workflowIds.credentials(parseRegistry(registry).host);
  const spec = { intervals: [{ every: `${env.REGISTRY_AUTH_CHECK_INTERVAL_MINUTES}m` }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'registryCredentials' as const,
    workflowId: scheduleId,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    args: [{ registry, trigger: 'schedule' as const, force: false }] as Parameters<typeof registryCredentials>,
  };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP } });
    log.info({ scheduleId, everyMinutes: env.REGISTRY_AUTH_CHECK_INTERVAL_MINUTES }, 'credential schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    log.info({ scheduleId }, 'credential schedule updated');
  }
}
