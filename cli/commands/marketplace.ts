// mcpctl marketplace: browse build artifacts (list, with the API's filters) and show one.
import { Command } from 'commander';
import { MarketplaceQuery, type MarketplaceEntry } from '../../lib/schemas/marketplace.js';
import { clientFrom } from '../client.js';
import { show, withJson, type Cell } from '../output.js';
import { CliError } from '../handle-error.js';
import { checkOption, Id } from '../validate.js';

const short = (digest: string | null) => (digest ? `${digest.slice(0, 19)}` : null);

export const marketplaceTable = (entries: MarketplaceEntry[]): [string[], Cell[][]] => [
  ['run', 'server', 'name', 'type', 'tier', 'health', 'status', 'platforms', 'digest', 'built'],
  entries.map((e) => [
    e.run_id,
    e.server_id,
    e.server_name,
    e.server_type,
    e.tier,
    e.health.issues.length ? `${e.health.overall} (${e.health.issues.join(', ')})` : e.health.overall,
    e.status,
    e.platforms.map((p) => p.platform).join(', '),
    short(e.manifest_digest),
    e.last_built_at,
  ]),
];

export const entryTable = (e: MarketplaceEntry): [string[], Cell[][]] => [
  ['field', 'value'],
  [
    ['run', e.run_id],
    ['server', `${e.server_id} (${e.server_name})`],
    ['type', e.server_type],
    ['tier', e.tier],
    ['health', e.health.overall],
    ['issues', e.health.issues.join(', ')],
    ['status', e.status],
    ['image', e.registry_image ?? e.local_image],
    ['digest', e.manifest_digest],
    ['source', e.source_repo ? `${e.source_repo}@${e.source_branch} ${e.source_revision?.slice(0, 12) ?? ''}` : null],
    ['built', e.last_built_at],
    ...e.platforms.map((p): Cell[] => [
      `platform ${p.platform}`,
      `${p.digest ?? '-'} (credentials ${p.credential_health_status})`,
    ]),
  ],
];

interface ListOptions {
  type?: string;
  status?: string;
  tier?: string;
  q?: string;
  limit?: string;
  all?: boolean;
  json?: boolean;
}

/** The query string, checked with the API's own schema before anything is sent. */
export function marketplaceQuery(opts: ListOptions, cursor?: string): string {
  const params = {
    ...(opts.type !== undefined && { server_type: opts.type }),
    ...(opts.status !== undefined && { status: opts.status }),
    ...(opts.tier !== undefined && { tier: opts.tier }),
    ...(opts.q !== undefined && { q: opts.q }),
    ...(opts.limit !== undefined && { limit: opts.limit }),
    ...(cursor !== undefined && { cursor }),
  };
  const labels: Record<string, string> = {
    server_type: '--type',
    status: '--status',
    tier: '--tier',
    q: '--q',
    limit: '--limit',
  };
  const result = MarketplaceQuery.safeParse(params);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    throw new CliError(`${labels[key] ?? key}: ${issue.message}`);
  }
  return new URLSearchParams(params as Record<string, string>).toString();
}

export function marketplaceCommand(): Command {
  const marketplace = new Command('marketplace').description('browse build artifacts with their tiers and health');
  withJson(
    marketplace
      .command('list')
      .description('artifacts, newest first (operators see their own)')
      .option('--type <server_type>', 'only this server type')
      .option('--status <status>', 'only runs with this status (running, succeeded, failed, cancelled)')
      .option('--tier <tier>', 'only this tier, e.g. gold:Router (case-insensitive)')
      .option('--q <text>', 'substring of name, digest, image or repository')
      .option('--limit <n>', 'entries per page (1-200, default 50)')
      .option('--all', 'follow every page'),
  ).action(async (opts: ListOptions, cmd: Command) => {
    const client = clientFrom(cmd);
    const entries: MarketplaceEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.getWithHeaders<MarketplaceEntry[]>(
        `/api/marketplace?${marketplaceQuery(opts, cursor)}`,
      );
      entries.push(...page.body);
      cursor = page.headers.get('x-next-cursor') ?? undefined;
    } while (opts.all && cursor);
    show(opts.json, entries, marketplaceTable);
    if (cursor && !opts.json) process.stderr.write('mcpctl: more entries; use --all or a larger --limit\n');
  });
  withJson(marketplace.command('show').argument('<RUN_ID>', 'build run id').description('one artifact')).action(
    async (runId: string, opts: { json?: boolean }, cmd: Command) => {
      const id = checkOption('RUN_ID', Id, runId);
      show(opts.json, await clientFrom(cmd).get<MarketplaceEntry>(`/api/marketplace/${id}`), entryTable);
    },
  );
  return marketplace;
}
