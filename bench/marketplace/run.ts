// bench/marketplace: p50/p99 latency of GET /api/marketplace over HTTP on a ledger of --runs runs
// (4 platforms each; 100,000 by default), beside a baseline measured in the same run: the same
// filters answered the way the original did — a plain ILIKE over the joined tables, tier computed
// per row, no indexes. The goal is every filter's p99 under --goal-ms (25 ms at 1,000,000 runs).
// Usage: npm run bench:marketplace [-- --requests 200 --runs 1000000 --servers 2000
//   --baseline-requests 20 --goal-ms 25] (--help lists the flags)
import { createSql } from '../../lib/db.js';
import { migrate } from '../../lib/migrate.js';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { freePort, type ManagedProcess } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { benchArgs, num } from '../support/args.js';
import { machineLine, markLoad } from '../support/machine.js';
import { count, DEFAULT_SEED, seedSql, startReadApi } from './seed.js';

const args = benchArgs(
  'bench:marketplace',
  'GET /api/marketplace over HTTP on a seeded ledger (runs × 4 platforms), each filter beside the\n' +
    "original's unindexed ILIKE query measured in the same run.",
  {
    requests: num(200, 'timed requests per case', { min: 1 }),
    runs: num(DEFAULT_SEED.runs, 'build runs seeded (4 platforms each)', { min: 1 }),
    servers: num(DEFAULT_SEED.servers, 'servers the runs belong to', { min: 1 }),
    // The baseline scans the whole ledger per query: fewer of them at a large size.
    'baseline-requests': num(0, 'timed baseline queries per case (0: requests ÷ 10, at least 10)'),
    'goal-ms': num(25, 'the p99 every filter must stay under', { min: 1 }),
  },
);
const requests = args.requests;
const size = { runs: args.runs, servers: args.servers };
const baselineRequests = args['baseline-requests'] || Math.max(10, Math.floor(requests / 10));
const goalMs = args['goal-ms'];
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(n: number, fn: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm caches and plans
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** The original's query shape: join, ILIKE on every column, tier derived per row in SQL, then limit. */
function baselineQuery(sql: ReturnType<typeof createSql>, filter: { tier?: string; type?: string; q?: string }) {
  const like = filter.q ? `%${filter.q}%` : undefined;
  return sql`
    select * from (
      select r.*, s.name, s.server_type as stype,
        (case when r.status = 'succeeded' and r.credential_health_status = 'healthy'
                and not exists (select 1 from build_artifact_platforms p where p.run_id = r.id and p.credential_health_status <> 'healthy')
              then (case when r.multi_arch then 'gold:' else 'silver:' end)
              else (case when r.multi_arch then 'watchlist-multi:' else 'watchlist:' end) end) || s.server_type as derived_tier,
        (select json_agg(p order by p.platform) from build_artifact_platforms p where p.run_id = r.id) as platforms
      from build_artifact_runs r join mcp_servers s on s.id = r.server_id
      where true
        ${filter.type ? sql`and s.server_type = ${filter.type}` : sql``}
        ${
          like
            ? sql`and (s.name ilike ${like} or r.manifest_tag ilike ${like} or r.manifest_digest ilike ${like}
                       or r.registry_image ilike ${like} or r.local_image ilike ${like} or r.source_repo ilike ${like})`
            : sql``
        }
    ) x
    where true ${filter.tier ? sql`and lower(derived_tier) = lower(${filter.tier})` : sql``}
    order by completed_at desc
    limit 50`;
}

async function main(): Promise<void> {
  const database = `mcp_host_bench_market_${process.pid}`;
  const pg = await resolvePostgres({ database });
  const temporal = await startTemporal({ port: await freePort() });
  const sql = createSql(pg.url, { max: 2 });
  let api: ManagedProcess | undefined;
  try {
    await migrate(sql);
    process.stdout.write(`seeding ${count(size.runs)} runs × 4 platforms, ${count(size.servers)} servers … `);
    const t0 = performance.now();
    await sql.unsafe(seedSql(size));
    // A ledger in steady state: hint bits set and statistics current, as autovacuum leaves it.
    await sql`vacuum analyze`;
    process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    const digest = (
      await sql<
        { d: string }[]
      >`select manifest_digest as d from build_artifact_runs where manifest_digest is not null limit 1 offset 5000`
    )[0]!.d;

    const read = await startReadApi({
      databaseUrl: pg.url,
      temporalAddress: temporal.address,
      adminToken: ADMIN_TOKEN,
      log: 'marketplace-api.log',
    });
    api = read.api;
    const get = async (query: string) => {
      const res = await fetch(`${read.url}/api/marketplace?limit=50${query}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status} for ${query}`);
      await res.arrayBuffer();
    };
    const cases: { name: string; query: string; filter: { tier?: string; type?: string; q?: string } }[] = [
      { name: 'no filter', query: '', filter: {} },
      { name: 'tier=gold:Router', query: '&tier=gold:Router', filter: { tier: 'gold:Router' } },
      { name: 'server_type=Slack', query: '&server_type=Slack', filter: { type: 'Slack' } },
      { name: 'q=<name fragment>', query: '&q=slack-17', filter: { q: 'slack-17' } },
      { name: 'q=<digest prefix>', query: `&q=${digest.slice(0, 19)}`, filter: { q: digest.slice(0, 19) } },
    ];
    const rows: string[][] = [];
    const load0 = markLoad();
    for (const c of cases) {
      const ours = await measure(requests, () => get(c.query));
      const base = await measure(baselineRequests, () => baselineQuery(sql, c.filter));
      rows.push([
        c.name,
        ours.p50.toFixed(1),
        ours.p99.toFixed(1),
        base.p50.toFixed(1),
        base.p99.toFixed(1),
        `${(base.p50 / ours.p50).toFixed(1)}×`,
      ]);
    }
    const header = [
      'case (limit 50)',
      'api p50 ms',
      'api p99 ms',
      'baseline p50 ms',
      'baseline p99 ms',
      'speed-up (p50)',
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    console.log(
      `\n${machineLine(
        load0,
        `ledger ${count(size.runs)} runs × 4 platforms, ${count(size.servers)} servers; ${requests} requests per case over HTTP (baseline: ${baselineRequests}, SQL only, no HTTP)`,
      )}`,
    );
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
    const worst = Math.max(...rows.map((r) => Number(r[2])));
    console.log(
      `goal: every filter's p99 < ${goalMs} ms → worst p99 ${worst.toFixed(1)} ms: ${worst < goalMs ? 'met' : 'MISSED'}`,
    );
  } finally {
    await api?.stop();
    await sql.end({ timeout: 5 });
    await temporal.stop();
    await dropDatabase(pg.url).catch(() => {});
    await pg.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
