// A hosted server's answer body, piped to the client as it arrives: the status and headers are
// written once, each chunk is written on as it is (SSE unbuffered), with backpressure both ways. While
// requests of the POST still wait for their response, event-stream chunks are also read on the side
// (for the audit); when a list result must be cut to the principal's grants, events are held until
// whole and the rewritten one is sent instead. A GET stream costs no more than its two sockets.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { AuditOutcome } from './contracts.js';
import { formatEvent, SseSplitter } from './sse-scan.js';

export interface StreamAudit {
  /** Requests of this POST still waiting for their response. */
  pending: Map<string | number, unknown>;
  /** Of those, the ones whose (list) result must be rewritten before the client sees it. */
  filtered: Set<string | number>;
  /** A response arrived: recorded; a replacement message when its result is cut to the grant. */
  settle(id: string | number, response: { result?: unknown; error?: unknown }, bytes: number): object | undefined;
  /** The stream ended (or broke, or the client left) with requests unanswered. */
  settleRest(outcome: AuditOutcome, error: string | null): void;
  /** Once, when the relayed stream is over, however it ended. */
  done(): void;
}

/** Pipes an event stream from `upstream` to `res` (headers already set), scanning it while `audit.pending` is not empty. */
export function pipeEventStream(upstream: IncomingMessage, res: ServerResponse, audit: StreamAudit, abort: () => void) {
  const write = corkedWriter(upstream, res);
  // Methods of one object rather than `const f = () => …`, which the TypeScript loader (esbuild's
  // keepNames) names with an Object.defineProperty per closure, per stream.
  const stream = {
    splitter: undefined as SseSplitter | undefined,
    decoder: undefined as StringDecoder | undefined,
    over: false,
    /** True the first time: the relayed stream is over. */
    finish() {
      if (stream.over) return false;
      stream.over = true;
      audit.done();
      return true;
    },
    scan(chunk: Buffer) {
      const holding = audit.filtered.size > 0;
      if (!holding) write(chunk);
      if (audit.pending.size === 0) return;
      const splitter = (stream.splitter ??= new SseSplitter());
      const decoder = (stream.decoder ??= new StringDecoder('utf8'));
      for (const event of splitter.push(decoder.write(chunk))) {
        let replaced: object | undefined;
        if (event.data !== '') {
          try {
            const message = JSON.parse(event.data) as { id?: string | number; method?: string; result?: unknown };
            if (message.method === undefined && message.id !== undefined)
              replaced = audit.settle(message.id, message, event.bytes);
          } catch {
            // Not JSON: not a message the gateway needs to know about.
          }
        }
        if (holding) write(replaced ? formatEvent(event.fields, JSON.stringify(replaced)) : event.raw);
      }
      if (holding && audit.filtered.size === 0) {
        const rest = splitter.rest() + decoder.end();
        if (rest) write(rest);
      }
    },
    /** The server's side broke: the client's stream ends broken too (it may resume with Last-Event-ID). */
    broke() {
      if (!stream.finish()) return;
      audit.settleRest('error', 'the server stream broke');
      res.destroy();
    },
  };

  upstream.on('data', audit.pending.size === 0 ? write : (chunk: Buffer) => stream.scan(chunk));
  res.on('drain', () => upstream.resume());
  upstream.once('end', () => {
    if (!stream.finish()) return;
    audit.settleRest('error', 'the stream ended without a response');
    res.end();
  });
  upstream.on('error', () => stream.broke());
  upstream.once('aborted', () => stream.broke());
  // The client went away: stop reading from the server, which ends its stream (a cancellation).
  res.once('close', () => {
    if (!stream.finish()) return;
    audit.settleRest('error', 'the client closed the stream');
    abort();
  });
}

/** Pipes a body the gateway does not read (an answer with nothing left to audit). */
export function pipeBody(upstream: IncomingMessage, res: ServerResponse, abort: () => void) {
  upstream.on('data', corkedWriter(upstream, res));
  res.on('drain', () => upstream.resume());
  upstream.once('end', () => res.end());
  upstream.on('error', () => res.destroy());
  upstream.once('aborted', () => res.destroy());
  res.once('close', () => {
    if (!upstream.complete) abort();
  });
}

/**
 * Writes chunks to `res`, pausing `upstream` while `res` is full. What arrives in one turn of the event
 * loop goes out in one write: the last event and the end of an answer usually come together, and the
 * end then costs no syscall of its own (res.end flushes what is corked).
 */
function corkedWriter(upstream: IncomingMessage, res: ServerResponse) {
  let corked = false;
  return (chunk: Buffer | string) => {
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(() => {
        corked = false;
        res.uncork();
      });
    }
    if (!res.write(chunk)) upstream.pause();
  };
}

/** The whole body (a JSON answer: one message or one batch, read whole to know each outcome). */
export function readAll(upstream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    upstream.on('data', (c: Buffer) => chunks.push(c));
    upstream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    upstream.on('error', reject);
    upstream.once('aborted', () => reject(new Error('the server closed the answer')));
  });
}
