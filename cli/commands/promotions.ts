// mcpctl promotions: release-train tracks (list, create, update) and stage promotions of a digest
// (schedule, approve, rollback, history, show).
import { Command } from 'commander';
import type { z } from 'zod';
import {
  CreateTrack,
  PromotionDecision,
  PromotionHistoryQuery,
  SchedulePromotion,
  UpdateTrack,
  type PromotionRecord,
  type Track,
} from '../../lib/schemas/governance.js';
import { clientFrom } from '../client.js';
import { CliError } from '../handle-error.js';
import { show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption, collect, Id, NONE, noneOr } from '../validate.js';
import { shortDigest } from './builds.js';

const trackLabels = {
  name: '--name',
  tier: '--tier',
  stages: '--stage',
  workflow_id: '--workflow',
  launch_stage: '--launch-stage',
  required_certifications: '--require-cert',
  description: '--description',
  soak_seconds: '--soak',
};

/** `--soak staging=600 --soak production=3600` as the API's `soak_seconds` map. */
export function parseSoak(values: string[]): Record<string, number> {
  const soak: Record<string, number> = {};
  for (const value of values) {
    const m = /^([^=]+)=(\d{1,9})$/.exec(value.trim());
    if (!m) throw new CliError(`--soak: give STAGE=SECONDS (e.g. staging=600), not "${value}"`);
    soak[m[1]!.trim()] = Number(m[2]);
  }
  return soak;
}

/** A track's soak times, `staging 600 s, production 3600 s`. */
export const soakText = (soak: Record<string, number>) =>
  Object.entries(soak)
    .map(([stage, seconds]) => `${stage} ${seconds} s`)
    .join(', ');

export interface CreateTrackOptions {
  name: string;
  tier: string;
  stage?: string[];
  workflow?: string;
  launchStage?: string;
  requireCert?: string[];
  description?: string;
  soak?: string[];
}

/** The POST /api/promotions/tracks body; stages left out are the API's default (candidate, staging, production). */
export function buildTrackBody(opts: CreateTrackOptions): z.input<typeof CreateTrack> {
  const body = {
    name: opts.name,
    tier: opts.tier,
    ...(opts.stage !== undefined && { stages: opts.stage }),
    ...(opts.workflow !== undefined && { workflow_id: checkOption('--workflow', Id, opts.workflow) }),
    ...(opts.launchStage !== undefined && { launch_stage: opts.launchStage }),
    ...(opts.requireCert !== undefined && { required_certifications: opts.requireCert }),
    ...(opts.description !== undefined && { description: opts.description }),
    ...(opts.soak !== undefined && { soak_seconds: parseSoak(opts.soak) }),
  };
  checkBody(CreateTrack, body, trackLabels);
  return body;
}

export interface UpdateTrackOptions {
  stage?: string[];
  workflow?: string;
  launchStage?: string;
  requireCert?: string[];
  clearRequiredCerts?: boolean;
  description?: string;
  soak?: string[];
}

/** The PATCH /api/promotions/tracks/{id} body: only options given change, `none` clears. */
export function buildTrackUpdate(opts: UpdateTrackOptions): z.input<typeof UpdateTrack> {
  if (opts.clearRequiredCerts && opts.requireCert !== undefined)
    throw new CliError('--require-cert/--clear-required-certs: give one');
  const workflow = noneOr(opts.workflow, (v) => checkOption('--workflow', Id, v));
  const launchStage = noneOr(opts.launchStage, (v) => v);
  const description = noneOr(opts.description, (v) => v);
  const soak = opts.soak?.length === 1 && opts.soak[0] === NONE ? null : opts.soak && parseSoak(opts.soak);
  const body = {
    ...(opts.stage !== undefined && { stages: opts.stage }),
    ...(workflow !== undefined && { workflow_id: workflow }),
    ...(launchStage !== undefined && { launch_stage: launchStage }),
    ...(opts.requireCert !== undefined && { required_certifications: opts.requireCert }),
    ...(opts.clearRequiredCerts && { required_certifications: [] }),
    ...(description !== undefined && { description }),
    ...(soak !== undefined && { soak_seconds: soak }),
  };
  if (Object.keys(body).length === 0)
    throw new CliError(
      'give at least one of --stage, --workflow, --launch-stage, --require-cert, --clear-required-certs, --description, --soak',
    );
  checkBody(UpdateTrack, body, trackLabels);
  return body;
}

