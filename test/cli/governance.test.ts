// mcpctl evaluations / governance / promotions: option → request mapping (under the API's field
// names, checked by its own schemas), tables, and the audit-log watch.
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/client.js';
import {
  buildPlanBody,
  buildSubmitBody,
  certificationDetailTable,
  certificationListTable,
} from '../../cli/commands/evaluations.js';
import {
  auditLine,
  buildRunStatusBody,
  buildStartBody,
  buildStepBody,
  buildWorkflowBody,
  parseStep,
  runText,
  watchRun,
  workflowListTable,
  type AuditEvent,
} from '../../cli/commands/governance.js';
import {
  buildDecisionBody,
  buildScheduleBody,
  buildTrackBody,
  buildTrackUpdate,
  historyQuery,
  promotionListTable,
  trackListTable,
} from '../../cli/commands/promotions.js';
import { ConnectionError } from '../../cli/handle-error.js';
import { formatTable } from '../../cli/output.js';
import type { SseFrame } from '../../cli/sse.js';
import type { Certification, GovernanceRunDetail, PromotionRecord, Track } from '../../lib/schemas/governance.js';

const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const AT = '2026-11-25T08:00:00.000Z';

describe('evaluations submit/plan bodies', () => {
  it('maps a manual verdict to the API fields, leaving out what was not given', () => {
    expect(
      buildSubmitBody({
        tier: 'gold:Router',
        requirement: 'baseline',
        status: 'pass',
        evidence: '{"suite":"smoke","passed":12}',
        validUntil: '2030-01-01T00:00:00Z',
        cadenceSeconds: '3600',
        note: 'ok',
        digest: DIGEST,
      }),
    ).toEqual({
      manifest_digest: DIGEST,
      tier: 'gold:Router',
      policy_requirement: 'baseline',
      status: 'pass',
      evidence: { suite: 'smoke', passed: 12 },
      valid_until: '2030-01-01T00:00:00Z',
      refresh_cadence_seconds: 3600,
      governance_notes: 'ok',
    });
  });

  it('maps an automatic evaluation to evaluate + expected_tools', () => {
    expect(buildSubmitBody({ tier: 't', requirement: 'r', evaluate: true, expectTool: ['echo', 'add'] })).toEqual({
      tier: 't',
      policy_requirement: 'r',
      evaluate: true,
      expected_tools: ['echo', 'add'],
    });
  });

  it("refuses what the API's schema refuses, naming the option", () => {
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r' })).toThrow(
      '--status: status is required unless evaluate is true',
    );
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', status: 'maybe' })).toThrow(/^--status: /);
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', evaluate: true })).toThrow(
      '--expect-tool: expected_tools is required with evaluate',
    );
    expect(() =>
      buildSubmitBody({ tier: 't', requirement: 'r', evaluate: true, status: 'pass', expectTool: ['x'] }),
    ).toThrow(/^--status: an automatic evaluation/);
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', status: 'pass', expectTool: ['x'] })).toThrow(
      '--expect-tool: only applies with --evaluate',
    );
    expect(() => buildSubmitBody({ tier: 'a b', requirement: 'r', status: 'pass' })).toThrow(/^--tier: /);
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', status: 'pass', evidence: '{' })).toThrow(
      /^--evidence: must be JSON/,
    );
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', status: 'pass', digest: 'sha256:xyz' })).toThrow(
      /^--digest: must be a sha256 digest/,
    );
    expect(() => buildSubmitBody({ tier: 't', requirement: 'r', status: 'pass', cadenceSeconds: '1.5' })).toThrow(
      '--cadence-seconds: must be a whole number',
    );
  });

  it('plans only the fields given; "none" sends null to clear', () => {
    expect(buildPlanBody({ cadenceSeconds: '600' })).toEqual({ refresh_cadence_seconds: 600 });
    expect(buildPlanBody({ cadenceSeconds: 'none', nextRefresh: 'none', note: 'none' })).toEqual({
      refresh_cadence_seconds: null,
      next_refresh_at: null,
      governance_notes: null,
    });
    expect(buildPlanBody({ nextRefresh: '2030-01-01T00:00:00+01:00', evidenceSource: '{"ci":"run 7"}' })).toEqual({
      next_refresh_at: '2030-01-01T00:00:00+01:00',
      evidence_source: { ci: 'run 7' },
    });
    expect(() => buildPlanBody({})).toThrow(/^give at least one of --cadence-seconds/);
    expect(() => buildPlanBody({ cadenceSeconds: '0' })).toThrow('--cadence-seconds: must be a positive integer');
    expect(() => buildPlanBody({ nextRefresh: 'tomorrow' })).toThrow('--next-refresh: must be an RFC 3339 timestamp');
  });
});

