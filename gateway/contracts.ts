// What the gateway's parts agree on: who is calling (a principal), what they may reach (grants), what
// is recorded of each call (audit) and what is refused for volume (limits). The relay
// (gateway/relay.ts) calls these; their implementations live in principal.ts, grants.ts, audit.ts and
// limits.ts, so each can change without touching the relay.
import type { OwnerScope } from '../lib/ledger/scope.js';
import type { Role } from '../lib/schemas/common.js';

/** What a client token may reach; `null` on a principal means everything its owner scope holds. */
export interface GatewayGrants {
  /** Server ids the token may open, or every server in its owner scope. */
  servers: number[] | '*';
  /** Glob patterns (`echo*`, `*`) over tool names; an empty list allows no tool. */
  tools: string[];
  /** Glob patterns over resource URIs; an empty list allows no resource. */
  resources: string[];
  /** Glob patterns over prompt names; an empty list allows no prompt. */
  prompts: string[];
}

export interface GatewayPrincipal {
  userId: number;
  email: string;
  role: Role;
  /** The mcp-host token used, or null for a token of an external OpenID Connect provider. */
  tokenId: number | null;
  /** Who, as the audit shows it: `token:12` or `oidc:<issuer>#<subject>`. */
  subject: string;
  /** Whose servers the principal may open (operators their own, admins and viewers all). */
  scope: OwnerScope;
  grants: GatewayGrants | null;
}

/** A refused authentication: HTTP 401 with `WWW-Authenticate: Bearer resource_metadata="…"`. */
export interface GatewayAuthFailure {
  status: 401;
  message: string;
}

/** The MCP items a grant talks about. */
export type GrantedKind = 'tool' | 'resource' | 'prompt';

export type AuditOutcome = 'ok' | 'error' | 'denied' | 'rate-limited' | 'unavailable';

/** One row per JSON-RPC request that reached the gateway (notifications and responses from the client included). */
export interface GatewayAuditEntry {
  at: Date;
  ownerId: number | null;
  userId: number | null;
  subject: string | null;
  tokenId: number | null;
  /** null for the aggregated endpoint's own methods (`initialize` on /mcp, say). */
  serverId: number | null;
  sessionId: string | null;
  method: string;
  /** The tool, resource URI or prompt named by the request, if any. */
  name: string | null;
  outcome: AuditOutcome;
  httpStatus: number;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
  /** sha256 (hex) of the request's `params.arguments` as sent, when there are any. */
  argumentsDigest: string | null;
  /** The arguments themselves, only when the server's config opts in (`audit_arguments: true`). */
  arguments: unknown;
  error: string | null;
}

export interface AuditSink {
  /** Never blocks the call and never throws: rows are written in batches. */
  record(entry: GatewayAuditEntry): void;
  /** Writes what is buffered (tests and shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type LimitVerdict = { ok: true } | { ok: false; reason: string; retryAfterSeconds: number };

export interface GatewayLimits {
  /** Per token and per tool rate limits; `name` is the tool for `tools/call`. */
  check(principal: GatewayPrincipal, serverId: number | null, method: string, name: string | null): LimitVerdict;
  /** Before a new session is opened for the principal (maximum open sessions per token). */
  openSession(principal: GatewayPrincipal): Promise<LimitVerdict>;
  /** After the gateway issued a new session id to the principal: the session counts from now on. */
  sessionOpened?(principal: GatewayPrincipal, sessionId: string): Promise<void>;
  /**
   * Before a request of an existing session: false when the session is over (idle past the configured
   * time, or ended), which the relay answers with 404 so the client starts a new one.
   */
  sessionActive?(principal: GatewayPrincipal, sessionId: string): Promise<boolean>;
  /** After a DELETE ended the session. */
  sessionClosed?(sessionId: string): Promise<void>;
  /** Stops its timers and writes what it holds. */
  close?(): Promise<void>;
}

/**
 * What a principal may reach. The relay asks before it forwards a request and filters list results
 * before it returns them; a principal without grants reaches everything its owner scope holds.
 */
export interface GatewayAccess {
  allowsServer(principal: GatewayPrincipal, serverId: number): boolean;
  allowsItem(principal: GatewayPrincipal, serverId: number, kind: GrantedKind, name: string): boolean;
  /** The result of `tools/list`, `resources/list`, `resources/templates/list` or `prompts/list`, cut to the grant. */
  filterList(principal: GatewayPrincipal, serverId: number, method: string, result: unknown): unknown;
}

/** The parts the relay and the aggregated endpoint are built with (gateway/app.ts composes them). */
export interface GatewayParts {
  access: GatewayAccess;
  audit: AuditSink;
  limits: GatewayLimits;
}
