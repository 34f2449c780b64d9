// bench/audit: the gateway audit's filtered, paged listing (GET /api/gateway/audit) over HTTP on a
// table of --rows rows (10,000,000 by default), as an admin and as an operator (whose rows are the
// calls to their servers or by them), each filter beside the unfiltered first page measured in the
// same run (the floor: a walk down the primary key). Seeded in SQL (generate_series, in chunks).
// Goal: every filtered page's p99 < 50 ms. Prints figures and the ratios; asserts nothing.
// Usage: npm run bench:audit [-- --rows 10000000 --requests 200 --chunk 1000000 --goal-ms 50] (--help)
import { randomBytes } from 'node:crypto';
import { createSql } from '../../lib/db.js';
import { gatewayAuditPage, type GatewayAuditFilter } from '../../lib/ledger/gateway-audit.js';
import { everyOwner, ownerScope, type OwnerScope } from '../../lib/ledger/scope.js';
import { migrate } from '../../lib/migrate.js';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { freePort, type ManagedProcess } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { pct, table } from '../api/common.js';
import { count, startReadApi } from '../marketplace/seed.js';
import { benchArgs, num } from '../support/args.js';
import { machineLine, markLoad, note as log } from '../support/machine.js';

const {
  rows,
  requests,
  chunk,
  'goal-ms': goalMs,
} = benchArgs(
  'bench:audit',
  'GET /api/gateway/audit (filtered, keyset-paged) over HTTP on a seeded gateway_audit, as an admin and\n' +
    'as an operator, each filter beside the unfiltered first page (the floor) measured in the same run.',
  {
    rows: num(10_000_000, 'gateway_audit rows seeded (generate_series)', { min: 1 }),
    requests: num(200, 'timed requests per case', { min: 1 }),
    chunk: num(1_000_000, 'rows per seeding statement', { min: 1 }),
    'goal-ms': num(50, 'the p99 every filtered page must stay under', { min: 1 }),
  },
);
const ADMIN_TOKEN = `bench-admin-${randomBytes(12).toString('hex')}`;
const SERVERS = 500;
const TOKENS = 100;
const OPERATORS = 10;

