// mcpctl governance: workflow definitions (list, create), runs (start, status, set, step) and
// watch (a run's audit log, live, until the run ends).
import { Command } from 'commander';
import { z } from 'zod';
import { WORKFLOW_TYPES } from '../../lib/governance/states.js';
import {
  CreateGovernanceWorkflow,
  GovernanceRunStatusChange,
  GovernanceStepChange,
  StartGovernanceRun,
  type GovernanceRunDetail,
  type GovernanceWorkflow,
} from '../../lib/schemas/governance.js';
import { clientFrom, type ApiClient } from '../client.js';
import { followStream, parseData } from '../follow.js';
import { formatTable, plain, printJson, show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption, collect, Id, parseJsonOption } from '../validate.js';
import { DigestOption } from './evaluations.js';

/** A step position, as the API's path parameter checks it. */
const Position = z
  .string()
  .regex(/^[1-9]\d{0,2}$/, 'must be a step position (1-999)')
  .transform(Number);

/** `action` or `action={"json":"config"}`, split at the first "=". */
export function parseStep(text: string): { action: string; config?: unknown } {
  const eq = text.indexOf('=');
  if (eq === -1) return { action: text };
  return { action: text.slice(0, eq), config: parseJsonOption(`--step ${text.slice(0, eq)}`, text.slice(eq + 1)) };
}

/** The POST /api/governance/workflows body, checked against the API's own schema. */
export function buildWorkflowBody(opts: {
  name: string;
  type: string;
  tier: string;
  step?: string[];
}): z.input<typeof CreateGovernanceWorkflow> {
  const raw = opts.step ?? [];
  const body = {
    name: opts.name,
    workflow_type: opts.type as (typeof WORKFLOW_TYPES)[number],
    tier: opts.tier,
    steps: raw.map(parseStep),
  };
  const labels: Record<string, string> = { name: '--name', workflow_type: '--type', tier: '--tier', steps: '--step' };
  raw.forEach((text, i) => {
    labels[`steps.${i}.action`] = `--step ${text}`;
    labels[`steps.${i}.config`] = `--step ${text}`;
  });
  checkBody(CreateGovernanceWorkflow, body, labels);
  return body;
}

export interface StartOptions {
  digest?: string;
  run?: string;
  server?: string;
  note?: string[];
}

/**
 * The POST /api/governance/workflows/{id}/runs body under the API's field names (`target_*`, `notes`);
 * `{}` without options, never an empty request.
 */
export function buildStartBody(opts: StartOptions): z.input<typeof StartGovernanceRun> {
  const body = {
    ...(opts.digest !== undefined && { target_manifest_digest: checkOption('--digest', DigestOption, opts.digest) }),
    ...(opts.run !== undefined && { target_artifact_run_id: checkOption('--run', Id, opts.run) }),
    ...(opts.server !== undefined && { target_server_id: checkOption('--server', Id, opts.server) }),
    ...(opts.note !== undefined && { notes: opts.note }),
  };
  checkBody(StartGovernanceRun, body, {
    target_manifest_digest: '--digest',
    target_artifact_run_id: '--run',
    target_server_id: '--server',
    notes: '--note',
  });
  return body;
}

/** A status change (with an optional note for the audit log), checked against `schema`. */
function statusChange<S extends typeof GovernanceRunStatusChange | typeof GovernanceStepChange>(
  schema: S,
  status: string,
  note: string | undefined,
): z.input<S> {
  const body = { status, ...(note !== undefined && { note }) };
  checkBody(schema, body, { status: 'STATUS', note: '--note' });
  return body as z.input<S>;
}

/** The POST /api/governance/runs/{id}/status body. */
export const buildRunStatusBody = (status: string, note: string | undefined) =>
  statusChange(GovernanceRunStatusChange, status, note);

/** The POST /api/governance/runs/{id}/steps/{position} body. */
export const buildStepBody = (status: string, note: string | undefined) =>
  statusChange(GovernanceStepChange, status, note);

export const workflowListTable = (workflows: GovernanceWorkflow[]): [string[], Cell[][]] => [
  ['id', 'name', 'type', 'tier', 'steps', 'owner', 'created'],
  workflows.map((w) => [
    w.id,
    w.name,
    w.workflow_type,
    w.tier,
    w.steps.map((s) => s.action).join(' > '),
    w.owner_id,
    w.created_at,
  ]),
];

