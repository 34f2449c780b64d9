// Reads the JSON-RPC messages out of a server-sent event stream as it passes, without holding it up:
// the relay learns each response's outcome (for the audit) and can rewrite a list result (for grants).

export interface SseEvent {
  /** The event's field lines other than `data`, as received (`id: 7`, `event: message`). */
  fields: string[];
  data: string;
  /** The event as received, its terminating blank line included. */
  raw: string;
  /** Size of the event as received, in bytes (UTF-8). */
  bytes: number;
}

/** Splits a stream's text into whole events; what is left of a partial event waits for the next chunk. */
export class SseSplitter {
  private buffer = '';

  /** The events completed by this chunk. */
  push(text: string): SseEvent[] {
    this.buffer += text;
    // Line ends may be CRLF, LF or CR; a CR at the end may be the first half of a CRLF.
    const events: SseEvent[] = [];
    for (;;) {
      const end = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/.exec(this.buffer);
      if (!end) break;
      const raw = this.buffer.slice(0, end.index + end[0].length);
      this.buffer = this.buffer.slice(raw.length);
      events.push(parseEvent(raw, end.index));
    }
    return events;
  }

  /** What is buffered of an incomplete event (sent on as is when the relay stops reading). */
  rest(): string {
    const r = this.buffer;
    this.buffer = '';
    return r;
  }
}

function parseEvent(raw: string, length: number): SseEvent {
  const fields: string[] = [];
  const data: string[] = [];
  for (const line of raw.slice(0, length).split(/\r\n|\r|\n/)) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    else if (line === 'data') data.push('');
    else fields.push(line);
  }
  return { fields, data: data.join('\n'), raw, bytes: Buffer.byteLength(raw) };
}

/** The event written back, with its data replaced. */
export function formatEvent(fields: string[], data: string): string {
  const lines = [...fields, ...data.split('\n').map((d) => `data: ${d}`)];
  return `${lines.join('\n')}\n\n`;
}
