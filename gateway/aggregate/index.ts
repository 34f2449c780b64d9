// The aggregated endpoint, /mcp: one MCP server whose tools, resources and prompts are those of every
// running server the principal may use (docs/gateway-aggregate.md). This file is its HTTP side: who is
// calling, which session a request belongs to, and what is refused before the SDK sees it. The rest:
//   names.ts      how items are named in the aggregate and routed back (pure)
//   session-id.ts what a session's id carries, so any replica can rebuild the session from it
//   session.ts    one session: the SDK Server, the servers it may use, its lifecycle
//   handlers.ts   what the session answers: lists, and requests routed to one server
//   lists.ts      the lists gathered from every running server
//   upstreams.ts  the session's upstream SDK clients, and what it set up on them
//   to-client.ts  what upstream servers ask of or tell the client
//   audit.ts      one audit row per message from the client
//
// A session's id describes it: a replica that does not hold the session, or one that restarted,
// rebuilds it from a valid id on first sight — the in-memory map is a cache. Whether a session is
// still open (not ended by DELETE, not idle too long) is the gateway limits' ledger's word, shared by
// every replica, as for the relay.
import {
  ErrorCode,
  isInitializeRequest,
  isJSONRPCRequest,
  LATEST_PROTOCOL_VERSION,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { inScope } from '../../lib/ledger/scope.js';
import type { AuditOutcome, GatewayPrincipal } from '../contracts.js';
import { auditEntry } from '../messages.js';
import { emit, Refusal, rpcError, RUNNING, type AggregateDeps } from './deps.js';
import { namedItem, unqualify } from './names.js';
import { AggregateSession } from './session.js';
import {
  decodeSession,
  encodeSession,
  relayedCapabilities,
  sessionBelongsTo,
  type AggregateSessionState,
} from './session-id.js';

export type { AggregateDeps, ServerEventFeed } from './deps.js';

export interface Aggregate {
  handle(req: Request): Promise<Response>;
  /** Sessions this process holds now (a cache: a session not held here is rebuilt from its id). */
  readonly openSessions: number;
  close(): Promise<void>;
}

/** Ids of sessions ended here by DELETE, remembered so they are not rebuilt (bounded: the ledger remembers too). */
const MAX_ENDED_REMEMBERED = 100_000;

/** The body of a POST as JSON-RPC messages, or the response refusing it. */
async function readBody(req: Request, maxBytes: number): Promise<{ body: unknown } | { refused: Response }> {
  const tooLarge = () => ({
    refused: rpcError(413, ErrorCode.InvalidRequest, `request body exceeds ${maxBytes} bytes`, null, {
      connection: 'close',
    }),
  });
  if (Number(req.headers.get('content-length') ?? '0') > maxBytes) return tooLarge();
  const text = await req.text();
  if (Buffer.byteLength(text) > maxBytes) return tooLarge();
  try {
    return { body: JSON.parse(text) };
  } catch {
    return { refused: rpcError(400, ErrorCode.ParseError, 'Parse error: the body is not JSON') };
  }
}

export function createAggregate(deps: AggregateDeps): Aggregate {
  const sessions = new Map<string, AggregateSession>();
  const rebuilding = new Map<string, Promise<AggregateSession>>();
  const ended = new Set<string>();
  const idleMs = deps.idleMs ?? 30 * 60_000;
  const maxBodyBytes = deps.maxBodyBytes ?? 4 * 1024 * 1024;
  const limits = deps.parts.limits;

  const unsubscribe = deps.serverEvents.subscribe(
    (row) =>
      row.event_type === 'deleted' ||
      row.status === RUNNING ||
      row.previous_status === RUNNING ||
      row.previous_status === null,
    (row) => {
      for (const session of sessions.values()) {
        const p = session.principal;
        if (!inScope(p.scope, row.owner_id) || !deps.parts.access.allowsServer(p, row.server_id)) continue;
        void session.serverChanged(row.server_id, row.status === RUNNING);
      }
    },
  );
  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const s of sessions.values()) if (s.lastUsed < cutoff) void s.close();
    },
    Math.min(idleMs, 60_000),
  );
  sweeper.unref();

  const closed = async (id: string, deleted: boolean) => {
    sessions.delete(id);
    deps.metrics?.sessionClosed(id);
    if (!deleted) return;
    ended.add(id);
    if (ended.size > MAX_ENDED_REMEMBERED) ended.delete(ended.values().next().value!);
    await limits.sessionClosed?.(id);
  };

  const open = async (id: string, state: AggregateSessionState, principal: GatewayPrincipal, rebuilt: boolean) => {
    const session = new AggregateSession(id, state, principal, deps, closed);
    await session.start(rebuilt);
    sessions.set(id, session);
    return session;
  };

  /**
   * The session an id names: held here, or rebuilt from the id (another replica opened it, or this one
   * restarted); none when the id is not this principal's, or the session ended (DELETE, or idle).
   */
  const sessionOf = async (id: string, principal: GatewayPrincipal): Promise<AggregateSession | undefined> => {
    if (ended.has(id)) return undefined;
    const held = sessions.get(id);
    const state = held?.state ?? decodeSession(await deps.signer(), id);
    if (!state || !sessionBelongsTo(state, principal)) return undefined;
    if (limits.sessionActive && !(await limits.sessionActive(principal, id))) {
      if (held) void held.close();
      return undefined;
    }
    if (held) {
      held.principal = principal; // grants may have changed since the session opened
      return held;
    }
    let pending = rebuilding.get(id);
    if (!pending) {
      pending = open(id, state, principal, true).finally(() => rebuilding.delete(id));
      rebuilding.set(id, pending);
    }
    return pending;
  };

  /** What a POST asks that the grant or the limits refuse, answered before the SDK sees it. */
  const refusal = async (
    session: AggregateSession,
    messages: unknown[],
    principal: GatewayPrincipal,
  ): Promise<Response | undefined> => {
    for (const m of messages) {
      if (!isJSONRPCRequest(m as JSONRPCMessage)) continue;
      const request = m as { id: RequestId; method: string; params?: unknown };
      const item = namedItem(request.method, request.params);
      const split = item && unqualify(item);
      const found = split && (await session.targetOf(split.prefix));
      const serverId = found ? found.target.serverId : null;
      const entry = session.describe(request.method, request.params, JSON.stringify(m).length);
      if (
        item &&
        split &&
        found &&
        !deps.parts.access.allowsItem(principal, found.target.serverId, item.kind, split.name)
      ) {
        const message = `${item.kind} ${item.name} is not granted to this token`;
        session.record({ ...entry, serverId, error: message }, 0, 'denied', 403);
        return rpcError(403, Refusal.forbidden, message, request.id);
      }
      const verdict = limits.check(principal, serverId, request.method, split?.name ?? null);
      if (!verdict.ok) {
        session.record({ ...entry, serverId, error: verdict.reason }, 0, 'rate-limited', 429);
        return rpcError(429, Refusal.rateLimited, verdict.reason, request.id, {
          'retry-after': String(verdict.retryAfterSeconds),
        });
      }
    }
    return undefined;
  };

  return {
    get openSessions() {
      return sessions.size;
    },

    async handle(req) {
      const started = Date.now();
      let principal: GatewayPrincipal | null = null;
      const refuse = (status: number, code: number, message: string, outcome: AuditOutcome, headers = {}) => {
        const row = { method: req.method, error: message, sessionId: req.headers.get('mcp-session-id') };
        emit(deps, auditEntry(principal, row, Date.now() - started, outcome, status));
        return rpcError(status, code, message, null, headers);
      };
      if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
        return refuse(405, ErrorCode.InvalidRequest, `${req.method} is not part of MCP Streamable HTTP`, 'error', {
          allow: 'GET, POST, DELETE',
        });
      }
      const origin = req.headers.get('origin');
      if (origin !== null && !deps.originAllowed(origin, req.url)) {
        return refuse(403, Refusal.forbidden, `origin ${origin} may not call this gateway`, 'denied');
      }
      const auth = await deps.authenticate(
        req.headers.get('authorization') ?? undefined,
        deps.publicUrl('/mcp', req.url),
      );
      if ('status' in auth) {
        const metadata = deps.publicUrl('/.well-known/oauth-protected-resource/mcp', req.url);
        return refuse(401, Refusal.unauthorized, auth.message, 'denied', {
          'www-authenticate': `Bearer resource_metadata="${metadata}"`,
        });
      }
      principal = auth;

      const sessionId = req.headers.get('mcp-session-id');
      let parsedBody: unknown;
      if (req.method === 'POST') {
        const read = await readBody(req, maxBodyBytes);
        if ('refused' in read) return read.refused;
        parsedBody = read.body;
      }
      const messages = Array.isArray(parsedBody) ? parsedBody : parsedBody === undefined ? [] : [parsedBody];

      if (!sessionId) {
        const init = messages.find((m) => isInitializeRequest(m));
        if (req.method !== 'POST' || !init) {
          return refuse(400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required', 'error');
        }
        const verdict = await limits.openSession(principal);
        if (!verdict.ok) {
          return refuse(429, Refusal.rateLimited, verdict.reason, 'rate-limited', {
            'retry-after': String(verdict.retryAfterSeconds),
          });
        }
        const state: AggregateSessionState = {
          subject: principal.subject,
          protocolVersion: init.params.protocolVersion || LATEST_PROTOCOL_VERSION,
          capabilities: relayedCapabilities(init.params.capabilities),
          issuedAt: Math.floor(Date.now() / 1000),
        };
        const session = await open(encodeSession(await deps.signer(), state), state, principal, false);
        deps.metrics?.sessionUsed(session.id);
        await limits.sessionOpened?.(principal, session.id);
        return session.transport.handleRequest(req, { parsedBody });
      }

      const session = await sessionOf(sessionId, principal);
      if (!session) return refuse(404, Refusal.sessionNotFound, 'Session not found', 'denied');
      session.lastUsed = Date.now();
      deps.metrics?.sessionUsed(session.id);
      const refused = await refusal(session, messages, principal);
      if (refused) return refused;
      const res = await session.transport.handleRequest(req, parsedBody === undefined ? {} : { parsedBody });
      if (req.method === 'DELETE') {
        session.record({ method: 'DELETE' }, Date.now() - started, res.ok ? 'ok' : 'error', res.status);
      }
      return res;
    },

    async close() {
      unsubscribe();
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((s) => s.close()));
    },
  };
}