export const workflowStepsTable = (w: GovernanceWorkflow): [string[], Cell[][]] => [
  ['position', 'action', 'config'],
  w.steps.map((s) => [
    s.position,
    s.action,
    s.config === null || s.config === undefined ? null : JSON.stringify(s.config),
  ]),
];

type AuditEntry = GovernanceRunDetail['audit_log'][number];

/** What an audit row says beyond its type: the step it moved, the run status it led to, its note. */
function auditDetails(details: unknown): { step?: string; runStatus?: string; note?: string } {
  const d = (typeof details === 'object' && details !== null ? details : {}) as Record<string, unknown>;
  return {
    ...(typeof d.step === 'number' && {
      step: `${d.step}${typeof d.step_status === 'string' ? ` -> ${d.step_status}` : ''}`,
    }),
    ...(typeof d.status === 'string' && { runStatus: d.status }),
    ...(typeof d.note === 'string' && { note: d.note }),
  };
}

export const runDetailTable = (r: GovernanceRunDetail): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['id', r.id],
    ['workflow', r.workflow_id],
    ['status', r.status],
    ['tier', r.target_tier],
    ['digest', r.target_manifest_digest],
    ['build run', r.target_artifact_run_id],
    ['server', r.target_server_id],
    [
      'promotion',
      r.promotion_track_id === null ? null : `track ${r.promotion_track_id} ${r.promotion_stage ?? ''}`.trim(),
    ],
    ['notes', r.notes.join('; ')],
    ['initiated by', r.initiated_by],
    ['temporal workflow', r.temporal_workflow_id],
    ['created', r.created_at],
    ['updated', r.updated_at],
  ],
];

export const runStepsTable = (r: GovernanceRunDetail): [string[], Cell[][]] => [
  ['position', 'action', 'status', 'started', 'completed', 'error'],
  r.steps.map((s) => [s.position, s.action, s.status, s.started_at, s.completed_at, s.error]),
];

export const auditTable = (entries: AuditEntry[]): [string[], Cell[][]] => [
  ['id', 'time', 'event', 'actor', 'step', 'run status', 'note'],
  entries.map((a) => {
    const d = auditDetails(a.details);
    return [a.id, a.created_at, a.event_type, a.actor_id, d.step, d.runStatus, d.note];
  }),
];

/** The run, its steps and its audit log: three tables. */
export function runText(r: GovernanceRunDetail): string {
  const parts = [formatTable(...runDetailTable(r))];
  if (r.steps.length > 0) parts.push(formatTable(...runStepsTable(r)));
  if (r.audit_log.length > 0) parts.push(formatTable(...auditTable(r.audit_log)));
  return parts.join('\n\n');
}

/** An `audit` frame of the run stream. */
export interface AuditEvent {
  id: number;
  run_id: number;
  event_type: string;
  actor_id: number | null;
  details: unknown;
  run_status: string | null;
  created_at: string;
}

export function isAuditEvent(value: unknown): value is AuditEvent {
  const e = value as AuditEvent | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'number' &&
    typeof e.event_type === 'string' &&
    typeof e.created_at === 'string'
  );
}

/** One line per audit event: `time  event  by actor  step 1 -> completed  run -> in_progress  (note)`. */
export function auditLine(e: AuditEvent): string {
  const d = auditDetails(e.details);
  const parts = [e.created_at, plain(e.event_type), `by ${e.actor_id ?? 'system'}`];
  if (d.step) parts.push(`step ${plain(d.step)}`);
  if (e.run_status ?? d.runStatus) parts.push(`run -> ${plain((e.run_status ?? d.runStatus)!)}`);
  if (d.note) parts.push(`(${plain(d.note)})`);
  return parts.join('  ');
}

/** Prints the run's audit log from its first event, live, until the API sends `end` (the run has ended). */
export async function watchRun(
  client: ApiClient,
  runId: number,
  onEvent: (e: AuditEvent) => void,
  onNote: (note: string) => void,
): Promise<void> {
  await followStream(client, {
    path: `/api/governance/runs/${runId}/stream`,
    onNote,
    onFrame: (frame) => {
      if (frame.event === 'audit') onEvent(parseData(frame, isAuditEvent));
      return frame.event === 'end';
    },
  });
}

const printRun = (json: boolean | undefined, run: GovernanceRunDetail) =>
  json ? printJson(run) : process.stdout.write(`${runText(run)}\n`);

