// The relay of `/mcp/<server-id>`: MCP Streamable HTTP from a client to the server's current endpoint
// and back. It authenticates the caller, routes by the ledger's record of where the server runs, wraps
// the server's session in a signed gateway session, asks the access, limit and audit parts at each
// JSON-RPC message, and otherwise streams bytes through untouched: a POST's body is the only thing it
// parses, a list result the only thing it may rewrite.
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import type { Logger } from '../lib/logger.js';
import type { RelaySpans } from '../lib/tracing.js';
import { inScope } from '../lib/ledger/scope.js';
import type { ServerRoute } from '../lib/ledger/runtime.js';
import type { AuditOutcome, GatewayAuditEntry, GatewayParts, GatewayPrincipal, GrantedKind } from './contracts.js';
import { grantedItemOf, isFilteredList } from './grants.js';
import type { GatewayMetrics } from './metrics.js';
import { isAuthFailure, type Authenticate } from './principal.js';
import type { SessionSigner } from './sessions.js';
import { formatEvent, SseSplitter } from './sse-scan.js';
import { downstreamHeaders, sendUpstream, upstreamHeaders } from './upstream.js';

/** JSON-RPC error codes the gateway answers with itself. */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  /** The session id is unknown here, or ended: the client starts a new session. */
  sessionNotFound: -32001,
  unauthorized: -32002,
  forbidden: -32003,
  rateLimited: -32029,
  unavailable: -32004,
  notFound: -32005,
} as const;

/** Seconds a client is told to wait before trying a server that is not running again. */
const RETRY_AFTER_SECONDS = 5;

/** Where each server is; read through a short cache, dropped when the endpoint does not answer. */
export interface RouteSource {
  get(serverId: number): Promise<ServerRoute | undefined>;
  invalidate(serverId: number): void;
}

/** Trace context for the hop upstream: the caller's joined, a child of it sent on (lib/tracing.ts). */
export type RelayTracing = RelaySpans;

export interface RelayDeps {
  parts: GatewayParts;
  authenticate: Authenticate;
  routes: RouteSource;
  sessions: () => Promise<SessionSigner>;
  /** Whether a browser's Origin may call the gateway (absent Origin is a non-browser client: allowed). */
  originAllowed(origin: string, requestUrl: string): boolean;
  /** The canonical URL of a gateway path (`/mcp/3`), as clients reach it. */
  publicUrl(path: string, requestUrl: string): string;
  metrics: GatewayMetrics;
  tracing?: RelayTracing;
  log: Logger;
  maxBodyBytes: number;
}

interface Message {
  /** The JSON-RPC id, for requests and responses. */
  id: string | number | null;
  hasId: boolean;
  /** The method; `response` for a client's answer to a server-initiated request. */
  method: string;
  name: string | null;
  kind: GrantedKind | null;
  arguments: unknown;
  isRequest: boolean;
  bytes: number;
}

/**
 * Statuses the relay routes to: a degraded server still answers (slowly, or failing under the
 * limit), a drifted one serves the sessions it has. Unhealthy, restarting and crashloop servers
 * get a 503 with Retry-After until their supervisor has them running again (the route cache drops
 * a server's route on each of its status events).
 */
const RUNNING = new Set(['running', 'degraded', 'drifted']);

function describe(raw: unknown, bytes: number): Message | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const m = raw as { id?: unknown; method?: unknown; params?: unknown };
  const hasId = 'id' in m && (typeof m.id === 'string' || typeof m.id === 'number' || m.id === null);
  const id = hasId ? (m.id as string | number | null) : null;
  if (typeof m.method !== 'string') {
    return { id, hasId, method: 'response', name: null, kind: null, arguments: undefined, isRequest: false, bytes };
  }
  const params = typeof m.params === 'object' && m.params !== null ? (m.params as Record<string, unknown>) : {};
  // What the grant must allow (completion/complete names a prompt or a resource too).
  const item = grantedItemOf(m.method, params);
  return {
    id,
    hasId,
    method: m.method,
    name: item?.name ?? null,
    kind: item?.kind ?? null,
    arguments: params.arguments,
    isRequest: hasId,
    bytes,
  };
}

const rpcError = (id: string | number | null, code: number, message: string) =>
  JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });

const digest = (args: unknown) =>
  args === undefined ? null : createHash('sha256').update(JSON.stringify(args)).digest('hex');

