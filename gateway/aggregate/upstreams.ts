// The upstream side of one aggregate session: an SDK Client per hosted server the session has touched,
// opened lazily on the endpoint the ledger records, and what the session asked of all of them that
// must outlive one upstream connection (the logging level, resource subscriptions). A server that was
// redeployed (endpoint or launch generation changed) or that forgot its session is reopened, and what
// the session set up there is set up again. A connection the session no longer needs is ended with
// the spec's DELETE, so the server frees its session at once instead of waiting for it to go idle.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  EmptyResultSchema,
  ErrorCode,
  ListRootsRequestSchema,
  McpError,
  type ClientCapabilities,
  type ClientNotification,
  type ClientRequest,
  type LoggingLevel,
  type Notification,
  type RequestId,
  type Result,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { Logger } from '../../lib/logger.js';
import { LIST_TIMEOUT_MS } from './deps.js';
import type { AggregateSessionState } from './session-id.js';

export interface Upstream {
  serverId: number;
  client: Client;
  transport: StreamableHTTPClientTransport;
  endpoint: string;
  /** The launch it was opened on: a redeployed server gets a fresh upstream session. */
  generation: string | null;
  /** The downstream requests being served by this upstream now, newest last. */
  inFlight: RequestId[];
  /** Notifications of this upstream being relayed now: a call's answer waits for those sent before it. */
  relaying: Set<Promise<void>>;
}

/** A request an upstream server sends the client (sampling, elicitation, roots), with the SDK's handler context. */
export type UpstreamAsk = (
  upstream: Upstream,
  request: ServerRequest,
  extra: RequestHandlerExtra<ClientRequest, ClientNotification>,
) => Promise<Result>;

/** A notification of an upstream server the SDK Client does not consume itself (progress and cancellations it does). */
export type UpstreamTell = (upstream: Upstream, notification: Notification) => void | Promise<void>;

export interface UpstreamPoolOptions {
  capabilities: AggregateSessionState['capabilities'];
  ask: UpstreamAsk;
  tell: UpstreamTell;
  headers?: () => Record<string, string>;
  log: Logger;
}

/** How long a closing upstream session's DELETE may take before the connection is dropped anyway. */
const TERMINATE_TIMEOUT_MS = 2_000;

export class UpstreamPool {
  private readonly opened = new Map<number, Promise<Upstream>>();
  /** Resource URIs (the server's own) subscribed to per server: set up again on a new upstream session. */
  private readonly subscriptions = new Map<number, Set<string>>();
  private logLevel: LoggingLevel | undefined;
  private closed = false;

  constructor(private readonly options: UpstreamPoolOptions) {}

  /** The upstream of a running target, opened (or reopened, after a redeploy) as needed. */
  get(target: ServerRoute): Promise<Upstream> {
    const existing = this.opened.get(target.serverId);
    if (existing) {
      return existing.then(async (u) => {
        if (u.endpoint === target.endpoint && u.generation === target.generation) return u;
        void this.drop(target.serverId);
        return this.get(target);
      });
    }
    const opening = this.open(target);
    this.opened.set(target.serverId, opening);
    opening.catch(() => {
      if (this.opened.get(target.serverId) === opening) this.opened.delete(target.serverId);
    });
    return opening;
  }

  /** The upstreams open now (those still opening included, once they are). */
  private async current(): Promise<Upstream[]> {
    const settled = await Promise.all([...this.opened.values()].map((p) => p.catch(() => undefined)));
    return settled.filter((u): u is Upstream => u !== undefined);
  }