/** The POST /api/promotions/schedule body under the API's field names. */
export function buildScheduleBody(
  trackId: string,
  digest: string,
  stage: string,
  opts: { run?: string; note?: string[]; repromote?: boolean },
): z.input<typeof SchedulePromotion> {
  const body = {
    track_id: checkOption('TRACK_ID', Id, trackId),
    manifest_digest: digest,
    stage,
    ...(opts.run !== undefined && { artifact_run_id: checkOption('--run', Id, opts.run) }),
    ...(opts.note !== undefined && { notes: opts.note }),
    ...(opts.repromote && { repromote: true }),
  };
  checkBody(SchedulePromotion, body, {
    track_id: 'TRACK_ID',
    manifest_digest: 'DIGEST',
    stage: 'STAGE',
    artifact_run_id: '--run',
    notes: '--note',
  });
  return body;
}

/** The approve/rollback body: `{}` without a note, so the request is always JSON. */
export function buildDecisionBody(note: string | undefined): z.input<typeof PromotionDecision> {
  const body = note === undefined ? {} : { note };
  checkBody(PromotionDecision, body, { note: '--note' });
  return body;
}

/** The GET /api/promotions/history query string ('' for none), checked as the API checks it. */
export function historyQuery(opts: { track?: string; digest?: string }): string {
  const query = {
    ...(opts.track !== undefined && { track_id: opts.track }),
    ...(opts.digest !== undefined && { manifest_digest: opts.digest }),
  };
  checkBody(PromotionHistoryQuery, query, { track_id: '--track', manifest_digest: '--digest' });
  const params = new URLSearchParams(query);
  return params.size ? `?${params}` : '';
}

export const trackListTable = (tracks: Track[]): [string[], Cell[][]] => [
  ['id', 'name', 'tier', 'stages', 'workflow', 'launch stage', 'required certs', 'soak', 'description'],
  tracks.map((t) => [
    t.id,
    t.name,
    t.tier,
    t.stages.join(' > '),
    t.workflow_id,
    t.launch_stage,
    t.required_certifications.join(', '),
    soakText(t.soak_seconds),
    t.description,
  ]),
];

/** Where the soak stands: `soaking until …`, `passed`, `failed`, `cancelled`; null without one. */
const soakCell = (p: PromotionRecord): Cell =>
  p.soak_state === 'soaking' ? `soaking until ${p.soak_ends_at}` : p.soak_state;

export const promotionListTable = (promotions: PromotionRecord[]): [string[], Cell[][]] => [
  ['id', 'track', 'stage', 'digest', 'status', 'soak', 'governance run', 'scheduled', 'updated', 'rollback reason'],
  promotions.map((p) => [
    p.id,
    p.track_name,
    p.stage,
    shortDigest(p.manifest_digest),
    p.status,
    soakCell(p),
    p.workflow_run_id,
    p.scheduled_at,
    p.updated_at,
    p.rollback_reason,
  ]),
];

export const promotionDetailTable = (p: PromotionRecord): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['id', p.id],
    ['track', `${p.track_name} (${p.promotion_track_id})`],
    ['tier', p.tier],
    ['stage', p.stage],
    ['digest', p.manifest_digest],
    ['build run', p.artifact_run_id],
    ['status', p.status],
    ['governance run', p.workflow_run_id],
    ['temporal workflow', p.temporal_workflow_id],
    ['scheduled by', p.scheduled_by],
    ['approved by', p.approved_by],
    ['notes', p.notes.join('; ')],
    ['scheduled', p.scheduled_at],
    ['approved', p.approved_at],
    ['activated', p.activated_at],
    ['rolled back', p.rolled_back_at],
    ['soak', soakCell(p)],
    ['rollback reason', p.rollback_reason],
  ],
];

const trackOptions = (cmd: Command) =>
  cmd
    .option('--stage <stage>', 'a stage, in order; repeat for more (default: candidate, staging, production)', collect)
    .option(
      '--require-cert <requirement>',
      'gate: launches need an active pass of this requirement; repeat for more',
      collect,
    );

