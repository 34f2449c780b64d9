// Names carry a sec- prefix: every test file of a run shares one database (and the bootstrap admin).
// Secrets for real: a secret whose value is a unique marker is stored, referenced by a server as a
// file and as env, built from git and launched on Docker; the value reaches the server's process and
// nothing else (docker inspect, API answers). A new version reaches it at its next start, a rekey
// keeps everything readable and running (the Temporal histories sealed before it too, once the old key
// is gone), a reference blocks deletion, the retired key stops the API and the worker.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPayloadCodec } from '../../lib/ledger/payload-codec-keys.js';
import { keyringFrom } from '../../lib/secrets/keys.js';
import { payloadToJson } from '../../lib/secrets/payload-codec.js';
import { dataConverter } from '../../lib/temporal.js';
import { DIST_NODE_OPTIONS, distEntry } from '../../scripts/build-dist.js';
import { startApi } from '../../scripts/stack/app.js';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { helloMcpRepo } from '../support/example-repo.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
const logDir = join(DATA_DIR, 'test-logs');
const marker = `marker-${randomUUID()}`;
const marker2 = `rotated-${randomUUID()}`;
const marker3 = `extra-${randomUUID()}`;
/** Everything the API answered in this file: the marker must be in none of it. */
const answers: string[] = [];

const api = async (method: string, path: string, json?: unknown) => {
  const res = await call(method, path, { token: h.adminToken, json });
  answers.push(res.text);
  return res;
};

/** Runs a command in the server's container as its own user; stdout and stderr together. */
async function exec(id: number, cmd: string[]): Promise<string> {
  const container = stack.docker.getContainer(`mcp-server-${id}`);
  const run = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const raw = await run.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  stack.docker.modem.demuxStream(raw, out, out);
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => raw.on('end', resolve));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What the server's own process sees: its secret file and its environment. With env secrets the
 * container runs under Docker's init (PID 1), and the server is init's child: the bridge's --env-from
 * replaced itself with the image's command.
 */
const seen = (id: number) =>
  exec(id, [
    'sh',
    '-c',
    'cat "$API_TOKEN_FILE"; echo; for s in /proc/[0-9]*/status; do grep -q "^PPid:[[:space:]]*1$" "$s" && tr "\\0" "\\n" < "${s%/status}/environ" | grep ^ENV_TOKEN=; done',
  ]);

/** With h.env as it is now; the worker only when it must launch with the new keys (its start is the slow one). */
async function restart({ worker = false } = {}): Promise<void> {
  await h.api.stop();
  h.api = await startApi(h.env, join(logDir, 'secrets-api.log'));
  if (worker) await h.restartWorker();
}

