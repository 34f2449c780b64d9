// The aggregate's lists: every running server's tools, prompts, resources or resource templates,
// asked in parallel (all pages of each), cut to the token's grant, renamed, and answered in one page.
// A server that fails or is slow is left out of that answer rather than failing it for everyone.
import { ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { Logger } from '../../lib/logger.js';
import type { GatewayAccess, GatewayPrincipal } from '../contracts.js';
import { LIST_TIMEOUT_MS } from './deps.js';
import { listItems, qualifyNamed, qualifyResources } from './names.js';
import type { Upstream, UpstreamPool } from './upstreams.js';

const MAX_LIST_PAGES = 50;

type Item = Record<string, unknown>;

/** Each list method: the result's item key, the server capability it needs, and how its items are renamed. */
export const LISTS = {
  'tools/list': { key: 'tools', capability: 'tools', qualify: qualifyNamed },
  'prompts/list': { key: 'prompts', capability: 'prompts', qualify: qualifyNamed },
  'resources/list': {
    key: 'resources',
    capability: 'resources',
    qualify: (p: string, i: Item[]) => qualifyResources(p, i, 'uri'),
  },
  'resources/templates/list': {
    key: 'resourceTemplates',
    capability: 'resources',
    qualify: (p: string, i: Item[]) => qualifyResources(p, i, 'uriTemplate'),
  },
} as const;

export type ListMethod = keyof typeof LISTS;

export interface ListContext {
  running: { target: ServerRoute; prefix: string }[];
  upstreams: Pick<UpstreamPool, 'get' | 'drop'>;
  access: GatewayAccess;
  principal: GatewayPrincipal;
  log: Logger;
}

/** All pages of one server's list, cut to the grant. */
async function serverList(u: Upstream, method: ListMethod, serverId: number, ctx: ListContext): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await u.client.request({ method, params: cursor ? { cursor } : {} }, ResultSchema, {
      timeout: LIST_TIMEOUT_MS,
    });
    const allowed = ctx.access.filterList(ctx.principal, serverId, method, result);
    items.push(...listItems(allowed, LISTS[method].key));
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
    if (!cursor) break;
  }
  return items;
}

/** Every running server's list of one kind, in the aggregate's naming. */
export async function gatherList(method: ListMethod, ctx: ListContext): Promise<Item[]> {
  const { capability, qualify } = LISTS[method];
  const lists = await Promise.all(
    ctx.running.map(async ({ target, prefix }) => {
      try {
        const u = await ctx.upstreams.get(target);
        if (!u.client.getServerCapabilities()?.[capability]) return [];
        return qualify(prefix, await serverList(u, method, target.serverId, ctx));
      } catch (err) {
        ctx.log.warn({ err, serverId: target.serverId, method }, 'aggregate: a server failed to list');
        void ctx.upstreams.drop(target.serverId);
        return [];
      }
    }),
  );
  return lists.flat();
}
