import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sessionSigner } from './sessions.js';
import { SseSplitter, formatEvent } from './sse-scan.js';

const session = {
  upstream: 'b3c1e0d2-0000-4000-8000-000000000001',
  serverId: 3,
  subject: 'token:12',
  generation: '41.1733',
};

describe('gateway session ids', () => {
  const signer = sessionSigner(randomBytes(32));

  it('round-trip, as visible ASCII (what Mcp-Session-Id allows)', () => {
    const id = signer.sign(session);
    expect(id).toMatch(/^[\x21-\x7e]+$/);
    expect(signer.verify(id)).toEqual(session);
    expect(signer.verify(signer.sign({ ...session, upstream: null }))).toEqual({ ...session, upstream: null });
  });

  it('are refused when signed with another key, altered, or malformed', () => {
    const id = signer.sign(session);
    expect(sessionSigner(randomBytes(32)).verify(id)).toBeUndefined();
    const [body, sig] = id.split('.');
    const other = Buffer.from(JSON.stringify({ u: session.upstream, s: 4, p: 'token:12', g: '41.1733' })).toString(
      'base64url',
    );
    expect(signer.verify(`${other}.${sig}`)).toBeUndefined();
    expect(signer.verify(`${body}.${sig!.slice(0, -2)}AA`)).toBeUndefined();
    for (const bad of ['', '.', 'abc', `${body}.`, `.${sig}`, `${'x'.repeat(5000)}.${sig}`]) {
      expect(signer.verify(bad)).toBeUndefined();
    }
  });
});

describe('reading events out of a stream', () => {
  it('splits events whatever the chunking and line ends, keeping each event as received', () => {
    const text = 'id: 1\nevent: message\ndata: {"a":1}\n\n: keepalive\n\nid: 2\r\ndata: {"b":\r\ndata: 2}\r\n\r\n';
    for (const size of [1, 3, 7, text.length]) {
      const splitter = new SseSplitter();
      const events = [];
      for (let i = 0; i < text.length; i += size) events.push(...splitter.push(text.slice(i, i + size)));
      expect(events.map((e) => e.data)).toEqual(['{"a":1}', '', '{"b":\n2}']);
      expect(events.map((e) => e.fields)).toEqual([['id: 1', 'event: message'], [': keepalive'], ['id: 2']]);
      expect(events.map((e) => e.raw).join('')).toBe(text);
      expect(splitter.rest()).toBe('');
    }
  });

  it('writes an event back with its fields and new data', () => {
    expect(formatEvent(['id: 3', 'event: message'], '{"x":1}')).toBe('id: 3\nevent: message\ndata: {"x":1}\n\n');
    const [event] = new SseSplitter().push(formatEvent(['id: 3'], 'a\nb'));
    expect(event).toMatchObject({ fields: ['id: 3'], data: 'a\nb' });
  });
});
