// Build benchmark: the wall time of a 2-platform build+push+manifest through mcp-host (API → Temporal
// → worker) against the same work done by hand with git, the docker CLI and curl, on one stack, in
// one run, alternating the two so that drift (page cache, thermal, neighbours) hits both alike.
//
//   npm run bench:build -- [--iterations 3] [--warmup 1]
//
// Both paths build with the layer cache off (REGISTRY_BUILD_DISABLE_CACHE=true / --no-cache): every
// iteration runs every step on both platforms, and each builds a new commit, so nothing is a no-op.
//
// What mcp-host does on top of the baseline, and so inside the ratio: Temporal scheduling, the
// ledger, telemetry and build-log rows, a credential probe per push, a second manifest-list tag (the
// revision), and two provenance labels on each image — which the classic builder runs as one extra
// LABEL step per label (about 1 s each on this vfs daemon).
import { availableParallelism, loadavg, machine, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { commit, createGitRepo, type GitRepo } from '../../test/support/git-fixture.js';
import { directBuild, directEnv, sh, type DirectTarget } from './direct.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startBenchStack, type BenchStack } from './stack.js';

const PLATFORMS = ['linux/amd64', 'linux/arm64'];
const NO_CACHE = true;
const POLL_MS = 100;
const BUILD_TIMEOUT_MS = 20 * 60_000;

const { values: args } = parseArgs({
  options: { iterations: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' } },
});
const iterations = Number(args.iterations);
const warmup = Number(args.warmup);
if (!Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(warmup) || warmup < 0) {
  process.stderr.write('usage: bench/build/run.ts [--iterations N≥1] [--warmup N≥0]\n');
  process.exit(64);
}

const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

/** fetch against the API as the bootstrap admin; throws unless the status is the expected one. */
async function api<T = any>(
  stack: BenchStack,
  method: string,
  path: string,
  expect: number,
  json?: unknown,
): Promise<T> {
  const res = await fetch(stack.apiUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${stack.adminToken}`,
      ...(json !== undefined && { 'content-type': 'application/json' }),
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * mcp-host: from the build request until the server is `ready` and the run for `revision` has
 * `succeeded` (the server turns ready only after the run is closed, so both together mean this build).
 * Returns the wall time and the run's own started→completed span from the ledger.
 */
async function mcpHostBuild(
  stack: BenchStack,
  serverId: number,
  revision: string,
): Promise<{ ms: number; runMs: number }> {
  const t0 = performance.now();
  await api(stack, 'POST', `/api/servers/${serverId}/builds`, 202);
  for (;;) {
    const [server, runs] = await Promise.all([
      api(stack, 'GET', `/api/servers/${serverId}`, 200),
      api<any[]>(stack, 'GET', `/api/servers/${serverId}/builds?limit=5`, 200),
    ]);
    const run = runs.find((r) => r.source_revision === revision);
    if (run?.status === 'succeeded' && server.status === 'ready') {
      return { ms: performance.now() - t0, runMs: Date.parse(run.completed_at) - Date.parse(run.started_at) };
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function report(rows: { mcp: number; run: number; direct: number }[], loadBefore: number): void {
  const mcp = rows.map((r) => r.mcp);
  const run = rows.map((r) => r.run);
  const direct = rows.map((r) => r.direct);
  const col = (s: string, w: number) => s.padStart(w);
  const line = (label: string, a: string, b: string, c: string) =>
    `  ${label.padEnd(10)}${col(a, 11)}${col(b, 14)}${col(c, 11)}`;
  const host = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const emulated = PLATFORMS.filter((p) => p.split('/')[1] !== host);
  const out = [
    '',
    `machine   ${availableParallelism()} CPUs (nproc), ${machine()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, load ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
    `work      ${PLATFORMS.join(' + ')}${emulated.length ? ` (${emulated.join(', ')} emulated)` : ''}, parallelism 2, layer cache ${NO_CACHE ? 'off for both' : 'on for both'},`,
    `          new commit per build, ${warmup} warm-up round(s) of each not counted; mcp-host polled every ${POLL_MS} ms`,
    '',
    line('', 'mcp-host', '(ledger run)', 'direct'),
    ...rows.map((r, i) => line(`#${i + 1}`, secs(r.mcp), `(${secs(r.run)})`, secs(r.direct))),
    line('median', secs(median(mcp)), `(${secs(median(run))})`, secs(median(direct))),
    line('min', secs(Math.min(...mcp)), `(${secs(Math.min(...run))})`, secs(Math.min(...direct))),
    '',
    `ratio mcp-host / direct: ${(median(mcp) / median(direct)).toFixed(2)}× (median), ${(Math.min(...mcp) / Math.min(...direct)).toFixed(2)}× (min)`,
    `          overhead ${secs(median(mcp) - median(direct))} (median); "(ledger run)" is the build run's own started→completed span`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}

async function main(): Promise<void> {
  note('starting the stack (temporal, postgres, dockerd, registry, git daemon, api, worker)…');
  const stack = await startBenchStack({ targets: PLATFORMS, noCache: NO_CACHE, parallelism: 2 });
  try {
    const repo: GitRepo = await createGitRepo({
      dir: join(stack.gitDir, 'bench-app'),
      files: {
        // revision.txt changes with every commit, so each build's image differs from the last.
        Dockerfile: [
          `FROM ${stack.base.reference}`,
          'COPY revision.txt /revision.txt',
          'RUN uname -m > /arch && for i in $(seq 1 2000); do echo $i; done > /numbers',
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

    const loadBefore = loadavg()[0]!;
    const rows: { mcp: number; run: number; direct: number }[] = [];
    for (let i = -warmup; i < iterations; i++) {
      const name = i < 0 ? `warm-up ${i + warmup + 1}` : `#${i + 1}`;
      const mcpRevision = await commit(repo, { 'revision.txt': `mcp-host ${i}\n` }, `mcp-host ${i}`);
      const mcp = await mcpHostBuild(stack, server.id, mcpRevision);
      note(`${name} mcp-host ${secs(mcp.ms)} (ledger run ${secs(mcp.runMs)})`);

      await commit(repo, { 'revision.txt': `direct ${i}\n` }, `direct ${i}`);
      const d0 = performance.now();
      const result = await directBuild(target, {
        repoUrl,
        branch: repo.branch,
        platforms: PLATFORMS,
        noCache: NO_CACHE,
        label: `build-${i + warmup}`,
      });
      const direct = performance.now() - d0;
      await checkDirect(stack, target, result);
      note(`${name} direct   ${secs(direct)}`);
      if (i >= 0) rows.push({ mcp: mcp.ms, run: mcp.runMs, direct });
    }
    report(rows, loadBefore);
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
