// bench/gateway: what the gateway adds to an MCP call (issue 16). One trivial MCP server (the SDK's
// Streamable HTTP transport, one `echo` tool: bench/gateway/echo-server.ts) is called with
// `tools/call` at concurrency 1, 16 and 64 — each client a real MCP session (initialize once, then
// calls, one in flight at a time, on a keep-alive connection of its own) — three ways in one run:
//   1. directly (the baseline);
//   2. through mcp-host's gateway, `/mcp/<server-id>`, in front of the same server (a child process
//      of its own, on a database of its own, authenticated with a bearer token like any client);
//   3. through a peer: supergateway (stdio → Streamable HTTP, stateful), which starts the same server
//      over stdio, one child per session as it always does.
// The three run back to back at each concurrency, so that load from elsewhere on a shared machine
// skews them alike. Then one gateway process holds 1,000 sessions, each with its GET stream open, and
// its resident memory is read. Prints figures, the ratios to the direct baseline and to the peer, and
// whether each of the issue's goals is met; asserts nothing.
// Usage: npm run bench:gateway [-- --duration 3 --warmup 0.5 --concurrency 1,16,64 --sessions 1000
//   --targets direct,gateway,peer --hold 1 --gateway-node-args='--max-semi-space-size=1' --cpu-prof]
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSql, type Sql } from '../../lib/db.js';
import { bootstrapAdmin } from '../../lib/ledger/bootstrap.js';
import { migrate } from '../../lib/migrate.js';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { dropDatabase, ensureDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { buildDist, DIST_NODE_OPTIONS } from '../../scripts/build-dist.js';
import { freePort, portOpen, spawnManaged, waitUntil, type ManagedProcess } from '../../scripts/stack/process.js';
import { log, pct, sleep } from '../api/common.js';
import { machineTicks, processTicks, TICK_MS } from '../api/cpu.js';
import { report, ROLES, type CaseResult, type CpuShare, type Role } from './report.js';
import { McpSession } from './session.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}
function num(name: string, fallback: number): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} takes a number`);
  return value;
}

const opts = {
  duration: num('duration', 3),
  warmup: num('warmup', 0.5),
  concurrency: flag('concurrency', '1,16,64').split(',').map(Number),
  sessions: num('sessions', 1000),
  /** Seconds the GET streams stay open before memory is read (longer to inspect the processes meanwhile). */
  hold: num('hold', 1),
  /** Which of direct, gateway and peer to measure (all by default; direct is the baseline of the others). */
  targets: flag('targets', 'direct,gateway,peer').split(','),
  /** Node options for the gateway process, to try heap settings (`--gateway-node-args=--max-semi-space-size=4`). */
  gatewayNodeArgs: (process.argv.find((a) => a.startsWith('--gateway-node-args=')) ?? '=')
    .split('=')
    .slice(1)
    .join('=')
    .split(' ')
    .filter(Boolean),
  /** A V8 CPU profile of the gateway process, written to .data/bench-logs/cpu-prof when it stops. */
  cpuProf: process.argv.includes('--cpu-prof'),
};
const maxConcurrency = Math.max(...opts.concurrency);
const logDir = join(DATA_DIR, 'bench-logs');
const ECHO_SERVER = join(import.meta.dirname, 'echo-server.ts');

// ---------------------------------------------------------------------------------------------
// Processes and what they cost

/** `pid` and every process below it (the peer's children, and their shells). */
function withDescendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(parents.get(all[i]!) ?? []));
  return all;
}

async function withCpu<T>(pids: () => Promise<[Role, number][]>, fn: () => Promise<T>): Promise<T & { cpu: CpuShare }> {
  const roles = new Map((await pids()).map(([role, pid]) => [pid, role]));
  const before = new Map([...roles.keys()].map((pid) => [pid, processTicks(pid)]));
  const m0 = machineTicks();
  const result = await fn();
  const m1 = machineTicks();
  const ms = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<Role, number>;
  let ours = 0;
  for (const [pid, role] of roles) {
    const used = Math.max(0, processTicks(pid) - before.get(pid)!);
    ours += used;
    ms[role] += used * TICK_MS;
  }
  const total = m1.total - m0.total || 1;
  const busy = ((m1.busy - m0.busy) / total) * 100;
  return { ...result, cpu: { busy, others: Math.max(0, busy - (ours / total) * 100), ms } };
}

/** Resident set size and its peak (kB → MB) from /proc. */
function rss(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function startEchoServer(): Promise<{ proc: ManagedProcess; url: string }> {
  const port = await freePort();
  const proc = spawnManaged('echo-server', process.execPath, ['--no-warnings', ECHO_SERVER, '--port', String(port)], {
    cwd: PROJECT_ROOT,
    logFile: join(logDir, 'gateway-bench-echo.log'),
  });
  await waitUntil('echo server', () => portOpen(port), { proc, timeoutMs: 30_000 });
  return { proc, url: `http://127.0.0.1:${port}/mcp` };
}

