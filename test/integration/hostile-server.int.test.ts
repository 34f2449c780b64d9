// Names carry an hs- prefix: every test file of a run shares one database (and the bootstrap admin).
// A hostile tenant, end to end: an MCP server built from a git repository assembled here, whose tools
// each try one escape and report what happened — TCP to Postgres, the Temporal frontend, the API, the
// registry, another tenant's server and 169.254.169.254; an AF_PACKET socket; a write to `/`; forking
// until refused; reading /proc/1/environ; allocating four times its memory limit (as its main
// process). Every attempt fails, and the platform keeps serving throughout (API health, another
// tenant's server answering tools/call). The server that hit its memory limit is killed by it, and
// its supervisor marks it unhealthy with that reason and restarts it. The stack is the harness's,
// which is npm start's; the server is reached at the endpoint mcp-host recorded.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';
import {
  buildEscapeHelper,
  callTool,
  CONNECT_TOOL,
  controlPlaneTargets,
  helloMcpDockerfile,
  helloMcpWithTools,
} from '../support/mcp-probe.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

const MEMORY = '64m';
const PIDS = 64;

/** A tool whose answer is what `command` printed (letters, digits and a little punctuation only). */
const tool = (name: string, command: string) =>
  `        ${name}) r=$({ ${command}; } 2>&1 | tr '\\000\\n' '  ' | tr -cd 'A-Za-z0-9_=:/.@ -' | head -c 2000); result "{\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"$r\\"}]}" ;;\n`;

const TOOLS = [
  CONNECT_TOOL,
  tool('packet', '/escape packet'),
  tool('fork', '/escape fork'),
  tool('write_root', 'touch /escaped && echo written'),
  tool('host_environ', 'cat /proc/1/environ'),
  // The main process (PID 1, waiting on the FIFO) allocates: the container itself hits the limit.
  tool('alloc', 'echo "$(field mib)" > /tmp/alloc && echo allocating'),
].join('');

// hello-mcp served by httpd in the background, while PID 1 waits for the `alloc` tool.
const ENTRYPOINT = `#!/bin/sh
mkfifo /tmp/alloc
echo "hello-mcp listening on port \${PORT:-8080}"
httpd -f -v -p 0.0.0.0:\${PORT:-8080} -h /www &
# A child's exit (an orphan handed to PID 1) interrupts the FIFO's open: wait until a size arrives.
mib=
while [ -z "$mib" ]; do read mib < /tmp/alloc 2>/dev/null; done
sleep 1 # the tool's answer leaves first
echo "escape: allocating \${mib} MiB as the main process"
exec /escape alloc "$mib"
`;

async function hostileRepo(name: string): Promise<void> {
  const dockerfile = helloMcpDockerfile(stack.base.reference)
    .replace(/^CMD .*$/m, 'CMD ["/entrypoint.sh"]')
    .replace(/^RUN chmod 755 /m, 'COPY escape entrypoint.sh /\nRUN chmod 755 /escape /entrypoint.sh ');
  expect(dockerfile).toContain('COPY escape entrypoint.sh /');
  await createGitRepo({
    dir: join(stack.gitDir, name),
    files: {
      Dockerfile: dockerfile,
      'mcp.cgi': helloMcpWithTools(TOOLS),
      'entrypoint.sh': ENTRYPOINT,
      escape: await buildEscapeHelper(),
    },
  });
}

