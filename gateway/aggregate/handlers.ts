// What the aggregate's SDK Server answers: the lists (gathered from every running server) and each
// request that names one item (a tool, prompt or resource), routed by its prefix to the server that
// holds it and renamed back to that server's own name, with progress and cancellation carried over.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  ResultSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { Logger } from '../../lib/logger.js';
import type { GatewayAccess, GatewayPrincipal, GrantedKind } from '../contracts.js';
import { RUNNING } from './deps.js';
import { gatherList, type ListMethod } from './lists.js';
import { namedItem, qualifyResultUris, unqualify } from './names.js';
import type { ClientRelay } from './to-client.js';
import type { Upstream, UpstreamPool } from './upstreams.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Located = { target: ServerRoute; prefix: string };

/** What the handlers need of their session. */
export interface HandlerContext {
  /** Read at each request: grants may have changed since the session opened. */
  readonly principal: GatewayPrincipal;
  access: GatewayAccess;
  upstreams: UpstreamPool;
  relay: ClientRelay;
  /** The server a prefix names, whatever its status. */
  targetOf(prefix: string): Promise<Located | undefined>;
  running(): Promise<Located[]>;
  callTimeoutMs: number;
  log: Logger;
}

/** Runs `fn` with the upstream an item's prefix names, refusing what the grant does not reach. */
async function withUpstream<T>(
  ctx: HandlerContext,
  item: { kind: GrantedKind; name: string } | undefined,
  label: string,
  extra: Extra,
  fn: (u: Upstream, own: string, prefix: string) => Promise<T>,
): Promise<T> {
  const split = item && unqualify(item);
  const found = split && (await ctx.targetOf(split.prefix));
  if (!split || !found) throw new McpError(ErrorCode.InvalidParams, `unknown ${label}: ${item?.name ?? ''}`);
  const { target } = found;
  if (!ctx.access.allowsItem(ctx.principal, target.serverId, item.kind, split.name)) {
    throw new McpError(ErrorCode.InvalidRequest, `${label} ${item.name} is not granted to this token`);
  }
  if (target.status !== RUNNING || !target.endpoint) {
    throw new McpError(ErrorCode.InternalError, `server ${target.name} is not running (${target.status})`);
  }
  const attempt = async () => {
    const u = await ctx.upstreams.get(target);
    u.inFlight.push(extra.requestId);
    try {
      return await fn(u, split.name, found.prefix);
    } finally {
      // What the server sent while serving the call (log messages, say) goes out before the call's answer.
      await Promise.all(u.relaying);
      u.inFlight.splice(u.inFlight.indexOf(extra.requestId), 1);
    }
  };
  try {
    return await attempt();
  } catch (err) {
    // An upstream session the server no longer knows (it restarted) refused the request unread:
    // open a fresh session and send it again, once.
    if (err instanceof StreamableHTTPError && err.code === 404 && !extra.signal.aborted) {
      await ctx.upstreams.drop(target.serverId);
      return attempt();
    }
    throw err;
  }
}

/** The client's progress token honoured upstream, and the upstream timeout restarted by each report. */
function requestOptions(ctx: HandlerContext, extra: Extra) {
  const token = extra._meta?.progressToken;
  return {
    signal: extra.signal,
    timeout: ctx.callTimeoutMs,
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

async function list(ctx: HandlerContext, method: ListMethod) {
  return gatherList(method, {
    running: await ctx.running(),
    upstreams: ctx.upstreams,
    access: ctx.access,
    principal: ctx.principal,
    log: ctx.log,
  }) as Promise<never>;
}

/**
 * A request naming one item (`params[key]`), sent to its server under the server's own name, with
 * the resource URIs of the result renamed into the aggregate.
 */
function forward(
  ctx: HandlerContext,
  label: string,
  key: 'name' | 'uri',
  resultSchema: typeof ResultSchema | typeof CallToolResultSchema = ResultSchema,
) {
  return (req: { method: string; params: Record<string, unknown> }, extra: Extra) =>
    withUpstream(ctx, namedItem(req.method, req.params), label, extra, async (u, own, prefix) =>
      qualifyResultUris(
        prefix,
        (await u.client.request(
          { method: req.method, params: { ...req.params, [key]: own } } as never,
          resultSchema,
          requestOptions(ctx, extra),
        )) as never,
      ),
    );
}

export function installHandlers(s: Server, ctx: HandlerContext): void {
  s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await list(ctx, 'tools/list') }));
  s.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: await list(ctx, 'prompts/list') }));
  s.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: await list(ctx, 'resources/list') }));
  s.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: await list(ctx, 'resources/templates/list'),
  }));

  s.setRequestHandler(CallToolRequestSchema, forward(ctx, 'tool', 'name', CallToolResultSchema));
  s.setRequestHandler(GetPromptRequestSchema, forward(ctx, 'prompt', 'name'));
  s.setRequestHandler(ReadResourceRequestSchema, forward(ctx, 'resource', 'uri'));
  for (const schema of [SubscribeRequestSchema, UnsubscribeRequestSchema]) {
    s.setRequestHandler(schema, (req, extra) =>
      withUpstream(ctx, namedItem(req.method, req.params), 'resource', extra, async (u, own) => {
        await ctx.upstreams.subscription(u, req.method, own, extra.signal);
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
    return withUpstream(ctx, item, 'completion reference', extra, async (u, own) => {
      const upstreamRef = ref.type === 'ref/prompt' ? { ...ref, name: own } : { ...ref, uri: own };
      return (await u.client.request(
        { method: 'completion/complete', params: { ...req.params, ref: upstreamRef } },
        ResultSchema,
        { signal: extra.signal },
      )) as never;
    });
  });
  s.setRequestHandler(SetLevelRequestSchema, async (req) => {
    ctx.relay.setLevel(req.params.level);
    await ctx.upstreams.setLevel(req.params.level);
    return {};
  });
  s.setNotificationHandler(RootsListChangedNotificationSchema, () => ctx.upstreams.rootsChanged());
}
