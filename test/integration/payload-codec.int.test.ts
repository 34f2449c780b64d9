// The payload codec on the real stack: what the API and the worker send Temporal is ciphertext in its
// history (`temporal workflow show` sees no config value), and the API's codec endpoint opens it for an
// operator — through the CLI's --codec-endpoint, and for the Web UI (CORS for its origin, a cookie).
// Its keys are the database's: created once however many processes start together, refused with one
// line under a key that wraps none of them, and moved by a rekey without changing.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSql, type Sql } from '../../lib/db.js';
import { EnvError } from '../../lib/env.js';
import { loadCodecKeys, loadPayloadCodec } from '../../lib/ledger/payload-codec-keys.js';
import { rekeySecrets } from '../../lib/ledger/secrets.js';
import { migrate } from '../../lib/migrate.js';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../lib/search-attributes.js';
import { keyringFrom } from '../../lib/secrets/keys.js';
import { TEMPORAL_BIN } from '../../scripts/stack/paths.js';
import { dropDatabase, ensureDatabase } from '../../scripts/stack/postgres.js';
import { startHarness, type Harness } from '../support/harness.js';
import { runMcpctl } from '../support/mcpctl.js';
import { replayTaskQueue } from '../support/histories.js';
import { eventually, httpClient } from '../support/http.js';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const MARKER = `codec-marker-${randomBytes(8).toString('hex')}`;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let workflowId: string;

async function tokenFor(role: 'operator' | 'viewer') {
  const email = `${role}-${randomBytes(4).toString('hex')}@example.test`;
  const user = await call('POST', '/api/users', { token: h.adminToken, json: { email, role } });
  const token = await call('POST', '/api/tokens', { token: h.adminToken, json: { name: 't', user_id: user.body.id } });
  return token.body.token as string;
}

/** A workflow's history as `temporal workflow show` prints it (sealed, unless `extra` names a codec endpoint). */
function showOf(harness: Harness, id: string, ...extra: string[]): string {
  return execFileSync(
    TEMPORAL_BIN,
    ['workflow', 'show', '--workflow-id', id, '--address', harness.env.TEMPORAL_ADDRESS!, '--output', 'json', ...extra],
    { encoding: 'utf8' },
  );
}
const show = (...extra: string[]) => showOf(h, workflowId, ...extra);

/** The ids of the codec keys the sealed payloads of a history name. */
function sealedKeyIds(history: string): Set<string> {
  const ids = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const { metadata } = node as { metadata?: Record<string, string> };
    if (metadata?.['encryption-key-id']) ids.add(Buffer.from(metadata['encryption-key-id'], 'base64').toString());
    Object.values(node).forEach(walk);
  };
  walk(JSON.parse(history));
  return ids;
}

/** A database of this file's own beside the shared one (what happens to its keys stays there). */
function databaseUrlFor(suffix: string): string {
  const url = new URL(inject('stack').databaseUrl);
  url.pathname = `${url.pathname}_codec_${suffix}`;
  return url.toString();
}

/**
 * Every payload of a history as text, its bytes decoded from base64 (where a marker would be), and
 * where each sits. Search attributes are apart: Temporal indexes them in clear, the codec never sees them.
 */
