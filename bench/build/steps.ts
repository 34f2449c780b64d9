// Where a build's time goes, from the build run's own records: Temporal's history (each activity's
// scheduled, started and completed times: the engine's scheduling between steps) and the
// `step_timings` events the activities write (the steps inside each activity).
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Sql } from '../../lib/db.js';

// A CommonJS module: its namespace comes as the default export.
const EventType = proto.temporal.api.enums.v1.EventType;

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** One step's milliseconds, keyed by a label ordered as the pipeline runs (`3 build linux/amd64 › docker build`). */
export type StepTimes = Map<string, number>;

/**
 * The steps of one mcp-host build: `requested` is when the bench sent POST …/builds, `seenReady` when
 * it saw the server ready (its poll interval included).
 */
export async function buildSteps(
  connection: Connection,
  sql: Sql,
  runId: number,
  requested: number,
  seenReady: number,
): Promise<StepTimes> {
  const [run] = await sql<{ workflow_id: string; workflow_run_id: string }[]>`
    select workflow_id, workflow_run_id from build_artifact_runs where id = ${runId}`;
  if (!run) throw new Error(`no build run ${runId}`);
  const { history } = await connection.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: { workflowId: run.workflow_id, runId: run.workflow_run_id },
    maximumPageSize: 1000,
  });
  const events = history?.events ?? [];
  const out: StepTimes = new Map();
  const add = (label: string, value: number) => out.set(label, (out.get(label) ?? 0) + value);

  const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)!;
  const closed = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)!;
  add('0 API: request → workflow started', ms(started.eventTime) - requested);

  // Each activity: queued (scheduled → picked up by the worker) and run (started → completed). The
  // platform is in the step records; history keeps activity inputs encrypted, so it is not read there.
  const scheduled = new Map<string, { name: string; at: number }>();
  const activities: { name: string; queued: number; start: number; end: number }[] = [];
  const startedAt = new Map<string, number>();
  for (const e of events) {
    const id = String(e.eventId);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      scheduled.set(id, { name: e.activityTaskScheduledEventAttributes!.activityType!.name!, at: ms(e.eventTime) });
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
      startedAt.set(String(e.activityTaskStartedEventAttributes!.scheduledEventId), ms(e.eventTime));
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const sid = String(e.activityTaskCompletedEventAttributes!.scheduledEventId);
      const s = scheduled.get(sid)!;
      const start = startedAt.get(sid) ?? s.at;
      activities.push({ name: s.name, queued: start - s.at, start, end: ms(e.eventTime) });
    }
  }
  // Engine time: every moment no activity of this build was running (workflow tasks, queueing),
  // from the workflow's start to its completion.
  const spans = activities.map((a) => [a.start, a.end] as const).sort((a, b) => a[0] - b[0]);
  let busy = 0;
  let reach = ms(started.eventTime);
  for (const [a, b] of spans) {
    if (b <= reach) continue;
    busy += b - Math.max(a, reach);
    reach = b;
  }
  add('9 Temporal: no activity running', ms(closed.eventTime) - ms(started.eventTime) - busy);

  const order = [
    'beginBuildRun',
    'prepareCheckout',
    'buildPlatformImage',
    'pushPlatformImage',
    'removeCheckout',
    'tagLocalAlias',
    'publishManifestList',
    'completeBuildRun',
  ];
  const records = await sql<
    { details: { activity: string; platform: string | null; steps: { step: string; ms: number }[] } }[]
  >`
    select details from usage_metrics where run_id = ${runId} and event_type = 'step_timings' order by id`;
  const seen = new Map<string, number>();
  for (const a of activities.sort((x, y) => x.start - y.start)) {
    const i = order.indexOf(a.name);
    const n = seen.get(a.name) ?? 0;
    seen.set(a.name, n + 1);
    const twice = activities.filter((x) => x.name === a.name).length > 1;
    const label = `${i + 1} ${a.name}${twice ? ` #${n + 1}` : ''}`;
    add(label, a.end - a.start);
    add(`${label} (queued)`, a.queued);
  }
  for (const r of records) {
    const i = order.indexOf(r.details.activity);
    for (const s of r.details.steps)
      add(`${i + 1} ${r.details.activity}${r.details.platform ? ` ${r.details.platform}` : ''} › ${s.step}`, s.ms);
  }
  add('10 completed → seen ready by the bench', seenReady - ms(closed.eventTime));
  return out;
}
