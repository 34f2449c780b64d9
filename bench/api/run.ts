// bench/api: load on the running stack (issue 9, item 1). Starts Temporal, a fresh Postgres database
// seeded with the marketplace ledger (100,000 runs × 4 platforms), and the API + worker pair through
// the stack scripts, then measures with autocannon and a raw SSE client:
//   1. GET /api/servers and GET /api/marketplace: sustained requests/s, p50/p99;
//   2. POST /api/governance/workflows/:id/runs (rows + a `governance/<run>` workflow in one
//      transaction): starts/s and p50/p99, at a fixed rate (the goal: 200/s, p99 < 50 ms) and at
//      saturation, with CPU counted until the worker and Temporal have run every new workflow's
//      first task; afterwards rows in the ledger, workflows in Temporal and 2xx answers must agree;
//   3. SSE fan-out on GET /api/servers/stream: N subscribers, status events written the way
//      recordServerStatus writes them; delivery latency per subscriber per event, and lost events;
//   4. baselines from the same run: GET /healthz (the framework floor), a Temporal start alone (no
//      API, no database) at the same offered rate, the fan-out to 1 subscriber, and the durable
//      minimum of a start — a bare client starting a workflow whose one workflow task runs one local
//      activity inserting one row (bench/api/baseline-*.ts), on a worker of its own, saturated and at
//      the rate of mcp-host's half-saturated case.
// Each phase also reports how busy the machine was and how much of that was not this benchmark
// (other work on a shared machine skews every figure). Prints figures; asserts nothing.
// Usage: npm run bench:api [-- --duration 10 --connections 10 --post-rate 200 --post-connections 32
//   --post-amount 1000 --subscribers 1000 --events 100 --event-rate 20 --pool-max 10 --cpu-prof
//   --cases reads,fanout,starts --runs 100000 --servers 2000]
//
// The workflow-starting POSTs are counted exactly, so that 2xx answers can be set against ledger rows
// and Temporal workflows: autocannon runs the saturated case with a fixed number of requests (a timed
// autocannon run drops the answers still in flight when its time is up), and the fixed-rate case is an
// open-loop generator of its own here — requests sent every 1/rate s whether or not earlier ones have
// been answered, latency counted from the moment each was due — because autocannon's overallRate sends
// each connection's share of a second in one burst at the start of that second.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createSql } from '../../lib/db.js';
import { parseEnvironment } from '../../lib/env.js';
import { migrate } from '../../lib/migrate.js';
import { loadPayloadCodec } from '../../lib/ledger/payload-codec-keys.js';
import { loadKeyring } from '../../lib/secrets/keys.js';
import { dataConverter } from '../../lib/temporal.js';
import { buildDist, DIST_NODE_OPTIONS } from '../../scripts/build-dist.js';
import { startApi, startWorker } from '../../scripts/stack/app.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { freePort, spawnManaged, waitUntil } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { count, DEFAULT_SEED, seedSql } from '../marketplace/seed.js';
import { log, sleep, table } from './common.js';
import { ROLES, quiesce, withCpu, type CpuShare, type Role } from './cpu.js';
import { fanout } from './fanout.js';
import { closed, httpCall, load, paced, type LoadResult } from './load.js';
import { benchArgs, bool, num, str } from '../support/args.js';
import { machineLine, markLoad } from '../support/machine.js';

const args = benchArgs(
  'bench:api',
  'Load on the whole stack (API + worker, Temporal, Postgres): GETs, governance-run starts through the API\n' +
    'beside a bare client starting a workflow of the same durable minimum, and SSE fan-out.',
  {
    duration: num(10, 'seconds per timed case (GETs, paced starts)', { min: 1 }),
    connections: num(10, 'autocannon connections (GETs, saturated starts)', { min: 1 }),
    'post-rate': num(200, 'workflow starts offered per second (the fixed-rate case)', { min: 1 }),
    'post-connections': num(32, 'sockets for the paced starts', { min: 1 }),
    'post-amount': num(1000, 'requests of the saturated start cases (mcp-host and the baseline)', { min: 1 }),
    subscribers: num(1000, 'SSE subscribers of the fan-out', { min: 1 }),
    events: num(100, 'status events sent to them', { min: 1 }),
    'event-rate': num(20, 'events per second', { min: 1 }),
    runs: num(DEFAULT_SEED.runs, 'build runs seeded (4 platforms each)', { min: 1 }),
    servers: num(DEFAULT_SEED.servers, 'servers seeded (GET /api/servers lists every one)', { min: 1 }),
    'pool-max': num(0, "DATABASE_POOL_MAX of the API and the worker (0: the API's default)"),
    'cpu-prof': bool("V8 CPU profiles of the API's and the worker's main threads, to .data/bench-logs/cpu-prof"),
    cases: str('reads,fanout,starts', 'which phases run, comma-separated: reads, fanout, starts'),
  },
);

