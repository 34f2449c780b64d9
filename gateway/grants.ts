// What a principal may reach through the gateway: the servers, tools, resources and prompts of its
// client token's grants (a principal without grants reaches everything its owner scope holds). The
// relay asks before it forwards a request and cuts list results to the grant before it returns them.
import type { GatewayAccess, GatewayGrants, GatewayPrincipal, GrantedKind } from './contracts.js';

const compiled = new Map<string, RegExp>();
const COMPILED_MAX = 10_000;

/**
 * A glob as a regular expression: `*` any run of characters (`/` included: resource URIs are matched
 * whole), `?` one character, `\` escapes the next one; everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let cached = compiled.get(glob);
  if (cached) return cached;
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\' && i + 1 < glob.length) source += escapeChar(glob[++i]!);
    else if (ch === '*') {
      // Consecutive stars match what one star matches; one group keeps the regex linear.
      while (glob[i + 1] === '*') i++;
      source += '.*';
    } else if (ch === '?') source += '.';
    else source += escapeChar(ch);
  }
  cached = new RegExp(`^${source}$`, 's');
  if (compiled.size >= COMPILED_MAX) compiled.clear();
  compiled.set(glob, cached);
  return cached;
}

const escapeChar = (ch: string) => ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

export function matchesAny(globs: readonly string[], name: string): boolean {
  return globs.some((glob) => globToRegExp(glob).test(name));
}

const globsOf = (grants: GatewayGrants, kind: GrantedKind) =>
  kind === 'tool' ? grants.tools : kind === 'resource' ? grants.resources : grants.prompts;

/** The list methods whose results are cut to the grant: where the items are and what names them. */
const LISTS: Record<string, { key: string; kind: GrantedKind; nameOf: (item: Record<string, unknown>) => unknown }> = {
  'tools/list': { key: 'tools', kind: 'tool', nameOf: (item) => item.name },
  'resources/list': { key: 'resources', kind: 'resource', nameOf: (item) => item.uri },
  'resources/templates/list': { key: 'resourceTemplates', kind: 'resource', nameOf: (item) => item.uriTemplate },
  'prompts/list': { key: 'prompts', kind: 'prompt', nameOf: (item) => item.name },
};

/** Whether the relay must cut this method's result to the grant. */
export const isFilteredList = (method: string) => Object.hasOwn(LISTS, method);

// A request that should name an item but names none is checked against the empty name: only a grant
// of `*` lets it through to the server, which then refuses it itself.
const text = (v: unknown) => (typeof v === 'string' ? v : '');

/**
 * The tool, resource or prompt a request names, which the grant must allow; null for methods that
 * name none (initialize, ping, the list methods, notifications).
 */
export function grantedItemOf(method: string, params: unknown): { kind: GrantedKind; name: string } | null {
  const p = (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
  switch (method) {
    case 'tools/call':
      return { kind: 'tool', name: text(p.name) };
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { kind: 'resource', name: text(p.uri) };
    case 'prompts/get':
      return { kind: 'prompt', name: text(p.name) };
    case 'completion/complete': {
      const ref = (typeof p.ref === 'object' && p.ref !== null ? p.ref : {}) as Record<string, unknown>;
      if (ref.type === 'ref/prompt') return { kind: 'prompt', name: text(ref.name) };
      if (ref.type === 'ref/resource') return { kind: 'resource', name: text(ref.uri) };
      return { kind: 'prompt', name: '' };
    }
    default:
      return null;
  }
}

export function createGatewayAccess(): GatewayAccess {
  const allowsServer = (principal: GatewayPrincipal, serverId: number) => {
    const grants = principal.grants;
    return grants === null || grants.servers === '*' || grants.servers.includes(serverId);
  };
  const allowsItem = (principal: GatewayPrincipal, serverId: number, kind: GrantedKind, name: string) => {
    const grants = principal.grants;
    if (grants === null) return true;
    return allowsServer(principal, serverId) && matchesAny(globsOf(grants, kind), name);
  };
  return {
    allowsServer,
    allowsItem,
    filterList(principal, serverId, method, result) {
      const list = LISTS[method];
      if (!list || principal.grants === null) return result;
      if (typeof result !== 'object' || result === null) return result;
      const items = (result as Record<string, unknown>)[list.key];
      if (!Array.isArray(items)) return result;
      const kept = items.filter((item: unknown) => {
        if (typeof item !== 'object' || item === null) return false;
        const name = list.nameOf(item as Record<string, unknown>);
        return typeof name === 'string' && allowsItem(principal, serverId, list.kind, name);
      });
      return { ...result, [list.key]: kept };
    },
  };
}
