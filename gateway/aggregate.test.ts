// The aggregated endpoint between real SDK peers: the official Client on /mcp, and SDK McpServers
// upstream on real loopback ports. Only the ledger's side (which servers exist, grants, audit rows)
// is a small in-memory stand-in; the stack-backed test is test/integration/gateway-aggregate.int.test.ts.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  LoggingLevelSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  ToolListChangedNotificationSchema,
  UnsubscribeRequestSchema,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAggregate, type Aggregate } from './aggregate/index.js';
import type { ServerRoute } from '../lib/ledger/runtime.js';
import type { ServerEventRow } from '../lib/ledger/servers.js';
import type { GatewayAuditEntry, GatewayParts, GatewayPrincipal } from './contracts.js';
import { signedIds } from './sessions.js';

const listen = (fetch: (req: Request) => Response | Promise<Response>) =>
  new Promise<{ url: string; server: ServerType }>((resolve) => {
    const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve({ url: `http://127.0.0.1:${info.port}/mcp`, server }),
    );
  });

/** An upstream MCP server of its own on a loopback port, one SDK transport per session. */
async function upstream(label: string, cancelled: string[], built: McpServer[] = []) {
  const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
  /** Session ids the gateway ended with DELETE. */
  const deleted: string[] = [];
  const build = () => {
    const s = new McpServer({ name: label, version: '1.0.0' }, { capabilities: { logging: {} } });
    /** This session's logging/setLevel, and the resources it subscribed to. */
    let level: LoggingLevel | undefined;
    const subscribed = new Set<string>();
    s.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
      content: [{ type: 'text', text: `${label}:${text}` }],
    }));
    s.registerTool('slow', { inputSchema: { steps: z.number() } }, async ({ steps }, extra) => {
      for (let i = 1; i <= steps; i++) {
        if (extra.signal.aborted) {
          cancelled.push(label);
          return { content: [{ type: 'text', text: 'cancelled' }] };
        }
        if (extra._meta?.progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: extra._meta.progressToken, progress: i, total: steps },
          });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return { content: [{ type: 'text', text: 'done' }] };
    });
    s.registerTool('ask', { inputSchema: {} }, async () => {
      const answer = await s.server.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: 'question' } }],
        maxTokens: 10,
      });
      return { content: [{ type: 'text', text: `model said ${(answer.content as { text: string }).text}` }] };
    });
    // One message at each of four levels, on the call's stream; those below the session's level are
    // skipped unless the server is told to ignore logging/setLevel (as a careless server would).
    s.registerTool('log', { inputSchema: { ignoreLevel: z.boolean().optional() } }, async ({ ignoreLevel }, extra) => {
      const levels = LoggingLevelSchema.options;
      let sent = 0;
      for (const l of ['debug', 'info', 'warning', 'error'] as const) {
        if (!ignoreLevel && level && levels.indexOf(l) < levels.indexOf(level)) continue;
        await extra.sendNotification({ method: 'notifications/message', params: { level: l, logger: 'db', data: l } });
        sent++;
      }
      return { content: [{ type: 'text', text: `sent ${sent}` }] };
    });
    // Tells every subscriber of this session that its resources changed: on the session's GET stream,
    // or with `onCall` on the call's own stream.
    s.registerTool('touch', { inputSchema: { onCall: z.boolean().optional() } }, async ({ onCall }, extra) => {
      for (const uri of subscribed) {
        const n = { method: 'notifications/resources/updated' as const, params: { uri } };
        await (onCall ? extra.sendNotification(n) : s.server.notification(n));
      }
      return { content: [{ type: 'text', text: `notified ${subscribed.size}` }] };
    });
    s.registerResource('readme', 'file:///readme', { mimeType: 'text/plain' }, (uri) => ({
      contents: [{ uri: uri.href, text: `${label} readme` }],
    }));
    s.registerPrompt('greet', { argsSchema: { who: z.string() } }, ({ who }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `hello ${who} from ${label}` } }],
    }));
    s.server.registerCapabilities({ resources: { subscribe: true } });
    s.server.setRequestHandler(SetLevelRequestSchema, (req) => {
      level = req.params.level;
      return {};
    });
    s.server.setRequestHandler(SubscribeRequestSchema, (req) => {
      subscribed.add(req.params.uri);
      return {};
    });
    s.server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
      subscribed.delete(req.params.uri);
      return {};
    });
    built.push(s);
    return s;
  };
  const served = await listen(async (req) => {
    const id = req.headers.get('mcp-session-id');
    const known = id ? transports.get(id) : undefined;
    if (known) return known.handleRequest(req);
    if (id) return new Response('{}', { status: 404 });
    const t = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => void transports.set(sid, t),
      onsessionclosed: (sid) => {
        transports.delete(sid);
        deleted.push(sid);
      },
    });
    await build().connect(t);
    return t.handleRequest(req);
  });
  /** Forgets every session, as a restarted server would. */
  return { ...served, deleted, sessions: () => [...transports.keys()], forget: () => transports.clear() };
}

