// The certifications aggregate: evaluation_certifications, bound to a build run's own digest and
// scoped to its owner. The API records manual verdicts and plans; the certification workflow's
// activities record automatic evaluations, once per evaluation key.
import type { Sql } from '../db.js';
import { notFound } from '../errors.js';
import type { Certification } from '../schemas/governance.js';
import type { WorkflowIds } from '../workflow-ids.js';
import { ownedBy, type OwnerScope } from './scope.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export interface CertificationRow {
  id: number;
  owner_id: number;
  build_artifact_run_id: number;
  manifest_digest: string;
  tier: string;
  policy_requirement: string;
  status: 'pending' | 'pass' | 'fail';
  evidence: unknown;
  evidence_source: unknown;
  evidence_lineage: unknown;
  expected_tools: string[] | null;
  valid_from: Date;
  valid_until: Date | null;
  refresh_cadence_seconds: number | null;
  next_refresh_at: Date | null;
  governance_notes: string | null;
  certified_by: number | null;
  created_at: Date;
  updated_at: Date;
}

/** The response shape of a certification row (its workflow id is this installation's). */
export const certificationOf =
  (workflowIds: WorkflowIds) =>
  (r: CertificationRow): Certification => ({
    id: r.id,
    build_artifact_run_id: r.build_artifact_run_id,
    manifest_digest: r.manifest_digest,
    tier: r.tier,
    policy_requirement: r.policy_requirement,
    status: r.status,
    evidence: r.evidence ?? null,
    evidence_source: r.evidence_source ?? null,
    evidence_lineage: r.evidence_lineage ?? null,
    expected_tools: r.expected_tools,
    valid_from: r.valid_from.toISOString(),
    valid_until: iso(r.valid_until),
    refresh_cadence_seconds: r.refresh_cadence_seconds,
    next_refresh_at: iso(r.next_refresh_at),
    governance_notes: r.governance_notes,
    certified_by: r.certified_by,
    workflow_id: r.expected_tools === null ? null : workflowIds.certification(r.id),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  });

/** The certification if its owner is in the scope; another owner's is a 404. */
export async function findCertification(sql: Sql, id: number, scope: OwnerScope): Promise<CertificationRow> {
  const [row] = await sql<
    CertificationRow[]
  >`select * from evaluation_certifications where id = ${id} ${ownedBy(sql, scope)}`;
  if (!row) throw notFound(`certification ${id}`);
  return row;
}

/** A build run's certifications, by requirement, newest first. */
export function runCertifications(sql: Sql, runId: number): Promise<CertificationRow[]> {
  return sql<CertificationRow[]>`
    select * from evaluation_certifications where build_artifact_run_id = ${runId}
    order by policy_requirement, valid_from desc, id desc`;
}

export function listCertifications(
  sql: Sql,
  scope: OwnerScope,
  q: { status?: CertificationRow['status']; manifest_digest?: string; limit?: number },
): Promise<CertificationRow[]> {
  return sql<CertificationRow[]>`
    select * from evaluation_certifications
    where true
      ${ownedBy(sql, scope)}
      ${q.status === undefined ? sql`` : sql`and status = ${q.status}`}
      ${q.manifest_digest === undefined ? sql`` : sql`and manifest_digest = ${q.manifest_digest}`}
    order by updated_at desc, id desc limit ${q.limit ?? 100}`;
}

const json = (sql: Sql, v: unknown) => (v === null || v === undefined ? null : sql.json(v as never));
/** A JSON value as given (a JSON null stays one); SQL null when left out. */
const given = (sql: Sql, v: unknown) => (v === undefined ? null : sql.json(v as never));

export interface CertificationRecord {
  ownerId: number;
  runId: number;
  manifestDigest: string;
  tier: string;
  policyRequirement: string;
  status: CertificationRow['status'];
  evidence?: unknown;
  evidenceSource?: unknown;
  evidenceLineage?: unknown;
  /** Set for an automatic certification (evaluated by its workflow), null for a manual one. */
  expectedTools: string[] | null;
  validFrom: Date;
  validUntil: Date | null;
  refreshCadenceSeconds: number | null;
  nextRefreshAt: Date | null;
  governanceNotes: string | null;
  /** Who recorded a manual verdict; null for an automatic one. */
  certifiedBy: number | null;
}

/** Records a certification; one per owner, digest, tier and requirement, replaced whole (fields left out are cleared). */
export async function upsertCertification(sql: Sql, c: CertificationRecord): Promise<CertificationRow> {
  const [row] = await sql<CertificationRow[]>`
    insert into evaluation_certifications
      (owner_id, build_artifact_run_id, manifest_digest, tier, policy_requirement, status, evidence, evidence_source,
       evidence_lineage, expected_tools, valid_from, valid_until, refresh_cadence_seconds, next_refresh_at, governance_notes,
       certified_by)
    values (${c.ownerId}, ${c.runId}, ${c.manifestDigest}, ${c.tier}, ${c.policyRequirement}, ${c.status},
            ${given(sql, c.evidence)}, ${given(sql, c.evidenceSource)}, ${given(sql, c.evidenceLineage)}, ${json(sql, c.expectedTools)},
            ${c.validFrom}, ${c.validUntil}, ${c.refreshCadenceSeconds}, ${c.nextRefreshAt}, ${c.governanceNotes},
            ${c.certifiedBy})
    on conflict (owner_id, manifest_digest, tier, policy_requirement) do update set
      build_artifact_run_id = excluded.build_artifact_run_id, status = excluded.status, evidence = excluded.evidence,
      evidence_source = excluded.evidence_source, evidence_lineage = excluded.evidence_lineage,
      expected_tools = excluded.expected_tools, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
      refresh_cadence_seconds = excluded.refresh_cadence_seconds, next_refresh_at = excluded.next_refresh_at,
      governance_notes = excluded.governance_notes, certified_by = excluded.certified_by, updated_at = now()
    returning *`;
  return row!;
}