function payloadTexts(history: string) {
  const payloads: { path: string; encoding: string; text: string }[] = [];
  const searchAttributes = new Set<string>();
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}.${i}`));
    if (node === null || typeof node !== 'object') return;
    if (path.endsWith('.searchAttributes.indexedFields')) {
      Object.keys(node).forEach((key) => searchAttributes.add(key));
      return;
    }
    const { metadata, data } = node as { metadata?: Record<string, string>; data?: string };
    if (metadata && typeof metadata.encoding === 'string') {
      const encoding = Buffer.from(metadata.encoding, 'base64').toString();
      payloads.push({ path, encoding, text: Buffer.from(data ?? '', 'base64').toString('latin1') });
    }
    for (const [key, value] of Object.entries(node)) walk(value, `${path}.${key}`);
  };
  walk(JSON.parse(history), '');
  return { payloads, searchAttributes, texts: payloads.map((p) => p.text) };
}

beforeAll(async () => {
  h = await startHarness('payload-codec', {
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    TEMPORAL_UI_ORIGINS: UI_ORIGIN,
  });
  call = httpClient(h.apiUrl);
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: {
      name: 'codec',
      server_type: 'Router',
      source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
      config: { GREETING: MARKER },
      start: false,
    },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  workflowId = h.workflowIds.server(id);
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status === 'stopped',
    30_000,
    'stopped after create',
  );
});
afterAll(async () => {
  await h?.stop();
});

describe('payload codec', () => {
  it('keeps every payload of the history sealed: the config value is not in it', async () => {
    const raw = show();
    const { payloads, searchAttributes, texts } = payloadTexts(raw);
    expect(payloads.length).toBeGreaterThan(2);
    // The SDK writes its own markers' bookkeeping (a patch's id, a local activity's attempt and times)
    // without the codec; every payload of the workflow's own (inputs, results, updates) is sealed.
    const sdkBookkeeping = /\.markerRecordedEventAttributes\.details\.(patch-data|data)\./;
    expect(payloads.filter((p) => p.encoding !== 'binary/encrypted' && !sdkBookkeeping.test(p.path))).toEqual([]);
    expect(payloads.filter((p) => p.encoding === 'binary/encrypted').length).toBeGreaterThan(2);
    // What is indexed in clear is ids and statuses (lib/search-attributes.ts), never config.
    const ours = CUSTOM_SEARCH_ATTRIBUTES.map((k) => k.name as string);
    expect(
      [...searchAttributes].filter((k) => !ours.includes(k) && !k.startsWith('Temporal') && k !== 'BuildIds'),
    ).toEqual([]);
    expect(raw).not.toContain(MARKER);
    for (const text of texts) expect(text).not.toContain(MARKER);
    // The workflow itself reads its input through the codec: its history replays with the client's.
    expect(await replayTaskQueue(h.temporal, h.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThan(0);
  });

  it('opens the history for the CLI with an operator token at the codec endpoint, and for no one else', async () => {
    const operator = await tokenFor('operator');
    const opened = show('--codec-endpoint', `${h.apiUrl}/codec`, '--codec-auth', `Bearer ${operator}`);
    expect(payloadTexts(opened).texts.some((t) => t.includes(MARKER))).toBe(true);

    const sealed = JSON.parse(show()) as { events: { workflowExecutionStartedEventAttributes?: { input: object } }[] };
    const input = sealed.events[0]!.workflowExecutionStartedEventAttributes!.input as { payloads: object[] };
    const viewer = await tokenFor('viewer');
    expect((await call('POST', '/codec/decode', { token: viewer, json: input })).status).toBe(403);
    expect((await call('POST', '/codec/decode', { json: input })).status).toBe(401);
    const decoded = await call('POST', '/codec/decode', { token: operator, json: input });
    expect(decoded.status).toBe(200);
    expect(Buffer.from(decoded.body.payloads[0].data, 'base64').toString()).toContain(MARKER);

    // Encode then decode is the identity; a payload sealed under another key is refused by name.
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'Im9rIg==' };
    const encoded = await call('POST', '/codec/encode', { token: operator, json: { payloads: [plain] } });
    expect(encoded.body.payloads[0].metadata.encoding).toBe(Buffer.from('binary/encrypted').toString('base64'));
    const back = await call('POST', '/codec/decode', { token: operator, json: encoded.body });
    expect(back.body.payloads).toEqual([plain]);
    const forged = structuredClone(encoded.body);
    forged.payloads[0].metadata['encryption-key-id'] = Buffer.from('0000000000000000').toString('base64');
    const refused = await call('POST', '/codec/decode', { token: operator, json: forged });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'undecodable_payload', field: 'payloads' });
    expect(
      (await call('POST', '/codec/decode', { token: operator, json: { payloads: [{ data: '%%' }] } })).status,
    ).toBe(422);
  });

  it("answers the Web UI's origin only, and takes the token from the cookie /codec/session sets", async () => {
    const preflight = (origin: string) =>
      fetch(`${h.apiUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const ui = await preflight(UI_ORIGIN);
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ui.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ui.headers.get('access-control-allow-headers')).toMatch(/x-namespace/);
    expect((await preflight('http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();

    const operator = await tokenFor('operator');
    const session = await fetch(`${h.apiUrl}/codec/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}` },
    });
    expect(session.status).toBe(204);
    const cookie = session.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^mcp_host_codec=[^;]+; Max-Age=28800; Path=\/codec; HttpOnly; SameSite=Strict/);
    const viaCookie = await fetch(`${h.apiUrl}/codec/decode`, {
      method: 'POST',
      headers: {
        origin: UI_ORIGIN,
        cookie: cookie.split(';')[0]!,
        'content-type': 'application/json',
        'x-namespace': 'default',
      },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(viaCookie.status).toBe(200);
    expect(await viaCookie.json()).toEqual({ payloads: [] });
    expect(viaCookie.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    // The sign-in page for a browser.
    const login = await fetch(`${h.apiUrl}/codec/login`);
    expect(await login.text()).toContain("fetch('/codec/session'");
  });
});

