import { describe, expect, it } from 'vitest';
import {
  qualifiedName,
  qualifiedUri,
  qualifyNamed,
  qualifyNotification,
  qualifyResources,
  qualifyResultUris,
  serverPrefixes,
  splitName,
  splitUri,
} from './names.js';

describe('aggregate names', () => {
  it('prefixes each server by its name, and by name and id only where names collide', () => {
    const prefixes = serverPrefixes([
      { serverId: 1, name: 'hello' },
      { serverId: 2, name: 'files' },
      { serverId: 7, name: 'hello' },
    ]);
    expect([...prefixes]).toEqual([
      [1, 'hello.1'],
      [2, 'files'],
      [7, 'hello.7'],
    ]);
  });

  it('splits a qualified name at its first "__", keeping whatever the server named its tool', () => {
    expect(splitName(qualifiedName('a', 'echo'))).toEqual({ prefix: 'a', name: 'echo' });
    expect(splitName('a__my__tool with spaces/ü')).toEqual({ prefix: 'a', name: 'my__tool with spaces/ü' });
    expect(splitName('hello.7__echo')).toEqual({ prefix: 'hello.7', name: 'echo' });
    expect(splitName('echo')).toBeUndefined();
    expect(splitName('__echo')).toBeUndefined();
  });

  it('wraps resource URIs verbatim, so an expanded template strips back to the server URI', () => {
    const uri = 'file:///tmp/a b?x=1#frag';
    expect(qualifiedUri('a', uri)).toBe('mcp-host://a/file:///tmp/a b?x=1#frag');
    expect(splitUri(qualifiedUri('a', uri))).toEqual({ prefix: 'a', uri });
    const [template] = qualifyResources('a', [{ name: 'user', uriTemplate: 'users://{id}/profile' }], 'uriTemplate');
    expect(template).toEqual({ name: 'a__user', uriTemplate: 'mcp-host://a/users://{id}/profile' });
    expect(splitUri(String(template!.uriTemplate).replace('{id}', '42'))).toEqual({
      prefix: 'a',
      uri: 'users://42/profile',
    });
    expect(splitUri('file:///x')).toBeUndefined();
    expect(splitUri('mcp-host://a')).toBeUndefined();
  });

  it('renames list items and leaves out those without a name', () => {
    expect(qualifyNamed('b', [{ name: 'echo', description: 'd' }, { description: 'nameless' }])).toEqual([
      { name: 'b__echo', description: 'd' },
    ]);
    expect(qualifyResources('b', [{ uri: 'x://1', name: 'one' }, { name: 'no uri' }], 'uri')).toEqual([
      { uri: 'mcp-host://b/x://1', name: 'b__one' },
    ]);
  });

  it('rewrites the resource URIs a result names, and nothing else', () => {
    const result = {
      content: [
        { type: 'text', text: 'x://not-a-link' },
        { type: 'resource_link', uri: 'x://1', name: 'one' },
        { type: 'resource', resource: { uri: 'x://2', text: 'two' } },
      ],
      structuredContent: { uri: 'x://3' },
    };
    expect(qualifyResultUris('a', result)).toEqual({
      content: [
        { type: 'text', text: 'x://not-a-link' },
        { type: 'resource_link', uri: 'mcp-host://a/x://1', name: 'one' },
        { type: 'resource', resource: { uri: 'mcp-host://a/x://2', text: 'two' } },
      ],
      structuredContent: { uri: 'x://3' },
    });
    expect(qualifyResultUris('a', { contents: [{ uri: 'x://1', text: 't' }] })).toEqual({
      contents: [{ uri: 'mcp-host://a/x://1', text: 't' }],
    });
    expect(
      qualifyResultUris('a', { messages: [{ role: 'user', content: { type: 'resource_link', uri: 'x://1' } }] }),
    ).toEqual({ messages: [{ role: 'user', content: { type: 'resource_link', uri: 'mcp-host://a/x://1' } }] });
  });

  it("renames a server's notifications, says which stream each takes, and drops the upstream session's own", () => {
    expect(qualifyNotification('a', { method: 'notifications/resources/updated', params: { uri: 'x://1' } })).toEqual({
      method: 'notifications/resources/updated',
      params: { uri: 'mcp-host://a/x://1' },
      how: 'call',
    });
    const message = (logger?: string) => ({
      method: 'notifications/message',
      params: { level: 'info', data: 'd', ...(logger === undefined ? {} : { logger }) },
    });
    expect(qualifyNotification('a', message('db'))?.params).toEqual({ level: 'info', data: 'd', logger: 'a/db' });
    expect(qualifyNotification('a', message())?.params).toEqual({ level: 'info', data: 'd', logger: 'a' });
    expect(qualifyNotification('a', { method: 'notifications/tools/list_changed', params: { x: 1 } })).toEqual({
      method: 'notifications/tools/list_changed',
      how: 'session',
    });
    expect(qualifyNotification('a', { method: 'notifications/resources/updated', params: {} })).toBeUndefined();
    expect(qualifyNotification('a', { method: 'notifications/tasks/status', params: {} })).toBeUndefined();
  });
});
