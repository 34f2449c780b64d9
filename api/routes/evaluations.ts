// Evaluation certifications: bound to a build run's own digest and scoped to its owner, so no one
// certifies another owner's digest. Manual ones carry the operator's verdict; automatic ones are evaluated by the
// `certification/<id>` workflow, which also runs their refresh cadence on a durable timer.
import { createRoute, z } from '@hono/zod-openapi';
import type { Sql } from '../../lib/db.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  Certification,
  CertificationLineage,
  CertificationPlan,
  CertificationSubmit,
} from '../../lib/schemas/governance.js';
import type { WorkflowIds } from '../../lib/workflow-ids.js';
import type { certification } from '../../workflows/certification.js';
import { planChangedSignal, retrySignal } from '../../workflows/governance.messages.js';
import { requireRole, visibleOwner } from '../auth.js';
import type { ApiDeps, Caller } from '../context.js';
import { commonErrors, createRouter, json, jsonBody, notFoundError, unavailableError } from '../openapi.js';
import { notifyGatedServers } from '../workflow-calls.js';
import { findRun } from './builds.js';

const tags = ['evaluations'];
const iso = (d: Date | null) => (d ? d.toISOString() : null);

interface CertificationRow {
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
  created_at: Date;
  updated_at: Date;
}

/** The response shape of a certification row (its workflow id is this installation's). */
const certificationOf =
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
    workflow_id: r.expected_tools === null ? null : workflowIds.certification(r.id),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  });

export async function findCertification(sql: Sql, id: number, caller: Caller): Promise<CertificationRow> {
  const owner = visibleOwner(caller);
  const [row] = await sql<CertificationRow[]>`
    select * from evaluation_certifications where id = ${id} ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}`;
  if (!row) throw notFound(`certification ${id}`);
  return row;
}

const listRoute = createRoute({
  method: 'get',
  path: '/artifacts/{id}/evaluations',
  tags,
  summary: "A build run's certifications, by requirement, newest first",
  request: { params: IdParam },
  responses: { 200: json(z.array(Certification), 'Certifications'), ...commonErrors, ...notFoundError },
});
const submitRoute = createRoute({
  method: 'post',
  path: '/artifacts/{id}/evaluations',
  tags,
  summary: 'Certify a build run for a tier and requirement (upsert), or start an automatic evaluation',
  request: { params: IdParam, body: jsonBody(CertificationSubmit) },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError, ...unavailableError },
});
const listAllRoute = createRoute({
  method: 'get',
  path: '/evaluations',
  tags,
  summary: 'Certifications (operators: their own), newest first',
  request: {
    query: z
      .object({
        status: z.enum(['pending', 'pass', 'fail']).optional(),
        manifest_digest: z.string().max(80).optional(),
        limit: z.string().regex(/^\d{1,4}$/, 'must be a number').transform(Number).refine((n) => n >= 1 && n <= 1000, 'must be 1..1000').optional(),
      })
      .strict(),
  },
  responses: { 200: json(z.array(Certification), 'Certifications'), ...commonErrors },
});
const getRoute = createRoute({
  method: 'get',
  path: '/evaluations/{id}/status',
  tags,
  summary: 'One certification',
  request: { params: IdParam },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError },
});
const planRoute = createRoute({
  method: 'patch',
  path: '/evaluations/{id}/status',
  tags,
  summary: 'Change the refresh plan, notes or provenance: only fields given change, null clears',
  request: { params: IdParam, body: jsonBody(CertificationPlan) },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError },
});
const retryRoute = createRoute({
  method: 'post',
  path: '/evaluations/{id}/retry',
  tags,
  summary: 'Reset to pending with a fresh validity window; an automatic certification is evaluated again now',
  request: { params: IdParam },
  responses: { 200: json(Certification, 'The certification, pending'), ...commonErrors, ...notFoundError, ...unavailableError },
});
const lineageRoute = createRoute({
  method: 'get',
  path: '/evaluations/{id}/lineage',
  tags,
  summary: "A certification's validity window and evidence lineage",
  request: { params: IdParam },
  responses: { 200: json(CertificationLineage, 'Lineage'), ...commonErrors, ...notFoundError },
});