const route = (
  serverId: number,
  ownerId: number,
  name: string,
  endpoint: string,
  auditArguments = false,
): ServerRoute => ({
  serverId,
  ownerId,
  name,
  status: 'running',
  transport: 'streamable-http',
  endpoint,
  generation: '1.1',
  auditArguments,
});

const principal = (subject: string, ownerId: number): GatewayPrincipal => ({
  userId: ownerId,
  email: `${subject}@example.test`,
  role: 'operator',
  tokenId: 1,
  subject,
  scope: { kind: 'owner', ownerId },
  grants: null,
});

/** The McpServers upstream `a` built, one per session: a test changes their tools. */
const builtA: McpServer[] = [];
/** Whether the limits refuse tools/call now. */
let rateLimited = false;
let a: Awaited<ReturnType<typeof upstream>>;
let b: Awaited<ReturnType<typeof upstream>>;
let gateway: { url: string; server: ServerType };
const cancelled: string[] = [];
const audit: GatewayAuditEntry[] = [];
let targets: ServerRoute[];
const listeners = new Set<(row: ServerEventRow) => void>();
/** Tool names a principal may not call (a stand-in for grants). */
const deniedTools = new Set<string>();
/** Sessions the aggregate told the limits were ended (DELETE). */
const closedSessions: string[] = [];
let current: Aggregate;
let who: GatewayPrincipal = principal('token:1', 1);

const parts: GatewayParts = {
  access: {
    allowsServer: () => true,
    allowsItem: (_p, _s, kind, name) => !(kind === 'tool' && deniedTools.has(name)),
    filterList: (_p, _s, method, result) =>
      method === 'tools/list'
        ? {
            ...(result as object),
            tools: (result as { tools: { name: string }[] }).tools.filter((t) => !deniedTools.has(t.name)),
          }
        : result,
  },
  audit: { record: (e) => void audit.push(e), flush: async () => {}, close: async () => {} },
  limits: {
    check: (_p, _s, method) =>
      rateLimited && method === 'tools/call' ? { ok: false, reason: 'slow down', retryAfterSeconds: 7 } : { ok: true },
    openSession: async () => ({ ok: true }),
    sessionClosed: async (id) => void closedSessions.push(id),
  },
};

const newAggregate = () =>
  createAggregate({
    parts,
    targets: async (p) => targets.filter((t) => p.scope.kind === 'all' || t.ownerId === p.scope.ownerId),
    serverEvents: {
      subscribe: (accepts, push) => {
        const l = (row: ServerEventRow) => accepts(row) && push(row);
        listeners.add(l);
        return () => listeners.delete(l);
      },
    },
    signer: async () => signedIds(Buffer.from('test-secret')),
    authenticate: async (authorization) =>
      authorization === undefined ? { status: 401, message: 'missing bearer token' } : who,
    originAllowed: (origin) => origin === 'http://trusted.test',
    publicUrl: (path) => `http://gateway.test${path}`,
    log: pino({ level: 'silent' }),
  });

const connect = async (capabilities = {}) => {
  const client = new Client({ name: 'test', version: '1' }, { capabilities });
  const requestInit = { headers: { authorization: 'Bearer test' } };
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit }));
  return client;
};
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]!.text;

beforeAll(async () => {
  a = await upstream('a', cancelled, builtA);
  b = await upstream('b', cancelled);
  targets = [route(1, 1, 'a', a.url, true), route(2, 1, 'b', b.url, false), route(3, 2, 'other', b.url, false)];
  current = newAggregate();
  gateway = await listen((req) => current.handle(req));
});
afterAll(async () => {
  await current?.close();
  for (const s of [a, b, gateway]) s?.server.close();
});