const opts = {
  duration: args.duration,
  connections: args.connections,
  postRate: args['post-rate'],
  postConnections: args['post-connections'],
  postAmount: args['post-amount'],
  subscribers: args.subscribers,
  events: args.events,
  eventRate: args['event-rate'],
  runs: args.runs,
  servers: args.servers,
  poolMax: args['pool-max'],
  cpuProf: args['cpu-prof'],
  cases: new Set(args.cases.split(',')),
};
for (const c of opts.cases)
  if (!['reads', 'fanout', 'starts'].includes(c)) throw new Error(`--cases: no phase ${c} (reads, fanout, starts)`);

/** Wall-clock milliseconds with sub-millisecond resolution (one clock for sender and receivers). */

// 1,000 subscribers hold 2,000 sockets (both ends live in this process and the API, which inherits
// the limit): raise the soft limit of open files when it is short, by running again under `ulimit -n`.
function ensureFileLimit(): void {
  const needed = opts.subscribers * 2 + 4096;
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  if (soft === undefined || soft >= needed || process.env.BENCH_API_RAISED_LIMIT) return;
  const target = hard === undefined || hard === Infinity ? needed : Math.min(hard, needed);
  log(`open files limit ${soft} < ${needed}: running again under ulimit -n ${target}`);
  const res = spawnSync(
    'sh',
    [
      '-c',
      'ulimit -n "$0" && exec "$@"',
      String(target),
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, BENCH_API_RAISED_LIMIT: '1' } },
  );
  process.exit(res.status ?? 1);
}

// ---------------------------------------------------------------------------------------------

const seed = { runs: opts.runs, servers: opts.servers };

