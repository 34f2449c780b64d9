// Certifications, governance workflows and runs, release-train tracks and promotions:
// request and response schemas shared by the API (validation + OpenAPI) and mcpctl.
import { z } from '@hono/zod-openapi';
import { PROMOTION_STATUSES, RUN_STATUSES, SOAK_STATES, STEP_STATUSES, WORKFLOW_TYPES } from '../governance/states.js';
import { Timestamp } from './common.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be a sha256 digest (sha256:<64 hex>)');
/** Names of tiers, requirements, stages and actions: short, printable, no separators that break notes. */
const Label = (max = 100) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max)
    .regex(/^[\w.:@/+-]+$/, 'letters, digits and . _ : @ / + - only');
const Note = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(1_000)
  .regex(/^[^\0]*$/, 'must not contain NUL characters');
const Instant = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 timestamp' });
const Cadence = z
  .number()
  .int('must be a positive integer')
  .positive('must be a positive integer')
  .max(366 * 86_400);
/** Free-form evidence, bounded: evidence documents are small JSON, not uploads. */
const Evidence = z
  .unknown()
  .refine((v) => v === undefined || JSON.stringify(v).length <= 64_000, 'must be at most 64 KB of JSON');
const RunId = z.number().int().positive().max(2_147_483_647);

export const Certification = z
  .object({
    id: z.number().int(),
    build_artifact_run_id: z.number().int(),
    manifest_digest: z.string(),
    tier: z.string(),
    policy_requirement: z.string(),
    status: z.enum(['pending', 'pass', 'fail']),
    evidence: z.unknown().nullable(),
    evidence_source: z.unknown().nullable(),
    evidence_lineage: z.unknown().nullable(),
    expected_tools: z
      .array(z.string())
      .nullable()
      .openapi({ description: 'Tools an automatic evaluation expects; null for manual certifications' }),
    valid_from: Timestamp,
    valid_until: Timestamp.nullable(),
    refresh_cadence_seconds: z.number().int().nullable(),
    next_refresh_at: Timestamp.nullable(),
    governance_notes: z.string().nullable(),
    certified_by: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'The user who recorded a manual verdict; null for an automatic evaluation' }),
    workflow_id: z
      .string()
      .nullable()
      .openapi({ description: 'The `certification/<id>` workflow of an automatic evaluation' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Certification');
export type Certification = z.infer<typeof Certification>;

export const CertificationSubmit = z
  .object({
    manifest_digest: Digest.optional().openapi({ description: "Must equal the run's digest when given" }),
    tier: Label().openapi({ example: 'gold:Router' }),
    policy_requirement: Label().openapi({ example: 'baseline' }),
    status: z
      .enum(['pending', 'pass', 'fail'])
      .optional()
      .openapi({ description: 'Required unless `evaluate` is true' }),
    evaluate: z.boolean().default(false).openapi({
      description: 'Run an automatic evaluation (launch, MCP initialize + tools/list, compare with `expected_tools`)',
    }),
    expected_tools: z.array(Label(200)).max(500).optional(),
    evidence: Evidence.optional(),
    evidence_source: Evidence.optional(),
    evidence_lineage: Evidence.optional(),
    valid_from: Instant.optional(),
    valid_until: Instant.optional(),
    refresh_cadence_seconds: Cadence.optional(),
    next_refresh_at: Instant.optional(),
    governance_notes: Note.optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (!b.evaluate && b.status === undefined)
      ctx.addIssue({ code: 'custom', path: ['status'], message: 'status is required unless evaluate is true' });
    if (b.evaluate && b.status !== undefined)
      ctx.addIssue({ code: 'custom', path: ['status'], message: 'an automatic evaluation sets the status itself' });
    if (b.evaluate && b.expected_tools === undefined)
      ctx.addIssue({ code: 'custom', path: ['expected_tools'], message: 'expected_tools is required with evaluate' });
    const from = b.valid_from ? Date.parse(b.valid_from) : Date.now();
    if (b.valid_until && Date.parse(b.valid_until) <= from)
      ctx.addIssue({ code: 'custom', path: ['valid_until'], message: 'valid_until must be later than valid_from' });
    if (b.next_refresh_at && Date.parse(b.next_refresh_at) <= from)
      ctx.addIssue({
        code: 'custom',
        path: ['next_refresh_at'],
        message: 'next_refresh_at must be later than valid_from',
      });
  })
  .openapi('CertificationSubmit');
export type CertificationSubmit = z.infer<typeof CertificationSubmit>;

/** The plan override: only fields given change; `null` clears. */
export const CertificationPlan = z
  .object({
    refresh_cadence_seconds: Cadence.nullable().optional(),
    next_refresh_at: Instant.nullable().optional(),
    governance_notes: Note.nullable().optional(),
    evidence_source: Evidence.nullable().optional(),
    evidence_lineage: Evidence.nullable().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .openapi('CertificationPlan');
export type CertificationPlan = z.infer<typeof CertificationPlan>;

export const CertificationLineage = z
  .object({ valid_from: Timestamp, valid_until: Timestamp.nullable(), evidence_lineage: z.unknown().nullable() })
  .openapi('CertificationLineage');

export const GovernanceStep = z
  .object({ position: z.number().int(), action: z.string(), config: z.unknown() })
  .openapi('GovernanceStep');

export const GovernanceWorkflow = z
  .object({
    id: z.number().int(),
    owner_id: z.number().int(),
    name: z.string(),
    workflow_type: z.enum(WORKFLOW_TYPES),
    tier: z.string(),
    steps: z.array(GovernanceStep),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('GovernanceWorkflow');
export type GovernanceWorkflow = z.infer<typeof GovernanceWorkflow>;

export const CreateGovernanceWorkflow = z
  .object({
    name: Label(100),
    workflow_type: z.enum(WORKFLOW_TYPES),
    tier: Label(),
    steps: z
      .array(z.object({ action: Label(100), config: Evidence.optional() }).strict())
      .max(50)
      .default([]),
  })
  .strict()
  .openapi('CreateGovernanceWorkflow');

export const StartGovernanceRun = z
  .object({
    target_manifest_digest: Digest.optional(),
    target_artifact_run_id: RunId.optional(),
    target_server_id: RunId.optional().openapi({ description: 'A server to redeploy when the run completes' }),
    notes: z.array(Note).max(50).default([]),
  })
  .strict()
  .openapi('StartGovernanceRun');
export type StartGovernanceRun = z.infer<typeof StartGovernanceRun>;

export const GovernanceRunStatusChange = z
  .object({ status: z.enum(RUN_STATUSES), note: Note.optional() })
  .strict()
  .openapi('GovernanceRunStatusChange');

export const GovernanceStepChange = z
  .object({ status: z.enum(['in_progress', 'completed', 'failed', 'blocked']), note: Note.optional() })
  .strict()
  .openapi('GovernanceStepChange');

export const GovernanceRunDetail = z
  .object({
    id: z.number().int(),
    workflow_id: z.number().int(),
    temporal_workflow_id: z.string(),
    status: z.enum(RUN_STATUSES),
    notes: z.array(z.string()),
    target_manifest_digest: z.string().nullable(),
    target_artifact_run_id: z.number().int().nullable(),
    target_server_id: z.number().int().nullable(),
    target_tier: z.string(),
    promotion_track_id: z.number().int().nullable(),
    promotion_stage: z.string().nullable(),
    initiated_by: z.number().int().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    steps: z.array(
      z.object({
        id: z.number().int(),
        step_id: z.number().int().nullable(),
        position: z.number().int(),
        action: z.string(),
        status: z.enum(STEP_STATUSES),
        started_at: Timestamp.nullable(),
        completed_at: Timestamp.nullable(),
        error: z.string().nullable(),
      }),
    ),
    audit_log: z.array(
      z.object({
        id: z.number().int(),
        event_type: z.string(),
        details: z.unknown(),
        created_at: Timestamp,
        actor_id: z.number().int().nullable(),
      }),
    ),
  })
  .openapi('GovernanceRunDetail');
export type GovernanceRunDetail = z.infer<typeof GovernanceRunDetail>;

/** A run in the run list: its steps' states in order, without the audit log (the run's own page streams it). */
export const GovernanceRunSummary = z
  .object({
    id: z.number().int(),
    workflow_id: z.number().int(),
    workflow_name: z.string(),
    temporal_workflow_id: z.string(),
    status: z.enum(RUN_STATUSES),
    target_tier: z.string(),
    target_manifest_digest: z.string().nullable(),
    promotion_track_id: z.number().int().nullable(),
    promotion_stage: z.string().nullable(),
    initiated_by: z.number().int().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    steps: z.array(z.object({ position: z.number().int(), action: z.string(), status: z.enum(STEP_STATUSES) })),
  })
  .openapi('GovernanceRunSummary');
export type GovernanceRunSummary = z.infer<typeof GovernanceRunSummary>;

export const Track = z
  .object({
    id: z.number().int(),
    owner_id: z.number().int(),
    name: z.string(),
    tier: z.string(),
    stages: z.array(z.string()),
    description: z.string().nullable(),
    workflow_id: z.number().int().nullable(),
    launch_stage: z.string().nullable(),
    required_certifications: z.array(z.string()),
    require_distinct_approver: z.boolean(),
    allow_drift: z.boolean(),
    soak_seconds: z
      .record(z.string(), z.number().int())
      .openapi({ description: 'Soak time per stage, in seconds; a stage not listed has none' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('PromotionTrack');
export type Track = z.infer<typeof Track>;

const Stages = z
  .array(Label(50).transform((s) => s.toLowerCase()))
  .min(1)
  .max(20)
  .refine((s) => new Set(s).size === s.length, 'stages must be distinct');

/** The longest soak a stage may have: a week (a soak is one heartbeating watch, not a poller). */
export const MAX_SOAK_SECONDS = 7 * 86_400;

/** Stage → seconds; stages lower-cased as the track stores them. */
const SoakSeconds = z
  .record(
    Label(50),
    z
      .number()
      .int('must be a whole number of seconds')
      .positive('must be a positive number of seconds')
      .max(MAX_SOAK_SECONDS, `must be at most ${MAX_SOAK_SECONDS} seconds (a week)`),
  )
  .transform((m) => Object.fromEntries(Object.entries(m).map(([stage, s]) => [stage.toLowerCase(), s])));

/** Why a soak map does not fit the stages (the first stage it names that the track lacks), or undefined. */
export function soakStageRefusal(soak: Record<string, number>, stages: readonly string[]): string | undefined {
  const unknown = Object.keys(soak).find((stage) => !stages.includes(stage));
  return unknown === undefined
    ? undefined
    : `soak_seconds names stage \`${unknown}\`, which is not one of the stages (${stages.join(', ')})`;
}

const trackGates = {
  description: z
    .string()
    .trim()
    .max(1_000)
    .regex(/^[^\0]*$/, 'must not contain NUL characters')
    .nullable()
    .optional(),
  workflow_id: RunId.nullable().optional().openapi({ description: 'The governance workflow each promotion runs' }),
  launch_stage: Label(50)
    .transform((s) => s.toLowerCase())
    .nullable()
    .optional()
    .openapi({
      description: 'Gate: launches need an active promotion at this stage (or later); null turns the gate off',
    }),
  required_certifications: z
    .array(Label())
    .max(50)
    .optional()
    .openapi({ description: 'Gate: launches need an active pass of each' }),
  require_distinct_approver: z.boolean().optional().openapi({
    description:
      "Separation of duties: whoever schedules a promotion neither approves it, completes its governance run, nor certifies the track's required certifications of its digest",
  }),
  allow_drift: z.boolean().optional().openapi({
    description:
      'Servers the track governs keep taking new gateway sessions while their tools differ from the certified ones (drifted)',
  }),
  soak_seconds: SoakSeconds.nullable().optional().openapi({
    description:
      'Soak time per stage, in seconds (`{"staging": 600}`): a promotion that goes active at the stage is watched that long, and rolled back by its workflow if a server running its digest fails health (or drifts, unless allow_drift); null clears',
  }),
};

export const CreateTrack = z
  .object({
    name: Label(100),
    tier: Label().openapi({
      description: 'The server type the track governs, or a derived tier of it (gold:Router)',
      example: 'Router',
    }),
    stages: Stages.optional().openapi({ description: 'Ordered; default candidate, staging, production' }),
    ...trackGates,
  })
  .strict()
  .superRefine((b, ctx) => {
    const stages = b.stages ?? ['candidate', 'staging', 'production'];
    if (b.launch_stage && !stages.includes(b.launch_stage))
      ctx.addIssue({
        code: 'custom',
        path: ['launch_stage'],
        message: `launch_stage must be one of the stages (${stages.join(', ')})`,
      });
    const soak = b.soak_seconds && soakStageRefusal(b.soak_seconds, stages);
    if (soak) ctx.addIssue({ code: 'custom', path: ['soak_seconds'], message: soak });
  })
  .openapi('CreateTrack');

export const UpdateTrack = z
  .object({ stages: Stages.optional(), ...trackGates })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change')
  .openapi('UpdateTrack');

export const PromotionRecord = z
  .object({
    id: z.number().int(),
    promotion_track_id: z.number().int(),
    manifest_digest: z.string(),
    artifact_run_id: z.number().int().nullable(),
    stage: z.string(),
    status: z.enum(PROMOTION_STATUSES),
    workflow_run_id: z.number().int().nullable(),
    temporal_workflow_id: z.string(),
    scheduled_by: z.number().int().nullable(),
    approved_by: z.number().int().nullable(),
    notes: z.array(z.string()),
    scheduled_at: Timestamp,
    approved_at: Timestamp.nullable(),
    activated_at: Timestamp.nullable(),
    rolled_back_at: Timestamp.nullable(),
    soak_state: z.enum(SOAK_STATES).nullable().openapi({
      description:
        'soaking (until soak_ends_at), passed, failed (its workflow rolled it back), cancelled (rolled back while soaking); null: its stage has no soak',
    }),
    soak_ends_at: Timestamp.nullable(),
    rollback_reason: z.string().nullable().openapi({ description: 'Why it was rolled back' }),
    updated_at: Timestamp,
    created_at: Timestamp,
    track_name: z.string(),
    tier: z.string(),
  })
  .openapi('PromotionRecord');
export type PromotionRecord = z.infer<typeof PromotionRecord>;

export const SchedulePromotion = z
  .object({
    track_id: RunId,
    manifest_digest: Digest,
    artifact_run_id: RunId.optional(),
    stage: Label(50).transform((s) => s.toLowerCase()),
    notes: z.array(Note).max(50).default([]),
    repromote: z.boolean().default(false).openapi({
      description:
        'Promote a digest whose soak failed on this track (it was rolled back automatically); refused without it',
    }),
  })
  .strict()
  .openapi('SchedulePromotion');

export const PromotionDecision = z.object({ note: Note.optional() }).strict().openapi('PromotionDecision');

export const PromotionHistoryQuery = z
  .object({
    track_id: z
      .string()
      .regex(/^[1-9]\d{0,9}$/, 'must be a track id')
      .transform(Number)
      .optional(),
    manifest_digest: Digest.optional(),
  })
  .strict();