export interface CertificationPlan {
  refreshCadenceSeconds: number | null;
  nextRefreshAt: Date | null;
  governanceNotes: string | null;
  evidenceSource: unknown;
  evidenceLineage: unknown;
}

export async function updatePlan(sql: Sql, id: number, plan: CertificationPlan): Promise<CertificationRow> {
  const [row] = await sql<CertificationRow[]>`
    update evaluation_certifications set
      refresh_cadence_seconds = ${plan.refreshCadenceSeconds}, next_refresh_at = ${plan.nextRefreshAt}, governance_notes = ${plan.governanceNotes},
      evidence_source = ${json(sql, plan.evidenceSource)}, evidence_lineage = ${json(sql, plan.evidenceLineage)}, updated_at = now()
    where id = ${id} returning *`;
  return row!;
}

/** Back to pending with a fresh validity window (and refresh plan from now). */
export async function resetToPending(sql: Sql, id: number): Promise<CertificationRow> {
  const [row] = await sql<CertificationRow[]>`
    update evaluation_certifications set status = 'pending', valid_from = now(), valid_until = null,
      next_refresh_at = case when refresh_cadence_seconds is null then null else now() + make_interval(secs => refresh_cadence_seconds) end,
      updated_at = now()
    where id = ${id} returning *`;
  return row!;
}

// Read and written by the certification workflow's activities.

/** What the certification workflow plans from: status, whether it is automatic, its next refresh. */
export async function certificationPlan(sql: Sql, certificationId: number) {
  const [c] = await sql<
    { status: 'pending' | 'pass' | 'fail'; expected_tools: string[] | null; next_refresh_at: Date | null }[]
  >`
    select status, expected_tools, next_refresh_at from evaluation_certifications where id = ${certificationId}`;
  if (!c) return null;
  return {
    status: c.status,
    automatic: c.expected_tools !== null,
    nextRefreshAt: c.next_refresh_at?.toISOString() ?? null,
  };
}

export interface EvaluationSubject {
  owner_id: number;
  expected_tools: string[] | null;
  manifest_digest: string;
  registry_image: string | null;
  local_image: string;
  valid_from: Date;
  valid_until: Date | null;
  refresh_cadence_seconds: number | null;
  evidence_source: { evaluation_key?: string } | null;
  status: string;
}

/** The certification with the artifact it certifies; undefined when it is gone. */
export async function evaluationSubject(sql: Sql, certificationId: number): Promise<EvaluationSubject | undefined> {
  const [c] = await sql<EvaluationSubject[]>`
    select c.owner_id, c.expected_tools, c.manifest_digest, r.registry_image, r.local_image, c.valid_from, c.valid_until,
           c.refresh_cadence_seconds, c.evidence_source, c.status
    from evaluation_certifications c join build_artifact_runs r on r.id = c.build_artifact_run_id
    where c.id = ${certificationId}`;
  return c;
}

/**
 * Records an automatic evaluation's verdict under its key, with a new validity window of the same
 * length as the last one; the refresh cadence re-arms.
 */
export async function recordEvaluation(
  sql: Sql,
  subject: EvaluationSubject,
  e: { certificationId: number; workflowId: string; key: string; pass: boolean; evidence: Record<string, unknown> },
): Promise<void> {
  const windowMs = subject.valid_until ? subject.valid_until.getTime() - subject.valid_from.getTime() : null;
  const now = new Date();
  const cadence = subject.refresh_cadence_seconds;
  await sql`
    update evaluation_certifications set
      status = ${e.pass ? 'pass' : 'fail'},
      evidence = ${sql.json(e.evidence as never)},
      evidence_source = ${sql.json({ kind: 'automatic', workflow_id: e.workflowId, evaluation_key: e.key })},
      valid_from = ${now},
      valid_until = ${windowMs === null ? null : new Date(now.getTime() + windowMs)},
      next_refresh_at = ${cadence === null ? null : new Date(now.getTime() + cadence * 1000)},
      certified_by = null,
      updated_at = now()
    where id = ${e.certificationId}`;
}

/** Which of these certifications a workflow evaluates (the automatic ones: they have expected tools). */
export async function automaticCertificationIds(sql: Sql, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await sql<{ id: number }[]>`
    select id from evaluation_certifications where id in ${sql(ids)} and expected_tools is not null`;
  return new Set(rows.map((r) => r.id));
}
