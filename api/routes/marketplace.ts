// The marketplace catalog: every build artifact with provenance, platforms, derived tier and health.
// Filters run in SQL before the limit, on indexes (migration 00004); pages are keyset-paginated.
import { createRoute, z } from '@hono/zod-openapi';
import type { Sql } from '../../lib/db.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { IdParam } from '../../lib/schemas/common.js';
import { MarketplaceEntry, MarketplaceQuery } from '../../lib/schemas/marketplace.js';
import { visibleOwner } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError } from '../openapi.js';

interface CatalogRow {
  id: number;
  server_id: number;
  server_name: string;
  server_type: string;
  manifest_tag: string | null;
  manifest_digest: string | null;
  registry_image: string | null;
  local_image: string;
  status: string;
  completed_at: Date | null;
  sort_at: Date;
  source_repo: string | null;
  source_branch: string | null;
  source_revision: string | null;
  multi_arch: boolean;
  credential_health_status: string;
  tier: string;
  health_overall: 'healthy' | 'degraded' | 'blocked';
  health_issues: string[];
}

type PlatformRow = MarketplaceEntry['platforms'][number] & { run_id: number };

const COLUMNS = `id, server_id, server_name, server_type, manifest_tag, manifest_digest, registry_image, local_image, status,
  completed_at, sort_at, source_repo, source_branch, source_revision, multi_arch, credential_health_status, tier,
  health_overall, health_issues`;

