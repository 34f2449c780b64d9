import { describe, expect, it } from 'vitest';
import { SseParser } from '../../cli/sse.js';

const feed = (chunks: string[]) => {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.push(chunk));
};

describe('SseParser', () => {
  it('parses event, id and data fields', () => {
    expect(feed(['event: status\nid: 41\ndata: {"id":3}\n\n'])).toEqual([
      { event: 'status', id: '41', data: '{"id":3}' },
    ]);
  });

  it('yields nothing until the blank line that ends a frame', () => {
    const parser = new SseParser();
    expect(parser.push('event: status\ndata: {"id":3}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'status', data: '{"id":3}' }]);
  });

  it('gives the same frames however the stream is split into chunks', () => {
    const stream =
      'event: ready\ndata: {"last_event_id":0}\n\n: keep-alive\n\nevent: status\r\nid: 7\r\ndata: {"status":"running"}\r\n\r\n';
    const whole = feed([stream]);
    expect(whole).toHaveLength(2);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(feed([stream.slice(0, cut), stream.slice(cut)])).toEqual(whole);
    }
    expect(feed([...stream])).toEqual(whole);
  });

  it('does not read a "\\r\\n" split across chunks as two line ends', () => {
    // Two line ends would end the frame early and drop the data line.
    expect(feed(['event: status\r', '\ndata: x\r\n\r\n'])).toEqual([{ event: 'status', data: 'x' }]);
  });

  it('joins multi-line data with newlines', () => {
    expect(feed(['data: first\ndata:second\ndata:  indented\n\n'])).toEqual([
      { event: 'message', data: 'first\nsecond\n indented' },
    ]);
  });

  it('ignores comment lines such as keep-alives', () => {
    expect(feed([': keep-alive\n\n', ': keep-alive\n\n'])).toEqual([]);
    expect(feed(['event: status\n: keep-alive\ndata: x\n\n'])).toEqual([{ event: 'status', data: 'x' }]);
  });

  it('keeps the last event id across frames, so a reconnect resumes after it', () => {
    const frames = feed([
      'event: status\nid: 5\ndata: a\n\n',
      'event: status\ndata: b\n\n',
      'id: 9\n\n',
      'data: c\n\n',
    ]);
    expect(frames.map((f) => f.id)).toEqual(['5', '5', '9']);
  });

  it('resets the event type after each frame', () => {
    expect(feed(['event: deleted\ndata: a\n\ndata: b\n\n']).map((f) => f.event)).toEqual(['deleted', 'message']);
  });
});
