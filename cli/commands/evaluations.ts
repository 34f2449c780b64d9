// mcpctl evaluations: certifications of build runs for a tier and requirement: list, for, show,
// submit (a manual verdict or an automatic evaluation), retry, and plan (refresh cadence, notes).
import { Command } from 'commander';
import type { z } from 'zod';
import {
  Certification,
  CertificationPlan,
  CertificationSubmit,
  PromotionHistoryQuery,
} from '../../lib/schemas/governance.js';
import { clientFrom } from '../client.js';
import { CliError } from '../handle-error.js';
import { show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption, collect, Id, noneOr, parseJsonOption, WholeNumber } from '../validate.js';
import { Limit, shortDigest } from './builds.js';

/** `--status` of a list, as certifications carry it. */
const CertStatus = Certification.shape.status;
/** `--digest`, as the API's digest fields check it. */
export const DigestOption = PromotionHistoryQuery.shape.manifest_digest;

export interface SubmitOptions {
  tier: string;
  requirement: string;
  status?: string;
  evaluate?: boolean;
  expectTool?: string[];
  digest?: string;
  evidence?: string;
  evidenceSource?: string;
  evidenceLineage?: string;
  validFrom?: string;
  validUntil?: string;
  cadenceSeconds?: string;
  nextRefresh?: string;
  note?: string;
}

const submitLabels = {
  manifest_digest: '--digest',
  tier: '--tier',
  policy_requirement: '--requirement',
  status: '--status',
  evaluate: '--evaluate',
  expected_tools: '--expect-tool',
  evidence: '--evidence',
  evidence_source: '--evidence-source',
  evidence_lineage: '--evidence-lineage',
  valid_from: '--valid-from',
  valid_until: '--valid-until',
  refresh_cadence_seconds: '--cadence-seconds',
  next_refresh_at: '--next-refresh',
  governance_notes: '--note',
};

const cadence = (value: string) => checkOption('--cadence-seconds', WholeNumber, value);

/** Leaves out the fields not given, so the API's defaults apply. */
const defined = <T extends Record<string, unknown>>(body: T): T =>
  Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as T;

/** The POST /api/artifacts/{id}/evaluations body, checked against the API's own schema. */
export function buildSubmitBody(opts: SubmitOptions): z.input<typeof CertificationSubmit> {
  const json = (label: string, text: string | undefined) =>
    text === undefined ? undefined : parseJsonOption(label, text);
  const body = defined({
    manifest_digest: opts.digest,
    tier: opts.tier,
    policy_requirement: opts.requirement,
    status: opts.status as 'pass' | 'fail' | 'pending' | undefined,
    evaluate: opts.evaluate ? true : undefined,
    expected_tools: opts.expectTool,
    evidence: json('--evidence', opts.evidence),
    evidence_source: json('--evidence-source', opts.evidenceSource),
    evidence_lineage: json('--evidence-lineage', opts.evidenceLineage),
    valid_from: opts.validFrom,
    valid_until: opts.validUntil,
    refresh_cadence_seconds: opts.cadenceSeconds === undefined ? undefined : cadence(opts.cadenceSeconds),
    next_refresh_at: opts.nextRefresh,
    governance_notes: opts.note,
  });
  if (!opts.evaluate && opts.expectTool !== undefined)
    throw new CliError('--expect-tool: only applies with --evaluate');
  checkBody(CertificationSubmit, body, submitLabels);
  return body;
}

export interface PlanOptions {
  cadenceSeconds?: string;
  nextRefresh?: string;
  note?: string;
  evidenceSource?: string;
  evidenceLineage?: string;
}

/** The PATCH /api/evaluations/{id}/status body: only options given are sent, `none` sends null (clears). */
export function buildPlanBody(opts: PlanOptions): z.input<typeof CertificationPlan> {
  const body = defined({
    refresh_cadence_seconds: noneOr(opts.cadenceSeconds, cadence),
    next_refresh_at: noneOr(opts.nextRefresh, (v) => v),
    governance_notes: noneOr(opts.note, (v) => v),
    evidence_source: noneOr(opts.evidenceSource, (v) => parseJsonOption('--evidence-source', v)),
    evidence_lineage: noneOr(opts.evidenceLineage, (v) => parseJsonOption('--evidence-lineage', v)),
  });
  if (Object.keys(body).length === 0)
    throw new CliError(
      'give at least one of --cadence-seconds, --next-refresh, --note, --evidence-source, --evidence-lineage',
    );
  checkBody(CertificationPlan, body, submitLabels);
  return body;
}

/** `manual`, or `auto` with the expected tools. */
const kind = (c: Certification) => (c.expected_tools === null ? 'manual' : `auto (${c.expected_tools.length} tools)`);

export const certificationListTable = (certs: Certification[]): [string[], Cell[][]] => [
  ['id', 'run', 'digest', 'tier', 'requirement', 'status', 'kind', 'valid until', 'next refresh'],
  certs.map((c) => [
    c.id,
    c.build_artifact_run_id,
    shortDigest(c.manifest_digest),
    c.tier,
    c.policy_requirement,
    c.status,
    kind(c),
    c.valid_until,
    c.next_refresh_at,
  ]),
];

/** Compact JSON for a cell; null stays empty. */
const jsonCell = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

