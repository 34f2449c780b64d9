// Build benchmark: the wall time of a 2-platform build+push+manifest through mcp-host (API → Temporal
// → worker) against the same work done by hand with git, the docker CLI and curl, on one stack, in
// one run, alternating the two so that drift (page cache, thermal, neighbours) hits both alike.
//
//   npm run bench:build -- [--iterations 5] [--warmup 1] [--cache off|on|both]
//
// Each iteration builds a new commit (a one-line change to revision.txt), so nothing is a no-op. With
// the layer cache off (REGISTRY_BUILD_DISABLE_CACHE=true / --no-cache) every step runs on both
// platforms; with it on (the worker restarted with the cache allowed, and the CLI without --no-cache)
// the expensive RUN before the changed file comes from the cache, as in a realistic rebuild.
//
// Per-step timings come from the build run's own records: Temporal's history (each activity's
// start and end, and the time no activity ran: the engine's scheduling) and the step_timings events
// of the activities; the direct path times its own commands.
//
// What mcp-host does on top of the baseline, and so inside the ratio: Temporal scheduling, the
// ledger, telemetry and build-log rows, a credential probe per push, a second manifest-list tag (the
// revision), the provenance labels on each image (one extra LABEL step, which the classic builder
// commits like any other), and the build network: an internal bridge per platform, the egress proxy
// and a holder container whose namespace the RUN steps join (the canary at most once a minute), taken
// from the worker's pool opened ahead of builds (BUILD_NETWORK_POOL_SIZE) and removed after each. The
// baseline's RUN steps run with the daemon's default network, which here (--bridge=none) is none.
import { availableParallelism, loadavg, machine, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { createSql, type Sql } from '../../lib/db.js';
import { commit, createGitRepo, type GitRepo } from '../../test/support/git-fixture.js';
import { directBuild, directEnv, sh, type DirectTarget } from './direct.js';
import {
  api,
  median,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  secs,
  sleep,
  startBenchStack,
  type BenchStack,
} from './stack.js';
import { buildSteps, type StepTimes } from './steps.js';

const PLATFORMS = ['linux/amd64', 'linux/arm64'];
const POLL_MS = 50;
const BUILD_TIMEOUT_MS = 20 * 60_000;

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    cache: { type: 'string', default: 'both' },
  },
});
const iterations = Number(args.iterations);
const warmup = Number(args.warmup);
const modes = ({ off: [true], on: [false], both: [true, false] } as Record<string, boolean[] | undefined>)[
  args.cache!
]!;
if (!Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(warmup) || warmup < 0 || !modes) {
  process.stderr.write('usage: bench/build/run.ts [--iterations N≥1] [--warmup N≥0] [--cache off|on|both]\n');
  process.exit(64);
}

const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

/**
 * mcp-host: from the build request until the server is `ready` and the run for `revision` has
 * `succeeded` (the server turns ready only after the run is closed, so both together mean this build).
 * Returns the wall time and the run's own started→completed span from the ledger.
 */
async function mcpHostBuild(
  stack: BenchStack,
  serverId: number,
  revision: string,
): Promise<{ ms: number; runMs: number; runId: number; requested: number; seen: number }> {
  const t0 = performance.now();
  const requested = Date.now();
  await api(stack, 'POST', `/api/servers/${serverId}/builds`, 202);
  for (;;) {
    const [server, runs] = await Promise.all([
      api(stack, 'GET', `/api/servers/${serverId}`, 200),
      api<any[]>(stack, 'GET', `/api/servers/${serverId}/builds?limit=5`, 200),
    ]);
    const run = runs.find((r) => r.source_revision === revision);
    if (run?.status === 'succeeded' && server.status === 'ready') {
      return {
        ms: performance.now() - t0,
        runMs: Date.parse(run.completed_at) - Date.parse(run.started_at),
        runId: run.id,
        requested,
        seen: Date.now(),
      };
    }
    if (server.status === 'error' || (run && run.status !== 'running' && run.status !== 'succeeded')) {
      throw new Error(
        `mcp-host build of ${revision.slice(0, 12)} failed: ${run?.failure_reason ?? server.status_reason}`,
      );
    }
    if (performance.now() - t0 > BUILD_TIMEOUT_MS)
      throw new Error(`mcp-host build of ${revision.slice(0, 12)} did not finish`);
    await sleep(POLL_MS);
  }
}