const cert: Certification = {
  id: 4,
  build_artifact_run_id: 7,
  manifest_digest: DIGEST,
  tier: 'gold:Router',
  policy_requirement: 'baseline',
  status: 'pass',
  evidence: { passed: 3 },
  evidence_source: null,
  evidence_lineage: null,
  expected_tools: ['echo', 'add'],
  valid_from: AT,
  valid_until: null,
  refresh_cadence_seconds: 3600,
  next_refresh_at: '2026-11-25T09:00:00.000Z',
  governance_notes: null,
  certified_by: null,
  workflow_id: 'certification/4',
  created_at: AT,
  updated_at: AT,
};

describe('evaluations tables', () => {
  it('lists certifications with short digests and their kind', () => {
    expect(
      formatTable(
        ...certificationListTable([
          cert,
          { ...cert, id: 5, expected_tools: null, status: 'fail', next_refresh_at: null },
        ]),
      ).split('\n'),
    ).toEqual([
      'id  run  digest               tier         requirement  status  kind            valid until  next refresh',
      '--  ---  -------------------  -----------  -----------  ------  --------------  -----------  ------------------------',
      '4   7    sha256:ab12ab12ab12  gold:Router  baseline     pass    auto (2 tools)  -            2026-11-25T09:00:00.000Z',
      '5   7    sha256:ab12ab12ab12  gold:Router  baseline     fail    manual          -            -',
    ]);
  });

  it('shows one certification field by field, evidence as JSON', () => {
    const rows = certificationDetailTable(cert)[1];
    expect(rows).toContainEqual(['evidence', '{"passed":3}']);
    expect(rows).toContainEqual(['expected tools', 'echo, add']);
    expect(rows).toContainEqual(['evidence source', null]);
  });
});

describe('governance bodies', () => {
  it('parses steps with an optional JSON config', () => {
    expect(parseStep('review')).toEqual({ action: 'review' });
    expect(parseStep('approve={"quorum":2,"a=b":1}')).toEqual({ action: 'approve', config: { quorum: 2, 'a=b': 1 } });
    expect(() => parseStep('approve={')).toThrow(/^--step approve: must be JSON/);
  });

  it('builds a workflow under the API field names, naming the bad step', () => {
    expect(
      buildWorkflowBody({
        name: 'mcg-release',
        type: 'promotion',
        tier: 'gold:Router',
        step: ['review', 'sign={"by":"sec"}'],
      }),
    ).toEqual({
      name: 'mcg-release',
      workflow_type: 'promotion',
      tier: 'gold:Router',
      steps: [{ action: 'review' }, { action: 'sign', config: { by: 'sec' } }],
    });
    expect(buildWorkflowBody({ name: 'n', type: 'rollback', tier: 't' }).steps).toEqual([]);
    expect(() => buildWorkflowBody({ name: 'n', type: 'nope', tier: 't' })).toThrow(/^--type: /);
    expect(() => buildWorkflowBody({ name: 'n', type: 'rollback', tier: 't', step: ['ok', 'no spaces'] })).toThrow(
      /^--step no spaces: letters, digits/,
    );
  });

  it('starts a run with target_* and notes; without options the body is {} (still JSON)', () => {
    expect(buildStartBody({})).toEqual({});
    expect(buildStartBody({ digest: DIGEST, run: '7', server: '3', note: ['first', 'second'] })).toEqual({
      target_manifest_digest: DIGEST,
      target_artifact_run_id: 7,
      target_server_id: 3,
      notes: ['first', 'second'],
    });
    expect(() => buildStartBody({ run: 'seven' })).toThrow(/^--run: /);
    expect(() => buildStartBody({ digest: 'sha256:00' })).toThrow(/^--digest: /);
    expect(() => buildStartBody({ note: ['ok', ' '] })).toThrow('--note: must not be empty');
  });

  it('checks run and step statuses against the state names', () => {
    expect(buildRunStatusBody('cancelled', 'no longer needed')).toEqual({
      status: 'cancelled',
      note: 'no longer needed',
    });
    expect(buildStepBody('completed', undefined)).toEqual({ status: 'completed' });
    expect(() => buildRunStatusBody('reopened', undefined)).toThrow(/^STATUS: /);
    // Steps cannot go back to pending.
    expect(() => buildStepBody('pending', undefined)).toThrow(/^STATUS: /);
  });
});