/** supergateway 4: stdio → Streamable HTTP, stateful (sessions, the GET stream), no logging. */
async function startPeer(): Promise<{ proc: ManagedProcess; url: string }> {
  const port = await freePort();
  const entry = join(PROJECT_ROOT, 'node_modules', 'supergateway', 'dist', 'index.js');
  const stdio = `'${process.execPath}' --no-warnings '${ECHO_SERVER}' --stdio`;
  const proc = spawnManaged(
    'supergateway',
    process.execPath,
    [
      entry,
      '--stdio',
      stdio,
      '--outputTransport',
      'streamableHttp',
      '--stateful',
      '--port',
      String(port),
      '--streamableHttpPath',
      '/mcp',
      '--healthEndpoint',
      '/healthz',
      '--logLevel',
      'none',
    ],
    { cwd: PROJECT_ROOT, logFile: join(logDir, 'gateway-bench-supergateway.log') },
  );
  await waitUntil('supergateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
    proc,
    timeoutMs: 30_000,
  });
  return { proc, url: `http://127.0.0.1:${port}/mcp` };
}

/**
 * The gateway in a process of its own (bench/gateway/gateway-server.ts) on a fresh database: the
 * schema, an admin with a bearer token, and one running server whose runtime endpoint is `upstream`.
 */
async function startGateway(upstream: string) {
  const pg = await resolvePostgres({ database: 'mcp_bench_gateway' });
  await dropDatabase(pg.url);
  await ensureDatabase(pg.url);
  const sql = createSql(pg.url, { max: 2 });
  await migrate(sql);
  const token = `bench-gateway-${randomUUID()}`;
  const { adminId } = await bootstrapAdmin(sql, { adminEmail: 'bench@localhost', adminToken: token, defaultQuota: 5 });
  const [server] = await sql<{ id: number }[]>`
    insert into mcp_servers (owner_id, name, server_type, source, status)
    values (${adminId}, 'bench-echo', 'nodejs', ${sql.json({ type: 'bench' })}, 'running') returning id`;
  await sql`
    insert into server_runtimes (server_id, backend, workload, image, endpoint, transport)
    values (${server!.id}, 'docker', 'bench-echo', 'bench-echo', ${upstream}, 'streamable-http')`;
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info', // the API's default
    DATABASE_URL: pg.url,
    BIND_ADDRESS: '127.0.0.1',
    BIND_PORT: String(port),
  };
  const profile = opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(logDir, 'cpu-prof')}`] : [];
  const base = `http://127.0.0.1:${port}`;
  // Built as the API's bundle is (dist/), so the gateway runs as it does in the API.
  const [entry] = await buildDist({ 'bench-gateway': 'bench/gateway/gateway-server.ts' });
  const spawn = async () => {
    const proc = spawnManaged(
      'gateway',
      process.execPath,
      [...opts.gatewayNodeArgs, ...profile, ...DIST_NODE_OPTIONS, entry!],
      { cwd: PROJECT_ROOT, env, logFile: join(logDir, 'gateway-bench-gateway.log') },
    );
    await waitUntil('gateway', async () => (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).ok, {
      proc,
      timeoutMs: 60_000,
    });
    return proc;
  };
  const gateway = {
    proc: await spawn(),
    sql,
    url: `${base}/mcp/${server!.id}`,
    headers: { authorization: `Bearer ${token}` },
    /** A new gateway process in place of the old one (same database, port and sessions key). */
    restart: async () => {
      await gateway.proc.stop();
      gateway.proc = await spawn();
    },
    stop: async () => {
      await gateway.proc.stop();
      await sql.end({ timeout: 5 });
      await dropDatabase(pg.url);
      await pg.stop();
    },
  };
  return gateway;
}

/** The database's backends serving the gateway (their CPU is the gateway's too). */
async function backends(sql: Sql): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
  return rows.map((r) => r.pid);
}

// ---------------------------------------------------------------------------------------------
// Load

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  sessions: McpSession[];
}

/** Opens `n` sessions, `parallel` at a time. */
async function openSessions(url: string, headers: Record<string, string>, n: number, parallel = 8) {
  const sessions: McpSession[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) {
        next++;
        sessions.push(await McpSession.open(url, headers));
      }
    }),
  );
  return sessions;
}

/** Each of `sessions` calls `echo` in a loop, one call in flight, for `seconds`; latencies in ms. */
async function closedLoop(sessions: McpSession[], seconds: number) {
  const latencies: number[] = [];
  let bad = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    sessions.map(async (s) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const good = await s.echo('hello').catch(() => false);
        if (good) latencies.push(performance.now() - t0);
        else bad++;
      }
    }),
  );
  return { latencies, bad, elapsed: (performance.now() - start) / 1000 };
}

