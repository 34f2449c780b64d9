// The gateway's shared rate buckets: gateway_rate_buckets, one row per token bucket (a token's, or a
// tool's) that every gateway replica spends from. Replicas send what they spent in batches and get
// back what each bucket holds now, refilled by the database's clock.
import type { Sql } from '../db.js';
import type { Rate } from '../rate.js';

/**
 * Takes `spent[i]` from bucket `buckets[i]` (each refilled to now at `rate`, never above its burst; a
 * bucket without a row starts full) and returns what each holds after, by bucket. A bucket may go
 * below zero, to minus one burst at most: what replicas admitted together beyond it.
 */
export async function spendRateBuckets(
  sql: Sql,
  rate: Rate,
  buckets: string[],
  spent: number[],
): Promise<Map<string, number>> {
  if (buckets.length === 0) return new Map();
  const burst = rate.burst;
  // Rows are locked in the order given: callers sort the buckets, so two replicas' batches cannot deadlock.
  const rows = await sql<{ bucket: string; tokens: number }[]>`
    with spend as (
      select bucket, spent from unnest(${buckets}::text[], ${spent}::float8[]) as s(bucket, spent)
    )
    insert into gateway_rate_buckets as b (bucket, tokens, refilled_at)
    select bucket, greatest(-${burst}::float8, ${burst}::float8 - spent), now() from spend
    on conflict (bucket) do update set
      tokens = greatest(-${burst}::float8, least(${burst}::float8,
                 b.tokens + extract(epoch from now() - b.refilled_at)::float8 * ${rate.perSecond}::float8)
               - (select spent from spend where spend.bucket = excluded.bucket)),
      refilled_at = now()
    returning bucket, tokens`;
  return new Map(rows.map((r) => [r.bucket, r.tokens]));
}

/** Forgets the buckets named `<prefix>…` that have refilled at `rate` since (a full bucket is the same as none). */
export async function pruneRateBuckets(sql: Sql, prefix: string, rate: Rate): Promise<number> {
  const rows = await sql`
    delete from gateway_rate_buckets
    where starts_with(bucket, ${prefix})
      and refilled_at < now() - make_interval(secs => (${rate.burst}::float8 - tokens) / ${rate.perSecond}::float8)`;
  return rows.count;
}