const run: GovernanceRunDetail = {
  id: 12,
  workflow_id: 3,
  temporal_workflow_id: 'governance/12',
  status: 'in_progress',
  notes: ['first'],
  target_manifest_digest: null,
  target_artifact_run_id: null,
  target_server_id: null,
  target_tier: 'gold:Router',
  promotion_track_id: null,
  promotion_stage: null,
  initiated_by: 1,
  created_at: AT,
  updated_at: AT,
  steps: [
    {
      id: 1,
      step_id: 1,
      position: 1,
      action: 'review',
      status: 'completed',
      started_at: AT,
      completed_at: AT,
      error: null,
    },
    {
      id: 2,
      step_id: 2,
      position: 2,
      action: 'sign',
      status: 'pending',
      started_at: null,
      completed_at: null,
      error: null,
    },
  ],
  audit_log: [
    {
      id: 30,
      event_type: 'run_created',
      details: { workflow: 'mcg-release', notes: ['first'] },
      created_at: AT,
      actor_id: 1,
    },
    {
      id: 31,
      event_type: 'step_completed',
      details: { status: 'in_progress', previous_status: 'pending', step: 1, step_status: 'completed', note: 'lgtm' },
      created_at: AT,
      actor_id: 1,
    },
  ],
};

describe('governance tables', () => {
  it('lists workflows with their steps in order, and no description column', () => {
    const wf = {
      id: 3,
      owner_id: 1,
      name: 'mcg-release',
      workflow_type: 'promotion' as const,
      tier: 'gold:Router',
      steps: [
        { position: 1, action: 'review', config: {} },
        { position: 2, action: 'sign', config: {} },
      ],
      created_at: AT,
      updated_at: AT,
    };
    const [headers, rows] = workflowListTable([wf]);
    expect(headers).toEqual(['id', 'name', 'type', 'tier', 'steps', 'owner', 'created']);
    expect(rows[0]).toEqual([3, 'mcg-release', 'promotion', 'gold:Router', 'review > sign', 1, AT]);
  });

  it('shows a run as its fields, its steps and its audit log', () => {
    const text = runText(run);
    expect(text).toMatch(/^field\s+value\n/);
    expect(text).toMatch(/status\s+in_progress/);
    expect(text).toMatch(/position\s+action\s+status\s+started\s+completed\s+error/);
    expect(text).toMatch(/2\s+sign\s+pending/);
    expect(text).toMatch(/31\s+2026-11-25T08:00:00.000Z\s+step_completed\s+1\s+1 -> completed\s+in_progress\s+lgtm/);
  });

  it('prints one line per audit event', () => {
    const event: AuditEvent = {
      id: 31,
      run_id: 12,
      event_type: 'step_completed',
      actor_id: 1,
      details: run.audit_log[1]!.details,
      run_status: 'in_progress',
      created_at: AT,
    };
    expect(auditLine(event)).toBe(`${AT}  step_completed  by 1  step 1 -> completed  run -> in_progress  (lgtm)`);
    expect(
      auditLine({ ...event, event_type: 'run_created', actor_id: null, details: { notes: [] }, run_status: null }),
    ).toBe(`${AT}  run_created  by system`);
  });
});