describe("the payload codec's keys", () => {
  const databases: string[] = [];
  afterAll(async () => {
    for (const url of databases) await dropDatabase(url).catch(() => {});
  });
  async function freshDatabase(suffix: string): Promise<Sql> {
    const url = databaseUrlFor(suffix);
    await ensureDatabase(url);
    databases.push(url);
    const sql = createSql(url, { max: 8 });
    await migrate(sql);
    return sql;
  }

  it('are created once when several processes start at once, and every one loads the same key', async () => {
    const sql = await freshDatabase('race');
    const keyring = keyringFrom(randomBytes(32));
    try {
      const loaded = await Promise.all(Array.from({ length: 6 }, () => loadCodecKeys(sql, keyring)));
      const rows = await sql<{ codec_key_id: string }[]>`select codec_key_id from payload_codec_keys`;
      expect(rows).toHaveLength(1);
      expect(new Set(loaded.map((keys) => keys.map((k) => k.codecKeyId).join()))).toEqual(
        new Set([rows[0]!.codec_key_id]),
      );
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('stop a process whose key wraps none of them with one line, and open under the key a rekey moved them to', async () => {
    const sql = await freshDatabase('rekey');
    const kek = randomBytes(32);
    try {
      const before = await loadPayloadCodec(sql, keyringFrom(kek));
      const [sealed] = await before.encode([defaultPayloadConverter.toPayload({ marker: MARKER })]);
      const other = keyringFrom(randomBytes(32));
      const refused = await loadPayloadCodec(sql, other).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(EnvError);
      expect((refused as Error).message).toMatch(
        /^invalid environment: SECRETS_KEY: this database's payload codec keys are wrapped by key [0-9a-f]{16}, which is not the configured key \([0-9a-f]{16}\); set the installation's key$/,
      );
      expect(await sql`select 1 from payload_codec_keys`).toHaveLength(1); // and no key of its own was made

      const next = randomBytes(32);
      expect((await rekeySecrets(sql, keyringFrom(kek, next))).codecKeys).toBe(1);
      const after = await loadPayloadCodec(sql, keyringFrom(next));
      expect(after.keyId).toBe(before.keyId);
      expect(defaultPayloadConverter.fromPayload(after.open(sealed!))).toEqual({ marker: MARKER });
      await expect(loadPayloadCodec(sql, keyringFrom(kek))).rejects.toThrow(EnvError);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('a new codec key (mcpctl secrets codec-key rotate)', () => {
  // Its own database, API and worker: the shared database's key stays as the other files loaded it.
  const url = databaseUrlFor('rotate');
  let r: Harness;
  afterAll(async () => {
    await r?.stop();
    await dropDatabase(url).catch(() => {});
  });

  it('seals the histories begun after it, in the API and in the worker, while older ones still open', async () => {
    await ensureDatabase(url);
    r = await startHarness(
      'codec-rotate',
      { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      { databaseUrl: url, temporalAddress: inject('stack').temporalAddress },
    );
    const rcall = httpClient(r.apiUrl);
    const createStopped = async (name: string) => {
      const created = await rcall('POST', '/api/servers', {
        token: r.adminToken,
        json: {
          name,
          server_type: 'Router',
          source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
          config: { GREETING: MARKER },
          start: false,
        },
      });
      expect(created.status).toBe(201);
      const id = created.body.id as number;
      await eventually(
        async () => (await rcall('GET', `/api/servers/${id}`, { token: r.adminToken })).body.status === 'stopped',
        30_000,
        `${name} stopped after create`,
      );
      return { id, workflowId: r.workflowIds.server(id) };
    };

    const before = await createStopped('before-rotation');
    const oldKeys = [...sealedKeyIds(showOf(r, before.workflowId))];
    expect(oldKeys).toHaveLength(1);

    const user = await rcall('POST', '/api/users', {
      token: r.adminToken,
      json: { email: 'codec-op@example.test', role: 'operator' },
    });
    const operator = (
      await rcall('POST', '/api/tokens', { token: r.adminToken, json: { name: 't', user_id: user.body.id } })
    ).body.token as string;
    const refused = await rcall('POST', '/api/secrets/codec-keys', { token: operator });
    expect(refused.status).toBe(403);

    const rotated = await runMcpctl(r, ['secrets', 'codec-key', 'rotate', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const added = JSON.parse(rotated.stdout) as { codec_key_id: string; key_id: string; keys: number };
    expect(added.keys).toBe(2);
    expect(added.codec_key_id).toMatch(/^[0-9a-f]{16}$/);
    expect(added.codec_key_id).not.toBe(oldKeys[0]);
    const table = await runMcpctl(r, ['secrets', 'codec-key', 'rotate']);
    expect(table.stdout).toMatch(/codec key id\s+wrapped by\s+keys/);

    // The API sealed the new workflow's input, the worker its commands and activity results: all with the newest key.
    const newest = await newestKey(r);
    expect(table.stdout).toContain(newest);
    const after = await createStopped('after-rotation');
    expect(sealedKeyIds(showOf(r, after.workflowId))).toEqual(new Set([newest]));

    // The history sealed before still opens through the codec endpoint, and its workflow carries on
    // (the worker opens its older payloads): deleting the server ends it.
    const opened = showOf(
      r,
      before.workflowId,
      '--codec-endpoint',
      `${r.apiUrl}/codec`,
      '--codec-auth',
      `Bearer ${operator}`,
    );
    expect(payloadTexts(opened).texts.some((t) => t.includes(MARKER))).toBe(true);
    expect((await rcall('DELETE', `/api/servers/${before.id}`, { token: r.adminToken })).status).toBe(202);
    await eventually(
      async () => (await rcall('GET', `/api/servers/${before.id}`, { token: r.adminToken })).status === 404,
      30_000,
      'the older server deleted',
    );
    const grown = sealedKeyIds(showOf(r, before.workflowId));
    expect(grown).toEqual(new Set([oldKeys[0], newest]));
    expect(await replayTaskQueue(r.temporal, r.env.TEMPORAL_TASK_QUEUE!)).toBeGreaterThan(1);
  }, 360_000); // an API and a worker of its own start first
});

/** The id of the newest codec key of the harness's database. */
async function newestKey(harness: Harness): Promise<string> {
  const [row] = await harness.sql<{ codec_key_id: string }[]>`
    select codec_key_id from payload_codec_keys order by id desc limit 1`;
  return row!.codec_key_id;
}
