// A text/event-stream parser (the WHATWG "server-sent events" rules) for fetch bodies, which arrive
// in chunks that can split a frame, a line, or a "\r\n" anywhere.

export interface SseFrame {
  /** The `event:` field, "message" when absent. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** The last event id seen on this stream so far (ids persist across frames); resume from it. */
  id?: string;
}

export class SseParser {
  private buffer = '';
  private started = false;
  private data: string[] = [];
  private event = '';
  private lastEventId: string | undefined;

  /** Feed decoded text; returns the frames it completed. */
  push(text: string): SseFrame[] {
    this.buffer += text;
    if (!this.started && this.buffer.length > 0) {
      this.started = true;
      if (this.buffer.startsWith('\uFEFF')) this.buffer = this.buffer.slice(1);
    }
    const frames: SseFrame[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      if (ch === '\r' && i === this.buffer.length - 1) break; // its "\n" may come in the next chunk
      const line = this.buffer.slice(start, i);
      if (ch === '\r' && this.buffer[i + 1] === '\n') i++;
      start = i + 1;
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    this.buffer = this.buffer.slice(start);
    return frames;
  }

  private line(line: string): SseFrame | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // a comment, e.g. ": keep-alive"
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    return undefined; // "retry" and unknown fields are ignored
  }

  private dispatch(): SseFrame | undefined {
    const data = this.data;
    const event = this.event || 'message';
    this.data = [];
    this.event = '';
    if (data.length === 0) return undefined; // a frame without data is not an event
    return this.lastEventId === undefined
      ? { event, data: data.join('\n') }
      : { event, data: data.join('\n'), id: this.lastEventId };
  }
}

/** Frames from a response body, as they complete. */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseFrame> {
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(decoder.decode(chunk, { stream: true }));
}