export function governanceCommand(): Command {
  const governance = new Command('governance').description(
    'governance workflows with ordered steps, their runs and audit logs',
  );

  const workflows = governance
    .command('workflows')
    .description('governance workflow definitions: list (the default), create');
  withJson(
    workflows.command('list', { isDefault: true }).description('governance workflow definitions you can see, by id'),
  ).action(async (opts: { json?: boolean }, cmd: Command) => {
    show(opts.json, await clientFrom(cmd).get<GovernanceWorkflow[]>('/api/governance/workflows'), workflowListTable);
  });

  withJson(workflows.command('create').description('define a governance workflow with ordered steps'))
    .requiredOption('--name <name>', 'workflow name')
    .requiredOption('--type <type>', `one of ${WORKFLOW_TYPES.join(', ')}`)
    .requiredOption('--tier <tier>', 'the tier it governs, e.g. gold:Router')
    .option('--step <action[=json]>', 'a step, in order, with an optional JSON config; repeat for more', collect)
    .action(
      async (opts: { name: string; type: string; tier: string; step?: string[]; json?: boolean }, cmd: Command) => {
        const body = buildWorkflowBody(opts);
        const created = await clientFrom(cmd).post<GovernanceWorkflow>('/api/governance/workflows', body);
        if (opts.json) return printJson(created);
        const parts = [formatTable(...workflowListTable([created]))];
        if (created.steps.length > 0) parts.push(formatTable(...workflowStepsTable(created)));
        process.stdout.write(`${parts.join('\n\n')}\n`);
      },
    );

  withJson(governance.command('start').description('start a run of a governance workflow'))
    .argument('<workflow_id>', 'governance workflow id')
    .option('--digest <digest>', 'the manifest digest it governs')
    .option('--run <id>', 'the build run it governs (its digest is the target)')
    .option('--server <id>', 'a server to redeploy when the run completes')
    .option('--note <text>', 'a note; repeat for more', collect)
    .action(async (id: string, opts: StartOptions & { json?: boolean }, cmd: Command) => {
      const workflowId = checkOption('WORKFLOW_ID', Id, id);
      const body = buildStartBody(opts);
      printRun(
        opts.json,
        await clientFrom(cmd).post<GovernanceRunDetail>(`/api/governance/workflows/${workflowId}/runs`, body),
      );
    });

  withJson(governance.command('status').description('a run: its status, steps and audit log'))
    .argument('<run_id>', 'governance run id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const runId = checkOption('RUN_ID', Id, id);
      printRun(opts.json, await clientFrom(cmd).get<GovernanceRunDetail>(`/api/governance/runs/${runId}`));
    });

  withJson(governance.command('set').description('move a run to another status; an ended run stays ended'))
    .argument('<run_id>', 'governance run id')
    .argument('<status>', 'in_progress, completed, failed or cancelled')
    .option('--note <text>', 'why, for the audit log')
    .action(async (id: string, status: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
      const runId = checkOption('RUN_ID', Id, id);
      const body = buildRunStatusBody(status, opts.note);
      printRun(
        opts.json,
        await clientFrom(cmd).post<GovernanceRunDetail>(`/api/governance/runs/${runId}/status`, body),
      );
    });

  withJson(
    governance
      .command('step')
      .description('move one step on; steps go in order, and the last completed completes the run'),
  )
    .argument('<run_id>', 'governance run id')
    .argument('<position>', 'step position (1 is the first)')
    .argument('<status>', 'in_progress, completed, failed or blocked')
    .option('--note <text>', 'why, for the audit log')
    .action(
      async (id: string, position: string, status: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
        const runId = checkOption('RUN_ID', Id, id);
        const pos = checkOption('POSITION', Position, position);
        const body = buildStepBody(status, opts.note);
        printRun(
          opts.json,
          await clientFrom(cmd).post<GovernanceRunDetail>(`/api/governance/runs/${runId}/steps/${pos}`, body),
        );
      },
    );

  withJson(governance.command('watch').description("follow a run's audit log from its start until the run ends"))
    .argument('<run_id>', 'governance run id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const runId = checkOption('RUN_ID', Id, id);
      const client = clientFrom(cmd);
      await watchRun(
        client,
        runId,
        (e) => process.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : `${auditLine(e)}\n`),
        (note) => process.stderr.write(`mcpctl: ${note}\n`),
      );
      if (!opts.json) {
        const run = await client.get<GovernanceRunDetail>(`/api/governance/runs/${runId}`);
        process.stdout.write(`run ${run.id} ${run.status}\n`);
      }
    });

  return governance;
}
