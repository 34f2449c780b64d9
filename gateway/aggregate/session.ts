// One session of the aggregated endpoint: the SDK's Server on its web-standard Streamable HTTP
// transport, the servers the principal may use (briefly cached, with their prefixes), and the upstream
// clients it opened. Ending it (the client's DELETE, or idleness in this process) ends every upstream
// session it opened.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { AuditOutcome, GatewayAuditEntry, GatewayPrincipal } from '../contracts.js';
import { auditEntry } from '../messages.js';
import { auditTransport, describeMessage } from './audit.js';
import { DEFAULT_CALL_TIMEOUT_MS, emit, RUNNING, type AggregateDeps } from './deps.js';
import { installHandlers, type HandlerContext } from './handlers.js';
import { serverPrefixes } from './names.js';
import type { AggregateSessionState } from './session-id.js';
import { ClientRelay } from './to-client.js';
import { UpstreamPool } from './upstreams.js';

const TARGETS_TTL_MS = 5_000;

type Targets = { at: number; list: ServerRoute[]; prefixes: Map<number, string> };

export class AggregateSession implements HandlerContext {
  readonly server: Server;
  readonly transport: WebStandardStreamableHTTPServerTransport;
  readonly upstreams: UpstreamPool;
  readonly relay: ClientRelay;
  readonly callTimeoutMs: number;
  lastUsed = Date.now();
  private targetsCache: Targets | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly state: AggregateSessionState,
    public principal: GatewayPrincipal,
    private readonly deps: AggregateDeps,
    /** After the session ended here; `deleted` when the client ended it (DELETE). */
    private readonly onClosed: (id: string, deleted: boolean) => void | Promise<void>,
  ) {
    this.callTimeoutMs = deps.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
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
    this.relay = new ClientRelay({
      server: this.server,
      prefixOf: async (serverId) => (await this.targets()).prefixes.get(serverId),
      callTimeoutMs: this.callTimeoutMs,
      log: deps.log,
      isClosed: () => this.closing !== undefined,
    });
    this.upstreams = new UpstreamPool({
      capabilities: state.capabilities,
      ask: this.relay.ask,
      tell: this.relay.tell,
      headers: deps.upstreamHeaders,
      log: deps.log,
    });
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      // The SDK answers the DELETE once this settles: the upstream sessions are ended by then.
      onsessionclosed: () => this.close(true),
    });
    installHandlers(this.server, this);
  }

  get access() {
    return this.deps.parts.access;
  }

  get log() {
    return this.deps.log;
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
    auditTransport(this.transport, {
      knownTargets: () => this.targetsCache,
      record: (entry, durationMs, outcome, status) => this.record(entry, durationMs, outcome, status),
    });
  }

  // ---- the servers the principal may use, and their prefixes

  async targets(): Promise<Targets> {
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

  async targetOf(prefix: string): Promise<{ target: ServerRoute; prefix: string } | undefined> {
    const { list, prefixes } = await this.targets();
    const target = list.find((t) => prefixes.get(t.serverId) === prefix);
    return target && { target, prefix };
  }

  async running(): Promise<{ target: ServerRoute; prefix: string }[]> {
    const { list, prefixes } = await this.targets();
    return list
      .filter((t) => t.status === RUNNING && t.endpoint)
      .map((t) => ({ target: t, prefix: prefixes.get(t.serverId)! }));
  }

  /** A server the principal may use started, stopped or went away: the lists change. */
  async serverChanged(serverId: number, stillRunning: boolean): Promise<void> {
    this.targetsCache = undefined;
    if (!stillRunning) {
      await this.upstreams.drop(serverId);
    } else if (this.upstreams.subscribes(serverId)) {
      // Reopened at once where the client awaits resource updates (a relaunch gets a new upstream
      // session, whose subscriptions are renewed as it opens); otherwise upstreams open as needed.
      const found = (await this.running()).find((r) => r.target.serverId === serverId);
      await (found && this.upstreams.get(found.target))?.catch((err: unknown) => {
        this.deps.log.warn({ err, serverId }, 'aggregate: a relaunched server was not reopened for its subscriptions');
      });
    }
    await this.relay.notify({ method: 'notifications/tools/list_changed' });
    await this.relay.notify({ method: 'notifications/prompts/list_changed' });
    await this.relay.notify({ method: 'notifications/resources/list_changed' });
  }

  // ---- the audit

  describe(method: string, params: unknown, requestBytes: number): Partial<GatewayAuditEntry> {
    return describeMessage({ knownTargets: () => this.targetsCache }, method, params, requestBytes);
  }

  record(entry: Partial<GatewayAuditEntry>, durationMs: number, outcome: AuditOutcome, httpStatus = 200): void {
    emit(this.deps, auditEntry(this.principal, { sessionId: this.id, ...entry }, durationMs, outcome, httpStatus));
  }

  /** Ends the session here and every upstream session it opened; `deleted` when the client asked (DELETE). */
  close(deleted = false): Promise<void> {
    // The session stops being found at once; the upstream sessions end meanwhile.
    this.closing ??= Promise.all([
      this.onClosed(this.id, deleted),
      this.upstreams.close().then(() => this.server.close().catch(() => {})),
    ]).then(() => {});
    return this.closing;
  }
}