describe('governance watch', () => {
  const frame = (event: string, data: unknown, id?: string): SseFrame => ({
    event,
    data: JSON.stringify(data),
    ...(id && { id }),
  });
  const audit = (id: number, event_type: string): AuditEvent => ({
    id,
    run_id: 12,
    event_type,
    actor_id: 1,
    details: null,
    run_status: null,
    created_at: AT,
  });

  it('prints audit events until end, resuming after the last one when the connection drops', async () => {
    const asked: (string | undefined)[] = [];
    const client = {
      async *stream(_path: string, lastEventId: string | undefined) {
        asked.push(lastEventId);
        yield frame('ready', {});
        if (asked.length === 1) {
          yield frame('audit', audit(1, 'run_created'), '1');
          throw new ConnectionError('the event stream broke');
        }
        yield frame('audit', audit(2, 'step_completed'), '2');
        yield frame('end', { last_event_id: 2 }, '2');
        yield frame('audit', audit(3, 'never'), '3');
      },
    } as unknown as ApiClient;
    const seen: string[] = [];
    const notes: string[] = [];
    await watchRun(
      client,
      12,
      (e) => seen.push(e.event_type),
      (n) => notes.push(n),
    );
    expect(seen).toEqual(['run_created', 'step_completed']);
    expect(asked).toEqual([undefined, '1']);
    expect(notes).toEqual(['the event stream broke; reconnecting in 0.5s']);
  });
});

describe('promotions bodies', () => {
  it('creates a track with the API field names; stages left to the API default', () => {
    expect(buildTrackBody({ name: 'mcg-train', tier: 'Router' })).toEqual({ name: 'mcg-train', tier: 'Router' });
    expect(
      buildTrackBody({
        name: 'mcg-train',
        tier: 'Router',
        stage: ['dev', 'prod'],
        workflow: '3',
        launchStage: 'prod',
        requireCert: ['baseline'],
        description: 'the train',
      }),
    ).toEqual({
      name: 'mcg-train',
      tier: 'Router',
      stages: ['dev', 'prod'],
      workflow_id: 3,
      launch_stage: 'prod',
      required_certifications: ['baseline'],
      description: 'the train',
    });
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', launchStage: 'qa' })).toThrow(
      '--launch-stage: launch_stage must be one of the stages (candidate, staging, production)',
    );
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', stage: ['a', 'a'] })).toThrow(
      '--stage: stages must be distinct',
    );
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', workflow: '0' })).toThrow(/^--workflow: /);
  });

  it('takes soak times as --soak STAGE=SECONDS, checked against the stages', () => {
    expect(buildTrackBody({ name: 'x', tier: 'Router', soak: ['staging=600', 'Production=3600'] })).toEqual({
      name: 'x',
      tier: 'Router',
      soak_seconds: { staging: 600, Production: 3600 },
    });
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', soak: ['staging'] })).toThrow(
      '--soak: give STAGE=SECONDS (e.g. staging=600), not "staging"',
    );
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', soak: ['qa=60'] })).toThrow(
      '--soak: soak_seconds names stage `qa`, which is not one of the stages (candidate, staging, production)',
    );
    expect(() => buildTrackBody({ name: 'x', tier: 'Router', soak: ['staging=0'] })).toThrow(
      '--soak staging: must be a positive number of seconds',
    );
    expect(buildTrackUpdate({ soak: ['none'] })).toEqual({ soak_seconds: null });
    expect(buildTrackUpdate({ soak: ['staging=5'] })).toEqual({ soak_seconds: { staging: 5 } });
  });

  it('updates only what is given; "none" clears', () => {
    expect(buildTrackUpdate({ workflow: 'none', launchStage: 'none', description: 'none' })).toEqual({
      workflow_id: null,
      launch_stage: null,
      description: null,
    });
    expect(buildTrackUpdate({ clearRequiredCerts: true })).toEqual({ required_certifications: [] });
    expect(buildTrackUpdate({ stage: ['a', 'b'], requireCert: ['x', 'y'] })).toEqual({
      stages: ['a', 'b'],
      required_certifications: ['x', 'y'],
    });
    expect(() => buildTrackUpdate({})).toThrow(/^give at least one of --stage/);
    expect(() => buildTrackUpdate({ requireCert: ['x'], clearRequiredCerts: true })).toThrow(
      '--require-cert/--clear-required-certs: give one',
    );
  });

  it('schedules a digest whose soak failed only with --repromote', () => {
    expect(buildScheduleBody('2', DIGEST, 'staging', { repromote: true })).toMatchObject({ repromote: true });
    expect(buildScheduleBody('2', DIGEST, 'staging', {})).not.toHaveProperty('repromote');
  });

  it('schedules with track_id, manifest_digest, stage, artifact_run_id and notes', () => {
    expect(buildScheduleBody('2', DIGEST, 'Candidate', { run: '7', note: ['go'] })).toEqual({
      track_id: 2,
      manifest_digest: DIGEST,
      stage: 'Candidate',
      artifact_run_id: 7,
      notes: ['go'],
    });
    expect(buildScheduleBody('2', DIGEST, 'staging', {})).toEqual({
      track_id: 2,
      manifest_digest: DIGEST,
      stage: 'staging',
    });
    expect(() => buildScheduleBody('x', DIGEST, 'staging', {})).toThrow(/^TRACK_ID: /);
    expect(() => buildScheduleBody('2', 'latest', 'staging', {})).toThrow(/^DIGEST: must be a sha256 digest/);
    expect(() => buildScheduleBody('2', DIGEST, 'two words', {})).toThrow(/^STAGE: /);
  });

  it('approve/rollback send {} without a note, so the request stays valid JSON', () => {
    expect(buildDecisionBody(undefined)).toEqual({});
    expect(buildDecisionBody('ship it')).toEqual({ note: 'ship it' });
    expect(() => buildDecisionBody('')).toThrow('--note: must not be empty');
  });

  it('builds the history query from the API field names', () => {
    expect(historyQuery({})).toBe('');
    expect(historyQuery({ track: '2', digest: DIGEST })).toBe(
      `?track_id=2&manifest_digest=${encodeURIComponent(DIGEST)}`,
    );
    expect(() => historyQuery({ track: 'two' })).toThrow('--track: must be a track id');
    expect(() => historyQuery({ digest: 'sha256:1' })).toThrow(/^--digest: /);
  });
});

