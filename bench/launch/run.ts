// bench/launch: launch to first tool call. An image mcp-host has already built (examples/hello-mcp,
// from the stack's git daemon) is started two ways, alternately, in one run:
//   - mcp-host: from POST /api/servers/:id/start until the first successful tools/call through the
//     gateway (/mcp/:id, the SDK's Streamable HTTP client, retried every --poll-ms until it answers);
//   - direct: `docker run` of the same image on the same daemon (on a network made once beforehand:
//     this daemon has no default bridge), then the SDK's client straight at the container, retried
//     the same way.
// Each round then stops what it started (not timed), and each timed phase waits (untimed) until no
// canary of the worker's is on the daemon. Prints each round, the medians, the ratio
// (goal ≤ 1.5×) and, for mcp-host, where the time went: the server's status changes as recorded,
// the workflow's activities, and the steps inside launchServer as the Docker executor timed them.
// Usage: npm run bench:launch [-- --iterations 5 --warmup 1 --poll-ms 25] (--help lists the flags)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Connection } from '@temporalio/client';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createSql, type Sql } from '../../lib/db.js';
import { workflowIdsFor } from '../../lib/workflow-ids.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { createGitRepo } from '../../test/support/git-fixture.js';
import { directEnv, sh, type DirectTarget } from '../build/direct.js';
import {
  api,
  median,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  secs,
  sleep,
  startBenchStack,
  type BenchStack,
} from '../build/stack.js';
import { benchArgs, num } from '../support/args.js';
import { machineLine, markLoad, note } from '../support/machine.js';
import { launchActivities, launchSteps, type ActivitySpan, type LaunchStep } from './steps.js';

const args = benchArgs(
  'bench:launch',
  'Launch to first tool call: POST /api/servers/:id/start of an image mcp-host built, until the first\n' +
    'tools/call through the gateway answers, against docker run + a direct SDK client, alternately.',
  {
    iterations: num(5, 'measured rounds (each: mcp-host, then direct)', { min: 1 }),
    warmup: num(1, 'rounds run first and not counted'),
    'poll-ms': num(25, 'pause between attempts at the first tools/call'),
  },
);
const { iterations, warmup } = args;
const pollMs = args['poll-ms'];
const TIMEOUT_MS = 120_000;
const HELLO = join(PROJECT_ROOT, 'examples', 'hello-mcp');

async function waitForStatus(stack: BenchStack, id: number, statuses: string[]): Promise<void> {
  for (const t0 = Date.now(); ; await sleep(100)) {
    const server = await api(stack, 'GET', `/api/servers/${id}`, 200);
    if (statuses.includes(server.status)) return;
    if (server.status === 'error') throw new Error(`server ${id}: error: ${server.status_reason}`);
    if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`server ${id} stayed ${server.status}`);
  }
}