  private async open(target: ServerRoute): Promise<Upstream> {
    if (this.closed) throw new McpError(ErrorCode.ConnectionClosed, 'session closed');
    const endpoint = target.endpoint!;
    const caps = this.options.capabilities;
    const capabilities: ClientCapabilities = {
      ...(caps.sampling ? { sampling: caps.sampling } : {}),
      ...(caps.elicitation ? { elicitation: caps.elicitation } : {}),
      ...(caps.roots ? { roots: caps.roots } : {}),
    };
    const client = new Client({ name: 'mcp-host-gateway', version: '1.0.0' }, { capabilities });
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      requestInit: { headers: this.options.headers?.() ?? {} },
    });
    const upstream: Upstream = {
      serverId: target.serverId,
      client,
      transport,
      endpoint,
      generation: target.generation,
      inFlight: [],
      relaying: new Set(),
    };
    // Only what the client itself offers is offered upstream, so a server never asks what cannot be answered.
    const ask = (req: ServerRequest, extra: RequestHandlerExtra<ClientRequest, ClientNotification>) =>
      this.options.ask(upstream, req, extra);
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, ask as never);
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, ask as never);
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, ask as never);
    client.fallbackNotificationHandler = (n) => {
      const relayed: Promise<void> = Promise.resolve(this.options.tell(upstream, n)).finally(() =>
        upstream.relaying.delete(relayed),
      );
      upstream.relaying.add(relayed);
      return relayed;
    };
    client.onclose = () => {
      void this.opened.get(target.serverId)?.then((u) => {
        if (u === upstream) this.opened.delete(target.serverId);
      });
    };
    await client.connect(transport, { timeout: LIST_TIMEOUT_MS });
    await this.setUp(upstream);
    return upstream;
  }

  /** What the session set up before this upstream session existed: its logging level and subscriptions. */
  private async setUp(u: Upstream): Promise<void> {
    const caps = u.client.getServerCapabilities();
    if (this.logLevel && caps?.logging) await u.client.setLoggingLevel(this.logLevel).catch(() => {});
    const uris = this.subscriptions.get(u.serverId);
    if (!uris?.size || !caps?.resources?.subscribe) return;
    await Promise.all(
      [...uris].map((uri) =>
        u.client.subscribeResource({ uri }).catch((err: unknown) => {
          this.options.log.warn({ err, serverId: u.serverId }, 'aggregate: a resource subscription was not renewed');
        }),
      ),
    );
  }

  /** `logging/setLevel` for every upstream that logs, now and opened later. */
  async setLevel(level: LoggingLevel): Promise<void> {
    this.logLevel = level;
    await Promise.all(
      (await this.current()).map(async (u) => {
        if (u.client.getServerCapabilities()?.logging) await u.client.setLoggingLevel(level).catch(() => {});
      }),
    );
  }

  /** The client's roots changed: every upstream that was offered roots is told. */
  async rootsChanged(): Promise<void> {
    if (!this.options.capabilities.roots) return;
    await Promise.all((await this.current()).map((u) => u.client.sendRootsListChanged().catch(() => {})));
  }

  /** `resources/subscribe` or `unsubscribe` sent on `u`, and remembered for a new upstream session. */
  async subscription(
    u: Upstream,
    method: 'resources/subscribe' | 'resources/unsubscribe',
    uri: string,
    signal: AbortSignal,
  ): Promise<void> {
    await u.client.request({ method, params: { uri } }, EmptyResultSchema, { signal });
    let uris = this.subscriptions.get(u.serverId);
    if (method === 'resources/subscribe') {
      if (!uris) this.subscriptions.set(u.serverId, (uris = new Set()));
      uris.add(uri);
    } else {
      uris?.delete(uri);
    }
  }

  /** Ends a server's upstream session (it stopped, moved, or broke): DELETE, then the connection. */
  async drop(serverId: number): Promise<void> {
    const opening = this.opened.get(serverId);
    this.opened.delete(serverId);
    const u = await opening?.catch(() => undefined);
    if (u) await this.terminate(u);
  }

  private async terminate(u: Upstream): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_TIMEOUT_MS)));
    // A server that already forgot the session answers 404, one without DELETE 405: either way it is over.
    await Promise.race([u.transport.terminateSession().catch(() => {}), deadline]);
    clearTimeout(timer);
    await u.client.close().catch(() => {});
  }

  /** Whether the session subscribed to a resource of the server (a restarted server is reopened to renew it). */
  subscribes(serverId: number): boolean {
    return (this.subscriptions.get(serverId)?.size ?? 0) > 0;
  }

  /** Ends every upstream session of the aggregate session (its DELETE, or it left the cache). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.opened.keys()].map((id) => this.drop(id)));
  }
}