describe('promotions tables', () => {
  it('lists tracks with stages in order and their gates', () => {
    const track: Track = {
      id: 2,
      owner_id: 1,
      name: 'mcg-train',
      tier: 'Router',
      stages: ['candidate', 'staging', 'production'],
      description: null,
      workflow_id: 3,
      launch_stage: 'staging',
      required_certifications: ['baseline', 'sec'],
      require_distinct_approver: false,
      allow_drift: false,
      soak_seconds: { staging: 600 },
      created_at: AT,
      updated_at: AT,
    };
    expect(trackListTable([track])[1]).toEqual([
      [
        2,
        'mcg-train',
        'Router',
        'candidate > staging > production',
        3,
        'staging',
        'baseline, sec',
        'staging 600 s',
        null,
      ],
    ]);
  });

  it('lists promotions with the track name and short digest', () => {
    const p: PromotionRecord = {
      id: 9,
      promotion_track_id: 2,
      manifest_digest: DIGEST,
      artifact_run_id: 7,
      stage: 'candidate',
      status: 'active',
      workflow_run_id: 12,
      temporal_workflow_id: 'promotion/9',
      scheduled_by: 1,
      approved_by: 1,
      notes: [],
      scheduled_at: AT,
      approved_at: AT,
      activated_at: AT,
      rolled_back_at: null,
      soak_state: null,
      soak_ends_at: null,
      rollback_reason: null,
      updated_at: AT,
      created_at: AT,
      track_name: 'mcg-train',
      tier: 'Router',
    };
    expect(promotionListTable([p])[1]).toEqual([
      [9, 'mcg-train', 'candidate', 'sha256:ab12ab12ab12', 'active', null, 12, AT, AT, null],
    ]);
    const failed: PromotionRecord = {
      ...p,
      stage: 'staging',
      status: 'rolled_back',
      soak_state: 'failed',
      rollback_reason: 'promotion:soak-failed:staging:server:4:unhealthy:2 probes failed in a row',
    };
    expect(promotionListTable([failed])[1][0]![5]).toBe('failed');
    expect(promotionListTable([failed])[1][0]![9]).toBe(failed.rollback_reason);
    expect(promotionListTable([{ ...p, soak_state: 'soaking', soak_ends_at: AT }])[1][0]![5]).toBe(
      `soaking until ${AT}`,
    );
  });
});
