// mcpctl against the real stack: the commands an operator types, their output and exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.js';
import { startHarness, type Harness } from '../support/harness.js';
import { runMcpctl } from '../support/mcpctl.js';

let h: Harness;

const mcpctl = (args: string[], env: Record<string, string | undefined> = {}) => runMcpctl(h, args, env);

beforeAll(async () => {
  h = await startHarness('mcpctl', { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
});
afterAll(async () => {
  await h?.stop();
});

describe('mcpctl', () => {
  it('creates a user and a token, then drives a server create → start → stop → delete as that user', async () => {
    const user = await mcpctl(['users', 'create', '--email', 'cli-op@example.test', '--role', 'operator', '--json']);
    expect(user.code).toBe(0);
    const userId = JSON.parse(user.stdout).id as number;
    const token = await mcpctl(['token', 'create', 'laptop', '--user', String(userId), '--json']);
    expect(token.code).toBe(0);
    const opToken = JSON.parse(token.stdout).token as string;
    const as = (args: string[]) => mcpctl(args, { MCPCTL_TOKEN: opToken });

    const who = await as(['whoami', '--json']);
    expect(JSON.parse(who.stdout)).toMatchObject({ id: userId, role: 'operator' });

    const created = await as([
      'servers',
      'create',
      'cli-demo',
      '--type',
      'Router',
      '--image',
      'example/router:1',
      '--config',
      'PORT=8080',
      '--no-start',
      '--json',
    ]);
    expect(created.code).toBe(0);
    const server = JSON.parse(created.stdout);
    expect(server).toMatchObject({ name: 'cli-demo', config: { PORT: 8080 }, owner_id: userId });
    const id = String(server.id);

    expect((await as(['servers', 'watch', id, '--until', 'stopped', '--timeout', '30'])).code).toBe(0);
    const table = await as(['servers', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/id\s+name\s+type\s+status/);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+cli-demo\\s+Router\\s+stopped`));

    const start = await as(['servers', 'start', id, '--json']);
    expect(JSON.parse(start.stdout)).toEqual({ server_id: server.id, intent: 'start', status: 'starting' });
    // No Docker daemon in this stack: the launch ends in error, which the operator then stops.
    expect((await as(['servers', 'watch', id, '--until', 'error', '--timeout', '30'])).code).toBe(0);

    expect((await as(['servers', 'stop', id])).code).toBe(0);
    expect((await as(['servers', 'watch', id, '--until', 'stopped', '--timeout', '30'])).code).toBe(0);
    const twice = await as(['servers', 'stop', id]);
    expect(twice.code).toBe(1);
    expect(twice.stderr.trim()).toBe('error: server is not running (status stopped) (invalid_transition, HTTP 409)');
    expect((await as(['servers', 'delete', id])).code).toBe(0);
    expect((await as(['servers', 'watch', id, '--until', 'deleted', '--timeout', '30'])).code).toBe(0);

    const gone = await as(['servers', 'get', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('not found');
  });

  it("updates a server's settings: the table shows them, the API's 422 reaches the operator by name", async () => {
    const created = await mcpctl([
      'servers',
      'create',
      'cli-settings',
      '--type',
      'Router',
      '--image',
      'example/router:1',
      '--no-start',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const id = String(JSON.parse(created.stdout).id);
    const updated = await mcpctl(['servers', 'update', id, '--secret-updates', 'redeploy', '--config', 'PORT=9090']);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/secret updates\s+redeploy/);
    expect(updated.stdout).toMatch(/config\s+PORT=9090/);
    const refused = await mcpctl(['servers', 'update', id, '--secret', 'API_TOKEN=no-such-secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/config\.API_TOKEN: no secret named no-such-secret/);
    const local = await mcpctl(['servers', 'update', id]);
    expect(local.code).toBe(1);
    expect(local.stderr).toMatch(/give at least one of --config/);
  });

  it('lists and revokes tokens; a revoked token is refused', async () => {
    const created = JSON.parse((await mcpctl(['token', 'create', 'short-lived', '--json'])).stdout);
    const list = await mcpctl(['token', 'list']);
    expect(list.stdout).toContain('short-lived');
    expect(list.stdout).not.toContain(created.token);
    expect((await mcpctl(['token', 'revoke', String(created.id)])).code).toBe(0);
    const refused = await mcpctl(['servers', 'list'], { MCPCTL_TOKEN: created.token });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: invalid, expired or revoked token \(unauthorized, HTTP 401\)/);
  });

  it('rejects bad input locally, naming the option, without calling the API', async () => {
    const bad = await mcpctl(['servers', 'create', 'x', '--type', 'Router', '--git', 'file:///etc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: --git: /);
    const id = await mcpctl(['servers', 'get', 'abc']);
    expect(id.code).toBe(1);
    expect(id.stderr).toMatch(/^error: ID: /);
    const unreachable = await mcpctl(['servers', 'list'], { MCPCTL_URL: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: cannot reach the API at http:\/\/127\.0\.0\.1:9/);
  });

  it('watch survives a dropped connection: it resumes after the last event and misses nothing', async () => {
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(h.apiUrl).port) } });
    try {
      const created = JSON.parse(
        (
          await mcpctl([
            'servers',
            'create',
            'dropped',
            '--type',
            'Router',
            '--image',
            'example/r:1',
            '--no-start',
            '--json',
          ])
        ).stdout,
      );
      const id = String(created.id);
      expect((await mcpctl(['servers', 'watch', id, '--until', 'stopped', '--timeout', '30'])).code).toBe(0);
      expect((await mcpctl(['servers', 'start', id])).code).toBe(0);
      // Watch through the proxy for the stop that comes after the connection is cut.
      const watching = mcpctl(['servers', 'watch', id, '--until', 'stopping', '--timeout', '20'], {
        MCPCTL_URL: `http://${proxy.address}`,
      });
      // Until the watch has its stream open (its start-up is slow on a loaded machine), then a moment for `ready`.
      for (
        let waited = 0;
        proxy.requests.every((line) => !line.startsWith('GET /api/servers/stream')) && waited < 20_000;
        waited += 100
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      proxy.setMode('refuse'); // cuts the open stream, and refuses reconnects for a moment
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await mcpctl(['servers', 'stop', id])).code).toBe(0);
      proxy.setMode('pass');
      const result = await watching;
      expect(result.code, `${result.stdout}\n${result.stderr}\n${JSON.stringify(proxy.connections)}`).toBe(0);
      expect(result.stdout).toMatch(/-> stopping/);
      expect(proxy.connections.accepted).toBeGreaterThan(1); // it did reconnect
    } finally {
      await proxy.stop();
    }
  });

  it('doctor says what works and what is wrong', async () => {
    const good = await mcpctl(['doctor']);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/postgres\s+ok/);
    expect(good.stdout).toMatch(/temporal\s+ok/);
    expect(good.stdout).toMatch(/token\s+ok\s+admin@localhost \(admin\)/);
    expect(good.stdout).toMatch(/docker\s+info\s+unreachable: launches and logs need a Docker engine/);
    const badToken = await mcpctl(['doctor'], { MCPCTL_TOKEN: 'not-a-valid-token-0000000' });
    expect(badToken.code).toBe(1);
    expect(badToken.stdout).toMatch(/token\s+problem\s+the token is invalid, expired or revoked/);
    const down = await mcpctl(['doctor'], { MCPCTL_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/api\s+problem\s+cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it('db migrate reports the schema up to date', async () => {
    const res = await mcpctl(['db', 'migrate'], { DATABASE_URL: h.env.DATABASE_URL });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^up to date at version \d+/);
  });
});
