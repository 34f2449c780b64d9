// The marketplace catalog: every build artifact (build_artifact_runs, denormalized for browsing)
// with provenance, platforms, derived tier and health, and its digest's promotions. Filters run in
// SQL before the limit, on indexes (migration 00004); pages are keyset-paginated.
import type { Sql } from '../db.js';
import type { MarketplaceEntry } from '../schemas/marketplace.js';
import { ownedBy, type OwnerScope } from './scope.js';

export interface CatalogRow {
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
  return (
    [...history].sort((a, b) => PROMOTION_PRIORITY.indexOf(a.status) - PROMOTION_PRIORITY.indexOf(b.status))[0] ?? null
  );
}

export async function toEntries(sql: Sql, rows: CatalogRow[]): Promise<MarketplaceEntry[]> {
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
    ? await sql<
        (MarketplaceEntry['promotion_history'][number] & {
          server_id: number;
          manifest_digest: string;
          updated: Date;
        })[]
      >`
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
      .map(({ track_id, track_name, stage, status, updated, notes }) => ({
        track_id,
        track_name,
        stage,
        status,
        notes,
        updated_at: updated.toISOString(),
      }));
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

export interface CatalogQuery {
  server_type?: string;
  status?: string;
  tier?: string;
  q?: string;
  /** Rows strictly after this one in the catalog's order (newest first). */
  after?: { at: Date; id: number };
  limit: number;
}

/** Catalog rows in the scope, newest first; `limit + 1` of them, so the caller can tell whether a page follows. */
export function catalogPage(sql: Sql, scope: OwnerScope, q: CatalogQuery): Promise<CatalogRow[]> {
  return sql<CatalogRow[]>`
    select ${sql.unsafe(COLUMNS)} from build_artifact_runs
    where true
      ${ownedBy(sql, scope)}
      ${q.server_type === undefined ? sql`` : sql`and server_type = ${q.server_type}`}
      ${q.status === undefined ? sql`` : sql`and status = ${q.status}`}
      ${q.tier === undefined ? sql`` : sql`and lower(tier) = ${q.tier.toLowerCase()}`}
      ${q.q ? searchCondition(sql, q.q) : sql``}
      ${q.after ? sql`and (sort_at, id) < (${q.after.at}, ${q.after.id})` : sql``}
    order by sort_at desc, id desc
    limit ${q.limit + 1}`;
}

/** One artifact in the scope, or undefined. */
export async function catalogEntry(sql: Sql, scope: OwnerScope, id: number): Promise<MarketplaceEntry | undefined> {
  const rows = await sql<CatalogRow[]>`
    select ${sql.unsafe(COLUMNS)} from build_artifact_runs
    where id = ${id} ${ownedBy(sql, scope)}`;
  return (await toEntries(sql, rows))[0];
}

/** A catalog row as the registry API (`/v0`) lists it: one published version of a server. */
export interface RegistryVersionRow extends CatalogRow {
  owner_id: number;
  /** No newer succeeded build of the same server. */
  is_latest: boolean;
  /** When the version first appeared: the build's start. */
  started_at: Date;
  /** The hosted server's status, `deleted` once its row is gone. */
  server_status: string;
}

export interface RegistryQuery {
  /** Substring of the server's name, case-insensitive. */
  search?: string;
  /** Versions completed at or after this instant. */
  updatedSince?: Date;
  /** Only each server's latest version. */
  latestOnly?: boolean;
  /** One server: its owner and name. */
  server?: { ownerId: number; name: string };
  /** One version: its build run. */
  runId?: number;
  after?: { at: Date; id: number };
  limit: number;
}

/**
 * Published versions (succeeded builds) in the scope, newest first, `limit + 1` of them; the same
 * indexes and keyset order as the marketplace. "Latest" is the server's newest succeeded build.
 */
export function registryPage(sql: Sql, scope: OwnerScope, q: RegistryQuery): Promise<RegistryVersionRow[]> {
  return sql<RegistryVersionRow[]>`
    select ${sql.unsafe(COLUMNS)}, owner_id, started_at,
           coalesce((select s.status from mcp_servers s where s.id = r.server_id), 'deleted') as server_status,
           not exists (select 1 from build_artifact_runs n
                       where n.server_id = r.server_id and n.status = 'succeeded' and (n.sort_at, n.id) > (r.sort_at, r.id)) as is_latest
    from build_artifact_runs r
    where status = 'succeeded'
      ${ownedBy(sql, scope)}
      ${q.server ? sql`and owner_id = ${q.server.ownerId} and server_name = ${q.server.name}` : sql``}
      ${q.runId === undefined ? sql`` : sql`and id = ${q.runId}`}
      ${q.search ? sql`and server_name ilike ${likePattern(q.search)}` : sql``}
      ${q.updatedSince ? sql`and sort_at >= ${q.updatedSince}` : sql``}
      ${
        q.latestOnly
          ? sql`and not exists (select 1 from build_artifact_runs n
                  where n.server_id = r.server_id and n.status = 'succeeded' and (n.sort_at, n.id) > (r.sort_at, r.id))`
          : sql``
      }
      ${q.after ? sql`and (sort_at, id) < (${q.after.at}, ${q.after.id})` : sql``}
    order by sort_at desc, id desc
    limit ${q.limit + 1}`;
}
