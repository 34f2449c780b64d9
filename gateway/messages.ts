// What the gateway reads of a JSON-RPC message from a client, and the audit row it makes of one:
// shared by the relay (/mcp/<id>) and the aggregate (/mcp), so both record the same fields alike.
import { hash } from 'node:crypto';
import type { AuditOutcome, GatewayAuditEntry, GatewayPrincipal, GrantedKind } from './contracts.js';
import { grantedItemOf } from './grants.js';

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

export interface ClientMessage {
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

/** A client's message as the gateway checks and audits it; undefined when it is not a JSON-RPC message. */
export function describeMessage(raw: unknown, bytes: number): ClientMessage | undefined {
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

/** sha256 of the request's arguments as the client sent them, when there are any. */
export function digestArguments(args: unknown): string | null {
  return args === undefined ? null : hash('sha256', JSON.stringify(args), 'hex');
}

export const rpcErrorBody = (id: string | number | null, code: number, message: string) =>
  JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });

/** A JSON-RPC error's message, bounded, for the audit. */
export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message.slice(0, 500);
  }
  return 'error';
}

/**
 * The audit row of one JSON-RPC message (or of a refused HTTP request, `method` then its HTTP method).
 * `fields` says what the caller knows (server, name, sizes); the principal fills who.
 */
export function auditEntry(
  p: GatewayPrincipal | null,
  fields: Partial<GatewayAuditEntry>,
  durationMs: number,
  outcome: AuditOutcome,
  httpStatus: number,
): GatewayAuditEntry {
  return {
    at: new Date(Date.now() - durationMs),
    ownerId: p?.scope.kind === 'owner' ? p.scope.ownerId : null,
    userId: p?.userId ?? null,
    subject: p?.subject ?? null,
    tokenId: p?.tokenId ?? null,
    serverId: null,
    sessionId: null,
    method: 'unknown',
    name: null,
    outcome,
    httpStatus,
    durationMs,
    requestBytes: 0,
    responseBytes: 0,
    argumentsDigest: null,
    arguments: null,
    error: null,
    ...fields,
  };
}

/** The fields of an audit row a described message decides (its arguments kept only when the server opts in). */
export function messageFields(m: ClientMessage, keepArguments: boolean): Partial<GatewayAuditEntry> {
  return {
    method: m.method,
    name: m.name,
    requestBytes: m.bytes,
    argumentsDigest: digestArguments(m.arguments),
    arguments: keepArguments && m.arguments !== undefined ? m.arguments : null,
  };
}
