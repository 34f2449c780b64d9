// The relay of `/mcp/<server-id>`: MCP Streamable HTTP from a client to the server's current endpoint
// and back, on node:http (gateway/http.ts hands it the request before Hono sees it). It authenticates
// the caller, routes by the ledger's record of where the server runs (gateway/route.ts), wraps the
// server's session in a signed gateway session, asks the access, limit and audit parts at each
// JSON-RPC message, and otherwise streams bytes through untouched: a POST's body is the only thing it
// parses, a list result the only thing it may rewrite.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from '../lib/logger.js';
import type { RelaySpans } from '../lib/tracing.js';
import { inScope } from '../lib/ledger/scope.js';
import type { ServerRoute } from '../lib/ledger/runtime.js';
import type { AuditOutcome, GatewayParts, GatewayPrincipal } from './contracts.js';
import { corsHeaders, preflight } from './cors.js';
import { isFilteredList } from './grants.js';
import {
  auditEntry,
  describeMessage,
  errorMessage,
  messageFields,
  RpcCode,
  rpcErrorBody,
  type ClientMessage,
} from './messages.js';
import type { GatewayMetrics } from './metrics.js';
import { isAuthFailure, type Authenticate } from './principal.js';
import { pipeBody, pipeEventStream, readAll } from './relay-stream.js';
import { RETRY_AFTER_SECONDS, routeDecision } from './route.js';
import type { SessionSigner } from './sessions.js';
import { downstreamHeaders, sendUpstream, upstreamHeaders, type UpstreamCall } from './upstream.js';

export { RpcCode } from './messages.js';

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

type RefusalStatus = 400 | 401 | 403 | 404 | 405 | 413 | 429 | 502 | 503;

/** `/mcp/<server-id>` relayed; the handler ends `res` itself, whatever happens. */
export type Relay = (req: IncomingMessage, res: ServerResponse, serverParam: string) => Promise<void>;

