// Names carry an hd- prefix: every test file of a run shares one database (and the bootstrap admin).
// A hosted server runs hardened: `docker inspect` shows the user, capabilities, no-new-privileges,
// read-only root, tmpfs /tmp and limits; from inside, writing to / fails, a fork loop is stopped
// by the pids limit, and a server that allocates past its memory limit is OOM-killed and marked so.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

// Before serving MCP (hello-mcp's CGI script), the entrypoint reports what it may do; with
// PROBE=oom it allocates 256 MiB as the container's main process instead.
const PROBE = `#!/bin/sh
if [ "$PROBE" = oom ]; then
  echo "probe: allocating 256m"
  exec dd if=/dev/zero of=/dev/null bs=256M count=1
fi
echo "probe: user $(id -u):$(id -g)"
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/^/probe: /; s/\\t/ /g'
if touch /written 2>/dev/null; then echo "probe: root writable"; else echo "probe: root read-only"; fi
if echo x > /tmp/written; then echo "probe: tmp writable"; fi
# While the fork loop holds every pid, no process here can fork: wait with builtins only, then
# reap what the loop left behind (\`jobs\` collects finished children without forking).
mkfifo /tmp/wait
( n=0; for i in $(seq 1 2000); do sleep 3 & n=$((n+1)); echo $n > /tmp/forked; done ) 2>/tmp/fork.log
read -t 5 x <> /tmp/wait
jobs > /dev/null
echo "probe: forked $(cat /tmp/forked)"
grep -q "can't fork" /tmp/fork.log && echo "probe: fork refused"
echo "hello-mcp listening on port $PORT"
exec httpd -f -v -p 0.0.0.0:$PORT -h /www
`;

async function probeRepo(name: string) {
  const cgi = readFileSync(join(PROJECT_ROOT, 'examples', 'hello-mcp', 'mcp.cgi'), 'utf8');
  const dockerfile = [
    `FROM ${stack.base.reference}`,
    'COPY mcp.cgi /www/cgi-bin/mcp',
    'COPY probe.sh /probe.sh',
    'RUN chmod 755 /www/cgi-bin/mcp /probe.sh && uname -m > /www/arch',
    'LABEL io.mcp-host.transport="streamable-http" io.mcp-host.port="8080" io.mcp-host.path="/cgi-bin/mcp"',
    'CMD ["/probe.sh"]',
  ].join('\n');
  return createGitRepo({
    dir: join(stack.gitDir, name),
    files: { Dockerfile: `${dockerfile}\n`, 'mcp.cgi': cgi, 'probe.sh': PROBE },
  });
}

const waitFor = (id: number, statuses: string[], what: string) => waitForStatus(call, h.adminToken, id, statuses, what);

beforeAll(async () => {
  stack = await startBuildStack('hardening');
  h = await startHarness('hardening', { ...stack.env('linux/amd64'), SERVER_MAX_MEMORY: '1g' });
  call = httpClient(h.apiUrl);
  await probeRepo('probe');
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

const create = (name: string, config: Record<string, string | number | boolean>) =>
  call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Probe', source: { type: 'git', repository: stack.git.url('probe') }, config },
  });

describe('a hosted server is hardened', () => {
  it('refuses resources over the operator maximum, naming the config key', async () => {
    const over = await create('hd-greedy', { 'resources.memory': '2g' });
    expect(over.status).toBe(422);
    expect(over.body.error).toEqual({
      code: 'validation_failed',
      field: 'config.resources.memory',
      message: 'resources.memory 2g is over the maximum of 1g',
    });
    const bad = await create('hd-greedy', { 'resources.pids': 'many' });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({ field: 'config.resources.pids' });
  });

  it('runs as an unprivileged user with no capabilities, a read-only root and limits, and still serves MCP', async () => {
    const created = await create('hd-probe', {
      'resources.pids': 32,
      'resources.cpus': 0.5,
      'resources.memory': '128m',
      GREETING: 'hi',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    const server = await waitFor(id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');

    const inspected = await stack.docker.getContainer(`mcp-server-${id}`).inspect();
    expect(inspected.Config.User).toBe('65532:65532'); // busybox declares no USER
    expect(inspected.Config.Env).toEqual(expect.arrayContaining(['GREETING=hi']));
    expect(inspected.Config.Env.some((e) => e.startsWith('resources.'))).toBe(false);
    expect(inspected.HostConfig).toMatchObject({
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${64 * 1024 ** 2}` },
      Memory: 128 * 1024 ** 2,
      MemorySwap: 128 * 1024 ** 2,
      NanoCpus: 500_000_000,
      PidsLimit: 32,
      Privileged: false,
    });

    const logs = (await call('GET', `/api/servers/${id}/logs?tail=50`, { token: h.adminToken })).text;
    expect(logs).toContain('probe: user 65532:65532');
    expect(logs).toMatch(/probe: CapEff: 0+\n/);
    expect(logs).toContain('probe: NoNewPrivs: 1');
    expect(logs).toContain('probe: Seccomp: 2'); // Docker's default profile, filtering
    expect(logs).toContain('probe: root read-only');
    expect(logs).toContain('probe: tmp writable');
    expect(logs).toContain('probe: fork refused');
    const children = Number(/probe: forked (\d+)/.exec(logs)?.[1]);
    expect(children).toBeGreaterThan(0);
    expect(children).toBeLessThan(32);
  });

  it('marks a server killed for exceeding its memory limit with that reason', async () => {
    const created = await create('hd-oom', { PROBE: 'oom', 'resources.memory': '32m' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    const server = await waitFor(id, ['running', 'unhealthy', 'error'], 'unhealthy');
    expect(server.status).toBe('unhealthy');
    expect(server.status_reason).toMatch(
      new RegExp(`container mcp-server-${id} was killed for exceeding its memory limit of 32m \\(OOMKilled`),
    );
    const state = (await stack.docker.getContainer(`mcp-server-${id}`).inspect()).State;
    expect(state.OOMKilled).toBe(true);
    // The platform kept serving throughout.
    await eventually(
      async () => (await call('GET', '/api/servers', { token: h.adminToken })).status === 200,
      5_000,
      'API answering',
    );
  });
});
