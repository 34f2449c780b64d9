// The aggregated endpoint, /mcp: one MCP server (the SDK's Server on its web-standard Streamable
// HTTP transport) whose tools, resources and prompts are those of every running server the principal
// may use, named as gateway/aggregate-names.ts says. Each session holds one SDK Client per upstream
// server it has touched (opened lazily); calls are forwarded there with progress and cancellation,
// and what an upstream server asks of the client (sampling, elicitation, roots) or tells it (list
// changes, logging, resource updates) is relayed back. Server starts and stops arrive through the
// ledger's server_events tail and become list_changed notifications.
//
// A session's id describes it (gateway/aggregate-session.ts): a replica that does not hold the
// session, or one that restarted, rebuilds it from a valid id on first sight — the in-memory map is a
// cache, and upstream connections are opened again as they are needed.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  LATEST_PROTOCOL_VERSION,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListRootsRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  ResultSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ClientCapabilities,
  type JSONRPCMessage,
  type LoggingLevel,
  type Notification,
  type RequestId,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Logger } from '../lib/logger.js';
import type { ServerRoute } from '../lib/ledger/runtime.js';
import type { ServerEventRow } from '../lib/ledger/servers.js';
import type { GatewayMetrics } from './metrics.js';
import type { SignedIds } from './sessions.js';
import type { TableTail } from '../lib/ledger/table-tail.js';
import { inScope } from '../lib/ledger/scope.js';
import {
  listItems,
  qualifyNamed,
  qualifyResources,
  qualifyResultUris,
  qualifiedUri,
  serverPrefixes,
  splitName,
  splitUri,
} from './aggregate-names.js';
import {
  decodeSession,
  encodeSession,
  relayedCapabilities,
  sessionBelongsTo,
  type AggregateSessionState,
} from './aggregate-session.js';
import type {
  AuditOutcome,
  GatewayAuditEntry,
  GatewayAuthFailure,
  GatewayParts,
  GatewayPrincipal,
  GrantedKind,
} from './contracts.js';
import { auditEntry, digestArguments } from './messages.js';

/** The status events the aggregate follows (the ledger's server_events tail). */
export type ServerEventFeed = Pick<TableTail<ServerEventRow>, 'subscribe'>;

export interface AggregateDeps {
  parts: GatewayParts;
  /**
   * Who the bearer token names, for the resource (the canonical URL of /mcp, which an OpenID Connect
   * token's audience must name); a failure is answered 401 pointing at the protected-resource metadata.
   */
  authenticate(authorization: string | undefined, resource: string): Promise<GatewayPrincipal | GatewayAuthFailure>;
  /** Whether a browser's Origin may call the gateway (an absent Origin is a non-browser client). */
  originAllowed(origin: string, requestUrl: string): boolean;
  /** The canonical URL of a gateway path, as clients reach it. */
  publicUrl(path: string, requestUrl: string): string;
  /** Every server in the principal's owner scope (grants are applied here, by `parts.access`). */
  targets(principal: GatewayPrincipal): Promise<ServerRoute[]>;
  serverEvents: ServerEventFeed;
  /** Signs and verifies session ids (a key of the aggregate's own, derived like the relay's). */
  signer: () => Promise<SignedIds>;
  log: Logger;
  /** The gateway's Prometheus metrics: each audited message is counted there too. */
  metrics?: GatewayMetrics;
  /** A session nobody used for this long leaves the cache (its id stays valid: it is rebuilt). */
  idleMs?: number;
  /** Longest wait for an upstream answer; progress notifications restart it. */
  callTimeoutMs?: number;
  maxBodyBytes?: number;
  /** Request headers the upstream transports add (tracing, say); the client's token is never among them. */
  upstreamHeaders?: () => Record<string, string>;
}

export interface Aggregate {
  handle(req: Request): Promise<Response>;
  /** Sessions this process holds now (a cache: a session not held here is rebuilt from its id). */
  readonly openSessions: number;
  close(): Promise<void>;
}

const RUNNING = 'running';