/** The URL the client asked for, as Hono would see it (for the Origin policy and canonical URLs). */
export const requestUrlOf = (req: IncomingMessage) =>
  `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

export function createRelay(deps: RelayDeps): Relay {
  const { parts, metrics, log } = deps;

  return async function relay(req, res, serverParam) {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const requestUrl = requestUrlOf(req);
    const serverId =
      /^[1-9]\d{0,9}$/.test(serverParam) && Number(serverParam) <= 2 ** 31 - 1 ? Number(serverParam) : null;
    let messages: ClientMessage[] = [];
    let principal: GatewayPrincipal | undefined = undefined;
    let route: ServerRoute | undefined;
    let sessionId: string | null = header(req.headers, 'mcp-session-id') ?? null;
    const origin = header(req.headers, 'origin');
    // An allowed browser origin may read the answer (and its session id): every answer says so.
    const cors = origin !== undefined && deps.originAllowed(origin, requestUrl) ? corsHeaders(origin) : undefined;

    // The request's helpers are methods of one object, not `const f = () => …`: the TypeScript loader
    // (tsx, esbuild's keepNames) names each such closure with an Object.defineProperty as it is
    // created, which costs microseconds per closure and request; a method's name needs no such call.
    const ctx = {
      firstId() {
        return messages.find((m) => m.hasId)?.id ?? null;
      },
      /** Only a server the caller may see names a metric label: unknown ids would make labels without bound. */
      labelled(): number | null {
        return route ? serverId : null;
      },

      /** Records each message of the request with one outcome (refusals before or instead of the server). */
      auditAll(outcome: AuditOutcome, httpStatus: number, error: string | null, responseBytes = 0) {
        const durationMs = performance.now() - started;
        for (const m of messages) ctx.record(m, outcome, httpStatus, error, durationMs, responseBytes);
        if (messages.length === 0) metrics.observe(ctx.labelled(), method, outcome, durationMs / 1000);
      },

      record(
        m: ClientMessage,
        outcome: AuditOutcome,
        httpStatus: number,
        error: string | null,
        durationMs: number,
        responseBytes: number,
      ) {
        metrics.observe(ctx.labelled(), m.method, outcome, durationMs / 1000);
        if (!principal) return;
        const fields = {
          ...messageFields(m, route?.auditArguments ?? false),
          ownerId: route?.ownerId ?? null,
          serverId,
          sessionId,
          responseBytes,
          error,
        };
        parts.audit.record(auditEntry(principal, fields, durationMs, outcome, httpStatus));
      },

      send(status: number, headers: OutgoingHttpHeaders, body: string | Buffer) {
        if (cors) Object.assign(headers, cors);
        headers['content-length'] = Buffer.byteLength(body);
        res.writeHead(status, headers);
        res.end(body);
      },

      refuse(
        status: RefusalStatus,
        code: number,
        message: string,
        outcome: AuditOutcome,
        headers: Record<string, string> = {},
      ) {
        const body = rpcErrorBody(ctx.firstId(), code, message);
        ctx.auditAll(outcome, status, message, Buffer.byteLength(body));
        ctx.send(status, { 'content-type': 'application/json', ...headers }, body);
      },
    };
    const { refuse, auditAll } = ctx;

    if (method === 'OPTIONS') {
      const answer = preflight(origin, header(req.headers, 'access-control-request-headers'), (o) =>
        deps.originAllowed(o, requestUrl),
      );
      res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body ?? '') });
      res.end(answer.body);
      return;
    }
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return refuse(405, RpcCode.invalidRequest, `${method} is not part of MCP Streamable HTTP`, 'error', {
        allow: 'GET, POST, DELETE, OPTIONS',
      });
    }
    if (origin !== undefined && !cors) {
      return refuse(403, RpcCode.forbidden, `origin ${origin} may not call this gateway`, 'denied');
    }

    const auth = await deps.authenticate(
      header(req.headers, 'authorization'),
      deps.publicUrl(`/mcp/${serverParam}`, requestUrl),
    );
    if (isAuthFailure(auth)) {
      const metadata = deps.publicUrl(`/.well-known/oauth-protected-resource/mcp/${serverParam}`, requestUrl);
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

    let body: Buffer | undefined;
    if (method === 'POST') {
      const tooLarge = `request body exceeds ${deps.maxBodyBytes} bytes`;
      const declared = Number(header(req.headers, 'content-length') ?? '0');
      if (declared > deps.maxBodyBytes) {
        return refuse(413, RpcCode.invalidRequest, tooLarge, 'error', { connection: 'close' });
      }
      const read = await readBounded(req, deps.maxBodyBytes);
      if (read === 'gone') {
        auditAll('error', 499, 'the client went away');
        res.destroy();
        return;
      }
      if (!read) return refuse(413, RpcCode.invalidRequest, tooLarge, 'error', { connection: 'close' });
      body = read;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return refuse(400, RpcCode.parseError, 'the request body is not JSON', 'error');
      }
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      const described = batch.map((m) =>
        describeMessage(m, batch.length === 1 ? body!.byteLength : Buffer.byteLength(JSON.stringify(m))),
      );
      if (described.length === 0 || described.some((m) => m === undefined)) {
        return refuse(400, RpcCode.invalidRequest, 'the request body is not a JSON-RPC message', 'error');
      }
      messages = described as ClientMessage[];
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

    const decision = routeDecision(route, { opensSession: messages.some((m) => m.method === 'initialize') });
    if (!decision.ok) {
      if (decision.status === 403) return refuse(403, RpcCode.forbidden, decision.message, 'denied');
      return refuse(decision.status, RpcCode.unavailable, decision.message, 'unavailable', {
        'retry-after': String(decision.retryAfterSeconds),
      });
    }
    if (session && session.generation !== decision.generation) {
      return refuse(404, RpcCode.sessionNotFound, `server ${serverId} was redeployed: start a new session`, 'error');
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
    const initializes = messages.some((m) => m.method === 'initialize');
    if (initializes) {
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
    const endpoint = decision.endpoint;

    // The client going away drops the hop at any point: before the answer came, or while it streams.
    let call: UpstreamCall | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      call?.abort();
    });
    const hop = {
      send(trace: Record<string, string>) {
        // `headers` is this request's own copy: the trace context goes in without another one.
        call = sendUpstream({ endpoint, method, headers: Object.assign(headers, trace), body });
        if (clientGone) call.abort();
        return call.response;
      },
    };
    let upstream: IncomingMessage;
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
            (trace) => hop.send(trace),
          )
        : await hop.send(passThroughTrace(req.headers));
    } catch (err) {
      if (clientGone) {
        auditAll('error', 499, 'the client went away');
        return;
      }
      deps.routes.invalidate(serverId);
      log.warn({ serverId, err: (err as Error).message }, 'gateway: server did not answer');
      const now = await deps.routes.get(serverId);
      const retry = now && routeDecision(now);
      if (!retry || !retry.ok) {
        return refuse(503, RpcCode.unavailable, retry?.message ?? `server ${serverId} is not running`, 'unavailable', {
          'retry-after': String(retry && retry.status === 503 ? retry.retryAfterSeconds : RETRY_AFTER_SECONDS),
        });
      }
      if (session && session.generation !== retry.generation) {
        return refuse(404, RpcCode.sessionNotFound, `server ${serverId} was redeployed: start a new session`, 'error');
      }
      return refuse(502, RpcCode.unavailable, `server ${serverId} did not answer`, 'unavailable');
    }
    const status = upstream.statusCode ?? 502;
    const ok = status >= 200 && status < 300;

    // An initialize opens a gateway session bound to this principal and this launch, wrapping the
    // server's own session if it keeps one: even a stateless server's clients then learn of a redeploy.
    const upstreamSession = header(upstream.headers, 'mcp-session-id') ?? null;
    const opened = upstreamSession !== null || (ok && initializes);
    // A server repeats its session id on every answer: the id the client sent, verified above for this
    // server, principal and launch, says the same already and goes back as it is (no HMAC per call).
    if (opened && !(session && session.upstream === upstreamSession)) {
      sessionId = (await deps.sessions()).sign({
        upstream: upstreamSession,
        serverId,
        subject: principal.subject,
        generation: decision.generation,
        nonce: session?.nonce ?? randomBytes(12).toString('base64url'),
      });
      metrics.sessionUsed(sessionId);
      if (initializes) await parts.limits.sessionOpened?.(principal, sessionId);
    }
    if (method === 'DELETE' && ok && sessionId !== null) {
      metrics.sessionClosed(sessionId);
      await parts.limits.sessionClosed?.(sessionId);
    }

    const pending = new Map<string | number, ClientMessage>();
    for (const m of messages) if (m.isRequest && m.id !== null) pending.set(m.id, m);
    const filtered = new Set<string | number>();
    if (principal.grants !== null) for (const m of pending.values()) if (isFilteredList(m.method)) filtered.add(m.id!);

    const p = principal;
    const audit = {
      pending,
      filtered,
      settle(id: string | number, response: { result?: unknown; error?: unknown }, bytes: number) {
        const m = pending.get(id);
        if (!m) return undefined;
        pending.delete(id);
        const failed = response.error !== undefined;
        ctx.record(
          m,
          failed ? 'error' : 'ok',
          status,
          failed ? errorMessage(response.error) : null,
          performance.now() - started,
          bytes,
        );
        if (filtered.has(id) && response.result !== undefined) {
          filtered.delete(id);
          return { ...response, result: parts.access.filterList(p, serverId, m.method, response.result) };
        }
        return undefined;
      },
      settleRest(outcome: AuditOutcome, error: string | null) {
        for (const m of pending.values()) ctx.record(m, outcome, status, error, performance.now() - started, 0);
        pending.clear();
      },
      done() {
        metrics.streamClosed();
      },
    };
    // Notifications and the client's responses are done once the server took them.
    for (const m of messages) {
      if (m.isRequest) continue;
      const took = status < 400;
      ctx.record(m, took ? 'ok' : 'error', status, took ? null : `HTTP ${status}`, performance.now() - started, 0);
    }
    if (messages.length === 0)
      metrics.observe(ctx.labelled(), method, ok ? 'ok' : 'error', (performance.now() - started) / 1000);

    const downstreamSession = opened ? sessionId : null;
    if (clientGone) {
      audit.settleRest('error', 'the client went away');
      call?.abort();
      return;
    }

    const type = header(upstream.headers, 'content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      res.writeHead(status, responseHeaders(upstream.headers, filtered.size > 0, downstreamSession, cors));
      // The headers go out with the first event; a stream with nothing to say yet (a GET stream, a slow
      // call) sends them alone, so the client knows its stream is open. An event that came with the
      // headers (the usual answer to a call) is buffered already: nothing to wait for.
      if (upstream.readableLength === 0 && !upstream.complete) {
        const flush = setImmediate(() => res.flushHeaders());
        upstream.once('data', () => clearImmediate(flush));
      }
      metrics.streamOpened();
      pipeEventStream(upstream, res, audit, () => call?.abort());
      return;
    }
    if (pending.size === 0) {
      audit.settleRest(ok ? 'ok' : 'error', ok ? null : `HTTP ${status}`);
      res.writeHead(status, responseHeaders(upstream.headers, false, downstreamSession, cors));
      pipeBody(upstream, res, () => call?.abort());
      return;
    }
    // A JSON answer: read whole (it is one message or one batch), to know each request's outcome.
    let raw: Buffer;
    try {
      raw = await readAll(upstream);
    } catch {
      audit.settleRest('error', 'the server closed the answer');
      res.destroy();
      return;
    }
    let rewritten: string | undefined;
    if (type.includes('json')) {
      try {
        const parsed = JSON.parse(raw.toString('utf8')) as unknown;
        const answers = Array.isArray(parsed) ? parsed : [parsed];
        let changed = false;
        const next = answers.map((a: { id?: string | number; result?: unknown; error?: unknown }) => {
          const replaced = a && a.id !== undefined ? audit.settle(a.id, a, raw.byteLength) : undefined;
          if (replaced) changed = true;
          return replaced ?? a;
        });
        if (changed) rewritten = JSON.stringify(Array.isArray(parsed) ? next : next[0]);
      } catch {
        // Not JSON after all: the client gets it as the server sent it.
      }
    }
    audit.settleRest(ok ? 'ok' : 'error', ok ? 'no response to this request' : `HTTP ${status}`);
    const h = responseHeaders(upstream.headers, rewritten !== undefined, downstreamSession, cors);
    const answer = rewritten ?? raw;
    h['content-length'] = Buffer.byteLength(answer);
    res.writeHead(status, h);
    res.end(answer);
  };
}

/** The server's answer headers as the client gets them: the gateway's session id, CORS for an allowed origin. */
function responseHeaders(
  upstream: IncomingHttpHeaders,
  bodyRewritten: boolean,
  sessionId: string | null,
  cors: Record<string, string> | undefined,
): OutgoingHttpHeaders {
  const h = downstreamHeaders(upstream, bodyRewritten);
  if (sessionId !== null) h['mcp-session-id'] = sessionId;
  if (cors) Object.assign(h, cors);
  return h;
}

/** The request's body; undefined once it passes `max` bytes (a chunked body declares no length), `gone` when the client left. */
function readBounded(req: IncomingMessage, max: number): Promise<Buffer | undefined | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > max) return;
      size += chunk.byteLength;
      if (size > max) {
        // Stop reading: the answer says Connection: close, and what is left of the body goes with the socket.
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', () => resolve('gone'));
    req.once('aborted', () => resolve('gone'));
  });
}

/** Without tracing of its own the gateway is transparent to the caller's trace context. */
function passThroughTrace(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const parent = header(incoming, 'traceparent');
  const state = header(incoming, 'tracestate');
  if (parent) out.traceparent = parent;
  if (state) out.tracestate = state;
  return out;
}