/** Checked outside the timed window: the direct path really produced a 2-platform list of the right images. */
async function checkDirect(
  stack: BenchStack,
  target: DirectTarget,
  result: Awaited<ReturnType<typeof directBuild>>,
): Promise<void> {
  const res = await fetch(`http://${stack.registryHost}/v2/${result.repository}/manifests/latest`, {
    headers: {
      authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json',
    },
  });
  const index = (await res.json()) as { manifests?: { digest: string; platform: { architecture: string } }[] };
  if (res.headers.get('docker-content-digest') !== result.digest || index.manifests?.length !== PLATFORMS.length) {
    throw new Error(`direct: the registry's :latest is not the list just published`);
  }
  for (const p of result.platforms) {
    const image = `${stack.registryHost}/${result.repository}:${p.tag}`;
    const arch = (
      await sh('docker', ['image', 'inspect', '--format', '{{.Architecture}}', image], { env: directEnv(target) })
    ).trim();
    if (`linux/${arch}` !== p.platform) throw new Error(`direct: ${image} is ${arch}, not ${p.platform}`);
  }
}

interface Row {
  mcp: number;
  run: number;
  direct: number;
  mcpSteps: StepTimes;
  directSteps: StepTimes;
}

/** Median of each step over the iterations, in first-seen order sorted by the label's leading number. */
function stepTable(all: StepTimes[]): [string, number][] {
  const labels = [...new Set(all.flatMap((m) => [...m.keys()]))];
  const rank = (l: string) => Number(/^\d+/.exec(l)?.[0] ?? 99);
  labels.sort((a, b) => rank(a) - rank(b));
  return labels.map((l) => [l, median(all.map((m) => m.get(l) ?? 0))]);
}

function report(noCache: boolean, rows: Row[], load: [number, number]): string {
  const mcp = rows.map((r) => r.mcp);
  const run = rows.map((r) => r.run);
  const direct = rows.map((r) => r.direct);
  const col = (s: string, w: number) => s.padStart(w);
  const line = (label: string, a: string, b: string, c: string) =>
    `  ${label.padEnd(10)}${col(a, 11)}${col(b, 14)}${col(c, 11)}`;
  const host = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const emulated = PLATFORMS.filter((p) => p.split('/')[1] !== host);
  const ms = (v: number) => `${v.toFixed(0)} ms`.padStart(9);
  const out = [
    '',
    `=== layer cache ${noCache ? 'OFF' : 'ON (one-line change)'} ===`,
    `machine   ${availableParallelism()} CPUs (nproc), ${machine()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, load average ${load[0].toFixed(2)} → ${load[1].toFixed(2)}`,
    `work      ${PLATFORMS.join(' + ')}${emulated.length ? ` (${emulated.join(', ')} emulated)` : ''}, parallelism 2, layer cache ${noCache ? 'off for both' : 'on for both'},`,
    `          new commit per build, ${warmup} warm-up round(s) of each not counted; mcp-host polled every ${POLL_MS} ms`,
    '',
    line('', 'mcp-host', '(ledger run)', 'direct'),
    ...rows.map((r, i) => line(`#${i + 1}`, secs(r.mcp), `(${secs(r.run)})`, secs(r.direct))),
    line('median', secs(median(mcp)), `(${secs(median(run))})`, secs(median(direct))),
    line('min', secs(Math.min(...mcp)), `(${secs(Math.min(...run))})`, secs(Math.min(...direct))),
    '',
    `ratio mcp-host / direct: ${(median(mcp) / median(direct)).toFixed(2)}× (median), ${(Math.min(...mcp) / Math.min(...direct)).toFixed(2)}× (min)   goal ≤ 1.10×`,
    `          overhead ${secs(median(mcp) - median(direct))} (median); "(ledger run)" is the build run's own started→completed span`,
    '',
    'mcp-host steps (median ms over the iterations; activities from the history, "›" steps inside them from step_timings;',
    '  "(queued)" is scheduled → picked up by the worker; activities of the two platforms overlap)',
    ...stepTable(rows.map((r) => r.mcpSteps)).map(([l, v]) => `  ${ms(v)}  ${l}`),
    '',
    'direct steps (median ms; the two platforms run side by side)',
    ...stepTable(rows.map((r) => r.directSteps)).map(([l, v]) => `  ${ms(v)}  ${l}`),
    '',
  ];
  return out.join('\n');
}

