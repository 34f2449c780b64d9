// The gateway's audit sink: one row per JSON-RPC request, buffered in memory and written in batches
// (on an interval, when a batch is full, and on close), so recording never waits on the database and
// never fails a call. Arguments reach the sink only when the server opts in (`audit_arguments: true`);
// even then, arguments whose names look secret are stored redacted (their digest covers them).
import { hash } from 'node:crypto';
import type { Sql } from '../lib/db.js';
import { insertGatewayAudit, type NewGatewayAuditRow } from '../lib/ledger/gateway-audit.js';
import type { Logger } from '../lib/logger.js';
import type { AuditSink, GatewayAuditEntry } from './contracts.js';

export interface AuditSinkOptions {
  /** Rows written per statement; a full batch is written at once. */
  batchSize?: number;
  /** How long a row may wait in the buffer. */
  intervalMs?: number;
  /** Rows held while the database is unreachable; beyond, the oldest are dropped (and counted in the log). */
  maxBuffered?: number;
  /** Where batches go; the ledger's insert unless replaced (the sink's own tests). */
  write?: (rows: NewGatewayAuditRow[]) => Promise<void>;
}

/** Names of arguments that hold secrets: never stored, whatever the server's config says. */
const SECRET_NAME = /(pass(word|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|authorization|cookie)/i;
export const REDACTED = '[redacted]';
/** The most of a call's arguments a row keeps, as JSON. */
const MAX_ARGUMENT_BYTES = 64 * 1024;
const MAX_TEXT = 2_000;

/** sha256 (hex) of the arguments as JSON: equal calls have equal digests, without storing them. */
export function argumentsDigest(args: unknown): string | null {
  return args === undefined || args === null ? null : hash('sha256', JSON.stringify(args), 'hex');
}

/** The arguments with every secret-named member (at any depth) replaced. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) ? REDACTED : redactSecrets(v, depth + 1)]),
  );
}

// Postgres text and jsonb cannot hold NUL, nor jsonb (the batch is sent as one: lib/ledger/gateway-audit.ts)
// a lone surrogate: one such character would fail the whole batch.
// Most text needs none of it (checking is cheaper than copying): the common row copies nothing.
const clean = (s: string | null, max = MAX_TEXT) =>
  s === null || (s.length <= max && !s.includes('\u0000') && s.isWellFormed())
    ? s
    : s.replaceAll('\u0000', '\uFFFD').slice(0, max).toWellFormed();

function storedArguments(args: unknown): unknown {
  if (args === undefined || args === null) return null;
  const json = JSON.stringify(redactSecrets(args)).replaceAll('\\u0000', '\\uFFFD');
  if (Buffer.byteLength(json) > MAX_ARGUMENT_BYTES) return { truncated: true, bytes: Buffer.byteLength(json) };
  return JSON.parse(json) as unknown;
}

const int = (n: number) => (Number.isFinite(n) ? Math.max(0, Math.min(2_147_483_647, Math.round(n))) : 0);

export function toAuditRow(e: GatewayAuditEntry): NewGatewayAuditRow {
  return {
    at: e.at,
    owner_id: e.ownerId,
    user_id: e.userId,
    subject: clean(e.subject),
    token_id: e.tokenId,
    server_id: e.serverId,
    session_id: clean(e.sessionId, 4_096),
    method: clean(e.method, 200) ?? '',
    name: clean(e.name),
    outcome: e.outcome,
    http_status: int(e.httpStatus),
    duration_ms: Number.isFinite(e.durationMs) ? Math.max(0, e.durationMs) : 0,
    request_bytes: int(e.requestBytes),
    response_bytes: int(e.responseBytes),
    arguments_digest: e.argumentsDigest ?? argumentsDigest(e.arguments),
    arguments: storedArguments(e.arguments),
    error: clean(e.error),
  };
}

export function createAuditSink(sql: Sql, log: Logger, options: AuditSinkOptions = {}): AuditSink {
  const batchSize = options.batchSize ?? 200;
  const maxBuffered = options.maxBuffered ?? 50_000;
  const insert = options.write ?? ((rows: NewGatewayAuditRow[]) => insertGatewayAudit(sql, rows));
  let buffer: NewGatewayAuditRow[] = [];
  let dropped = 0;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;

  /**
   * One batch. A batch the database refuses (a Postgres error) is retried row by row, so one bad row
   * loses only itself; a batch that did not reach the database goes back to the buffer for the next flush.
   */
  const write = async (rows: NewGatewayAuditRow[]) => {
    try {
      await insert(rows);
    } catch (err) {
      if ((err as Error).name !== 'PostgresError') {
        log.error({ err: (err as Error).message, rows: rows.length }, 'gateway audit: database unreachable; kept');
        requeue(rows);
        return;
      }
      let lost = 0;
      for (const row of rows) await insert([row]).catch(() => lost++);
      if (lost > 0) log.error({ err: (err as Error).message, rows: lost }, 'gateway audit: rows refused, dropped');
    }
  };

  const requeue = (rows: NewGatewayAuditRow[]) => {
    buffer = rows.concat(buffer);
    trim();
  };

  const trim = () => {
    if (buffer.length <= maxBuffered) return;
    const over = buffer.length - maxBuffered;
    buffer.splice(0, over);
    dropped += over;
    log.warn({ dropped }, 'gateway audit: buffer full, oldest rows dropped');
  };

  /** Writes what is buffered now, one batch after another; flushes never overlap. */
  const drain = () => {
    writing = writing
      .then(async () => {
        while (buffer.length > 0) {
          const rows = buffer.splice(0, batchSize);
          const before = buffer.length;
          await write(rows);
          // A batch that went back to the buffer waits for the next tick instead of spinning.
          if (buffer.length > before) break;
        }
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'gateway audit: flush failed'));
    return writing;
  };

  const timer = setInterval(() => void drain(), options.intervalMs ?? 500);
  timer.unref();

  return {
    record(entry) {
      try {
        buffer.push(toAuditRow(entry));
        trim();
        if (buffer.length >= batchSize) void drain();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'gateway audit: entry not recorded');
      }
    },
    flush: () => drain(),
    async close() {
      if (closed) return drain();
      closed = true;
      clearInterval(timer);
      await drain();
    },
  };
}