async function runCase(
  target: Target,
  concurrency: number,
  pids: () => Promise<[Role, number][]>,
): Promise<CaseResult> {
  const sessions = target.sessions.slice(0, concurrency);
  await closedLoop(sessions, opts.warmup);
  const r = await withCpu(pids, () => closedLoop(sessions, opts.duration));
  r.latencies.sort((a, b) => a - b);
  const result: CaseResult = {
    target: target.name,
    concurrency,
    calls: r.latencies.length,
    bad: r.bad,
    perSecond: r.latencies.length / r.elapsed,
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    cpu: r.cpu,
  };
  log(
    `${target.name} c=${concurrency}: ${result.perSecond.toFixed(0)} calls/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms${result.bad ? `, ${result.bad} failed` : ''}`,
  );
  return result;
}

/**
 * `n` sessions through `url`, each with its GET stream open, held by one process (`pid`): its resident
 * memory before, once all are open, and its peak.
 */
async function holdStreams(name: string, url: string, headers: Record<string, string>, n: number, pids: number[]) {
  log(`${name}: opening ${n} sessions with a GET stream each`);
  const before = pids.map(rss);
  const t0 = performance.now();
  const sessions = await openSessions(url, headers, n, 32);
  const streams = await Promise.all(sessions.map((s) => s.openStream()));
  const openSeconds = (performance.now() - t0) / 1000;
  log(`${name}: ${n} streams open; holding them ${opts.hold} s`);
  await sleep(opts.hold * 1000);
  // Still answering with every stream open: a call on the last session.
  const answers = await sessions.at(-1)!.echo('still here');
  const held = pids.map(rss);
  for (const s of streams) s.close();
  await Promise.all(sessions.map((s) => s.close()));
  return { name, sessions: n, openSeconds, answers, before, held };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const needed = opts.sessions * 6 + 1024;
  const limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Infinity);
  if (limit < needed)
    throw new Error(`open files limit ${limit} < ${needed}: raise it (ulimit -n) or lower --sessions`);

  const stops: { what: string; stop: () => Promise<void> }[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse())
      await s.stop().catch((err: unknown) => log(`stopping ${s.what}: ${(err as Error).message}`));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void stop().finally(() => process.exit(130)));
  const load0 = loadavg();
  const started = performance.now();

  try {
    const server = await startEchoServer();
    stops.push({ what: 'echo server', stop: () => server.proc.stop() });
    const peer = await startPeer();
    stops.push({ what: 'supergateway', stop: () => peer.proc.stop() });

    const gateway = await startGateway(server.url);
    stops.push({ what: 'gateway', stop: () => gateway.stop() });

    const targets: Target[] = [
      { name: 'direct', url: server.url, headers: {}, sessions: [] },
      { name: 'gateway', url: gateway.url, headers: gateway.headers, sessions: [] },
      { name: 'peer (supergateway)', url: peer.url, headers: {}, sessions: [] },
    ];
    targets.splice(0, targets.length, ...targets.filter((t) => opts.targets.includes(t.name.split(' ')[0]!)));
    for (const t of targets) {
      log(`${t.name}: opening ${maxConcurrency} sessions`);
      t.sessions = await openSessions(t.url, t.headers, maxConcurrency);
    }

    const pids = async (): Promise<[Role, number][]> => [
      ['bench', process.pid],
      ['server', server.proc.child.pid!],
      ['gateway', gateway.proc.child.pid!],
      ...(await backends(gateway.sql)).map((pid): [Role, number] => ['postgres', pid]),
      ...withDescendants(peer.proc.child.pid!).map((pid): [Role, number] => ['peer', pid]),
    ];
    const results: CaseResult[] = [];
    for (const c of opts.concurrency) for (const t of targets) results.push(await runCase(t, c, pids));
    for (const t of targets) await Promise.all(t.sessions.map((s) => s.close()));

    const streams = opts.sessions
      ? [
          await holdStreams('direct', server.url, {}, opts.sessions, [server.proc.child.pid!]),
          await holdStreams('gateway', gateway.url, gateway.headers, opts.sessions, [
            gateway.proc.child.pid!,
            server.proc.child.pid!,
          ]),
          // And a gateway process that has served nothing before: its heap not grown by the load cases.
          await gateway
            .restart()
            .then(() =>
              holdStreams('gateway, fresh', gateway.url, gateway.headers, opts.sessions, [gateway.proc.child.pid!]),
            ),
        ]
      : [];

    report(results, streams, load0, (performance.now() - started) / 1000, opts);
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
