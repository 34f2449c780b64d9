import { describe, expect, it } from 'vitest';
import { ownerScope } from '../lib/ledger/scope.js';
import type { GatewayGrants, GatewayPrincipal } from './contracts.js';
import { createGatewayAccess, globToRegExp, grantedItemOf, isFilteredList, matchesAny } from './grants.js';

const principal = (grants: GatewayGrants | null): GatewayPrincipal => ({
  userId: 2,
  email: 'op@example.com',
  role: 'operator',
  tokenId: 7,
  subject: 'token:7',
  scope: ownerScope(2),
  grants,
});

const access = createGatewayAccess();

describe('globs', () => {
  it('matches * as any run, ? as one character, everything else literally', () => {
    expect(matchesAny(['echo*'], 'echo')).toBe(true);
    expect(matchesAny(['echo*'], 'echo_twice')).toBe(true);
    expect(matchesAny(['echo*'], 'say_echo')).toBe(false);
    expect(matchesAny(['a?c'], 'abc')).toBe(true);
    expect(matchesAny(['a?c'], 'ac')).toBe(false);
    expect(matchesAny(['file:///docs/*'], 'file:///docs/a/b.md')).toBe(true);
    expect(matchesAny(['file:///docs/*'], 'file:///etc/passwd')).toBe(false);
    // Regex metacharacters are literal.
    expect(matchesAny(['a.b'], 'axb')).toBe(false);
    expect(matchesAny(['a.b'], 'a.b')).toBe(true);
    expect(matchesAny(['(x|y)'], 'x')).toBe(false);
    expect(matchesAny(['\\*'], '*')).toBe(true);
    expect(matchesAny(['\\*'], 'anything')).toBe(false);
    expect(matchesAny(['*'], '')).toBe(true);
    expect(matchesAny([], 'echo')).toBe(false);
    expect(matchesAny(['echo'], 'echo\nrm')).toBe(false);
  });

  it('stays linear on many stars', () => {
    const started = Date.now();
    expect(globToRegExp('*'.repeat(500) + 'x').test('a'.repeat(10_000))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('what a request names', () => {
  it('finds the tool, resource or prompt of a request', () => {
    expect(grantedItemOf('tools/call', { name: 'echo', arguments: {} })).toEqual({ kind: 'tool', name: 'echo' });
    expect(grantedItemOf('resources/read', { uri: 'file:///a' })).toEqual({ kind: 'resource', name: 'file:///a' });
    expect(grantedItemOf('resources/subscribe', { uri: 'x://y' })).toEqual({ kind: 'resource', name: 'x://y' });
    expect(grantedItemOf('prompts/get', { name: 'greet' })).toEqual({ kind: 'prompt', name: 'greet' });
    expect(grantedItemOf('completion/complete', { ref: { type: 'ref/prompt', name: 'greet' } })).toEqual({
      kind: 'prompt',
      name: 'greet',
    });
    expect(grantedItemOf('completion/complete', { ref: { type: 'ref/resource', uri: 'x://{id}' } })).toEqual({
      kind: 'resource',
      name: 'x://{id}',
    });
    expect(grantedItemOf('tools/call', { name: 42 })).toEqual({ kind: 'tool', name: '' });
    expect(grantedItemOf('tools/call', undefined)).toEqual({ kind: 'tool', name: '' });
    expect(grantedItemOf('tools/list', {})).toBeNull();
    expect(grantedItemOf('initialize', {})).toBeNull();
  });
});

describe('access', () => {
  const grants: GatewayGrants = { servers: [3], tools: ['echo*'], resources: ['file:///docs/*'], prompts: [] };

  it('lets a principal without grants reach everything its scope holds', () => {
    const p = principal(null);
    expect(access.allowsServer(p, 99)).toBe(true);
    expect(access.allowsItem(p, 99, 'tool', 'anything')).toBe(true);
    const result = { tools: [{ name: 'a' }, { name: 'b' }] };
    expect(access.filterList(p, 99, 'tools/list', result)).toBe(result);
  });

  it('allows only the granted servers and items', () => {
    const p = principal(grants);
    expect(access.allowsServer(p, 3)).toBe(true);
    expect(access.allowsServer(p, 4)).toBe(false);
    expect(access.allowsItem(p, 3, 'tool', 'echo')).toBe(true);
    expect(access.allowsItem(p, 3, 'tool', 'arch')).toBe(false);
    expect(access.allowsItem(p, 4, 'tool', 'echo')).toBe(false);
    expect(access.allowsItem(p, 3, 'resource', 'file:///docs/x')).toBe(true);
    expect(access.allowsItem(p, 3, 'prompt', 'greet')).toBe(false);
    expect(access.allowsServer(principal({ ...grants, servers: '*' }), 12345)).toBe(true);
  });

  it('cuts every list to the grant and keeps the rest of the result', () => {
    const p = principal(grants);
    expect(
      access.filterList(p, 3, 'tools/list', {
        tools: [{ name: 'echo', inputSchema: {} }, { name: 'arch' }, { name: 'echo_twice' }, 'junk', { name: 1 }],
        nextCursor: 'c2',
      }),
    ).toEqual({ tools: [{ name: 'echo', inputSchema: {} }, { name: 'echo_twice' }], nextCursor: 'c2' });
    expect(
      access.filterList(p, 3, 'resources/list', { resources: [{ uri: 'file:///docs/a' }, { uri: 'file:///etc/x' }] }),
    ).toEqual({ resources: [{ uri: 'file:///docs/a' }] });
    expect(
      access.filterList(p, 3, 'resources/templates/list', {
        resourceTemplates: [{ uriTemplate: 'file:///docs/{name}' }, { uriTemplate: 'db://{table}' }],
      }),
    ).toEqual({ resourceTemplates: [{ uriTemplate: 'file:///docs/{name}' }] });
    expect(access.filterList(p, 3, 'prompts/list', { prompts: [{ name: 'greet' }] })).toEqual({ prompts: [] });
    // Other methods and shapes it does not know pass unchanged.
    const other = { content: [{ type: 'text', text: 'x' }] };
    expect(access.filterList(p, 3, 'tools/call', other)).toBe(other);
    expect(access.filterList(p, 3, 'tools/list', null)).toBeNull();
    expect(isFilteredList('tools/list')).toBe(true);
    expect(isFilteredList('toString')).toBe(false);
  });
});