export function promotionsCommand(): Command {
  const promotions = new Command('promotions').description(
    'release trains: tracks of ordered stages, and promotions of a digest through them',
  );

  const tracks = promotions.command('tracks').description('promotion tracks: list (the default), create, update');
  withJson(tracks.command('list', { isDefault: true }).description('promotion tracks you can see, by name')).action(
    async (opts: { json?: boolean }, cmd: Command) => {
      show(opts.json, await clientFrom(cmd).get<Track[]>('/api/promotions/tracks'), trackListTable);
    },
  );

  trackOptions(withJson(tracks.command('create').description('create a release train')))
    .requiredOption('--name <name>', 'track name')
    .requiredOption('--tier <tier>', 'the server type or tier it governs, e.g. Router or gold:Router')
    .option('--workflow <id>', 'the governance workflow each promotion runs')
    .option('--launch-stage <stage>', 'gate: launches need an active promotion at this stage (or later)')
    .option('--description <text>', 'what the track is for')
    .option(
      '--soak <stage=seconds>',
      'soak time of a stage: its servers failing health within it roll the promotion back; repeat for more',
      collect,
    )
    .action(async (opts: CreateTrackOptions & { json?: boolean }, cmd: Command) => {
      const body = buildTrackBody(opts);
      show(opts.json, await clientFrom(cmd).post<Track>('/api/promotions/tracks', body), (t) => trackListTable([t]));
    });

  trackOptions(
    withJson(tracks.command('update').description(`change a track; only options given change, "none" clears`)),
  )
    .argument('<id>', 'track id')
    .option('--workflow <id|none>', 'the governance workflow each promotion runs')
    .option('--launch-stage <stage|none>', 'gate: launches need an active promotion at this stage (or later)')
    .option('--clear-required-certs', 'drop every required certification')
    .option('--description <text|none>', 'what the track is for')
    .option(
      '--soak <stage=seconds|none>',
      'soak times (replace them all; repeat for more stages; none clears)',
      collect,
    )
    .action(async (id: string, opts: UpdateTrackOptions & { json?: boolean }, cmd: Command) => {
      const trackId = checkOption('ID', Id, id);
      const body = buildTrackUpdate(opts);
      show(opts.json, await clientFrom(cmd).patch<Track>(`/api/promotions/tracks/${trackId}`, body), (t) =>
        trackListTable([t]),
      );
    });

  withJson(
    promotions
      .command('schedule')
      .description("schedule a digest's promotion to a stage; the previous stage must be active"),
  )
    .argument('<track_id>', 'track id')
    .argument('<digest>', 'manifest digest (sha256:...), or run:<id> for the digest that build run published')
    .argument('<stage>', 'one of the track stages')
    .option('--run <id>', 'the build run that published the digest (default: the newest)')
    .option('--note <text>', 'a note; repeat for more', collect)
    .option('--repromote', 'promote a digest whose soak failed on this track (it was rolled back automatically)')
    .action(
      async (
        trackId: string,
        digest: string,
        stage: string,
        opts: { run?: string; note?: string[]; repromote?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        // `run:<id>`: the digest as the ledger recorded it, so nobody copies a sha256 by hand.
        const byRun = /^run:(.*)$/.exec(digest);
        if (byRun) {
          if (opts.run !== undefined) throw new CliError('--run: not with DIGEST run:<id>, which names the run');
          const runId = checkOption('DIGEST run:<id>', Id, byRun[1]);
          const run = await clientFrom(cmd).get<{ manifest_digest: string | null }>(`/api/builds/${runId}`);
          if (!run.manifest_digest) throw new CliError(`DIGEST: build run ${runId} published no manifest digest`);
          digest = run.manifest_digest;
          opts = { ...opts, run: String(runId) };
        }
        const body = buildScheduleBody(trackId, digest, stage, opts);
        show(
          opts.json,
          await clientFrom(cmd).post<PromotionRecord>('/api/promotions/schedule', body),
          promotionDetailTable,
        );
      },
    );

  for (const [name, description] of [
    ['approve', 'approve a promotion; it goes active once its governance run completes'],
    ['rollback', 'roll a promotion back (cancels its governance run); the stage can be scheduled again'],
  ] as const) {
    withJson(promotions.command(name).description(description))
      .argument('<id>', 'promotion id')
      .option('--note <text>', 'why, for the record')
      .action(async (id: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
        const promotionId = checkOption('ID', Id, id);
        const body = buildDecisionBody(opts.note);
        show(
          opts.json,
          await clientFrom(cmd).post<PromotionRecord>(`/api/promotions/${promotionId}/${name}`, body),
          promotionDetailTable,
        );
      });
  }

  withJson(promotions.command('history').description('promotions of your tracks, newest change first'))
    .option('--track <id>', 'only this track')
    .option('--digest <digest>', 'only this manifest digest')
    .action(async (opts: { track?: string; digest?: string; json?: boolean }, cmd: Command) => {
      const query = historyQuery(opts);
      show(
        opts.json,
        await clientFrom(cmd).get<PromotionRecord[]>(`/api/promotions/history${query}`),
        promotionListTable,
      );
    });

  withJson(promotions.command('show').description('one promotion'))
    .argument('<id>', 'promotion id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const promotionId = checkOption('ID', Id, id);
      show(
        opts.json,
        await clientFrom(cmd).get<PromotionRecord>(`/api/promotions/${promotionId}`),
        promotionDetailTable,
      );
    });

  return promotions;
}