export function encodeCursor(row: { sort_at: Date; id: number }): string {
  return Buffer.from(JSON.stringify([row.sort_at.toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: number } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const date = new Date(String(at));
    if (typeof at === 'string' && !Number.isNaN(date.getTime()) && Number.isSafeInteger(id)) return { at: date, id: id as number };
  } catch {
    // fall through
  }
  throw new ApiError(422, 'validation_failed', 'cursor: not a cursor this API issued', 'cursor');
}

/** `%` and `_` are literal in a search term: escape them (and the escape character). */
export function likePattern(term: string): string {
  return `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The `q` condition. Every digest starts with `sha256:`, whose trigrams are in every row: searching
 * on the hex part alone keeps the trigram index scan small, and a recheck keeps the full term exact.
 */
function searchCondition(sql: Sql, term: string) {
  const lower = term.toLowerCase();
  const digest = /^sha256:(.{3,})$/.exec(lower);
  if (digest) return sql`and search_text like ${likePattern(digest[1]!)} and strpos(search_text, ${lower}) > 0`;
  return sql`and search_text like ${likePattern(lower)}`;
}

const PROMOTION_PRIORITY = ['active', 'approved', 'in_progress', 'scheduled', 'rolled_back'];

/** The promotion that describes the artifact now: the most advanced status, then the newest. */
function currentPromotion(history: MarketplaceEntry['promotion_history']): MarketplaceEntry['promotion'] {
  return [...history].sort((a, b) => PROMOTION_PRIORITY.indexOf(a.status) - PROMOTION_PRIORITY.indexOf(b.status))[0] ?? null;
}

async function toEntries(sql: Sql, rows: CatalogRow[]): Promise<MarketplaceEntry[]> {
  const ids = rows.map((r) => r.id);
  const platforms = ids.length
    ? await sql<PlatformRow[]>`
        select run_id, platform, remote_image, remote_tag, digest, auth_refresh_attempted, auth_refresh_succeeded,
               auth_rotation_attempted, auth_rotation_succeeded, credential_health_status
        from build_artifact_platforms where run_id in ${sql(ids)} order by platform`
    : [];
  // Promotions of each artifact's digest on its owner's tracks (the catalog's release-train view).
  const digests = [...new Set(rows.map((r) => r.manifest_digest).filter((d): d is string => d !== null))];
  const promotions = digests.length
    ? await sql<(MarketplaceEntry['promotion_history'][number] & { server_id: number; manifest_digest: string; updated: Date })[]>`
        select s.id as server_id, p.manifest_digest, p.promotion_track_id as track_id, t.name as track_name, p.stage, p.status,
               p.updated_at as updated, p.notes
        from artifact_promotions p
        join promotion_tracks t on t.id = p.promotion_track_id
        join mcp_servers s on s.owner_id = t.owner_id
        where s.id in ${sql([...new Set(rows.map((r) => r.server_id))])} and p.manifest_digest in ${sql(digests)}
        order by p.updated_at desc, p.id desc`
    : [];
  const promotionsOf = (r: CatalogRow) =>
    promotions
      .filter((p) => p.server_id === r.server_id && p.manifest_digest === r.manifest_digest)
      .map(({ track_id, track_name, stage, status, updated, notes }) => ({ track_id, track_name, stage, status, notes, updated_at: updated.toISOString() }));
  const byRun = new Map<number, MarketplaceEntry['platforms']>();
  for (const { run_id, ...p } of platforms) byRun.set(run_id, [...(byRun.get(run_id) ?? []), p]);
  return rows.map((r) => ({
    run_id: r.id,
    server_id: r.server_id,
    server_name: r.server_name,
    server_type: r.server_type,
    manifest_tag: r.manifest_tag,
    manifest_digest: r.manifest_digest,
    registry_image: r.registry_image,
    local_image: r.local_image,
    status: r.status,
    last_built_at: r.completed_at ? r.completed_at.toISOString() : null,
    source_repo: r.source_repo,
    source_branch: r.source_branch,
    source_revision: r.source_revision,
    multi_arch: r.multi_arch,
    credential_health_status: r.credential_health_status,
    tier: r.tier,
    health: { overall: r.health_overall, issues: r.health_issues },
    platforms: byRun.get(r.id) ?? [],
    promotion: currentPromotion(promotionsOf(r)),
    promotion_history: promotionsOf(r),
  }));
}

const tags = ['marketplace'];

export function marketplaceRoutes({ sql }: ApiDeps) {
  return createRouter()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        tags,
        summary: 'Browse build artifacts (operators: their own; admins and viewers: all), newest first',
        request: { query: MarketplaceQuery },
        responses: {
          200: {
            ...json(z.array(MarketplaceEntry), 'Artifacts; `X-Next-Cursor` carries the next page when there is one'),
            headers: { 'X-Next-Cursor': { schema: { type: 'string' }, description: 'Pass as `cursor` for the next page' } },
          },
          ...commonErrors,
        },
      }),
      async (c) => {
        const q = c.req.valid('query');
        const owner = visibleOwner(c.get('caller'));
        const limit = q.limit ?? 50;
        const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
        const rows = await sql<CatalogRow[]>`
          select ${sql.unsafe(COLUMNS)} from build_artifact_runs
          where true
            ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}
            ${q.server_type === undefined ? sql`` : sql`and server_type = ${q.server_type}`}
            ${q.status === undefined ? sql`` : sql`and status = ${q.status}`}
            ${q.tier === undefined ? sql`` : sql`and lower(tier) = ${q.tier.toLowerCase()}`}
            ${q.q ? searchCondition(sql, q.q) : sql``}
            ${cursor ? sql`and (sort_at, id) < (${cursor.at}, ${cursor.id})` : sql``}
          order by sort_at desc, id desc
          limit ${limit + 1}`;
        const page = rows.slice(0, limit);
        if (rows.length > limit) c.header('X-Next-Cursor', encodeCursor(page.at(-1)!));
        return c.json(await toEntries(sql, page), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}',
        tags,
        summary: 'One artifact by build run id',
        request: { params: IdParam },
        responses: { 200: json(MarketplaceEntry, 'The artifact'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const owner = visibleOwner(c.get('caller'));
        const { id } = c.req.valid('param');
        const rows = await sql<CatalogRow[]>`
          select ${sql.unsafe(COLUMNS)} from build_artifact_runs
          where id = ${id} ${owner === undefined ? sql`` : sql`and owner_id = ${owner}`}`;
        if (rows.length === 0) throw notFound(`artifact ${id}`);
        return c.json((await toEntries(sql, rows))[0]!, 200);
      },
    );
}