describe('the aggregated endpoint', () => {
  it('lists every server of the principal under <server>__<name>, and calls each', async () => {
    const client = await connect();
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual([
      ...['a__ask', 'a__echo', 'a__log', 'a__slow', 'a__touch'],
      ...['b__ask', 'b__echo', 'b__log', 'b__slow', 'b__touch'],
    ]);
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: 'x' } }))).toBe('a:x');
    expect(text(await client.callTool({ name: 'b__echo', arguments: { text: 'y' } }))).toBe('b:y');
    const unknown = await client.callTool({ name: 'other__echo', arguments: { text: 'z' } }).catch((e: Error) => e);
    expect(String(unknown)).toMatch(/unknown tool/);

    const resources = (await client.listResources()).resources;
    expect(resources.map((r) => [r.name, r.uri]).sort()).toEqual([
      ['a__readme', 'mcp-host://a/file:///readme'],
      ['b__readme', 'mcp-host://b/file:///readme'],
    ]);
    expect((await client.readResource({ uri: 'mcp-host://b/file:///readme' })).contents).toEqual([
      { uri: 'mcp-host://b/file:///readme', text: 'b readme' },
    ]);
    expect((await client.listPrompts()).prompts.map((p) => p.name).sort()).toEqual(['a__greet', 'b__greet']);
    const prompt = await client.getPrompt({ name: 'a__greet', arguments: { who: 'me' } });
    expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'hello me from a' });

    const row = audit.find((e) => e.method === 'tools/call' && e.serverId === 1);
    expect(row).toMatchObject({ name: 'echo', outcome: 'ok', subject: 'token:1', arguments: { text: 'x' } });
    expect(row?.argumentsDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(audit.find((e) => e.method === 'tools/call' && e.serverId === 2)).toMatchObject({ arguments: null });
    await client.close();
  });

  it('relays progress, and a cancellation reaches the upstream server', async () => {
    const client = await connect();
    const progress: number[] = [];
    const done = await client.callTool({ name: 'a__slow', arguments: { steps: 3 } }, CallToolResultSchema, {
      onprogress: (p) => void progress.push(p.progress),
    });
    expect(text(done)).toBe('done');
    expect(progress).toEqual([1, 2, 3]);

    const abort = new AbortController();
    const call = client.callTool({ name: 'b__slow', arguments: { steps: 40 } }, CallToolResultSchema, {
      signal: abort.signal,
      onprogress: (p) => {
        if (p.progress === 2) abort.abort();
      },
    });
    await expect(call).rejects.toThrow();
    await expect.poll(() => cancelled, { timeout: 5_000 }).toContain('b');
    await client.close();
  });

  it("relays an upstream server's sampling request to the client, on the call's stream", async () => {
    const client = await connect({ sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'm',
      role: 'assistant',
      content: { type: 'text', text: '42' },
    }));
    expect(text(await client.callTool({ name: 'a__ask', arguments: {} }))).toBe('model said 42');
    await client.close();
  });

  it('refuses a tool outside the grant with HTTP 403, audited, and leaves it out of the list', async () => {
    deniedTools.add('slow');
    try {
      const client = await connect();
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('a__slow');
      const refused = await client.callTool({ name: 'a__slow', arguments: { steps: 1 } }).catch((e: Error) => e);
      expect(String(refused)).toMatch(/403|not granted/);
      expect(audit.at(-1)).toMatchObject({ method: 'tools/call', serverId: 1, name: 'slow', outcome: 'denied' });
      await client.close();
    } finally {
      deniedTools.delete('slow');
    }
  });

  it('tells the client when a server stops, and the list shrinks', async () => {
    const client = await connect();
    await client.listTools(); // opens the upstream sessions (and the GET stream that carries notifications)
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await new Promise((r) => setTimeout(r, 200));
    targets[1] = { ...targets[1]!, status: 'stopped', endpoint: null };
    for (const l of listeners)
      l({
        id: 1,
        server_id: 2,
        owner_id: 1,
        event_type: 'status',
        status: 'stopped',
        previous_status: 'running',
        reason: null,
        created_at: new Date(),
      });
    await expect.poll(() => changed, { timeout: 5_000 }).toBeGreaterThan(0);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'a__ask',
      'a__echo',
      'a__log',
      'a__slow',
      'a__touch',
    ]);
    targets[1] = { ...targets[1]!, status: 'running', endpoint: b.url };
    await client.close();
  });

  it('keeps a session across a gateway restart (rebuilt from its id), and only for its principal', async () => {
    const client = await connect();
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: '1' } }))).toBe('a:1');
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    await current.close();
    current = newAggregate(); // a restarted process (or another replica): nothing held, same secret
    expect(current.openSessions).toBe(0);
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: '2' } }))).toBe('a:2');
    expect(current.openSessions).toBe(1);

    /** tools/list on the session by raw HTTP, as whichever principal `who` is now. */
    const listOn = (id: string) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: {
          authorization: 'Bearer test',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': id,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    expect((await listOn(sessionId)).status).toBe(200);
    who = principal('token:2', 2);
    try {
      expect((await listOn(sessionId)).status).toBe(404); // another principal's session is none
      expect((await listOn(`${sessionId}x`)).status).toBe(404); // nor is a forged id
      const other = await connect();
      expect((await other.listTools()).tools.map((t) => t.name)).toEqual([
        'other__echo',
        'other__slow',
        'other__ask',
        'other__log',
        'other__touch',
      ]);
      await other.close();
    } finally {
      who = principal('token:1', 1);
    }
    await client.close();
  });

  it('refuses a request without a token (401 naming the metadata) and a foreign Origin (403), audited', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(
      'Bearer resource_metadata="http://gateway.test/.well-known/oauth-protected-resource/mcp"',
    );
    expect(audit.at(-1)).toMatchObject({ outcome: 'denied', httpStatus: 401, subject: null });
    expect((await post({ authorization: 'Bearer test', origin: 'http://evil.test' })).status).toBe(403);
    expect((await post({ authorization: 'Bearer test', origin: 'http://trusted.test' })).status).toBe(400); // no session
  });

  it("relays an upstream server's own tools/list_changed, and lists its new tool", async () => {
    const client = await connect();
    await client.listTools();
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await new Promise((r) => setTimeout(r, 200)); // the upstream GET streams are open
    for (const s of builtA) {
      if (s.isConnected())
        s.registerTool('fresh', { inputSchema: {} }, () => ({ content: [{ type: 'text', text: 'new' }] }));
    }
    await expect.poll(() => changed, { timeout: 5_000 }).toBeGreaterThan(0);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('a__fresh');
    expect(text(await client.callTool({ name: 'a__fresh', arguments: {} }))).toBe('new');
    await client.close();
  });

  it('refuses a call over the limits with HTTP 429 and Retry-After, audited', async () => {
    const client = await connect();
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    rateLimited = true;
    try {
      const res = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          authorization: 'Bearer test',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: { name: 'a__echo', arguments: {} },
        }),
      });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(await res.json()).toMatchObject({ id: 9, error: { message: 'slow down' } });
      expect(audit.at(-1)).toMatchObject({ outcome: 'rate-limited', serverId: 1, name: 'echo', httpStatus: 429 });
    } finally {
      rateLimited = false;
    }
    await client.close();
  });

  it('opens a fresh upstream session when the server forgot the old one (it restarted)', async () => {
    const client = await connect();
    expect(text(await client.callTool({ name: 'b__echo', arguments: { text: '1' } }))).toBe('b:1');
    b.forget();
    expect(text(await client.callTool({ name: 'b__echo', arguments: { text: '2' } }))).toBe('b:2');
    await client.close();
  });
  /** A request on a session id by raw HTTP (the SDK Client forgets its id once it ended the session). */
  const onSession = (id: string, method: 'POST' | 'GET') =>
    fetch(gateway.url, {
      method,
      headers: {
        authorization: 'Bearer test',
        accept: method === 'GET' ? 'text/event-stream' : 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-session-id': id,
        'mcp-protocol-version': '2025-11-25',
      },
      ...(method === 'POST' ? { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) } : {}),
    });

  it('ends the session on DELETE: every upstream session it opened is DELETEd, and the id is 404 after', async () => {
    const client = await connect();
    expect(text(await client.callTool({ name: 'a__echo', arguments: { text: '1' } }))).toBe('a:1');
    expect(text(await client.callTool({ name: 'b__echo', arguments: { text: '2' } }))).toBe('b:2');
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const [aBefore, bBefore] = [a.sessions(), b.sessions()];
    const held = current.openSessions;

    await (client.transport as StreamableHTTPClientTransport).terminateSession();
    // The DELETE is answered once the upstream sessions are ended: one on each server, and only this one's.
    expect(a.sessions()).toHaveLength(aBefore.length - 1);
    expect(b.sessions()).toHaveLength(bBefore.length - 1);
    const aEnded = aBefore.filter((sid) => !a.sessions().includes(sid));
    expect(a.deleted).toContain(aEnded[0]);
    expect(b.deleted).toContain(bBefore.find((sid) => !b.sessions().includes(sid)));
    expect(current.openSessions).toBe(held - 1);
    expect(closedSessions).toContain(sessionId);
    expect(audit.find((e) => e.method === 'DELETE' && e.sessionId === sessionId)).toMatchObject({
      outcome: 'ok',
      httpStatus: 200,
    });

    // An ended session is none, for a POST and a GET stream alike (the client must initialize again).
    const post = await onSession(sessionId, 'POST');
    expect(post.status).toBe(404);
    expect(await post.json()).toMatchObject({ error: { code: -32001 } });
    expect((await onSession(sessionId, 'GET')).status).toBe(404);
    expect(current.openSessions).toBe(held - 1); // and it was not rebuilt from its id
    await client.close();
  });

  it('passes resource subscriptions to the server that holds the resource, and relays its updates renamed', async () => {
    const client = await connect();
    await client.listTools(); // opens the upstream sessions and their GET streams
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    await new Promise((r) => setTimeout(r, 200));

    await client.subscribeResource({ uri: 'mcp-host://a/file:///readme' });
    expect(text(await client.callTool({ name: 'a__touch', arguments: {} }))).toBe('notified 1');
    await expect.poll(() => updated, { timeout: 5_000 }).toEqual(['mcp-host://a/file:///readme']);
    expect(text(await client.callTool({ name: 'b__touch', arguments: {} }))).toBe('notified 0'); // not b's

    // The server restarted (it forgot every session): the subscription is renewed on the new one.
    a.forget();
    expect(text(await client.callTool({ name: 'a__touch', arguments: { onCall: true } }))).toBe('notified 1');
    expect(updated).toEqual(['mcp-host://a/file:///readme', 'mcp-host://a/file:///readme']); // before the answer

    await client.unsubscribeResource({ uri: 'mcp-host://a/file:///readme' });
    expect(text(await client.callTool({ name: 'a__touch', arguments: {} }))).toBe('notified 0');
    const unknown = await client.subscribeResource({ uri: 'mcp-host://nobody/file:///x' }).catch((e: Error) => e);
    expect(String(unknown)).toMatch(/unknown resource/);
    await client.close();
  });

  it('relays log messages under <server>/<logger>, and logging/setLevel reaches every server', async () => {
    const client = await connect();
    const messages: { level: string; logger?: string }[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params));
    const log = async (name: string, args = {}) => {
      messages.length = 0;
      return text(await client.callTool({ name, arguments: args }));
    };

    expect(await log('a__log')).toBe('sent 4');
    // On the call's own stream, so they are there before its answer.
    expect(messages).toEqual([
      { level: 'debug', logger: 'a/db', data: 'debug' },
      { level: 'info', logger: 'a/db', data: 'info' },
      { level: 'warning', logger: 'a/db', data: 'warning' },
      { level: 'error', logger: 'a/db', data: 'error' },
    ]);
    await client.setLoggingLevel('warning');
    expect(await log('a__log')).toBe('sent 2'); // the open upstream was told
    expect(messages.map((m) => m.level)).toEqual(['warning', 'error']);
    expect(await log('b__log')).toBe('sent 2'); // and one opened after it
    expect(messages.map((m) => [m.logger, m.level])).toEqual([
      ['b/db', 'warning'],
      ['b/db', 'error'],
    ]);
    // A server that ignores the level: the aggregate holds back what is below it.
    expect(await log('a__log', { ignoreLevel: true })).toBe('sent 4');
    expect(messages.map((m) => m.level)).toEqual(['warning', 'error']);
    await client.close();
  });
});