export function evaluationRoutes(deps: ApiDeps) {
  const { sql, temporal, env, log, workflowIds } = deps;
  const toCertification = certificationOf(workflowIds);

  /** Starts (or pokes) the certification's workflow: evaluate now, or re-arm its refresh timer. */
  async function drive(row: CertificationRow, evaluateNow: boolean): Promise<void> {
    if (row.expected_tools === null) return;
    try {
      await temporal.workflow.signalWithStart<typeof certification, []>('certification', {
        taskQueue: env.TEMPORAL_TASK_QUEUE,
        workflowId: workflowIds.certification(row.id),
        args: [{ certificationId: row.id, evaluateNow }],
        signal: evaluateNow ? retrySignal : planChangedSignal,
        memo: { tier: row.tier, requirement: row.policy_requirement, digest: row.manifest_digest },
      });
    } catch (err) {
      log.error({ certificationId: row.id, err: (err as Error).message }, 'could not start the certification workflow');
      throw new ApiError(503, 'temporal_unavailable', `certification ${row.id} is recorded, but its evaluation could not be started; retry with POST /api/evaluations/${row.id}/retry`);
    }
  }

  return createRouter()
    .openapi(listRoute, async (c) => {
      const run = await findRun(sql, c.req.valid('param').id, c.get('caller'));
      const rows = await sql<CertificationRow[]>`
        select * from evaluation_certifications where build_artifact_run_id = ${run.id}
        order by policy_requirement, valid_from desc, id desc`;
      return c.json(rows.map(toCertification), 200);
    })
    .openapi(submitRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const run = await findRun(sql, c.req.valid('param').id, caller);
      const body = c.req.valid('json');
      // Bound to the run's own digest: a certificate for anything else is refused.
      if (!run.manifest_digest) throw new ApiError(400, 'manifest_missing', `build run ${run.id} published no manifest digest to certify`, 'manifest_digest');
      if (body.manifest_digest && body.manifest_digest !== run.manifest_digest) {
        throw new ApiError(400, 'digest_mismatch', `manifest_digest must be the run's own (${run.manifest_digest})`, 'manifest_digest');
      }
      const [server] = await sql<{ owner_id: number }[]>`select owner_id from mcp_servers where id = ${run.server_id}`;
      const ownerId = server!.owner_id;
      const validFrom = body.valid_from ? new Date(body.valid_from) : new Date();
      const cadence = body.refresh_cadence_seconds ?? null;
      const nextRefresh = body.next_refresh_at ? new Date(body.next_refresh_at) : cadence ? new Date(validFrom.getTime() + cadence * 1000) : null;
      const status = body.evaluate ? 'pending' : body.status!;
      // An upsert replaces the whole record (POST semantics): fields left out are cleared.
      const [row] = await sql<CertificationRow[]>`
        insert into evaluation_certifications
          (owner_id, build_artifact_run_id, manifest_digest, tier, policy_requirement, status, evidence, evidence_source,
           evidence_lineage, expected_tools, valid_from, valid_until, refresh_cadence_seconds, next_refresh_at, governance_notes)
        values (${ownerId}, ${run.id}, ${run.manifest_digest}, ${body.tier}, ${body.policy_requirement}, ${status},
                ${body.evidence === undefined ? null : sql.json(body.evidence as never)},
                ${body.evidence_source === undefined ? null : sql.json(body.evidence_source as never)},
                ${body.evidence_lineage === undefined ? null : sql.json(body.evidence_lineage as never)},
                ${body.evaluate ? sql.json(body.expected_tools!) : null}, ${validFrom},
                ${body.valid_until ? new Date(body.valid_until) : null}, ${cadence}, ${nextRefresh}, ${body.governance_notes ?? null})
        on conflict (owner_id, manifest_digest, tier, policy_requirement) do update set
          build_artifact_run_id = excluded.build_artifact_run_id, status = excluded.status, evidence = excluded.evidence,
          evidence_source = excluded.evidence_source, evidence_lineage = excluded.evidence_lineage,
          expected_tools = excluded.expected_tools, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
          refresh_cadence_seconds = excluded.refresh_cadence_seconds, next_refresh_at = excluded.next_refresh_at,
          governance_notes = excluded.governance_notes, updated_at = now()
        returning *`;
      if (body.evaluate) await drive(row!, true);
      else if (status === 'pass') await notifyGatedServers(deps, ownerId);
      return c.json(toCertification(row!), 200);
    })
    .openapi(listAllRoute, async (c) => {
      const owner = visibleOwner(c.get('caller'));
      const q = c.req.valid('query');
      const rows = await sql<CertificationRow[]>`
        select * from evaluation_certifications
        where true
          ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}
          ${q.status === undefined ? sql`` : sql`and status = ${q.status}`}
          ${q.manifest_digest === undefined ? sql`` : sql`and manifest_digest = ${q.manifest_digest}`}
        order by updated_at desc, id desc limit ${q.limit ?? 100}`;
      return c.json(rows.map(toCertification), 200);
    })
    .openapi(getRoute, async (c) => c.json(toCertification(await findCertification(sql, c.req.valid('param').id, c.get('caller'))), 200))
    .openapi(lineageRoute, async (c) => {
      const row = await findCertification(sql, c.req.valid('param').id, c.get('caller'));
      return c.json({ valid_from: row.valid_from.toISOString(), valid_until: iso(row.valid_until), evidence_lineage: row.evidence_lineage ?? null }, 200);
    })
    .openapi(planRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const current = await findCertification(sql, c.req.valid('param').id, caller);
      const plan = c.req.valid('json');
      const cadence = plan.refresh_cadence_seconds === undefined ? current.refresh_cadence_seconds : plan.refresh_cadence_seconds;
      // A new cadence without an explicit next refresh re-plans it from now.
      let next: Date | null = current.next_refresh_at;
      if (plan.next_refresh_at !== undefined) next = plan.next_refresh_at === null ? null : new Date(plan.next_refresh_at);
      else if (plan.refresh_cadence_seconds !== undefined) next = cadence === null ? null : new Date(Date.now() + cadence * 1000);
      if (next && next.getTime() <= current.valid_from.getTime()) {
        throw new ApiError(400, 'invalid_plan', 'next_refresh_at must be later than valid_from', 'next_refresh_at');
      }
      const pick = <K extends 'governance_notes' | 'evidence_source' | 'evidence_lineage'>(k: K) => (plan[k] === undefined ? current[k] : plan[k]);
      const json = (v: unknown) => (v === null || v === undefined ? null : sql.json(v as never));
      const [row] = await sql<CertificationRow[]>`
        update evaluation_certifications set
          refresh_cadence_seconds = ${cadence}, next_refresh_at = ${next}, governance_notes = ${pick('governance_notes') as string | null},
          evidence_source = ${json(pick('evidence_source'))}, evidence_lineage = ${json(pick('evidence_lineage'))}, updated_at = now()
        where id = ${current.id} returning *`;
      await drive(row!, false).catch((err: Error) => log.warn({ certificationId: current.id, err: err.message }, 'refresh timer not re-armed'));
      return c.json(toCertification(row!), 200);
    })
    .openapi(retryRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const current = await findCertification(sql, c.req.valid('param').id, caller);
      const [row] = await sql<CertificationRow[]>`
        update evaluation_certifications set status = 'pending', valid_from = now(), valid_until = null,
          next_refresh_at = case when refresh_cadence_seconds is null then null else now() + make_interval(secs => refresh_cadence_seconds) end,
          updated_at = now()
        where id = ${current.id} returning *`;
      await drive(row!, true);
      return c.json(toCertification(row!), 200);
    });
}