beforeAll(async () => {
  stack = await startBuildStack('secrets');
  h = await startHarness('secrets', {
    ...stack.env('linux/amd64'),
    // A bridge built from this checkout when the shared one predates --env-from (local runs only).
    ...(process.env.STDIO_BRIDGE_DIR && { STDIO_BRIDGE_DIR: process.env.STDIO_BRIDGE_DIR }),
  });
  call = httpClient(h.apiUrl);
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('secrets', () => {
  let id: number;
  /** A server with secret_updates "redeploy": a new version redeploys it. */
  let follower: number;

  it('are stored encrypted and listed without their values', async () => {
    const created = await api('POST', '/api/secrets', { name: 'sec-token', value: marker });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'sec-token', version: 1, used_by: [] });
    expect((await api('POST', '/api/secrets', { name: 'sec-token', value: 'x' })).status).toBe(409);
    const bad = await api('POST', '/api/secrets', { name: 'Bad/Name', value: 'x' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('name');
    const [row] = await h.sql<{ ciphertext: Buffer; wrapped_key: Buffer }[]>`
      select v.ciphertext, v.wrapped_key from secret_versions v join secrets s on s.id = v.secret_id
      where s.name = 'sec-token'`;
    expect(row!.ciphertext.includes(Buffer.from(marker))).toBe(false);
    expect(row!.wrapped_key).toHaveLength(12 + 16 + 32);
  });

  it('reach the launched server as a file and as env, and docker inspect holds no value', async () => {
    await helloMcpRepo(stack, 'hello-mcp');
    const missing = await api('POST', '/api/servers', {
      name: 'sec-missing',
      server_type: 'Example',
      source: { type: 'git', repository: stack.git.url('hello-mcp') },
      config: { API_TOKEN: { secret: 'sec-nope' } },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.error.field).toBe('config.API_TOKEN');
    // The key-name deny list is gone: a key that looks like a secret is a plain setting.
    const created = await api('POST', '/api/servers', {
      name: 'sec-hello',
      server_type: 'Example',
      source: { type: 'git', repository: stack.git.url('hello-mcp') },
      config: {
        API_TOKEN: { secret: 'sec-token' },
        ENV_TOKEN: { secret: 'sec-token', as: 'env' },
        GH_PAT_HINT: 'none',
      },
    });
    expect(created.status).toBe(201);
    id = created.body.id;
    const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');

    expect(await seen(id)).toBe(`${marker}\nENV_TOKEN=${marker}\n`);
    const mode = await exec(id, ['stat', '-c', '%a %u %n', '/run/secrets/sec-token', '/run/secrets']);
    expect(mode).toMatch(/^400 65532 \/run\/secrets\/sec-token\n500 65532 \/run\/secrets\n$/);
    expect(await exec(id, ['sh', '-c', 'echo x > /run/secrets/sec-token 2>&1 || echo refused'])).toMatch(/refused/);

    const inspected = await stack.docker.getContainer(`mcp-server-${id}`).inspect();
    expect(JSON.stringify(inspected)).not.toContain(marker);
    expect(inspected.Config.Env).toContain('API_TOKEN_FILE=/run/secrets/sec-token');
    expect(inspected.Config.Env!.some((e) => e.startsWith('ENV_TOKEN'))).toBe(false);

    const shown = await api('GET', `/api/servers/${id}`);
    expect(shown.body.config).toEqual({
      API_TOKEN: { secret: 'sec-token' },
      ENV_TOKEN: { secret: 'sec-token', as: 'env' },
      GH_PAT_HINT: 'none',
    });
    const [listed] = (await api('GET', '/api/secrets')).body.filter((s: { name: string }) => s.name === 'sec-token');
    expect(listed.used_by).toEqual([{ id, name: 'sec-hello' }]);
  });

  it('cannot be deleted while a server references them', async () => {
    const refused = await api('DELETE', '/api/secrets/sec-token');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain(`sec-hello (${id})`);
  });

  it('redeploy, on a new version, the servers whose secret_updates say so', async () => {
    const server = (secret_updates: unknown) => ({
      name: 'sec-follow',
      server_type: 'Example',
      source: { type: 'git', repository: stack.git.url('hello-mcp') },
      config: { API_TOKEN: { secret: 'sec-token' }, ENV_TOKEN: { secret: 'sec-token', as: 'env' } },
      secret_updates,
    });
    const bad = await api('POST', '/api/servers', server('now'));
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('secret_updates');
    const created = await api('POST', '/api/servers', server('redeploy'));
    expect(created.status).toBe(201);
    follower = created.body.id;
    const up = await waitForStatus(call, h.adminToken, follower, ['running', 'unhealthy', 'error'], 'running');
    expect(up.status, up.status_reason).toBe('running');
    expect((await api('GET', `/api/servers/${follower}`)).body.secret_updates).toBe('redeploy');
    expect((await api('GET', `/api/servers/${id}`)).body.secret_updates).toBe('next-start');
  }, 300_000);

  it('reach the server at its next start when they get a new version', async () => {
    const mcpctl = promisify(execFile)(
      process.execPath,
      [join(PROJECT_ROOT, 'cli', 'bin.mjs'), 'secrets', 'set', 'sec-token'],
      {
        env: { PATH: process.env.PATH, MCPCTL_URL: h.apiUrl, MCPCTL_TOKEN: h.adminToken },
      },
    );
    mcpctl.child.stdin!.end(`${marker2}\n`);
    const { stdout } = await mcpctl;
    answers.push(stdout);
    expect(stdout).toMatch(/sec-token\s+\d+\s+2/);
    // The API's answer names the servers it redeployed: the follower only.
    expect(stdout).toContain(`redeployed: sec-follow (${follower})`);
    expect(stdout).not.toContain(`sec-hello (${id})\n`);
    // The follower is redeployed without a stop or start, and its event says which version did it.
    await expect
      .poll(
        async () =>
          (
            await h.sql<{ reason: string | null }[]>`
              select reason from server_events where server_id = ${follower} and status = 'redeploying'`
          ).map((e) => e.reason),
        { timeout: 60_000, interval: 500 },
      )
      .toEqual(['redeploy: secret sec-token version 2']);
    await expect
      .poll(
        async () => {
          const now = (await api('GET', `/api/servers/${follower}`)).body;
          // Mid-redeploy the container may be gone: that is a status to wait past, not a failure.
          return now.status === 'running' ? await seen(follower).catch((err: Error) => err.message) : now.status;
        },
        { timeout: 240_000, interval: 1000 },
      )
      .toBe(`${marker2}\nENV_TOKEN=${marker2}\n`);
    expect(await seen(id)).toContain(marker); // the running server keeps the version it started with

    expect((await api('POST', `/api/servers/${id}/stop`)).status).toBe(202);
    await waitForStatus(call, h.adminToken, id, ['stopped'], 'stopped');
    expect((await api('POST', `/api/servers/${id}/start`)).status).toBe(202);
    const back = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running again');
    expect(back.status, back.status_reason).toBe('running');
    expect(await seen(id)).toBe(`${marker2}\nENV_TOKEN=${marker2}\n`);
  }, 360_000);

  it("follow a server's changed settings: secret_updates at once, config at its next launch", async () => {
    expect((await api('POST', '/api/secrets', { name: 'sec-extra', value: 'first' })).status).toBe(201);
    const before = (await api('GET', `/api/servers/${follower}`)).body;
    const config = { ...before.config, EXTRA: { secret: 'sec-extra' }, GREETING: 'patched' };
    const missing = await api('PATCH', `/api/servers/${follower}`, {
      config: { ...config, EXTRA: { secret: 'sec-none' } },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.error.field).toBe('config.EXTRA');
    const changed = await api('PATCH', `/api/servers/${follower}`, { config, secret_updates: 'next-start' });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({ config, secret_updates: 'next-start', status: 'running' });
    // What runs keeps its settings until its next launch.
    const started = (await stack.docker.getContainer(`mcp-server-${follower}`).inspect()).State.StartedAt;
    expect((await stack.docker.getContainer(`mcp-server-${follower}`).inspect()).Config.Env).not.toContain(
      'GREETING=patched',
    );
    // next-start now: a new version redeploys nothing.
    const quiet = await api('PUT', '/api/secrets/sec-extra', { value: 'second' });
    expect(quiet.body.redeployed).toEqual([]);

    expect((await api('PATCH', `/api/servers/${follower}`, { secret_updates: 'redeploy' })).status).toBe(200);
    const loud = await api('PUT', '/api/secrets/sec-extra', { value: marker3 });
    expect(loud.body.redeployed).toEqual([{ id: follower, name: 'sec-follow' }]);
    await eventually(
      async () => {
        const state = (
          await stack.docker
            .getContainer(`mcp-server-${follower}`)
            .inspect()
            .catch(() => undefined)
        )?.State;
        return state?.Running && state.StartedAt !== started;
      },
      240_000,
      'the redeployed follower',
    );
    const back = await waitForStatus(call, h.adminToken, follower, ['running', 'unhealthy', 'error'], 'redeployed');
    expect(back.status, back.status_reason).toBe('running');
    // The launch took the changed config: the new setting, and the new reference's file.
    const inspected = await stack.docker.getContainer(`mcp-server-${follower}`).inspect();
    expect(inspected.Config.Env).toContain('GREETING=patched');
    expect(inspected.Config.Env).toContain('EXTRA_FILE=/run/secrets/sec-extra');
    expect(await exec(follower, ['sh', '-c', 'cat "$EXTRA_FILE"'])).toBe(marker3);
    const reasons = await h.sql<{ reason: string }[]>`
      select reason from server_events where server_id = ${follower} and event_type = 'settings' order by id`;
    expect(reasons.map((r) => r.reason)).toEqual([
      'settings changed: config EXTRA, GREETING (at the next launch); secret_updates next-start',
      'settings changed: secret_updates redeploy',
    ]);
  }, 360_000);

  it('stay readable, and servers keep running, across a rekey, and so do the histories sealed before it', async () => {
    const original = h.env.SECRETS_KEY!;
    const next = randomBytes(32).toString('base64');
    const nextId = keyringFrom(Buffer.from(next, 'base64')).current.id;
    const started = (await stack.docker.getContainer(`mcp-server-${id}`).inspect()).State.StartedAt;
    const handle = h.temporal.workflow.getHandle(h.workflowIds.server(id));
    // The server workflow's input, as Temporal holds it: sealed by the payload codec before the rekey.
    const history = await handle.fetchHistory();
    const sealedInput = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(Buffer.from(sealedInput.metadata!.encoding!).toString()).toBe('binary/encrypted');
    let workerRestarted = false;

    try {
      expect((await api('POST', '/api/secrets/rekey')).status).toBe(409); // no next key configured
      h.env.SECRETS_KEY_NEXT = next;
      await restart(); // the API rekeys; nothing launches meanwhile
      const rekeyed = await api('POST', '/api/secrets/rekey');
      expect(rekeyed.status).toBe(200);
      expect(rekeyed.body.rewrapped).toBeGreaterThanOrEqual(2);
      // The payload codec's keys moved with the secrets: none is wrapped by the old key any more.
      const codecKeys = await h.sql<{ key_id: string }[]>`select key_id from payload_codec_keys`;
      expect(codecKeys.length).toBeGreaterThanOrEqual(1);
      expect(new Set(codecKeys.map((k) => k.key_id))).toEqual(new Set([nextId]));
      // The next key takes over; the old one is retired, and nothing below has it.
      h.env.SECRETS_KEY = next;
      delete h.env.SECRETS_KEY_NEXT;
      workerRestarted = true;
      await restart({ worker: true }); // the redeploy below resolves the secrets with the new key
      const after = await stack.docker.getContainer(`mcp-server-${id}`).inspect();
      expect(after.State.Running).toBe(true);
      expect(after.State.StartedAt).toBe(started);

      // What was sealed before the rekey opens under the new key alone: at the restarted API's codec
      // endpoint, and through a client whose codec is loaded from the database with the new key only.
      const opened = await api('POST', '/codec/decode', { payloads: [payloadToJson(sealedInput)] });
      expect(opened.status, opened.text).toBe(200);
      const input = JSON.parse(Buffer.from(opened.body.payloads[0].data, 'base64').toString()) as { serverId: number };
      expect(input.serverId).toBe(id);
      const newKeyOnly = await loadPayloadCodec(h.sql, keyringFrom(Buffer.from(next, 'base64')));
      const reader = new Client({ connection: h.temporal.connection, dataConverter: dataConverter(newKeyOnly) });
      const described = await reader.workflow.getHandle(h.workflowIds.server(id)).describe();
      expect(described.memo).toMatchObject({ name: 'sec-hello' });

      // The worker, restarted under the new key alone, replays the server's history (sealed before the
      // rekey) to take the redeploy.
      expect((await api('POST', `/api/servers/${id}/redeploy`)).status).toBe(202);
      await eventually(
        async () => {
          const state = (
            await stack.docker
              .getContainer(`mcp-server-${id}`)
              .inspect()
              .catch(() => undefined)
          )?.State;
          return state?.Running && state.StartedAt !== started;
        },
        120_000,
        'the redeployed container',
      );
      const back = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'redeployed');
      expect(back.status, back.status_reason).toBe('running');
      expect(await seen(id)).toBe(`${marker2}\nENV_TOKEN=${marker2}\n`);

      // A process with the retired key alone, the API or the worker, stops at start-up with one line.
      for (const entry of [distEntry('api'), distEntry('worker')]) {
        const wrong = await promisify(execFile)(process.execPath, [...DIST_NODE_OPTIONS, entry], {
          cwd: PROJECT_ROOT,
          env: { ...h.env, SECRETS_KEY: original, BIND_PORT: '0' },
        }).then(
          () => ({ code: 0, stderr: '' }),
          (err: { code: number; stderr: string }) => err,
        );
        expect(wrong.code, entry).toBe(78);
        expect(wrong.stderr.trim()).toMatch(
          /^invalid environment: SECRETS_KEY: this database's secrets are wrapped by key [0-9a-f]{16}, which is not the configured key/,
        );
        expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
        expect(wrong.stderr).not.toContain(original);
      }
    } finally {
      // Back to the run's key whatever happened above, so the files after this one find their secrets
      // readable: with both keys configured and the run's as the next one, a rekey moves everything to it
      // from wherever the rekey above stopped.
      h.env.SECRETS_KEY = next;
      h.env.SECRETS_KEY_NEXT = original;
      await restart();
      expect((await api('POST', '/api/secrets/rekey')).status).toBe(200);
      const runKey = keyringFrom(Buffer.from(original, 'base64')).current.id;
      const wrapping = await h.sql<{ key_id: string }[]>`
        select secrets_key_id as key_id from installation
        union select key_id from secret_versions union select key_id from payload_codec_keys`;
      expect(wrapping.map((w) => w.key_id)).toEqual([runKey]);
      h.env.SECRETS_KEY = original;
      delete h.env.SECRETS_KEY_NEXT;
      await restart({ worker: workerRestarted });
    }
  }, 420_000);

  it('are deleted once no server references them, and the value appeared in no answer', async () => {
    expect((await api('DELETE', `/api/servers/${id}`)).status).toBe(202);
    if (follower) expect((await api('DELETE', `/api/servers/${follower}`)).status).toBe(202);
    await expect
      .poll(async () => (await api('DELETE', '/api/secrets/sec-token')).status, { timeout: 60_000, interval: 500 })
      .toBe(204);
    expect((await api('DELETE', '/api/secrets/sec-extra')).status).toBe(204);
    for (const text of answers) {
      expect(text).not.toContain(marker);
      expect(text).not.toContain(marker2);
      expect(text).not.toContain(marker3);
    }
  });
});