async function main(): Promise<void> {
  note('starting the stack (temporal, postgres, dockerd, registry, git daemon, api, worker)…');
  const stack = await startBenchStack({ targets: PLATFORMS, noCache: modes[0]!, parallelism: 2 });
  try {
    const repo: GitRepo = await createGitRepo({
      dir: join(stack.gitDir, 'bench-app'),
      files: {
        // revision.txt changes with every commit, so each build's image differs from the last; the
        // RUN before it stands for a project's dependencies (from the cache when the cache is on).
        Dockerfile: [
          `FROM ${stack.base.reference}`,
          'RUN uname -m > /arch && for i in $(seq 1 2000); do echo $i; done > /numbers',
          'COPY revision.txt /revision.txt',
          'RUN wc -c /revision.txt > /size',
          'EXPOSE 8080',
          'CMD ["cat", "/arch"]',
          '',
        ].join('\n'),
        // mcp-host never sends .git to the daemon; the docker CLI does unless told not to.
        '.dockerignore': '.git\n',
        'revision.txt': 'initial\n',
      },
    });
    const repoUrl = stack.git.url(repo);
    const target: DirectTarget = {
      dockerHost: stack.dockerHost,
      dockerConfigDir: stack.dockerConfigDir,
      registryHost: stack.registryHost,
      username: REGISTRY_USER,
      password: REGISTRY_PASSWORD,
      baseReference: stack.base.reference,
      workDir: join(stack.dir, 'direct'),
    };

    // The daemon starts empty: pull the base image for both platforms up front, so that whichever
    // path builds first does not pay the download for the other.
    for (const p of stack.base.platforms) {
      const ref = `${stack.base.reference.slice(0, stack.base.reference.lastIndexOf(':'))}@${p.digest}`;
      await sh('docker', ['pull', '--quiet', '--platform', `${p.os}/${p.architecture}`, ref], {
        env: directEnv(target),
      });
    }

    // Created once without start (status stopped); each iteration asks it to build its branch head.
    const server = await api(stack, 'POST', '/api/servers', 201, {
      name: 'bench-build',
      server_type: 'Router',
      source: { type: 'git', repository: repoUrl, branch: repo.branch },
      start: false,
    });
    for (let t0 = Date.now(); (await api(stack, 'GET', `/api/servers/${server.id}`, 200)).status !== 'stopped';) {
      if (Date.now() - t0 > 60_000) throw new Error('the new server did not settle as stopped');
      await sleep(POLL_MS);
    }

    const sql: Sql = createSql(stack.databaseUrl, { max: 2 });
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const reports: string[] = [];
    try {
      let workerNoCache = modes[0]!;
      for (const noCache of modes) {
        if (noCache !== workerNoCache) {
          note(`restarting the worker with REGISTRY_BUILD_DISABLE_CACHE=${noCache}`);
          await stack.restartWorker({ REGISTRY_BUILD_DISABLE_CACHE: String(noCache) });
          workerNoCache = noCache;
        }
        const loadBefore = loadavg()[0]!;
        const rows: Row[] = [];
        for (let i = -warmup; i < iterations; i++) {
          const name = `cache ${noCache ? 'off' : 'on'} ${i < 0 ? `warm-up ${i + warmup + 1}` : `#${i + 1}`}`;
          const tag = `${noCache ? 'off' : 'on'}-${i}`;
          const mcpRevision = await commit(repo, { 'revision.txt': `mcp-host ${tag}\n` }, `mcp-host ${tag}`);
          const mcp = await mcpHostBuild(stack, server.id, mcpRevision);
          const mcpSteps = await buildSteps(connection, sql, mcp.runId, mcp.requested, mcp.seen);
          note(`${name} mcp-host ${secs(mcp.ms)} (ledger run ${secs(mcp.runMs)})`);

          await commit(repo, { 'revision.txt': `direct ${tag}\n` }, `direct ${tag}`);
          const directSteps: StepTimes = new Map();
          const d0 = performance.now();
          const result = await directBuild(target, {
            repoUrl,
            branch: repo.branch,
            platforms: PLATFORMS,
            noCache,
            label: `build-${tag}`,
            steps: directSteps,
          });
          const direct = performance.now() - d0;
          await checkDirect(stack, target, result);
          note(`${name} direct   ${secs(direct)}`);
          if (i >= 0) rows.push({ mcp: mcp.ms, run: mcp.runMs, direct, mcpSteps, directSteps });
        }
        reports.push(report(noCache, rows, [loadBefore, loadavg()[0]!]));
      }
    } finally {
      await connection.close();
      await sql.end({ timeout: 5 });
    }
    process.stdout.write(reports.join('\n'));
  } finally {
    note('stopping the stack…');
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