export const certificationDetailTable = (c: Certification): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['id', c.id],
    ['run', c.build_artifact_run_id],
    ['digest', c.manifest_digest],
    ['tier', c.tier],
    ['requirement', c.policy_requirement],
    ['status', c.status],
    ['expected tools', c.expected_tools?.join(', ')],
    ['evidence', jsonCell(c.evidence)],
    ['evidence source', jsonCell(c.evidence_source)],
    ['evidence lineage', jsonCell(c.evidence_lineage)],
    ['valid from', c.valid_from],
    ['valid until', c.valid_until],
    ['refresh cadence (s)', c.refresh_cadence_seconds],
    ['next refresh', c.next_refresh_at],
    ['notes', c.governance_notes],
    ['workflow', c.workflow_id],
    ['updated', c.updated_at],
  ],
];

export function evaluationsCommand(): Command {
  const evaluations = new Command('evaluations').description(
    'certify build runs for a tier and requirement, by hand or by an automatic evaluation',
  );

  withJson(evaluations.command('list').description('certifications you can see, newest change first'))
    .option('--status <status>', 'only pending, pass or fail')
    .option('--digest <digest>', 'only certifications of this manifest digest')
    .option('--limit <n>', 'at most this many (1-1000, default 100)')
    .action(async (opts: { status?: string; digest?: string; limit?: string; json?: boolean }, cmd: Command) => {
      const query = new URLSearchParams();
      const status = checkOption('--status', CertStatus.optional(), opts.status);
      const digest = checkOption('--digest', DigestOption, opts.digest);
      const limit = checkOption('--limit', Limit, opts.limit);
      if (status) query.set('status', status);
      if (digest) query.set('manifest_digest', digest);
      if (limit !== undefined) query.set('limit', String(limit));
      const path = `/api/evaluations${query.size ? `?${query}` : ''}`;
      show(opts.json, await clientFrom(cmd).get<Certification[]>(path), certificationListTable);
    });

  withJson(evaluations.command('for').description("a build run's certifications, by requirement"))
    .argument('<run_id>', 'build run id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const runId = checkOption('RUN_ID', Id, id);
      show(
        opts.json,
        await clientFrom(cmd).get<Certification[]>(`/api/artifacts/${runId}/evaluations`),
        certificationListTable,
      );
    });

  withJson(evaluations.command('show').description('one certification'))
    .argument('<id>', 'certification id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const certId = checkOption('ID', Id, id);
      show(
        opts.json,
        await clientFrom(cmd).get<Certification>(`/api/evaluations/${certId}/status`),
        certificationDetailTable,
      );
    });

  withJson(
    evaluations
      .command('submit')
      .description(
        "certify a build run's digest (replaces the tier/requirement's record), or start an automatic evaluation",
      ),
  )
    .argument('<run_id>', 'build run id')
    .requiredOption('--tier <tier>', 'the tier certified, e.g. gold:Router')
    .requiredOption('--requirement <name>', 'the policy requirement, e.g. baseline')
    .option('--status <status>', 'the verdict: pass, fail or pending (not with --evaluate)')
    .option('--evaluate', 'evaluate automatically: launch it, list its tools, compare with --expect-tool')
    .option('--expect-tool <name>', 'a tool the evaluation expects; repeat for more', collect)
    .option('--digest <digest>', "the run's manifest digest, as a check")
    .option('--evidence <json>', 'evidence document (JSON)')
    .option('--evidence-source <json>', 'where the evidence comes from (JSON)')
    .option('--evidence-lineage <json>', 'the evidence lineage (JSON)')
    .option('--valid-from <time>', 'RFC 3339 timestamp (default: now)')
    .option('--valid-until <time>', 'RFC 3339 timestamp')
    .option('--cadence-seconds <n>', 'refresh every this many seconds')
    .option('--next-refresh <time>', 'RFC 3339 timestamp of the next refresh')
    .option('--note <text>', 'governance notes')
    .action(async (id: string, opts: SubmitOptions & { json?: boolean }, cmd: Command) => {
      const runId = checkOption('RUN_ID', Id, id);
      const body = buildSubmitBody(opts);
      show(
        opts.json,
        await clientFrom(cmd).post<Certification>(`/api/artifacts/${runId}/evaluations`, body),
        certificationDetailTable,
      );
    });

  withJson(
    evaluations
      .command('retry')
      .description('reset to pending with a fresh validity window; an automatic one is evaluated again now'),
  )
    .argument('<id>', 'certification id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const certId = checkOption('ID', Id, id);
      show(
        opts.json,
        await clientFrom(cmd).post<Certification>(`/api/evaluations/${certId}/retry`),
        certificationDetailTable,
      );
    });

  withJson(
    evaluations
      .command('plan')
      .description(`change the refresh plan, notes or provenance; only options given change, "none" clears`),
  )
    .argument('<id>', 'certification id')
    .option('--cadence-seconds <n|none>', 'refresh every this many seconds (re-plans the next refresh from now)')
    .option('--next-refresh <time|none>', 'RFC 3339 timestamp of the next refresh')
    .option('--note <text|none>', 'governance notes')
    .option('--evidence-source <json|none>', 'where the evidence comes from (JSON)')
    .option('--evidence-lineage <json|none>', 'the evidence lineage (JSON)')
    .action(async (id: string, opts: PlanOptions & { json?: boolean }, cmd: Command) => {
      const certId = checkOption('ID', Id, id);
      const body = buildPlanBody(opts);
      show(
        opts.json,
        await clientFrom(cmd).patch<Certification>(`/api/evaluations/${certId}/status`, body),
        certificationDetailTable,
      );
    });

  return evaluations;
}
