// mcpctl servers metrics (the telemetry of one server, optionally followed live) and
// servers webhook-secret (the push webhook's URL and a new secret, shown once).
import type { Command } from 'commander';
import type { z } from 'zod';
import type { Metric } from '../../lib/schemas/builds.js';
import { requiredDetailKeys } from '../../lib/telemetry-contract.js';
import { clientFrom, type ApiClient } from '../client.js';
import { followStream, parseData } from '../follow.js';
import { formatTable, plain, printJson, show, withJson, type Cell } from '../output.js';
import { checkOption, Id } from '../validate.js';
import { Limit } from './builds.js';

export type MetricEvent = z.infer<typeof Metric>;

/** How much of the details a table cell shows; --json has them all. */
const DETAILS_WIDTH = 160;

/**
 * The details as compact JSON, the catalogue's keys for the event first (what identifies a push or
 * a tag), then the rest, cut at `width` characters.
 */
export function metricDetails(eventType: string, details: unknown, width = DETAILS_WIDTH): string | null {
  if (details === null || details === undefined) return null;
  let value = details;
  if (typeof details === 'object' && !Array.isArray(details)) {
    const record = details as Record<string, unknown>;
    const first = (requiredDetailKeys(eventType) ?? []).filter((k) => Object.hasOwn(record, k));
    value = Object.fromEntries(
      [...first, ...Object.keys(record).filter((k) => !first.includes(k))].map((k) => [k, record[k]]),
    );
  }
  const text = plain(JSON.stringify(value));
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export const metricsTable = (metrics: MetricEvent[]): [string[], Cell[][]] => [
  ['id', 'time', 'event', 'details'],
  metrics.map((m) => [m.id, m.timestamp, m.event_type, metricDetails(m.event_type, m.details)]),
];

/** One followed event per line, columns as in the table. */
export const metricLine = (m: MetricEvent) =>
  [String(m.id), m.timestamp, plain(m.event_type), metricDetails(m.event_type, m.details) ?? '-'].join('  ');

function isMetric(value: unknown): value is MetricEvent {
  const m = value as MetricEvent | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.id === 'number' &&
    typeof m.event_type === 'string' &&
    typeof m.timestamp === 'string'
  );
}

/** The latest page oldest first, then live events: resuming after the page's newest, so none falls in between. */
async function followMetrics(
  client: ApiClient,
  serverId: number,
  page: MetricEvent[],
  json: boolean | undefined,
): Promise<void> {
  const print = (m: MetricEvent) => process.stdout.write(json ? `${JSON.stringify(m)}\n` : `${metricLine(m)}\n`);
  for (const m of [...page].reverse()) print(m);
  await followStream(client, {
    path: `/api/servers/${serverId}/metrics/stream`,
    lastEventId: String(page[0]?.id ?? 0),
    onNote: (note) => process.stderr.write(`mcpctl: ${note}\n`),
    onFrame: (frame) => {
      if (frame.event === 'metric') print(parseData(frame, isMetric));
    },
  });
}

/** `/api/servers/3/webhook` against the API's base URL (which may carry a path prefix). */
export function absoluteUrl(baseUrl: string, url: string): string {
  return url.startsWith('/') ? baseUrl + url : url;
}

export function addMetricsCommands(servers: Command): void {
  withJson(servers.command('metrics').description("a server's telemetry events, newest first"))
    .argument('<id>', 'server id')
    .option('--limit <n>', 'at most this many events (1-1000, default 50)')
    .option('--follow', 'print the latest events oldest first, then new ones as they happen (until interrupted)')
    .action(async (id: string, opts: { limit?: string; follow?: boolean; json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const limit = checkOption('--limit', Limit, opts.limit);
      const client = clientFrom(cmd);
      const page = await client.get<MetricEvent[]>(
        `/api/servers/${serverId}/metrics${limit === undefined ? '' : `?limit=${limit}`}`,
      );
      if (opts.follow) return followMetrics(client, serverId, page, opts.json);
      show(opts.json, page, metricsTable);
    });

  withJson(
    servers
      .command('webhook-secret')
      .description("create or rotate the server's push webhook secret; it is shown this once"),
  )
    .argument('<id>', 'server id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const client = clientFrom(cmd);
      type Secret = { server_id: number; webhook_url: string; webhook_secret: string };
      const created = await client.post<Secret>(`/api/servers/${serverId}/webhook-secret`);
      if (opts.json) return printJson(created);
      const url = absoluteUrl(client.config.baseUrl, created.webhook_url);
      process.stdout.write(
        `${formatTable(
          ['field', 'value'],
          [
            ['server', created.server_id],
            ['webhook URL', url],
          ],
        )}\n\n`,
      );
      process.stdout.write(
        `secret (shown this once; store it now, it cannot be shown again; any previous secret no longer works):\n\n    ${created.webhook_secret}\n\n`,
      );
      process.stdout.write(
        'Point a push webhook (content type application/json) at the URL, signed with this secret (X-Hub-Signature-256).\n',
      );
    });
}