/** The JSON-RPC error codes of the gateway's own refusals (the relay answers with the same). */
const Refusal = { unauthorized: -32002, forbidden: -32003, rateLimited: -32029, sessionNotFound: -32001 } as const;
const TARGETS_TTL_MS = 5_000;
const MAX_LIST_PAGES = 50;
/** A server slower than this to answer initialize or a list is left out of that list (the others are not held up by it). */
const LIST_TIMEOUT_MS = 10_000;

/** An audit row, also counted in the metrics. */
function emit(deps: AggregateDeps, row: GatewayAuditEntry): void {
  deps.parts.audit.record(row);
  deps.metrics?.observe(row.serverId, row.method, row.outcome, row.durationMs / 1000);
}

/** A JSON-RPC error answer the gateway itself writes (refusals before the SDK sees the request). */
function rpcError(status: number, code: number, message: string, id: RequestId | null = null, headers = {}) {
  return new Response(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** The item a request names, for grants and the audit. */
export function namedItem(method: string, params: unknown): { kind: GrantedKind; name: string } | undefined {
  const p = (params ?? {}) as Record<string, unknown>;
  if (method === 'tools/call' && typeof p.name === 'string') return { kind: 'tool', name: p.name };
  if (method === 'prompts/get' && typeof p.name === 'string') return { kind: 'prompt', name: p.name };
  if (
    (method === 'resources/read' || method === 'resources/subscribe' || method === 'resources/unsubscribe') &&
    typeof p.uri === 'string'
  ) {
    return { kind: 'resource', name: p.uri };
  }
  return undefined;
}

/** A qualified item name split back: which prefix (server) and the server's own name. */
function unqualify(item: { kind: GrantedKind; name: string }) {
  if (item.kind === 'resource') {
    const split = splitUri(item.name);
    return split && { prefix: split.prefix, name: split.uri };
  }
  return splitName(item.name);
}

interface Upstream {
  client: Client;
  endpoint: string;
  /** The launch it was opened on: a redeployed server gets a fresh upstream session. */
  generation: string | null;
  /** The downstream requests being served by this upstream now, newest last. */
  inFlight: RequestId[];
}

class AggregateSession {
  readonly server: Server;
  readonly transport: WebStandardStreamableHTTPServerTransport;
  lastUsed = Date.now();
  private targetsCache: { at: number; list: ServerRoute[]; prefixes: Map<number, string> } | undefined;
  private readonly upstreams = new Map<number, Promise<Upstream>>();
  private readonly pending = new Map<RequestId, { started: number; entry: Partial<GatewayAuditEntry> }>();
  private logLevel: LoggingLevel | undefined;
  private closed = false;

  constructor(
    readonly id: string,
    readonly state: AggregateSessionState,
    public principal: GatewayPrincipal,
    private readonly deps: AggregateDeps,
    private readonly onClosed: (id: string) => void,
  ) {
    this.server = new Server(
      { name: 'mcp-host', title: 'mcp-host gateway', version: '1.0.0' },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { listChanged: true, subscribe: true },
          completions: {},
          logging: {},
        },
        instructions:
          'Every hosted MCP server you may use, in one place: tools and prompts are named <server>__<name>, ' +
          'resources mcp-host://<server>/<uri>.',
      },
    );
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessionclosed: () => this.close(),
    });
    this.installHandlers();
  }

  /** Connects the server to its transport; `rebuilt` sessions replay their initialize from the id. */
  async start(rebuilt: boolean): Promise<void> {
    await this.server.connect(this.transport);
    if (rebuilt) {
      const init: JSONRPCMessage = {
        jsonrpc: '2.0',
        id: 'mcp-host-rebuild',
        method: 'initialize',
        params: {
          protocolVersion: this.state.protocolVersion,
          capabilities: this.state.capabilities,
          clientInfo: { name: 'rebuilt-session', version: '0' },
        },
      };
      const res = await this.transport.handleRequest(
        new Request('http://gateway.internal/mcp', {
          method: 'POST',
          headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
        }),
        { parsedBody: init },
      );
      await res.text();
    }
    this.auditTransport();
  }

  // ---- servers, prefixes and upstream clients

  async targets(): Promise<{ list: ServerRoute[]; prefixes: Map<number, string> }> {
    const cached = this.targetsCache;
    if (cached && Date.now() - cached.at < TARGETS_TTL_MS) return cached;
    const access = this.deps.parts.access;
    const list = (await this.deps.targets(this.principal)).filter((t) =>
      access.allowsServer(this.principal, t.serverId),
    );
    const fresh = { at: Date.now(), list, prefixes: serverPrefixes(list) };
    this.targetsCache = fresh;
    return fresh;
  }

  /** The server a prefix names, whatever its status. */
  async targetOf(prefix: string): Promise<{ target: ServerRoute; prefix: string } | undefined> {
    const { list, prefixes } = await this.targets();
    const target = list.find((t) => prefixes.get(t.serverId) === prefix);
    return target && { target, prefix };
  }

  private async running(): Promise<{ target: ServerRoute; prefix: string }[]> {
    const { list, prefixes } = await this.targets();
    return list
      .filter((t) => t.status === RUNNING && t.endpoint)
      .map((t) => ({ target: t, prefix: prefixes.get(t.serverId)! }));
  }

  private upstream(target: ServerRoute): Promise<Upstream> {
    const existing = this.upstreams.get(target.serverId);
    if (existing) {
      return existing.then(async (u) => {
        if (u.endpoint === target.endpoint && u.generation === target.generation) return u;
        this.drop(target.serverId);
        return this.upstream(target);
      });
    }
    const opening = this.connect(target);
    this.upstreams.set(target.serverId, opening);
    opening.catch(() => this.upstreams.delete(target.serverId));
    return opening;
  }

  private async connect(target: ServerRoute): Promise<Upstream> {
    if (this.closed) throw new McpError(ErrorCode.ConnectionClosed, 'session closed');
    const endpoint = target.endpoint!;
    const caps = this.state.capabilities;
    const capabilities: ClientCapabilities = {
      ...(caps.sampling ? { sampling: caps.sampling } : {}),
      ...(caps.elicitation ? { elicitation: caps.elicitation } : {}),
      ...(caps.roots ? { roots: caps.roots } : {}),
    };
    const client = new Client({ name: 'mcp-host-gateway', version: '1.0.0' }, { capabilities });
    const upstream: Upstream = { client, endpoint, generation: target.generation, inFlight: [] };
    const ask = (schemaMethod: string) => async (req: { method: string; params?: unknown }) =>
      this.askClient(upstream, schemaMethod, req.params);
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, ask('sampling/createMessage') as never);
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, ask('elicitation/create') as never);
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, ask('roots/list') as never);
    client.fallbackNotificationHandler = (n) => this.relayNotification(target, n);
    client.onclose = () => {
      if (this.upstreams.get(target.serverId)) this.upstreams.delete(target.serverId);
    };
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      requestInit: { headers: this.deps.upstreamHeaders?.() ?? {} },
    });
    await client.connect(transport, { timeout: LIST_TIMEOUT_MS });
    if (this.logLevel && client.getServerCapabilities()?.logging) {
      await client.setLoggingLevel(this.logLevel).catch(() => {});
    }
    return upstream;
  }

  /** Forgets a server's upstream client (it stopped, moved, or its session broke). */
  drop(serverId: number): void {
    const u = this.upstreams.get(serverId);
    this.upstreams.delete(serverId);
    void u?.then((x) => x.client.close()).catch(() => {});
  }

  /** An upstream server's request to the client, sent on the stream of the call it serves when there is one. */
  private async askClient(upstream: Upstream, method: string, params: unknown) {
    const relatedRequestId = upstream.inFlight.at(-1);
    return this.server.request({ method, params } as ServerRequest, ResultSchema, {
      ...(relatedRequestId === undefined ? {} : { relatedRequestId }),
      timeout: this.deps.callTimeoutMs ?? 600_000,
    });
  }

  private async relayNotification(target: ServerRoute, n: Notification): Promise<void> {
    const prefix = (await this.targets()).prefixes.get(target.serverId);
    if (!prefix) return;
    const params = (n.params ?? {}) as Record<string, unknown>;
    switch (n.method) {
      case 'notifications/tools/list_changed':
      case 'notifications/prompts/list_changed':
      case 'notifications/resources/list_changed':
        await this.notify({ method: n.method });
        return;
      case 'notifications/resources/updated':
        if (typeof params.uri !== 'string') return;
        await this.notify({ method: n.method, params: { ...params, uri: qualifiedUri(prefix, params.uri) } });
        return;
      case 'notifications/message': {
        const logger = typeof params.logger === 'string' ? `${prefix}/${params.logger}` : prefix;
        await this.notify({ method: n.method, params: { ...params, logger } } as ServerNotification);
        return;
      }
      default:
        // Progress is relayed by the call it belongs to; cancellations end that call; the rest is
        // the upstream session's own business.
        return;
    }
  }

  private async notify(n: ServerNotification): Promise<void> {
    if (this.closed) return;
    await this.server.notification(n).catch((err: unknown) => this.deps.log.debug({ err }, 'aggregate notify failed'));
  }

  /** A server the principal may use started, stopped or went away: the lists change. */
  async serverChanged(serverId: number, stillRunning: boolean): Promise<void> {
    this.targetsCache = undefined;
    if (!stillRunning) this.drop(serverId);
    await this.notify({ method: 'notifications/tools/list_changed' });
    await this.notify({ method: 'notifications/prompts/list_changed' });
    await this.notify({ method: 'notifications/resources/list_changed' });
  }

  // ---- the aggregate's own handlers

  /** Runs `fn` with the upstream of `prefix`, refusing what the grant does not reach. */
  private async withUpstream<T>(
    item: { kind: GrantedKind; name: string } | undefined,
    label: string,
    extra: RequestHandlerExtra<ServerRequest, ServerNotification>,
    fn: (u: Upstream, own: string, prefix: string) => Promise<T>,
  ): Promise<T> {
    const split = item && unqualify(item);
    const found = split && (await this.targetOf(split.prefix));
    if (!split || !found) throw new McpError(ErrorCode.InvalidParams, `unknown ${label}: ${item?.name ?? ''}`);
    const { target } = found;
    if (!this.deps.parts.access.allowsItem(this.principal, target.serverId, item.kind, split.name)) {
      throw new McpError(ErrorCode.InvalidRequest, `${label} ${item.name} is not granted to this token`);
    }
    if (target.status !== RUNNING || !target.endpoint) {
      throw new McpError(ErrorCode.InternalError, `server ${target.name} is not running (${target.status})`);
    }
    const attempt = async () => {
      const u = await this.upstream(target);
      u.inFlight.push(extra.requestId);
      try {
        return await fn(u, split.name, found.prefix);
      } finally {
        u.inFlight.splice(u.inFlight.indexOf(extra.requestId), 1);
      }
    };
    try {
      return await attempt();
    } catch (err) {
      // An upstream session the server no longer knows (it restarted) refused the request unread:
      // open a fresh session and send it again, once.
      if (err instanceof StreamableHTTPError && err.code === 404 && !extra.signal.aborted) {
        this.drop(target.serverId);
        return attempt();
      }
      throw err;
    }
  }

  private requestOptions(extra: RequestHandlerExtra<ServerRequest, ServerNotification>) {
    const token = extra._meta?.progressToken;
    return {
      signal: extra.signal,
      timeout: this.deps.callTimeoutMs ?? 600_000,
      resetTimeoutOnProgress: true,
      ...(token === undefined
        ? {}
        : {
            onprogress: (p: { progress: number; total?: number; message?: string }) => {
              void extra
                .sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } })
                .catch(() => {});
            },
          }),
    };
  }

  /** Every running server's list of one kind, cut to the grant and renamed; a failing server is left out. */
  private async gather(
    method: 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list',
    key: string,
    capability: 'tools' | 'prompts' | 'resources',
    qualify: (prefix: string, items: Record<string, unknown>[]) => Record<string, unknown>[],
  ): Promise<Record<string, unknown>[]> {
    const running = await this.running();
    const lists = await Promise.all(
      running.map(async ({ target, prefix }) => {
        try {
          const u = await this.upstream(target);
          if (!u.client.getServerCapabilities()?.[capability]) return [];
          const items: Record<string, unknown>[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < MAX_LIST_PAGES; page++) {
            const result = await u.client.request({ method, params: cursor ? { cursor } : {} }, ResultSchema, {
              timeout: LIST_TIMEOUT_MS,
            });
            const allowed = this.deps.parts.access.filterList(this.principal, target.serverId, method, result);
            items.push(...listItems(allowed, key));
            cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
            if (!cursor) break;
          }
          return qualify(prefix, items);
        } catch (err) {
          this.deps.log.warn({ err, serverId: target.serverId, method }, 'aggregate: a server failed to list');
          this.drop(target.serverId);
          return [];
        }
      }),
    );
    return lists.flat();
  }

  private installHandlers(): void {
    const s = this.server;
    s.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: (await this.gather('tools/list', 'tools', 'tools', qualifyNamed)) as never,
    }));
    s.setRequestHandler(ListPromptsRequestSchema, async () => ({
      prompts: (await this.gather('prompts/list', 'prompts', 'prompts', qualifyNamed)) as never,
    }));
    s.setRequestHandler(ListResourcesRequestSchema, async () => ({
      resources: (await this.gather('resources/list', 'resources', 'resources', (p, i) =>
        qualifyResources(p, i, 'uri'),
      )) as never,
    }));
    s.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
      resourceTemplates: (await this.gather('resources/templates/list', 'resourceTemplates', 'resources', (p, i) =>
        qualifyResources(p, i, 'uriTemplate'),
      )) as never,
    }));

    s.setRequestHandler(CallToolRequestSchema, (req, extra) =>
      this.withUpstream(namedItem(req.method, req.params), 'tool', extra, async (u, own, prefix) => {
        const result = await u.client.request(
          { method: 'tools/call', params: { ...req.params, name: own } },
          CallToolResultSchema,
          this.requestOptions(extra),
        );
        return qualifyResultUris(prefix, result);
      }),
    );
    s.setRequestHandler(GetPromptRequestSchema, (req, extra) =>
      this.withUpstream(namedItem(req.method, req.params), 'prompt', extra, async (u, own, prefix) =>
        qualifyResultUris(
          prefix,
          (await u.client.request(
            { method: 'prompts/get', params: { ...req.params, name: own } },
            ResultSchema,
            this.requestOptions(extra),
          )) as never,
        ),
      ),
    );
    s.setRequestHandler(ReadResourceRequestSchema, (req, extra) =>
      this.withUpstream(namedItem(req.method, req.params), 'resource', extra, async (u, own, prefix) =>
        qualifyResultUris(
          prefix,
          (await u.client.request(
            { method: 'resources/read', params: { ...req.params, uri: own } },
            ResultSchema,
            this.requestOptions(extra),
          )) as never,
        ),
      ),
    );
    for (const schema of [SubscribeRequestSchema, UnsubscribeRequestSchema]) {
      s.setRequestHandler(schema, (req, extra) =>
        this.withUpstream(namedItem(req.method, req.params), 'resource', extra, async (u, own) => {
          await u.client.request({ method: req.method, params: { ...req.params, uri: own } }, ResultSchema, {
            signal: extra.signal,
          });
          return {};
        }),
      );
    }
    s.setRequestHandler(CompleteRequestSchema, (req, extra) => {
      const ref = req.params.ref;
      const item =
        ref.type === 'ref/prompt'
          ? { kind: 'prompt' as const, name: ref.name }
          : { kind: 'resource' as const, name: ref.uri };
      return this.withUpstream(item, 'completion reference', extra, async (u, own) => {
        const upstreamRef = ref.type === 'ref/prompt' ? { ...ref, name: own } : { ...ref, uri: own };
        return (await u.client.request(
          { method: 'completion/complete', params: { ...req.params, ref: upstreamRef } },
          ResultSchema,
          { signal: extra.signal },
        )) as never;
      });
    });
    s.setRequestHandler(SetLevelRequestSchema, async (req) => {
      this.logLevel = req.params.level;
      await Promise.all(
        [...this.upstreams.values()].map(async (opening) => {
          const u = await opening.catch(() => undefined);
          if (u?.client.getServerCapabilities()?.logging)
            await u.client.setLoggingLevel(req.params.level).catch(() => {});
        }),
      );
      return {};
    });
  }

  // ---- audit: one row per JSON-RPC message from the client, answered or not

  private auditTransport(): void {
    const t = this.transport;
    const onmessage = t.onmessage!;
    t.onmessage = (message, extra) => {
      const bytes = JSON.stringify(message).length;
      if (isJSONRPCRequest(message)) {
        this.pending.set(message.id, {
          started: Date.now(),
          entry: this.describe(message.method, message.params, bytes),
        });
      } else {
        const method = isJSONRPCNotification(message) ? message.method : 'response';
        this.record(
          { ...this.describe(method, isJSONRPCNotification(message) ? message.params : undefined, bytes) },
          0,
          'ok',
        );
      }
      onmessage.call(t, message, extra);
    };
    const send = t.send.bind(t);
    t.send = async (message, options) => {
      if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
        const started = message.id === undefined ? undefined : this.pending.get(message.id);
        if (started && message.id !== undefined) {
          this.pending.delete(message.id);
          const entry = { ...started.entry, responseBytes: JSON.stringify(message).length };
          if (isJSONRPCErrorResponse(message)) entry.error = message.error.message;
          this.record(entry, Date.now() - started.started, isJSONRPCErrorResponse(message) ? 'error' : 'ok');
        }
      }
      return send(message, options);
    };
  }

  /** The audit row's fields a request's method and params decide (server and name from its prefix). */
  describe(method: string, params: unknown, requestBytes: number): Partial<GatewayAuditEntry> {
    const item = namedItem(method, params);
    const split = item && unqualify(item);
    const cached = this.targetsCache;
    const target = split && cached?.list.find((t) => cached.prefixes.get(t.serverId) === split.prefix);
    const args =
      method === 'tools/call' || method === 'prompts/get' ? (params as { arguments?: unknown })?.arguments : undefined;
    return {
      serverId: target?.serverId ?? null,
      method,
      name: split?.name ?? item?.name ?? null,
      requestBytes,
      argumentsDigest: digestArguments(args),
      arguments: target?.auditArguments ? (args ?? null) : null,
    };
  }

  record(entry: Partial<GatewayAuditEntry>, durationMs: number, outcome: AuditOutcome, httpStatus = 200): void {
    emit(this.deps, auditEntry(this.principal, { sessionId: this.id, ...entry }, durationMs, outcome, httpStatus));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.upstreams.keys()]) this.drop(id);
    void this.server.close().catch(() => {});
    this.onClosed(this.id);
  }
}

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
  const idleMs = deps.idleMs ?? 30 * 60_000;
  const maxBodyBytes = deps.maxBodyBytes ?? 4 * 1024 * 1024;

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
      for (const s of sessions.values()) if (s.lastUsed < cutoff) s.close();
    },
    Math.min(idleMs, 60_000),
  );
  sweeper.unref();

  const open = async (id: string, state: AggregateSessionState, principal: GatewayPrincipal, rebuilt: boolean) => {
    const session = new AggregateSession(id, state, principal, deps, (gone) => {
      sessions.delete(gone);
      deps.metrics?.sessionClosed(gone);
    });
    await session.start(rebuilt);
    sessions.set(id, session);
    return session;
  };

  /** The session an id names: held here, or rebuilt from the id (another replica opened it, or this one restarted). */
  const sessionOf = async (id: string, principal: GatewayPrincipal): Promise<AggregateSession | undefined> => {
    const held = sessions.get(id);
    const state = held?.state ?? decodeSession(await deps.signer(), id);
    if (!state || !sessionBelongsTo(state, principal)) return undefined;
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
      const verdict = deps.parts.limits.check(principal, serverId, request.method, split?.name ?? null);
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
        const verdict = await deps.parts.limits.openSession(principal);
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
        return session.transport.handleRequest(req, { parsedBody });
      }

      const session = await sessionOf(sessionId, principal);
      if (!session) return refuse(404, Refusal.sessionNotFound, 'Session not found', 'denied');
      session.lastUsed = Date.now();
      deps.metrics?.sessionUsed(session.id);
      const refused = await refusal(session, messages, principal);
      if (refused) return refused;
      return session.transport.handleRequest(req, parsedBody === undefined ? {} : { parsedBody });
    },

    async close() {
      unsubscribe();
      clearInterval(sweeper);
      for (const s of [...sessions.values()]) s.close();
    },
  };
}