async function main(): Promise<void> {
  const database = `mcp_host_bench_audit_${process.pid}`;
  const pg = await resolvePostgres({ database });
  const temporal = await startTemporal({ port: await freePort() });
  const sql = createSql(pg.url, { max: 2 });
  let api: ManagedProcess | undefined;
  try {
    await migrate(sql);
    const ops = await sql<{ id: number }[]>`
      insert into users (email, role)
      select 'bench-audit-op-' || g || '@example.test', 'operator' from generate_series(1, ${OPERATORS}) g
      returning id`;
    const firstOp = Math.min(...ops.map((o) => o.id));
    // Each server belongs to one operator (server % 10); most calls are by the owner's own tokens,
    // one in ten by another operator's. Methods and outcomes as a gateway in use sees them: mostly
    // tools/call and ok, a few errors and refusals, rare unavailability.
    log(`seeding ${count(rows)} audit rows in chunks of ${count(chunk)}`);
    const t0 = performance.now();
    // The tail's ordering lock and NOTIFY per row are for live inserts; a bulk seed needs neither.
    await sql`alter table gateway_audit disable trigger gateway_audit_order`;
    await sql`alter table gateway_audit disable trigger gateway_audit_notify`;
    for (let from = 1; from <= rows; from += chunk) {
      const to = Math.min(rows, from + chunk - 1);
      await sql`
        insert into gateway_audit
          (at, owner_id, user_id, subject, token_id, server_id, session_id, method, name, outcome, http_status,
           duration_ms, request_bytes, response_bytes, arguments_digest, error)
        select now() - ((${rows}::bigint - g) * interval '20 milliseconds'),
               ${firstOp}::int + s % ${OPERATORS},
               ${firstOp}::int + (case when r2 < 0.1 then s + 1 else s end) % ${OPERATORS},
               'token:' || t, t, s, md5((g / 20)::text),
               m, case when m = 'tools/call' then 'tool-' || (g % 30) end,
               o,
               case o when 'ok' then 200 when 'error' then 200 when 'denied' then 403 when 'rate-limited' then 429 else 502 end,
               r2 * 200, 200 + (g % 800), 300 + (g % 4000),
               case when m = 'tools/call' then md5(g::text) end,
               case when o = 'error' then 'tool failed: ' || (g % 17) end
        from (
          select g, r2,
                 1 + (hashint4(g::int) & 2147483647) % ${SERVERS} as s,
                 1 + (hashint4(g::int + 7) & 2147483647) % ${TOKENS} as t,
                 (array['tools/call','tools/call','tools/call','tools/call','tools/call','tools/call','tools/call',
                        'tools/list','initialize','resources/read'])[1 + (hashint4(g::int + 13) & 2147483647) % 10] as m,
                 case when r1 < 0.9 then 'ok' when r1 < 0.96 then 'error' when r1 < 0.99 then 'denied'
                      when r1 < 0.999 then 'rate-limited' else 'unavailable' end as o
          from (select g, random() as r1, random() as r2 from generate_series(${from}::bigint, ${to}::bigint) g) x
        ) y`;
      log(`  ${count(to)} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    await sql`alter table gateway_audit enable trigger gateway_audit_order`;
    await sql`alter table gateway_audit enable trigger gateway_audit_notify`;
    await sql`select setval(pg_get_serial_sequence('gateway_audit', 'id'), (select max(id) from gateway_audit))`;
    // A table in steady state: hint bits set and statistics current, as autovacuum leaves it.
    await sql`vacuum analyze gateway_audit`;
    const seedSeconds = (performance.now() - t0) / 1000;
    log(`seeded in ${seedSeconds.toFixed(0)} s`);

    const read = await startReadApi({
      databaseUrl: pg.url,
      temporalAddress: temporal.address,
      adminToken: ADMIN_TOKEN,
      log: 'audit-api.log',
    });
    api = read.api;
    const base = read.url;
    const post = async (path: string, json: unknown, token = ADMIN_TOKEN) => {
      const res = await fetch(base + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(json),
      });
      if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { token: string };
    };
    const operatorToken = (await post('/api/tokens', { name: 'bench-audit', user_id: firstOp })).token;

    /** One page; returns the next page's `before` (the X-Next-Before header). */
    const page = async (query: string, token: string) => {
      const res = await fetch(`${base}/api/gateway/audit?limit=50${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status} for ${query}: ${await res.text()}`);
      await res.arrayBuffer();
      return res.headers.get('x-next-before');
    };
    /** A case's request: its first page, or (`page` > 1) that page, reached by following X-Next-Before. */
    const measure = async (query: string, token: string, pageNo = 1) => {
      let q = query;
      for (let i = 1; i < pageNo; i++) {
        const before = await page(q, token);
        if (!before) break;
        q = `${query}&before=${before}`;
      }
      for (let i = 0; i < 20; i++) await page(q, token); // warm caches and plans
      const times: number[] = [];
      for (let i = 0; i < requests; i++) {
        const t = performance.now();
        await page(q, token);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const before = new URLSearchParams(q).get('before');
      return { p50: pct(times, 50), p99: pct(times, 99), before: before === null ? undefined : Number(before) };
    };
    /**
     * The plan of the query the route runs for a case (the ledger's own function, so the same SQL):
     * pages read (shared buffers hit + read) depend on the plan alone, not on how busy the machine is.
     */
    const explain = async (query: string, scope: OwnerScope, before: number | undefined) => {
      const p = new URLSearchParams(query);
      const f: GatewayAuditFilter = {
        ...(p.has('server') && { serverId: Number(p.get('server')) }),
        ...(p.has('token') && { tokenId: Number(p.get('token')) }),
        ...(p.has('outcome') && { outcome: p.get('outcome') as GatewayAuditFilter['outcome'] }),
        ...(p.has('method') && { method: p.get('method')! }),
        ...(p.has('since') && { since: new Date(p.get('since')!) }),
      };
      const [row] = await sql<{ 'QUERY PLAN': [{ Plan: Record<string, number>; 'Execution Time': number }] }[]>`
        explain (analyze, buffers, format json) ${gatewayAuditPage(sql, scope, f, { before, limit: 51 }) as never}`;
      const plan = row!['QUERY PLAN'][0];
      const node = (n: Record<string, unknown>): string =>
        [
          `${String(n['Node Type'])}${n['Index Name'] ? ` ${String(n['Index Name'])}` : ''}`,
          ...((n.Plans as Record<string, unknown>[] | undefined) ?? []).map(node),
        ].join(' › ');
      return {
        buffers: plan.Plan['Shared Hit Blocks']! + plan.Plan['Shared Read Blocks']!,
        ms: plan['Execution Time'],
        plan: node(plan.Plan),
      };
    };

    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
    const server = 1 + (firstOp % SERVERS); // any server id; the operator's own below
    const ownServer = SERVERS - (SERVERS % OPERATORS); // server % 10 = 0: the first operator's
    const cases: { name: string; query: string; token: string; page?: number }[] = [
      { name: 'admin: no filter (floor)', query: '', token: ADMIN_TOKEN },
      { name: 'admin: server', query: `&server=${server}`, token: ADMIN_TOKEN },
      { name: 'admin: server + outcome=error', query: `&server=${server}&outcome=error`, token: ADMIN_TOKEN },
      { name: 'admin: outcome=denied', query: '&outcome=denied', token: ADMIN_TOKEN },
      { name: 'admin: outcome=unavailable (0.1 %)', query: '&outcome=unavailable', token: ADMIN_TOKEN },
      {
        name: 'admin: method=resources/read + outcome=rate-limited',
        query: '&method=resources/read&outcome=rate-limited',
        token: ADMIN_TOKEN,
      },
      { name: 'admin: token + since 1 h', query: `&token=7&since=${hourAgo}`, token: ADMIN_TOKEN },
      {
        name: 'admin: server + since 1 d, page 3',
        query: `&server=${server}&since=${dayAgo}`,
        token: ADMIN_TOKEN,
        page: 3,
      },
      { name: 'operator: no filter (floor)', query: '', token: operatorToken },
      { name: 'operator: own server', query: `&server=${ownServer}`, token: operatorToken },
      { name: 'operator: outcome=unavailable', query: '&outcome=unavailable', token: operatorToken },
      {
        name: 'operator: method=tools/call + outcome=error, page 3',
        query: '&method=tools/call&outcome=error',
        token: operatorToken,
        page: 3,
      },
    ];
    const load0 = markLoad();
    const results: {
      name: string;
      p50: number;
      p99: number;
      floor: number;
      plan: { buffers: number; ms: number; plan: string };
    }[] = [];
    let floor = 0;
    for (const c of cases) {
      log(c.name);
      const r = await measure(c.query, c.token, c.page);
      if (c.query === '') floor = r.p99;
      const plan = await explain(c.query, c.token === ADMIN_TOKEN ? everyOwner : ownerScope(firstOp), r.before);
      results.push({ name: c.name, ...r, floor, plan });
    }
    console.log(
      `\n${machineLine(
        load0,
        `gateway_audit ${count(rows)} rows (seeded in ${seedSeconds.toFixed(0)} s), ${SERVERS} servers, ${TOKENS} tokens, ${OPERATORS} operators; ` +
          `${requests} requests per case over HTTP, limit 50`,
      )}`,
    );
    table(
      ['case', 'p50 ms', 'p99 ms', 'p99 ÷ floor p99', 'pages read', 'SQL ms'],
      results.map((r) => [
        r.name,
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        (r.p99 / r.floor).toFixed(2),
        String(r.plan.buffers),
        r.plan.ms.toFixed(2),
      ]),
    );
    console.log(
      `"pages read": shared buffers hit + read by EXPLAIN (ANALYZE, BUFFERS) of the route's query; "SQL ms": its execution time`,
    );
    for (const r of results) console.log(`  ${r.name}: ${r.plan.plan}`);
    const worst = Math.max(...results.filter((r) => !r.name.endsWith('(floor)')).map((r) => r.p99));
    console.log(
      `goal: every filtered page's p99 < ${goalMs} ms → worst ${worst.toFixed(1)} ms: ${worst < goalMs ? 'met' : 'MISSED'}`,
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
