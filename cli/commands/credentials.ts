// mcpctl credentials: the registry credentials' health between builds, and an on-demand rotation.
import { Command } from 'commander';
import { clientFrom } from '../client.js';
import { formatTable, printJson, withJson, type Cell } from '../output.js';

/** GET /api/registry/credentials (the API's CredentialsStatus). */
export interface CredentialCheck {
  id: number;
  trigger: 'schedule' | 'manual';
  status: 'healthy' | 'expiring_soon' | 'expired' | 'unknown';
  message: string | null;
  observed_at: string;
  expires_at: string | null;
  seconds_until_expiry: number | null;
  rotation_recommended: boolean;
  rotation_configured: boolean;
  rotation_attempted: boolean;
  rotation_succeeded: boolean | null;
  rotation_error: string | null;
  workflow_id: string;
}

export interface CredentialsStatus {
  registry: string | null;
  configured: boolean;
  latest: CredentialCheck | null;
  history: CredentialCheck[];
  schedule: { id: string; next_runs: string[]; paused: boolean } | null;
}

/** How many past checks the table shows; --json has every one the API sent. */
export const HISTORY_ROWS = 10;

/** A span like "3d 4h", "5h 12m", "42m", "30s": the two largest units, for expiry at a glance. */
export function formatSpan(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  const parts: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join(' ');
}

/** "2026-12-01T00:00:00.000Z (in 3d 4h)" or "(2h ago)"; "-" when the credentials carry no expiry. */
export function expiryText(check: Pick<CredentialCheck, 'expires_at' | 'seconds_until_expiry'>): string | null {
  if (!check.expires_at) return null;
  if (check.seconds_until_expiry === null) return check.expires_at;
  const span = formatSpan(check.seconds_until_expiry);
  return `${check.expires_at} (${check.seconds_until_expiry > 0 ? `in ${span}` : `${span} ago`})`;
}

/** The rotation flags of one check in a few words: "recommended, not configured", "rotated", ... */
export function rotationText(
  c: Pick<
    CredentialCheck,
    'rotation_recommended' | 'rotation_configured' | 'rotation_attempted' | 'rotation_succeeded'
  >,
): string {
  const words = [
    c.rotation_recommended ? 'recommended' : 'not needed',
    c.rotation_configured ? 'configured' : 'not configured',
  ];
  if (c.rotation_attempted)
    words.push(
      c.rotation_succeeded === true ? 'rotated' : c.rotation_succeeded === false ? 'rotation failed' : 'attempted',
    );
  return words.join(', ');
}

/** The next scheduled check, "(paused)" when the schedule is, or why there is none. */
export function nextCheckText(schedule: CredentialsStatus['schedule']): string {
  if (!schedule) return 'no schedule';
  const next = schedule.next_runs[0] ?? 'none planned';
  return schedule.paused ? `${next} (paused)` : next;
}

export const summaryTable = (s: CredentialsStatus): [string[], Cell[][]] => {
  const l = s.latest;
  return [
    ['field', 'value'],
    [
      ['registry', s.registry ?? 'not set (REGISTRY)'],
      ['configured', s.configured],
      ['status', l ? l.status : 'never checked'],
      ['checked', l ? `${l.observed_at} (${l.trigger})` : null],
      ['message', l?.message],
      ['expires', l ? expiryText(l) : null],
      ['rotation recommended', l?.rotation_recommended],
      ['rotation configured', l?.rotation_configured],
      ['rotation attempted', l?.rotation_attempted],
      ['rotation succeeded', l?.rotation_succeeded],
      ['rotation error', l?.rotation_error],
      ['next check', nextCheckText(s.schedule)],
    ],
  ];
};

export const historyTable = (checks: CredentialCheck[]): [string[], Cell[][]] => [
  ['id', 'checked', 'trigger', 'status', 'expires', 'rotation', 'message'],
  checks
    .slice(0, HISTORY_ROWS)
    .map((c) => [
      c.id,
      c.observed_at,
      c.trigger,
      c.status,
      c.expires_at,
      rotationText(c),
      c.rotation_error ?? c.message,
    ]),
];

function printStatus(status: CredentialsStatus, json: boolean | undefined): void {
  if (json) return printJson(status);
  process.stdout.write(`${formatTable(...summaryTable(status))}\n`);
  if (status.history.length > 0) {
    const more = status.history.length > HISTORY_ROWS ? ` (latest ${HISTORY_ROWS} of ${status.history.length})` : '';
    process.stdout.write(`\nrecent checks${more}:\n${formatTable(...historyTable(status.history))}\n`);
  }
}

/** The API waits for the rotation to run (up to 180s) before it answers. */
const ROTATE_TIMEOUT_MS = 200_000;

export function credentialsCommand(): Command {
  const credentials = new Command('credentials').description(
    "the container registry's credentials: health and rotation",
  );

  withJson(
    credentials
      .command('status')
      .description('credential health as last checked, recent checks, and the next scheduled check'),
  ).action(async (opts: { json?: boolean }, cmd: Command) => {
    printStatus(await clientFrom(cmd).get<CredentialsStatus>('/api/registry/credentials'), opts.json);
  });

  withJson(
    credentials
      .command('rotate')
      .description('check and rotate the credentials now (admin); waits for the rotation to run'),
  ).action(async (opts: { json?: boolean }, cmd: Command) => {
    printStatus(
      await clientFrom(cmd, { defaultTimeoutMs: ROTATE_TIMEOUT_MS }).post<CredentialsStatus>(
        '/api/registry/credentials/rotate',
      ),
      opts.json,
    );
  });

  return credentials;
}
