// How the aggregated endpoint (/mcp) names what it gathers from many servers, and how a name a
// client sends is routed back to one server. Pure: no I/O, so the rules are unit-tested as they are.
//
// - Each server gets a prefix: its name (a DNS label: lowercase letters, digits and "-", so never "_",
//   "." or "/"). Names are unique per owner, so only a principal who sees several owners (an admin)
//   can see two servers of one name; then every holder of that name is prefixed `<name>.<id>`.
// - Tools and prompts are `<prefix>__<name>`. The prefix never holds "__", so a name splits at its
//   first "__": the rest is the server's own name, whatever it holds (odd characters, "__" itself
//   included), passed through unchanged.
// - Resource URIs (and URI templates) are `mcp-host://<prefix>/<original>`: the original is kept
//   verbatim after the first "/" and only ever compared as a string, so a template expanded by the
//   client still strips back to the server's own URI. Resource names are prefixed like tools.

import type { GrantedKind } from '../contracts.js';

/** What the aggregate needs of a server to name it. */
export interface NamedServer {
  serverId: number;
  name: string;
}

export const NAME_SEPARATOR = '__';
export const RESOURCE_SCHEME = 'mcp-host://';

/** Each server's prefix: its name, or `<name>.<id>` when several servers of the list share the name. */
export function serverPrefixes(servers: readonly NamedServer[]): Map<number, string> {
  const holders = new Map<string, number>();
  for (const s of servers) holders.set(s.name, (holders.get(s.name) ?? 0) + 1);
  return new Map(servers.map((s) => [s.serverId, holders.get(s.name)! > 1 ? `${s.name}.${s.serverId}` : s.name]));
}

export function qualifiedName(prefix: string, name: string): string {
  return `${prefix}${NAME_SEPARATOR}${name}`;
}

/** `<prefix>__<name>` split back into its parts, or undefined when the name has no prefix. */
export function splitName(qualified: string): { prefix: string; name: string } | undefined {
  const at = qualified.indexOf(NAME_SEPARATOR);
  if (at <= 0) return undefined;
  return { prefix: qualified.slice(0, at), name: qualified.slice(at + NAME_SEPARATOR.length) };
}

export function qualifiedUri(prefix: string, uri: string): string {
  return `${RESOURCE_SCHEME}${prefix}/${uri}`;
}

/** `mcp-host://<prefix>/<uri>` split back into its parts, or undefined for any other URI. */
export function splitUri(qualified: string): { prefix: string; uri: string } | undefined {
  if (!qualified.startsWith(RESOURCE_SCHEME)) return undefined;
  const rest = qualified.slice(RESOURCE_SCHEME.length);
  const at = rest.indexOf('/');
  if (at <= 0) return undefined;
  return { prefix: rest.slice(0, at), uri: rest.slice(at + 1) };
}

type Item = Record<string, unknown>;
const isItem = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The item list of a list result (`tools`, `prompts`, `resources`, `resourceTemplates`), or none. */
export function listItems(result: unknown, key: string): Item[] {
  const items = isItem(result) ? result[key] : undefined;
  return Array.isArray(items) ? items.filter(isItem) : [];
}

/** One server's `tools/list` or `prompts/list` items, renamed into the aggregate. */
export function qualifyNamed(prefix: string, items: readonly Item[]): Item[] {
  return items
    .filter((i) => typeof i.name === 'string')
    .map((i) => ({ ...i, name: qualifiedName(prefix, i.name as string) }));
}

/** One server's resources (`uri`) or resource templates (`uriTemplate`), renamed into the aggregate. */
export function qualifyResources(prefix: string, items: readonly Item[], uriKey: 'uri' | 'uriTemplate'): Item[] {
  return items
    .filter((i) => typeof i[uriKey] === 'string')
    .map((i) => ({
      ...i,
      [uriKey]: qualifiedUri(prefix, i[uriKey] as string),
      ...(typeof i.name === 'string' ? { name: qualifiedName(prefix, i.name) } : {}),
    }));
}

/**
 * A `tools/call`, `prompts/get` or `resources/read` result with the resource URIs it names
 * (`resource_link` and embedded `resource` content, `contents[].uri`) rewritten into the aggregate,
 * so a client can read them back through it.
 */
export function qualifyResultUris<T>(prefix: string, result: T): T {
  if (!isItem(result)) return result;
  const out: Item = { ...result };
  const rewrite = (c: unknown): unknown => {
    if (!isItem(c)) return c;
    if (c.type === 'resource_link' && typeof c.uri === 'string') return { ...c, uri: qualifiedUri(prefix, c.uri) };
    if (c.type === 'resource' && isItem(c.resource) && typeof c.resource.uri === 'string') {
      return { ...c, resource: { ...c.resource, uri: qualifiedUri(prefix, c.resource.uri) } };
    }
    return c;
  };
  if (Array.isArray(out.content)) out.content = out.content.map(rewrite);
  if (Array.isArray(out.messages)) {
    out.messages = out.messages.map((m: unknown) => (isItem(m) ? { ...m, content: rewrite(m.content) } : m));
  }
  if (Array.isArray(out.contents)) {
    out.contents = out.contents.map((c: unknown) =>
      isItem(c) && typeof c.uri === 'string' ? { ...c, uri: qualifiedUri(prefix, c.uri) } : c,
    );
  }
  return out as T;
}

/** The item a request names, for grants, routing and the audit (still in the aggregate's naming). */
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

/** A named item split back: which prefix (server) and the server's own name (or URI). */
export function unqualify(item: { kind: GrantedKind; name: string }): { prefix: string; name: string } | undefined {
  if (item.kind === 'resource') {
    const split = splitUri(item.name);
    return split && { prefix: split.prefix, name: split.uri };
  }
  return splitName(item.name);
}

/** A server's notification as the aggregate's client sees it: `how` says on which stream it travels. */
export interface QualifiedNotification {
  method: string;
  params?: Item;
  /** `call`: on the stream of the call the server is serving now, if any; `session`: the session's GET stream. */
  how: 'call' | 'session';
}

/**
 * An upstream server's notification renamed into the aggregate, or undefined for one that is the
 * upstream session's own business. Progress and cancellation never get here: the SDK client maps
 * those to the request they belong to, and the aggregate relays them with that request.
 */
export function qualifyNotification(
  prefix: string,
  n: { method: string; params?: unknown },
): QualifiedNotification | undefined {
  const params = isItem(n.params) ? n.params : {};
  switch (n.method) {
    case 'notifications/tools/list_changed':
    case 'notifications/prompts/list_changed':
    case 'notifications/resources/list_changed':
      // The aggregate's list changed as a whole: a client re-lists every server anyway.
      return { method: n.method, how: 'session' };
    case 'notifications/resources/updated':
      if (typeof params.uri !== 'string') return undefined;
      return { method: n.method, params: { ...params, uri: qualifiedUri(prefix, params.uri) }, how: 'call' };
    case 'notifications/message': {
      const logger = typeof params.logger === 'string' ? `${prefix}/${params.logger}` : prefix;
      return { method: n.method, params: { ...params, logger }, how: 'call' };
    }
    case 'notifications/elicitation/complete':
      // Its elicitationId was made by the server and reached the client unchanged in elicitation/create.
      return { method: n.method, params, how: 'call' };
    default:
      return undefined;
  }
}