/** Until one tools/call on `url` answers: a fresh SDK client per attempt (as a client would reconnect). */
async function firstToolCall(url: string, headers: Record<string, string>, t0: number): Promise<number> {
  let last: unknown;
  while (performance.now() - t0 < TIMEOUT_MS) {
    const client = new Client({ name: 'bench-launch', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
    try {
      await client.connect(transport, { timeout: 5_000 });
      const result = await client.callTool({ name: 'echo', arguments: { text: 'launched' } }, undefined, {
        timeout: 5_000,
      });
      const text = (result.content as { text?: string }[] | undefined)?.[0]?.text;
      if (text === 'launched') return performance.now() - t0;
      last = new Error(`unexpected answer ${JSON.stringify(result).slice(0, 200)}`);
    } catch (err) {
      last = err;
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    }
    await sleep(pollMs);
  }
  throw new Error(`no tools/call answered at ${url}: ${(last as Error)?.message}`);
}

/** The server's status changes since `since`, as ms after it: where mcp-host's launch spent its time. */
async function statusSteps(sql: Sql, serverId: number, since: number): Promise<Map<string, number>> {
  const rows = await sql<{ status: string; at: Date }[]>`
    select status, created_at as at from server_events
    where server_id = ${serverId} and event_type = 'status' and created_at >= ${new Date(since)} order by id`;
  const out = new Map<string, number>();
  for (const r of rows) if (!out.has(r.status)) out.set(r.status, r.at.getTime() - since);
  return out;
}

async function main(): Promise<void> {
  note('starting the stack (temporal, postgres, dockerd, registry, git daemon, api, worker)…');
  const stack = await startBenchStack({ targets: ['linux/amd64'], noCache: false, parallelism: 1 });
  const sql = createSql(stack.databaseUrl, { max: 2 });
  const target: DirectTarget = {
    dockerHost: stack.dockerHost,
    dockerConfigDir: stack.dockerConfigDir,
    registryHost: stack.registryHost,
    username: REGISTRY_USER,
    password: REGISTRY_PASSWORD,
    baseReference: stack.base.reference,
    workDir: join(stack.dir, 'direct'),
  };
  const docker = (argv: string[]) => sh('docker', argv, { env: directEnv(target) });
  const temporal = await Connection.connect({ address: stack.temporalAddress });
  try {
    const [installation] = await sql<{ id: string }[]>`select id from installation`;
    const ids = workflowIdsFor(installation?.id ?? '');
    const repo = await createGitRepo({
      dir: join(stack.gitDir, 'hello-mcp'),
      files: {
        // FROM the stack's own base (nothing is pulled from a hub), as the tests build it.
        Dockerfile: readFileSync(join(HELLO, 'Dockerfile'), 'utf8').replace(
          /^FROM .*$/m,
          `FROM ${stack.base.reference}`,
        ),
        'mcp.cgi': readFileSync(join(HELLO, 'mcp.cgi'), 'utf8'),
      },
    });
    note('building hello-mcp through mcp-host (not timed)…');
    const server = await api(stack, 'POST', '/api/servers', 201, {
      name: 'bench-launch',
      server_type: 'Router',
      source: { type: 'git', repository: stack.git.url(repo), branch: repo.branch },
      start: false,
    });
    await waitForStatus(stack, server.id, ['stopped', 'ready']);
    await api(stack, 'POST', `/api/servers/${server.id}/builds`, 202);
    for (const t0 = Date.now(); ; await sleep(200)) {
      const runs = await api<any[]>(stack, 'GET', `/api/servers/${server.id}/builds?limit=1`, 200);
      if (runs[0]?.status === 'succeeded') break;
      if (runs[0] && runs[0].status !== 'running')
        throw new Error(`build ${runs[0].status}: ${runs[0].failure_reason}`);
      if (Date.now() - t0 > 10 * 60_000) throw new Error('the build did not finish');
    }
    await waitForStatus(stack, server.id, ['ready', 'stopped']);
    const image = `mcp-custom-${server.id}:latest`;
    await docker(['network', 'create', 'bench-launch']);

    // The worker renews its sandbox canary in the background (two containers and a network on this
    // daemon): each timed phase starts once none is under way, so neither side pays for the other's.
    const quiet = async () => {
      for (const t0 = Date.now(); Date.now() - t0 < TIMEOUT_MS; await sleep(100)) {
        const busy =
          (await docker(['ps', '-aq', '--filter', 'label=mcp-host.canary=true'])).trim() +
          (await docker(['network', 'ls', '-q', '--filter', 'label=mcp-host.canary=true'])).trim();
        if (!busy) return;
      }
      throw new Error('a canary stayed on the daemon');
    };

    const load0 = markLoad();
    const rows: {
      mcp: number;
      direct: number;
      steps: Map<string, number>;
      activities: ActivitySpan[];
      launch: LaunchStep[];
    }[] = [];
    for (let i = -warmup; i < iterations; i++) {
      const name = i < 0 ? `warm-up ${i + warmup + 1}` : `#${i + 1}`;
      // mcp-host
      await quiet();
      const wall0 = Date.now();
      const m0 = performance.now();
      await api(stack, 'POST', `/api/servers/${server.id}/start`, 202);
      const mcp = await firstToolCall(
        `${stack.apiUrl}/mcp/${server.id}`,
        { authorization: `Bearer ${stack.adminToken}` },
        m0,
      );
      const steps = await statusSteps(sql, server.id, wall0);
      const activities = await launchActivities(temporal, ids.server(server.id), wall0, wall0 + mcp);
      const launch = await launchSteps(sql, server.id, wall0);
      note(
        `${name} mcp-host ${secs(mcp)}: ${activities.map((a) => `${a.name} ${a.scheduled.toFixed(0)}→${a.completed.toFixed(0)} ms${a.attempts > 1 ? ` (${a.attempts} attempts)` : ''}`).join(', ')}`,
      );
      note(
        `${name} launchServer: ${launch.map((l) => `${l.step} ${l.start.toFixed(0)}+${l.ms.toFixed(0)} ms`).join(', ')}`,
      );
      await api(stack, 'POST', `/api/servers/${server.id}/stop`, 202);
      await waitForStatus(stack, server.id, ['stopped']);

      // direct
      await quiet();
      const d0 = performance.now();
      const container = (
        await docker(['run', '-d', '--network', 'bench-launch', '--name', `bench-launch-${i + warmup}`, image])
      ).trim();
      const ip = (
        await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', container])
      ).trim();
      const direct = await firstToolCall(`http://${ip}:8080/cgi-bin/mcp`, {}, d0);
      note(`${name} direct   ${secs(direct)}`);
      await docker(['rm', '-f', container]);
      if (i >= 0) rows.push({ mcp, direct, steps, activities, launch });
    }

    const mcp = median(rows.map((r) => r.mcp));
    const direct = median(rows.map((r) => r.direct));
    const statuses = [...new Set(rows.flatMap((r) => [...r.steps.keys()]))];
    const out = [
      '',
      machineLine(
        load0,
        `hello-mcp (busybox httpd), built once; ${warmup} warm-up round(s) not counted; first tools/call retried every ${pollMs} ms`,
      ),
      '',
      `  ${''.padEnd(8)}${'mcp-host'.padStart(10)}${'direct'.padStart(10)}`,
      ...rows.map((r, i) => `  ${`#${i + 1}`.padEnd(8)}${secs(r.mcp).padStart(10)}${secs(r.direct).padStart(10)}`),
      `  ${'median'.padEnd(8)}${secs(mcp).padStart(10)}${secs(direct).padStart(10)}`,
      '',
      `ratio mcp-host / direct: ${(mcp / direct).toFixed(2)}× (median; goal ≤ 1.5×), overhead ${secs(mcp - direct)}`,
      '',
      'mcp-host: the server reached each status this long after the start request (median)',
      ...statuses.map(
        (s) =>
          `  ${`${median(rows.map((r) => r.steps.get(s) ?? NaN).filter((v) => !Number.isNaN(v))).toFixed(0)} ms`.padStart(9)}  ${s}`,
      ),
      '',
      "mcp-host: the server workflow's activities, scheduled → completed, ms after the start request (median; attempts: the most any round took)",
      ...[...new Set(rows.flatMap((r) => r.activities.map((a) => a.name)))].map((name) => {
        const of = rows.flatMap((r) => r.activities.filter((a) => a.name === name).slice(0, 1));
        const scheduled = median(of.map((a) => a.scheduled));
        const completed = median(of.map((a) => a.completed));
        return `  ${`${scheduled.toFixed(0)} → ${completed.toFixed(0)} ms`.padStart(18)}  ${name} (${(completed - scheduled).toFixed(0)} ms, attempts ≤ ${Math.max(...of.map((a) => a.attempts))})`;
      }),
      '',
      'mcp-host: inside launchServer, each step began → ended, ms after the start request (median; steps that overlap ran at once)',
      ...[...new Set(rows.flatMap((r) => r.launch.map((l) => l.step)))]
        .map((step) => {
          const of = rows.flatMap((r) => r.launch.filter((l) => l.step === step));
          return { step, start: median(of.map((l) => l.start)), ms: median(of.map((l) => l.ms)), n: of.length };
        })
        .sort((a, b) => a.start - b.start)
        .map(
          (l) =>
            `  ${`${l.start.toFixed(0)} → ${(l.start + l.ms).toFixed(0)} ms`.padStart(18)}  ${l.step} (${l.ms.toFixed(0)} ms${l.n < rows.length ? `, in ${l.n} of ${rows.length} rounds` : ''})`,
        ),
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    await docker(['network', 'rm', 'bench-launch']).catch(() => undefined);
    await temporal.close();
    await sql.end({ timeout: 5 });
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