async function main(): Promise<void> {
  ensureFileLimit();
  const stops: { what: string; stop: () => Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of stops.splice(0).reverse()) {
        await s.stop().catch((err: unknown) => log(`stopping ${s.what}: ${(err as Error).message}`));
      }
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the stack`);
      void stop().finally(() => process.exit(130));
    });
  }
  const load0 = markLoad();

  try {
    const logDir = join(DATA_DIR, 'bench-logs');
    const database = `mcp_host_bench_api_${process.pid}`;
    const pg = await resolvePostgres({ database });
    stops.push({ what: 'postgres', stop: () => pg.stop() });
    stops.push({ what: `database ${database}`, stop: () => dropDatabase(pg.url) });
    const sql = createSql(pg.url, { max: 4 });
    stops.push({ what: 'bench pool', stop: () => sql.end({ timeout: 5 }) });

    await migrate(sql);
    log(`seeding ${count(seed.runs)} runs × 4 platforms, ${count(seed.servers)} servers (bench/marketplace/seed.sql)`);
    await sql.unsafe(seedSql(seed));
    await sql`vacuum analyze`;

    const temporal = await startTemporal({ port: await freePort(), logDir });
    stops.push({ what: 'temporal', stop: () => temporal.stop() });

    const port = await freePort();
    const adminToken = `bench-admin-${randomUUID()}`;
    const taskQueue = `bench-api-${process.pid}`;
    // The env test/support/harness.ts gives the pair, spelled out so a developer's .env cannot change it.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info', // the default; the worker is "ready" once it logs "worker started"
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BIND_ADDRESS: '127.0.0.1',
      BIND_PORT: String(port),
      ADMIN_TOKEN: adminToken,
      SECRETS_KEY: randomBytes(32).toString('base64'),
      DOCKER_HOST: 'unix:///nonexistent/docker.sock', // nothing here runs a container
      ...(opts.poolMax ? { DATABASE_POOL_MAX: String(opts.poolMax) } : {}),
    };
    const profiles = join(logDir, 'cpu-prof');
    const profile = {
      NODE_OPTIONS: `--require ${join(import.meta.dirname, 'cpu-prof.cjs')}`,
      BENCH_CPU_PROF_DIR: profiles,
    };
    const api = await startApi(opts.cpuProf ? { ...env, ...profile } : env, join(logDir, 'api-bench-api.log'));
    stops.push({ what: 'api', stop: () => api.stop() });
    const worker = await startWorker(opts.cpuProf ? { ...env, ...profile } : env, join(logDir, 'api-bench-worker.log'));
    stops.push({ what: 'worker', stop: () => worker.stop() });
    const baselineQueue = `bench-baseline-${process.pid}`;
    const baselineLog = join(logDir, 'api-bench-baseline-worker.log');
    // Run as mcp-host's worker is: from a bundle, so the ratio compares like with like.
    const [baselineEntry] = await buildDist({ 'bench-baseline-worker': 'bench/api/baseline-worker.ts' });
    const baselineWorker = spawnManaged('baseline worker', process.execPath, [...DIST_NODE_OPTIONS, baselineEntry!], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: pg.url,
        TEMPORAL_ADDRESS: temporal.address,
        TASK_QUEUE: baselineQueue,
      },
      logFile: baselineLog,
    });
    stops.push({ what: 'baseline worker', stop: () => baselineWorker.stop() });
    await waitUntil('baseline worker', async () => readFileSync(baselineLog, 'utf8').includes('"worker started"'), {
      proc: baselineWorker,
      timeoutMs: 120_000,
    });
    const apiUrl = `http://127.0.0.1:${port}`;
    const connection = await Connection.connect({ address: temporal.address });
    stops.push({ what: 'temporal client', stop: () => connection.close() });
    const codec = await loadPayloadCodec(sql, loadKeyring(parseEnvironment(env)));
    const client = new Client({ connection, dataConverter: dataConverter(codec) });
    // The baseline's client: the SDK's defaults, no codec.
    const bare = new Client({ connection });

    const stackPids = async (): Promise<[Role, number][]> => [
      ['bench', process.pid],
      ['api', api.child.pid!],
      ['worker', worker.child.pid!],
      ['baseline', baselineWorker.child.pid!],
      ['temporal', temporal.process.child.pid!],
      ...(await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map(
        (r): [Role, number] => ['postgres', r.pid],
      ),
    ];
    const busyPids = [worker.child.pid!, baselineWorker.child.pid!, temporal.process.child.pid!, api.child.pid!];
    const idle = async () => {
      const waited = await quiesce(busyPids);
      if (waited > 1.5) log(`waited ${waited.toFixed(0)} s for the worker and Temporal to go idle`);
    };
    const measure = async <T>(fn: () => Promise<T>) => {
      await idle();
      return withCpu(stackPids, fn);
    };
    // A start's work does not end with its answer: the worker still runs the new workflow's first
    // task and Temporal records it. Workflow-starting cases therefore count CPU until the stack is
    // idle again, and report how long that took after the last answer (`settle`).
    const measureSettled = async (fn: () => Promise<LoadResult>) => {
      await idle();
      return withCpu(stackPids, async () => {
        const result = await fn();
        const waited = await quiesce(busyPids);
        return { ...result, settle: Math.max(0, waited - 1) }; // less the idle second that ended the wait
      });
    };

    // --- 1 + 4: reads, beside the framework floor
    const floor = await measure(() =>
      load('GET /healthz (floor)', {
        url: `${apiUrl}/healthz`,
        connections: opts.connections,
        duration: opts.duration,
      }),
    );
    const reads = !opts.cases.has('reads')
      ? []
      : [
          await measure(() =>
            load('GET /api/servers', {
              url: `${apiUrl}/api/servers`,
              token: adminToken,
              connections: opts.connections,
              duration: opts.duration,
            }),
          ),
          // The listing's last page: a keyset walk from the end must cost what the first page does.
          await measure(async () => {
            const [last] = await sql<{ after: number }[]>`
              select coalesce(min(id), 1) - 1 as after from (select id from mcp_servers order by id desc limit 100) x`;
            return load(`GET /api/servers, last page of ${count(seed.servers)}`, {
              url: `${apiUrl}/api/servers?after=${last!.after}`,
              token: adminToken,
              connections: opts.connections,
              duration: opts.duration,
            });
          }),
          await measure(() =>
            load('GET /api/marketplace', {
              url: `${apiUrl}/api/marketplace`,
              token: adminToken,
              connections: opts.connections,
              duration: opts.duration,
            }),
          ),
        ];

    // --- 3 + 4: SSE fan-out, 1 subscriber first (the baseline), on a seeded server
    const [server] = await sql<{ id: number }[]>`select id from mcp_servers order by id limit 1`;
    const meter = (fn: () => Promise<object>) => withCpu(stackPids, fn);
    const fanouts = async () => {
      await idle();
      const single = await fanout(sql, apiUrl, adminToken, server!.id, 1, opts.events, opts.eventRate, meter);
      await idle();
      const many = await fanout(
        sql,
        apiUrl,
        adminToken,
        server!.id,
        opts.subscribers,
        opts.events,
        opts.eventRate,
        meter,
      );
      return { single, many };
    };
    const sse = opts.cases.has('fanout') ? await fanouts() : undefined;

    // --- 2 + 4: workflow starts: Temporal alone (no worker polls its queue), then through the API;
    // last, as the worker then runs each new workflow's first activity.
    const startCases = async () => {
      let seq = 0;
      const alone = await measure(() =>
        paced(`Temporal start alone at ${opts.postRate}/s`, 1, opts.postRate, opts.duration, async () => {
          await client.workflow.start('benchNoop', {
            taskQueue: `bench-noop-${process.pid}`,
            workflowId: `bench-noop/${seq++}`,
            args: [],
          });
          return true;
        }),
      );
      const created = await fetch(`${apiUrl}/api/governance/workflows`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench', workflow_type: 'promotion', tier: 'Bench', steps: [{ action: 'a' }] }),
      });
      if (created.status !== 201)
        throw new Error(`creating the governance workflow: HTTP ${created.status} ${await created.text()}`);
      const wf = (await created.json()) as { id: number };
      const postUrl = `${apiUrl}/api/governance/workflows/${wf.id}/runs`;
      const body = JSON.stringify({ notes: [] });
      const agent = new Agent({ keepAlive: true, maxSockets: opts.postConnections });
      const posts = [
        await measureSettled(() =>
          paced(
            `POST …/runs at ${opts.postRate}/s`,
            opts.postConnections,
            opts.postRate,
            opts.duration,
            httpCall(agent, postUrl, adminToken, body),
          ),
        ),
        await measureSettled(() =>
          load('POST …/runs, saturated', {
            url: postUrl,
            token: adminToken,
            method: 'POST',
            body,
            connections: opts.connections,
            amount: opts.postAmount,
          }),
        ),
      ];
      // And below capacity: half the saturated throughput counted until the stack settled, where
      // queueing no longer dominates latency.
      const half = Math.max(1, Math.round(settledRate(posts[1]!, posts[1]!.settle) / 2));
      posts.push(
        await measureSettled(() =>
          paced(
            `POST …/runs at ${half}/s (½ saturated)`,
            opts.postConnections,
            half,
            opts.duration,
            httpCall(agent, postUrl, adminToken, body),
          ),
        ),
      );
      agent.destroy();

      // The baseline, right after: a bare client, saturated as the POSTs were (same concurrency, same
      // count), then at the rate of mcp-host's half-saturated case.
      let baseSeq = 0;
      const baselineStart = async () => {
        await bare.workflow.start('benchBaseline', {
          taskQueue: baselineQueue,
          workflowId: `bench-baseline/${baseSeq++}`,
          args: [],
        });
        return true;
      };
      const baseline = [
        await measureSettled(() =>
          closed('baseline start, saturated', opts.connections, opts.postAmount, baselineStart),
        ),
        await measureSettled(() =>
          paced(`baseline start at ${half}/s`, opts.postConnections, half, opts.duration, baselineStart),
        ),
      ];
      const baselineRows = (await sql<{ n: number }[]>`select count(*)::int as n from bench_baseline_rows`)[0]!.n;
      // Every request has been answered: each answer came after its commit.
      const answered = posts.reduce((n, p) => n + p.ok, 0);
      const rows = (
        await sql<{ n: number }[]>`select count(*)::int as n from governance_workflow_runs where workflow_id = ${wf.id}`
      )[0]!.n;
      const audits = (
        await sql<{ n: number }[]>`
        select count(*)::int as n from governance_audit_logs a join governance_workflow_runs r on r.id = a.workflow_run_id
        where r.workflow_id = ${wf.id} and a.event_type = 'run_created'`
      )[0]!.n;
      // Workflows Temporal holds for this task queue (visibility lags a little: poll until it settles).
      let workflows: number;
      for (const deadline = Date.now() + 30_000; ; await sleep(500)) {
        workflows = (await client.workflow.count(`TaskQueue = "${taskQueue}" AND WorkflowType = "governanceRun"`))
          .count;
        if (workflows === rows || Date.now() > deadline) break;
      }
      return { alone, posts, half, baseline, baselineRows, answered, rows, audits, workflows };
    };
    const starts = opts.cases.has('starts') ? await startCases() : undefined;

    // --- report
    const cpu = cpus();
    const cpuCols = (c: CpuShare) => [c.busy.toFixed(0), c.others.toFixed(0)];
    console.log(`\n${machineLine(load0)}`);
    console.log(
      `stack: API + worker (LOG_LEVEL=info, DATABASE_POOL_MAX=${opts.poolMax || 'default (10)'}), Temporal dev server (in-memory), Postgres (${pg.source}); ` +
        `ledger: ${count(seed.runs)} runs × 4 platforms, ${count(seed.servers)} servers; load generators and SSE clients in this process, same machine`,
    );
    console.log(
      `"busy %": the machine's CPU use over the case, of all ${cpu.length} cores; "others %": the part not used by this benchmark's processes (other work on the machine)`,
    );
    console.log(
      `\nHTTP: GETs with autocannon for ${opts.duration} s each; workflow starts at ${opts.postRate}/s offered (open loop, ${opts.duration} s), saturated (autocannon, ${opts.postAmount} requests), then at half the saturated rate (open loop, ${opts.duration} s)`,
    );
    const http: (LoadResult & { cpu: CpuShare; settle?: number })[] = [
      floor,
      ...reads,
      ...(starts ? [starts.alone, ...starts.posts, ...starts.baseline] : []),
    ];
    console.log(
      `"settle s": for workflow starts, how long the worker and Temporal stayed busy after the last answer (each new workflow's first task); "settled/s": 2xx ÷ (sending time + settle), what the stack sustains`,
    );
    table(
      [
        'case',
        'conns',
        'offered/s',
        '2xx/s',
        'p50 ms',
        'p99 ms',
        '2xx',
        'non-2xx+err',
        '÷ healthz req/s',
        'settle s',
        'settled/s',
        'busy %',
        'others %',
      ],
      http.map((r) => [
        r.name,
        String(r.connections),
        r.rate ? String(r.rate) : 'max',
        r.reqPerSec.toFixed(0),
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        String(r.ok),
        String(r.bad),
        r === starts?.alone || starts?.baseline.includes(r as never) ? '-' : (r.reqPerSec / floor.reqPerSec).toFixed(3),
        r.settle === undefined ? '-' : r.settle.toFixed(1),
        r.settle === undefined ? '-' : settledRate(r, r.settle).toFixed(0),
        ...cpuCols(r.cpu),
      ]),
    );
    console.log(
      `\nCPU per 2xx request, by process (ms; from /proc, 10 ms ticks; "postgres" is this database's backends only; "bench" is the load generator; workflow starts until settled)`,
    );
    table(
      ['case', ...ROLES, 'stack less bench', '→ 2 cores fit at most (req/s)'],
      http.map((r) => {
        const per = (ms: number) => ms / Math.max(1, r.ok);
        const stack = ROLES.filter((role) => role !== 'bench').reduce((n, role) => n + per(r.cpu.ms[role]), 0);
        return [
          r.name,
          ...ROLES.map((role) => per(r.cpu.ms[role]).toFixed(2)),
          stack.toFixed(2),
          stack > 0 ? ((cpu.length * 1000) / stack).toFixed(0) : '-',
        ];
      }),
    );
    if (starts) {
      const { alone, posts, half, baseline, baselineRows, answered, rows, audits, workflows } = starts;
      console.log(
        `\nworkflow starts through the API: ${answered} answered 2xx; ${rows} rows in governance_workflow_runs; ${audits} run_created audit rows; ` +
          `${workflows} governanceRun workflows in Temporal → ${answered === rows && rows === workflows && rows === audits ? 'all agree' : 'MISMATCH'}`,
      );
      console.log(
        `goal 200 starts/s with p99 < 50 ms → at ${opts.postRate}/s offered: ${posts[0]!.reqPerSec.toFixed(0)}/s, p99 ${posts[0]!.p99.toFixed(1)} ms ` +
          `(Temporal start alone at the same rate: ${alone.reqPerSec.toFixed(0)}/s, p99 ${alone.p99.toFixed(1)} ms); saturated: ${posts[1]!.reqPerSec.toFixed(0)}/s, p99 ${posts[1]!.p99.toFixed(1)} ms; ` +
          `at ${half}/s: p99 ${posts[2]!.p99.toFixed(1)} ms; sustained until settled: ${posts.map((p) => settledRate(p, p.settle).toFixed(0)).join(', ')}/s`,
      );

      const ours = settledRate(posts[1]!, posts[1]!.settle);
      const theirs = settledRate(baseline[0]!, baseline[0]!.settle);
      console.log(
        `\nstarts against the engine's limit: mcp-host sustains ${ours.toFixed(0)}/s (saturated POST …/runs, until settled; p99 ${posts[1]!.p99.toFixed(1)} ms), ` +
          `the baseline (bare client, one workflow task, one local activity inserting one row; ${baselineRows} rows) ${theirs.toFixed(0)}/s (p99 ${baseline[0]!.p99.toFixed(1)} ms) ` +
          `→ ratio ${(ours / theirs).toFixed(2)}× (goal ≥ 0.85×); at ${half}/s (half of mcp-host's): mcp-host p99 ${posts[2]!.p99.toFixed(1)} ms (goal < 50 ms), baseline p99 ${baseline[1]!.p99.toFixed(1)} ms`,
      );
    }
    if (sse) {
      const { single, many } = sse;
      console.log(
        `\nSSE fan-out on GET /api/servers/stream?server_id=… (${opts.events} status events at ${opts.eventRate}/s; latency = receipt − send, per subscriber per event)`,
      );
      table(
        [
          'subscribers',
          'deliveries',
          'p50 ms',
          'p99 ms',
          'max ms',
          'lost',
          'duplicates',
          'connect s',
          'p99 ÷ 1-subscriber p99',
          'busy %',
          'others %',
        ],
        [single, many].map((f) => [
          String(f.subscribers),
          String(f.subscribers * f.events - f.lost),
          f.p50.toFixed(1),
          f.p99.toFixed(1),
          f.max.toFixed(1),
          String(f.lost),
          String(f.duplicates),
          f.connectSeconds.toFixed(1),
          (f.p99 / single.p99).toFixed(1),
          ...cpuCols(f.cpu),
        ]),
      );
      console.log(
        `CPU per delivery (µs; as above): ${[single, many]
          .map((f) => {
            const deliveries = Math.max(1, f.subscribers * f.events - f.lost);
            return `${f.subscribers} subscriber(s): ${ROLES.map((role) => `${role} ${((f.cpu.ms[role] * 1000) / deliveries).toFixed(0)}`).join(', ')}`;
          })
          .join('; ')}`,
      );
      console.log(
        `goal ${opts.subscribers} subscribers, delivery p99 < 200 ms, nothing lost → p99 ${many.p99.toFixed(1)} ms, ${many.lost} lost`,
      );
    }
    if (opts.cpuProf)
      console.log(
        `\nthe API's and the worker's CPU profiles go to ${profiles} when they stop (open them in Chrome DevTools or speedscope)`,
      );
  } finally {
    await stop();
  }
}

/** Starts per second counting the time the stack took to settle after the last answer. */
function settledRate(r: LoadResult, settle: number): number {
  return r.ok / (r.ok / Math.max(r.reqPerSec, 1e-9) + settle);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