async function operator(): Promise<string> {
  const email = `hs-${Math.random().toString(36).slice(2)}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role: 'operator' } });
  const token = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 'hs', user_id: user.body.id } });
  return token.body.token as string;
}

interface Running {
  id: number;
  endpoint: string;
  gateway: string;
}

async function run(token: string, name: string, repo: string, config: Record<string, string | number>) {
  const created = await call('POST', '/api/servers', {
    token,
    json: { name, server_type: 'Example', source: { type: 'git', repository: stack.git.url(repo) }, config },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as number;
  const server = await waitForStatus(call, token, id, ['running', 'unhealthy', 'error'], `${name} running`);
  expect(server.status, server.status_reason).toBe('running');
  const [runtime] = await h.sql<{ endpoint: string }[]>`select endpoint from server_runtimes where server_id = ${id}`;
  const network = await stack.docker.getNetwork(`mcp-server-${id}`).inspect();
  return { id, endpoint: runtime!.endpoint, gateway: network.IPAM!.Config![0]!.Gateway! } satisfies Running;
}

beforeAll(async () => {
  stack = await startBuildStack('hostile-server');
  h = await startHarness('hostile-server', stack.env('linux/amd64'));
  call = httpClient(h.apiUrl);
  await hostileRepo('hs-hostile');
  await createGitRepo({
    dir: join(stack.gitDir, 'hs-hello'),
    files: {
      Dockerfile: helloMcpDockerfile(stack.base.reference),
      'mcp.cgi': helloMcpWithTools(''),
    },
  });
}, 600_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('a hostile tenant', () => {
  let hostile: Running;
  let other: Running;

  /** A tool of the hostile server; when it does not answer, the error says how the server is. */
  async function attempt(name: string, args: Record<string, string> = {}): Promise<string> {
    try {
      return (await callTool(hostile.endpoint, name, args)).trim();
    } catch (err) {
      const server = (await call('GET', `/api/servers/${hostile.id}`, { token: h.adminToken })).body;
      const logs = (await call('GET', `/api/servers/${hostile.id}/logs?tail=30`, { token: h.adminToken })).text;
      throw new Error(
        `${name} ${JSON.stringify(args)}: ${String(err)} (${String((err as Error).cause)}); server ${server.status} (${server.status_reason}); logs:\n${logs}`,
      );
    }
  }

  /** The platform still serves: the API is healthy and the other tenant's server answers a tool call. */
  async function platformServes(after: string): Promise<void> {
    expect((await call('GET', '/healthz')).status, `API health after ${after}`).toBe(200);
    expect(await callTool(other.endpoint, 'echo', { text: 'still-here' }), `other tenant after ${after}`).toBe(
      'still-here',
    );
  }

  it('launches, next to another tenant', async () => {
    [hostile, other] = await Promise.all([
      run(await operator(), 'hs-hostile', 'hs-hostile', { 'resources.memory': MEMORY, 'resources.pids': PIDS }),
      run(await operator(), 'hs-other', 'hs-hello', {}),
    ]);
    // The probe works: the hostile server reaches its own port.
    expect(await attempt('connect', { target: '127.0.0.1:8080' })).toBe('reached');
  }, 600_000);

  it('reaches neither Postgres, Temporal, the API, the registry, the other tenant nor the metadata address', async () => {
    const targets = [
      ...controlPlaneTargets(h, stack, [hostile.gateway]),
      `${new URL(other.endpoint).hostname}:8080`,
      '169.254.169.254:80',
    ];
    for (const target of targets) {
      expect(await attempt('connect', { target }), target).toBe('blocked');
    }
    await platformServes('the connection attempts');
  }, 300_000);

  it('opens no AF_PACKET socket', async () => {
    expect(await attempt('packet')).toMatch(/^refused: operation not permitted/);
    await platformServes('the AF_PACKET socket');
  });

  it('writes nothing to /', async () => {
    const written = await attempt('write_root');
    expect(written).not.toContain('written');
    expect(written).toMatch(/Read-only file system|Permission denied/);
    await platformServes('the write to /');
  });

  it('forks until the pids limit refuses it', async () => {
    const forked = await attempt('fork');
    expect(forked).toMatch(/^refused after \d+: resource temporarily unavailable/);
    expect(Number(/after (\d+)/.exec(forked)![1])).toBeLessThan(PIDS);
    await platformServes('the fork loop');
  });

  it("reads its own /proc/1/environ, never the host's", async () => {
    const environ = await attempt('host_environ');
    expect(environ).toContain(`MCP_SERVER_ID=${hostile.id}`); // the container's own PID 1
    for (const secret of ['DATABASE_URL', 'ADMIN_TOKEN', 'TEMPORAL_ADDRESS', h.adminToken])
      expect(environ).not.toContain(secret);
    await platformServes('reading /proc/1/environ');
  });

  it('is killed by its memory limit when it allocates four times it, and the platform keeps serving', async () => {
    const [before] = await h.sql<{ mark: number }[]>`
      select coalesce(max(id), 0)::int as mark from server_events where server_id = ${hostile.id}`;
    const mark = before!.mark;
    expect(await attempt('alloc', { mib: String(4 * 64) })).toBe('allocating');
    // Its supervisor notices the exit (the wait on the container, not a probe) and marks it with the
    // reason a server that hits the limit at start gets; then restarts it, with backoff.
    const marked = await eventually(
      async () => {
        const [event] = await h.sql<{ reason: string }[]>`
          select reason from server_events
          where server_id = ${hostile.id} and id > ${mark} and status = 'unhealthy' order by id limit 1`;
        return event;
      },
      60_000,
      'the OOM kill, marked',
    );
    expect(marked.reason).toMatch(/killed for exceeding its memory limit of 64m \(OOMKilled, exit code 137\)/);
    await platformServes('the allocation');
    const restarted = await waitForStatus(call, h.adminToken, hostile.id, ['running'], 'restarted', 60_000);
    expect(restarted.status).toBe('running');
  }, 180_000);
});