export function createRelay(deps: RelayDeps) {
  const { parts, metrics, log } = deps;

  return async function relay(c: Context): Promise<Response> {
    const started = performance.now();
    const req = c.req.raw;
    const method = req.method;
    const serverParam = c.req.param('id') ?? '';
    const serverId =
      /^[1-9]\d{0,9}$/.test(serverParam) && Number(serverParam) <= 2 ** 31 - 1 ? Number(serverParam) : null;
    let messages: Message[] = [];
    let principal: GatewayPrincipal | undefined = undefined;
    let route: ServerRoute | undefined;
    let sessionId: string | null = req.headers.get('mcp-session-id');

    const firstId = () => messages.find((m) => m.hasId)?.id ?? null;
    // Only a server the caller may see names a metric label: unknown ids would make labels without bound.
    const labelled = () => (route ? serverId : null);

    /** Records each message of the request with one outcome (refusals before or instead of the server). */
    const auditAll = (outcome: AuditOutcome, httpStatus: number, error: string | null, responseBytes = 0) => {
      const durationMs = performance.now() - started;
      for (const m of messages) record(m, outcome, httpStatus, error, durationMs, responseBytes);
      if (messages.length === 0) metrics.observe(labelled(), method, outcome, durationMs / 1000);
    };

    const record = (
      m: Message,
      outcome: AuditOutcome,
      httpStatus: number,
      error: string | null,
      durationMs: number,
      responseBytes: number,
    ) => {
      metrics.observe(labelled(), m.method, outcome, durationMs / 1000);
      if (!principal) return;
      const entry: GatewayAuditEntry = {
        at: new Date(Date.now() - durationMs),
        ownerId: route?.ownerId ?? null,
        userId: principal.userId,
        subject: principal.subject,
        tokenId: principal.tokenId,
        serverId,
        sessionId,
        method: m.method,
        name: m.name,
        outcome,
        httpStatus,
        durationMs,
        requestBytes: m.bytes,
        responseBytes,
        argumentsDigest: digest(m.arguments),
        arguments: route?.auditArguments && m.arguments !== undefined ? m.arguments : null,
        error,
      };
      parts.audit.record(entry);
    };

    const refuse = (
      status: 400 | 401 | 403 | 404 | 405 | 413 | 429 | 502 | 503,
      code: number,
      message: string,
      outcome: AuditOutcome,
      headers: Record<string, string> = {},
    ) => {
      const body = rpcError(firstId(), code, message);
      auditAll(outcome, status, message, Buffer.byteLength(body));
      return new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });
    };

    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return refuse(405, RpcCode.invalidRequest, `${method} is not part of MCP Streamable HTTP`, 'error', {
        allow: 'GET, POST, DELETE',
      });
    }
    const origin = req.headers.get('origin');
    if (origin !== null && !deps.originAllowed(origin, req.url)) {
      return refuse(403, RpcCode.forbidden, `origin ${origin} may not call this gateway`, 'denied');
    }

    const auth = await deps.authenticate(
      req.headers.get('authorization') ?? undefined,
      deps.publicUrl(`/mcp/${serverParam}`, req.url),
    );
    if (isAuthFailure(auth)) {
      const metadata = deps.publicUrl(`/.well-known/oauth-protected-resource/mcp/${serverParam}`, req.url);
      return refuse(401, RpcCode.unauthorized, auth.message, 'denied', {
        'www-authenticate': `Bearer resource_metadata="${metadata}"`,
      });
    }
    principal = auth;

    route = serverId === null ? undefined : await deps.routes.get(serverId);
    if (!route || !inScope(principal.scope, route.ownerId) || serverId === null) {
      route = undefined;
      return refuse(404, RpcCode.notFound, `server ${serverParam} not found`, 'denied');
    }
    if (!parts.access.allowsServer(principal, serverId)) {
      return refuse(403, RpcCode.forbidden, `this token may not use server ${serverId}`, 'denied');
    }

    let body: Uint8Array | undefined;
    if (method === 'POST') {
      const declared = Number(req.headers.get('content-length') ?? '0');
      if (declared > deps.maxBodyBytes) {
        return refuse(413, RpcCode.invalidRequest, `request body exceeds ${deps.maxBodyBytes} bytes`, 'error');
      }
      body = await readBounded(req, deps.maxBodyBytes);
      if (!body) {
        return refuse(413, RpcCode.invalidRequest, `request body exceeds ${deps.maxBodyBytes} bytes`, 'error', {
          connection: 'close',
        });
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
      } catch {
        return refuse(400, RpcCode.parseError, 'the request body is not JSON', 'error');
      }
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      const described = batch.map((m) =>
        describe(m, batch.length === 1 ? body!.byteLength : Buffer.byteLength(JSON.stringify(m))),
      );
      if (described.length === 0 || described.some((m) => m === undefined)) {
        return refuse(400, RpcCode.invalidRequest, 'the request body is not a JSON-RPC message', 'error');
      }
      messages = described as Message[];
    }

    let session = undefined as ReturnType<SessionSigner['verify']>;
    if (sessionId !== null) {
      session = (await deps.sessions()).verify(sessionId);
      if (!session || session.serverId !== serverId || session.subject !== principal.subject) {
        return refuse(404, RpcCode.sessionNotFound, 'session not found: start a new one with initialize', 'error');
      }
      if (parts.limits.sessionActive && !(await parts.limits.sessionActive(principal, sessionId))) {
        return refuse(404, RpcCode.sessionNotFound, 'session ended (idle too long): start a new one', 'error');
      }
      metrics.sessionUsed(sessionId);
    }

    if (!RUNNING.has(route.status) || route.endpoint === null || route.generation === null) {
      const why =
        route.transport === 'stdio' && RUNNING.has(route.status)
          ? `server ${serverId} speaks stdio, which the gateway reaches only through a stdio bridge this server does not have yet`
          : `server ${serverId} is not running (status ${route.status})`;
      return refuse(503, RpcCode.unavailable, why, 'unavailable', { 'retry-after': String(RETRY_AFTER_SECONDS) });
    }
    if (session && session.generation !== route.generation) {
      return refuse(404, RpcCode.sessionNotFound, `server ${serverId} was redeployed: start a new session`, 'error');
    }
    // A drifted server keeps its sessions; a new one is refused (and audited) unless its track allows drift.
    if (route.status === 'drifted' && !route.driftAllowed && messages.some((m) => m.method === 'initialize')) {
      return refuse(
        403,
        RpcCode.forbidden,
        `server ${serverId} refuses new sessions: ${route.statusReason ?? 'its tools differ from those certified'}`,
        'denied',
      );
    }

    for (const m of messages) {
      if (m.kind && m.name !== null && !parts.access.allowsItem(principal, serverId, m.kind, m.name)) {
        return refuse(403, RpcCode.forbidden, `this token may not use ${m.kind} ${m.name}`, 'denied');
      }
    }
    for (const m of messages) {
      if (m.method === 'response') continue;
      const verdict = parts.limits.check(principal, serverId, m.method, m.name);
      if (!verdict.ok) {
        return refuse(429, RpcCode.rateLimited, verdict.reason, 'rate-limited', {
          'retry-after': String(verdict.retryAfterSeconds),
        });
      }
    }
    if (messages.some((m) => m.method === 'initialize')) {
      const verdict = await parts.limits.openSession(principal);
      if (!verdict.ok) {
        return refuse(429, RpcCode.rateLimited, verdict.reason, 'rate-limited', {
          'retry-after': String(verdict.retryAfterSeconds),
        });
      }
    }

    if (method === 'DELETE' && session && session.upstream === null) {
      // Nothing upstream to end: the session is a signature only, which no replica can revoke.
      return refuse(
        405,
        RpcCode.invalidRequest,
        'this session cannot be terminated: the server keeps no session',
        'error',
        {
          allow: 'GET, POST',
        },
      );
    }
    const headers = upstreamHeaders(req.headers);
    if (session?.upstream) headers['mcp-session-id'] = session.upstream;
    const endpoint = route.endpoint;
    const send = async (trace: Record<string, string>) =>
      sendUpstream({
        endpoint,
        method,
        headers: { ...headers, ...trace },
        body: method === 'POST' ? body : undefined,
        signal: req.signal,
      });
    let upstream: Response;
    try {
      upstream = deps.tracing
        ? await deps.tracing.span(
            `MCP ${messages[0]?.method ?? method}`,
            req.headers,
            {
              'mcp.server.id': serverId,
              'mcp.method.name': messages[0]?.method ?? method,
              'http.request.method': method,
            },
            send,
          )
        : await send(passThroughTrace(req.headers));
    } catch (err) {
      if (req.signal.aborted) {
        auditAll('error', 499, 'the client went away');
        return new Response(null, { status: 499 });
      }
      deps.routes.invalidate(serverId);
      log.warn({ serverId, err: (err as Error).message }, 'gateway: server did not answer');
      const now = await deps.routes.get(serverId);
      if (!now || !RUNNING.has(now.status) || now.endpoint === null) {
        return refuse(503, RpcCode.unavailable, `server ${serverId} is not running`, 'unavailable', {
          'retry-after': String(RETRY_AFTER_SECONDS),
        });
      }
      if (session && session.generation !== now.generation) {
        return refuse(404, RpcCode.sessionNotFound, `server ${serverId} was redeployed: start a new session`, 'error');
      }
      return refuse(502, RpcCode.unavailable, `server ${serverId} did not answer`, 'unavailable');
    }

    // An initialize opens a gateway session bound to this principal and this launch, wrapping the
    // server's own session if it keeps one: even a stateless server's clients then learn of a redeploy.
    const upstreamSession = upstream.headers.get('mcp-session-id');
    const opened = upstreamSession !== null || (upstream.ok && messages.some((m) => m.method === 'initialize'));
    // A server repeats its session id on every answer: the id the client sent, verified above for this
    // server, principal and launch, says the same already and goes back as it is (no HMAC per call).
    if (opened && !(session && session.upstream === upstreamSession)) {
      sessionId = (await deps.sessions()).sign({
        upstream: upstreamSession,
        serverId,
        subject: principal.subject,
        generation: route.generation,
        nonce: session?.nonce ?? randomBytes(12).toString('base64url'),
      });
      metrics.sessionUsed(sessionId);
      if (messages.some((m) => m.method === 'initialize')) await parts.limits.sessionOpened?.(principal, sessionId);
    }
    if (method === 'DELETE' && upstream.ok && sessionId !== null) {
      metrics.sessionClosed(sessionId);
      await parts.limits.sessionClosed?.(sessionId);
    }

    const pending = new Map<string | number, Message>();
    for (const m of messages) if (m.isRequest && m.id !== null) pending.set(m.id, m);
    const filtered = new Set<string | number>();
    if (principal.grants !== null) for (const m of pending.values()) if (isFilteredList(m.method)) filtered.add(m.id!);

    const outcomeOf = (response: { error?: unknown }): [AuditOutcome, string | null] =>
      response.error === undefined ? ['ok', null] : ['error', errorMessage(response.error)];
    const p = principal;
    const settle = (id: string | number, response: { result?: unknown; error?: unknown }, bytes: number) => {
      const m = pending.get(id);
      if (!m) return undefined;
      pending.delete(id);
      const [outcome, error] = outcomeOf(response);
      record(m, outcome, upstream.status, error, performance.now() - started, bytes);
      if (filtered.has(id) && response.result !== undefined) {
        filtered.delete(id);
        return { ...response, result: parts.access.filterList(p, serverId, m.method, response.result) };
      }
      return undefined;
    };
    const settleRest = (outcome: AuditOutcome, error: string | null) => {
      for (const m of pending.values()) record(m, outcome, upstream.status, error, performance.now() - started, 0);
      pending.clear();
    };
    // Notifications and the client's responses are done once the server took them.
    for (const m of messages) {
      if (m.isRequest) continue;
      const ok = upstream.status < 400;
      record(
        m,
        ok ? 'ok' : 'error',
        upstream.status,
        ok ? null : `HTTP ${upstream.status}`,
        performance.now() - started,
        0,
      );
    }
    if (messages.length === 0)
      metrics.observe(labelled(), method, upstream.ok ? 'ok' : 'error', (performance.now() - started) / 1000);

    const type = upstream.headers.get('content-type') ?? '';
    const out = (rewritten: boolean) => {
      const h = downstreamHeaders(upstream.headers, rewritten);
      if (opened && sessionId !== null) h.set('mcp-session-id', sessionId);
      return h;
    };

    if (type.startsWith('text/event-stream') && upstream.body) {
      return new Response(relayStream(upstream.body, pending, filtered, settle, settleRest, metrics), {
        status: upstream.status,
        headers: out(filtered.size > 0),
      });
    }
    if (pending.size === 0 || !upstream.body) {
      settleRest(upstream.ok ? 'ok' : 'error', upstream.ok ? null : `HTTP ${upstream.status}`);
      return new Response(upstream.body, { status: upstream.status, headers: out(false) });
    }
    // A JSON answer: read whole (it is one message or one batch), to know each request's outcome.
    const text = await upstream.text();
    const bytes = Buffer.byteLength(text);
    let rewritten: string | undefined;
    if (type.includes('json')) {
      try {
        const parsed = JSON.parse(text) as unknown;
        const answers = Array.isArray(parsed) ? parsed : [parsed];
        let changed = false;
        const next = answers.map((a: { id?: string | number; result?: unknown; error?: unknown }) => {
          const replaced = a && a.id !== undefined ? settle(a.id, a, bytes) : undefined;
          if (replaced) changed = true;
          return replaced ?? a;
        });
        if (changed) rewritten = JSON.stringify(Array.isArray(parsed) ? next : next[0]);
      } catch {
        // Not JSON after all: the client gets it as the server sent it.
      }
    }
    settleRest(upstream.ok ? 'ok' : 'error', upstream.ok ? 'no response to this request' : `HTTP ${upstream.status}`);
    return new Response(rewritten ?? text, { status: upstream.status, headers: out(rewritten !== undefined) });
  };
}

