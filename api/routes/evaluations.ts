// Evaluation certifications: bound to a build run's own digest and scoped to its owner, so no one
// certifies another owner's digest. Manual ones carry the operator's verdict; automatic ones are evaluated by the
// `certification/<id>` workflow, which also runs their refresh cadence on a durable timer.
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../lib/errors.js';
import { findRun } from '../../lib/ledger/builds.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { findServer } from '../../lib/ledger/servers.js';
import {
  certificationOf,
  findCertification,
  listCertifications,
  resetToPending,
  runCertifications,
  updatePlan,
  upsertCertification,
  type CertificationRow,
} from '../../lib/ledger/certifications.js';
import { distinctCertifierRefusal } from '../../lib/ledger/promotions.js';
import { IdParam } from '../../lib/schemas/common.js';
import {
  Certification,
  CertificationLineage,
  CertificationPlan,
  CertificationSubmit,
} from '../../lib/schemas/governance.js';
import type { certification } from '../../workflows/certification.js';
import { planChangedSignal, retrySignal } from '../../workflows/governance.messages.js';
import { requireRole, visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import {
  commonErrors,
  createRouter,
  json,
  jsonBody,
  notFoundError,
  unavailableError,
  defineRoute,
} from '../openapi.js';
import { notifyGatedServers } from '../workflow-calls.js';

const tags = ['evaluations'];
const iso = (d: Date | null) => (d ? d.toISOString() : null);

const listRoute = defineRoute({
  method: 'get',
  path: '/artifacts/{id}/evaluations',
  operationId: 'listArtifactEvaluations',
  tags,
  summary: "A build run's certifications, by requirement, newest first",
  request: { params: IdParam },
  responses: { 200: json(z.array(Certification), 'Certifications'), ...commonErrors, ...notFoundError },
});
const submitRoute = defineRoute({
  method: 'post',
  path: '/artifacts/{id}/evaluations',
  operationId: 'submitEvaluation',
  tags,
  summary: 'Certify a build run for a tier and requirement (upsert), or start an automatic evaluation',
  request: { params: IdParam, body: jsonBody(CertificationSubmit) },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError, ...unavailableError },
});
const listAllRoute = defineRoute({
  method: 'get',
  path: '/evaluations',
  operationId: 'listEvaluations',
  tags,
  summary: 'Certifications (operators: their own), newest first',
  request: {
    query: z
      .object({
        status: z.enum(['pending', 'pass', 'fail']).optional(),
        manifest_digest: z.string().max(80).optional(),
        limit: z
          .string()
          .regex(/^\d{1,4}$/, 'must be a number')
          .transform(Number)
          .refine((n) => n >= 1 && n <= 1000, 'must be 1..1000')
          .optional(),
      })
      .strict(),
  },
  responses: { 200: json(z.array(Certification), 'Certifications'), ...commonErrors },
});
const getRoute = defineRoute({
  method: 'get',
  path: '/evaluations/{id}/status',
  operationId: 'getEvaluation',
  tags,
  summary: 'One certification',
  request: { params: IdParam },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError },
});
const planRoute = defineRoute({
  method: 'patch',
  path: '/evaluations/{id}/status',
  operationId: 'updateEvaluation',
  tags,
  summary: 'Change the refresh plan, notes or provenance: only fields given change, null clears',
  request: { params: IdParam, body: jsonBody(CertificationPlan) },
  responses: { 200: json(Certification, 'The certification'), ...commonErrors, ...notFoundError },
});
const retryRoute = defineRoute({
  method: 'post',
  path: '/evaluations/{id}/retry',
  operationId: 'retryEvaluation',
  tags,
  summary: 'Reset to pending with a fresh validity window; an automatic certification is evaluated again now',
  request: { params: IdParam },
  responses: {
    200: json(Certification, 'The certification, pending'),
    ...commonErrors,
    ...notFoundError,
    ...unavailableError,
  },
});
const lineageRoute = defineRoute({
  method: 'get',
  path: '/evaluations/{id}/lineage',
  operationId: 'getEvaluationLineage',
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
      throw new ApiError(
        503,
        'temporal_unavailable',
        `certification ${row.id} is recorded, but its evaluation could not be started; retry with POST /api/evaluations/${row.id}/retry`,
      );
    }
  }

  return createRouter()
    .openapi(listRoute, async (c) => {
      const run = await findRun(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
      const rows = await runCertifications(sql, run.id);
      return c.json(rows.map(toCertification), 200);
    })
    .openapi(submitRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const run = await findRun(sql, c.req.valid('param').id, visibleScope(caller));
      const body = c.req.valid('json');
      // Bound to the run's own digest: a certificate for anything else is refused.
      if (!run.manifest_digest)
        throw new ApiError(
          400,
          'manifest_missing',
          `build run ${run.id} published no manifest digest to certify`,
          'manifest_digest',
        );
      if (body.manifest_digest && body.manifest_digest !== run.manifest_digest) {
        throw new ApiError(
          400,
          'digest_mismatch',
          `manifest_digest must be the run's own (${run.manifest_digest})`,
          'manifest_digest',
        );
      }
      const ownerId = (await findServer(sql, run.server_id, everyOwner)).owner_id;
      const validFrom = body.valid_from ? new Date(body.valid_from) : new Date();
      const cadence = body.refresh_cadence_seconds ?? null;
      const nextRefresh = body.next_refresh_at
        ? new Date(body.next_refresh_at)
        : cadence
          ? new Date(validFrom.getTime() + cadence * 1000)
          : null;
      const status = body.evaluate ? 'pending' : body.status!;
      if (status === 'pass') {
        const refused = await distinctCertifierRefusal(sql, {
          ownerId,
          manifestDigest: run.manifest_digest,
          requirement: body.policy_requirement,
          actorId: caller.id,
        });
        if (refused) throw new ApiError(403, 'distinct_approver_required', refused);
      }
      // An upsert replaces the whole record (POST semantics): fields left out are cleared.
      const row = await upsertCertification(sql, {
        ownerId,
        runId: run.id,
        manifestDigest: run.manifest_digest,
        tier: body.tier,
        policyRequirement: body.policy_requirement,
        status,
        evidence: body.evidence,
        evidenceSource: body.evidence_source,
        evidenceLineage: body.evidence_lineage,
        expectedTools: body.evaluate ? body.expected_tools! : null,
        validFrom,
        validUntil: body.valid_until ? new Date(body.valid_until) : null,
        refreshCadenceSeconds: cadence,
        nextRefreshAt: nextRefresh,
        governanceNotes: body.governance_notes ?? null,
        certifiedBy: body.evaluate ? null : caller.id,
      });
      if (body.evaluate) await drive(row, true);
      else if (status === 'pass') await notifyGatedServers(deps, ownerId);
      return c.json(toCertification(row), 200);
    })
    .openapi(listAllRoute, async (c) => {
      const rows = await listCertifications(sql, visibleScope(c.get('caller')), c.req.valid('query'));
      return c.json(rows.map(toCertification), 200);
    })
    .openapi(getRoute, async (c) =>
      c.json(
        toCertification(await findCertification(sql, c.req.valid('param').id, visibleScope(c.get('caller')))),
        200,
      ),
    )
    .openapi(lineageRoute, async (c) => {
      const row = await findCertification(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
      return c.json(
        {
          valid_from: row.valid_from.toISOString(),
          valid_until: iso(row.valid_until),
          evidence_lineage: row.evidence_lineage ?? null,
        },
        200,
      );
    })
    .openapi(planRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const current = await findCertification(sql, c.req.valid('param').id, visibleScope(caller));
      const plan = c.req.valid('json');
      const cadence =
        plan.refresh_cadence_seconds === undefined ? current.refresh_cadence_seconds : plan.refresh_cadence_seconds;
      // A new cadence without an explicit next refresh re-plans it from now.
      let next: Date | null = current.next_refresh_at;
      if (plan.next_refresh_at !== undefined)
        next = plan.next_refresh_at === null ? null : new Date(plan.next_refresh_at);
      else if (plan.refresh_cadence_seconds !== undefined)
        next = cadence === null ? null : new Date(Date.now() + cadence * 1000);
      if (next && next.getTime() <= current.valid_from.getTime()) {
        throw new ApiError(400, 'invalid_plan', 'next_refresh_at must be later than valid_from', 'next_refresh_at');
      }
      const pick = <K extends 'governance_notes' | 'evidence_source' | 'evidence_lineage'>(k: K) =>
        plan[k] === undefined ? current[k] : plan[k];
      const row = await updatePlan(sql, current.id, {
        refreshCadenceSeconds: cadence,
        nextRefreshAt: next,
        governanceNotes: pick('governance_notes') as string | null,
        evidenceSource: pick('evidence_source'),
        evidenceLineage: pick('evidence_lineage'),
      });
      await drive(row, false).catch((err: Error) =>
        log.warn({ certificationId: current.id, err: err.message }, 'refresh timer not re-armed'),
      );
      return c.json(toCertification(row), 200);
    })
    .openapi(retryRoute, async (c) => {
      const caller = c.get('caller');
      requireRole(caller, 'admin', 'operator');
      const current = await findCertification(sql, c.req.valid('param').id, visibleScope(caller));
      const row = await resetToPending(sql, current.id);
      await drive(row, true);
      return c.json(toCertification(row), 200);
    });
}
