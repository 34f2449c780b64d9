// Where a launch's time goes, from the server workflow's own history: each activity it ran between
// the start request and `until` (the first answered tools/call), with the time it waited for a
// worker (scheduled → started) and the attempts Temporal made (a retried health check waits out
// its retry interval between attempts, which shows here as run time of the last attempt's span);
// and inside launchServer, the steps the Docker executor timed (`step_timings`).
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Sql } from '../../lib/db.js';

// A CommonJS module: its namespace comes as the default export.
const EventType = proto.temporal.api.enums.v1.EventType;

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

export interface ActivitySpan {
  name: string;
  /** ms after the start request it was scheduled, and it completed. */
  scheduled: number;
  completed: number;
  attempts: number;
}

/** The activities of `workflowId` scheduled at or after `since` (epoch ms) and completed by `until`. */
export async function launchActivities(
  connection: Connection,
  workflowId: string,
  since: number,
  until: number,
): Promise<ActivitySpan[]> {
  const scheduled = new Map<string, { name: string; at: number }>();
  const attempts = new Map<string, number>();
  const out: ActivitySpan[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      maximumPageSize: 1000,
      nextPageToken,
    });
    for (const e of page.history?.events ?? []) {
      const id = String(e.eventId);
      if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && ms(e.eventTime) >= since)
        scheduled.set(id, { name: e.activityTaskScheduledEventAttributes!.activityType!.name!, at: ms(e.eventTime) });
      if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
        const a = e.activityTaskStartedEventAttributes!;
        attempts.set(String(a.scheduledEventId), a.attempt ?? 1);
      }
      if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
        const sid = String(e.activityTaskCompletedEventAttributes!.scheduledEventId);
        const s = scheduled.get(sid);
        if (s && ms(e.eventTime) <= until)
          out.push({
            name: s.name,
            scheduled: s.at - since,
            completed: ms(e.eventTime) - since,
            attempts: attempts.get(sid) ?? 1,
          });
      }
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return out;
}

export interface LaunchStep {
  step: string;
  /** ms after the start request it began, and how long it took. */
  start: number;
  ms: number;
}

/**
 * The steps inside launchServer (the `step_timings` event the Docker executor records once a launch
 * succeeds) of the launch that began at or after `since` (epoch ms): where that activity's time went.
 */
export async function launchSteps(sql: Sql, serverId: number, since: number): Promise<LaunchStep[]> {
  const [row] = await sql<{ details: { steps: { step: string; started_at: string; ms: number }[] } }[]>`
    select details from usage_metrics
    where server_id = ${serverId} and event_type = 'step_timings' and details->>'activity' = 'launchServer'
      and timestamp >= ${new Date(since)}
    order by id limit 1`;
  return (row?.details.steps ?? []).map((s) => ({
    step: s.step,
    start: new Date(s.started_at).getTime() - since,
    ms: s.ms,
  }));
}