/** The request's body, or undefined once it passes `max` bytes (a chunked body declares no length). */
async function readBounded(req: Request, max: number): Promise<Uint8Array | undefined> {
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** Without tracing of its own the gateway is transparent to the caller's trace context. */
function passThroughTrace(incoming: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const parent = incoming.get('traceparent');
  const state = incoming.get('tracestate');
  if (parent) out.traceparent = parent;
  if (state) out.tracestate = state;
  return out;
}

function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message.slice(0, 500);
  }
  return 'error';
}

/**
 * The server's event stream, passed through chunk by chunk. While requests of this POST still wait
 * for their response, events are read on the side (for the audit); when a list result must be cut to
 * the principal's grants, events are held until whole and the rewritten one is sent instead.
 */
function relayStream(
  body: ReadableStream<Uint8Array>,
  pending: Map<string | number, Message>,
  filtered: Set<string | number>,
  settle: (id: string | number, response: { result?: unknown; error?: unknown }, bytes: number) => object | undefined,
  settleRest: (outcome: AuditOutcome, error: string | null) => void,
  metrics: GatewayMetrics,
): ReadableStream<Uint8Array> {
  const splitter = new SseSplitter();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const reader = body.getReader();
  let open = true;
  metrics.streamOpened();
  const close = () => {
    if (!open) return;
    open = false;
    metrics.streamClosed();
  };
  const inspect = (chunk: Uint8Array, controller: ReadableStreamDefaultController<Uint8Array>) => {
    const holding = filtered.size > 0;
    if (!holding) controller.enqueue(chunk);
    if (pending.size === 0) return;
    for (const event of splitter.push(decoder.decode(chunk, { stream: true }))) {
      let replaced: object | undefined;
      if (event.data !== '') {
        try {
          const message = JSON.parse(event.data) as { id?: string | number; method?: string; result?: unknown };
          if (message.method === undefined && message.id !== undefined)
            replaced = settle(message.id, message, event.bytes);
        } catch {
          // Not JSON: not a message the gateway needs to know about.
        }
      }
      if (holding)
        controller.enqueue(encoder.encode(replaced ? formatEvent(event.fields, JSON.stringify(replaced)) : event.raw));
    }
    if (holding && filtered.size === 0) {
      const rest = splitter.rest() + decoder.decode();
      if (rest) controller.enqueue(encoder.encode(rest));
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          settleRest('error', 'the stream ended without a response');
          close();
          controller.close();
          return;
        }
        inspect(value, controller);
      } catch (err) {
        settleRest('error', 'the server stream broke');
        close();
        controller.error(err);
      }
    },
    async cancel(reason) {
      // The client went away: stop reading from the server, which ends its stream (a cancellation).
      settleRest('error', 'the client closed the stream');
      close();
      await reader.cancel(reason).catch(() => {});
    },
  });
}
