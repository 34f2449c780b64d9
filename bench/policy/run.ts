// bench/policy: latency of one policy decision — load the server and its latest artifact from a
// ledger of 100,000 runs, ask the real Docker daemon what it offers, decide, record — p50/p99, beside
// the pure decision alone (the baseline: what the engine itself costs), measured in the same run.
// Usage: npm run bench:policy [-- --decisions 2000]
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createDecisionActivities } from '../../activities/runtime/decide.js';
import { createSql } from '../../lib/db.js';
import { createDocker } from '../../lib/docker.js';
import { parseEnvironment } from '../../lib/env.js';
import { loadInstallationId } from '../../lib/ledger/installation.js';
import { migrate } from '../../lib/migrate.js';
import { decide, EXECUTORS } from '../../lib/policy/decide.js';
import { startDockerd } from '../../scripts/stack/docker.js';
import { createExecutors } from '../../worker/executors.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';

const decisions = Number(process.argv[process.argv.indexOf('--decisions') + 1]) || 2000;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function time(n: number, fn: (i: number) => Promise<unknown> | unknown) {
  for (let i = 0; i < 50; i++) await fn(-1 - i); // warm up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

async function main(): Promise<void> {
  const pg = await resolvePostgres({ database: `mcp_host_bench_policy_${process.pid}` });
  const dockerd = await startDockerd(join(DATA_DIR, 'bench-docker', String(process.pid)), join(DATA_DIR, 'bench-logs'));
  const sql = createSql(pg.url, { max: 4 });
  try {
    await migrate(sql);
    await sql.unsafe(readFileSync(join(import.meta.dirname, '..', 'marketplace', 'seed.sql'), 'utf8'));
    await sql`vacuum analyze`;
    const servers = (await sql<{ id: number }[]>`select id from mcp_servers order by id`).map((r) => r.id);
    const env = parseEnvironment({ DOCKER_HOST: dockerd.host });
    const { decideLaunch } = createDecisionActivities(
      sql,
      env,
      createExecutors({ sql, env, docker: createDocker(dockerd.host), installation: await loadInstallationId(sql) }),
    );

    const full = await time(decisions, (i) =>
      decideLaunch({
        serverId: servers[Math.abs(i * 7919) % servers.length]!,
        decisionKey: `bench/${process.pid}#${i}`,
      }),
    );
    const pure = await time(decisions, () =>
      decide({
        serverId: 1,
        serverType: 'Router',
        source: { type: 'git' },
        useGpu: false,
        defaultBackend: 'docker',
        executors: [EXECUTORS.docker],
        artifact: {
          runId: 1,
          status: 'succeeded',
          manifestDigest: 'sha256:' + 'a'.repeat(64),
          registryImage: 'r/mcp/x:latest',
          localImage: 'x',
          tier: 'gold:Router',
          healthOverall: 'healthy',
        },
      }),
    );
    const runs = (await sql<{ n: number }[]>`select count(*)::int as n from build_artifact_runs`)[0]!.n;
    console.log(
      `\nmachine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ledger: ${runs} runs; ${decisions} decisions each`,
    );
    console.log('case                                            p50 ms   p99 ms');
    console.log('----------------------------------------------  -------  -------');
    console.log(
      `decideLaunch (load + daemon info + record)     ${full.p50.toFixed(2).padStart(7)}  ${full.p99.toFixed(2).padStart(7)}`,
    );
    console.log(
      `decide() alone (baseline: the engine itself)   ${pure.p50.toFixed(3).padStart(7)}  ${pure.p99.toFixed(3).padStart(7)}`,
    );
  } finally {
    await sql.end({ timeout: 5 });
    await dockerd.stop();
    await dropDatabase(pg.url).catch(() => {});
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
