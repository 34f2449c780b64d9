import { describe, expect, it } from 'vitest';
import type { Sql } from '../lib/db.js';
import type { NewGatewayAuditRow } from '../lib/ledger/gateway-audit.js';
import { createLogger } from '../lib/logger.js';
import { argumentsDigest, createAuditSink, REDACTED, redactSecrets, toAuditRow } from './audit.js';
import type { GatewayAuditEntry } from './contracts.js';

const log = createLogger('audit-test', 'silent');
const noSql = undefined as unknown as Sql;

const entry = (over: Partial<GatewayAuditEntry> = {}): GatewayAuditEntry => ({
  at: new Date('2026-12-01T10:00:00Z'),
  ownerId: 2,
  userId: 2,
  subject: 'token:7',
  tokenId: 7,
  serverId: 3,
  sessionId: 's1',
  method: 'tools/call',
  name: 'echo',
  outcome: 'ok',
  httpStatus: 200,
  durationMs: 1.5,
  requestBytes: 80,
  responseBytes: 120,
  argumentsDigest: null,
  arguments: null,
  error: null,
  ...over,
});

class PgError extends Error {
  override name = 'PostgresError';
}

describe('audit rows', () => {
  it('keeps no arguments unless given, and a digest of what was sent', () => {
    const row = toAuditRow(entry({ argumentsDigest: argumentsDigest({ text: 'MARKER-1' }) }));
    expect(row.arguments).toBeNull();
    expect(row.arguments_digest).toBe(argumentsDigest({ text: 'MARKER-1' }));
    expect(JSON.stringify(row)).not.toContain('MARKER-1');
  });

  it('redacts secret-named arguments at any depth, even when arguments are kept', () => {
    const args = { text: 'hi', api_key: 'MARKER-2', nested: [{ password: 'MARKER-3', ok: 1 }], Authorization: 'x' };
    expect(redactSecrets(args)).toEqual({
      text: 'hi',
      api_key: REDACTED,
      nested: [{ password: REDACTED, ok: 1 }],
      Authorization: REDACTED,
    });
    const row = toAuditRow(entry({ arguments: args }));
    expect(JSON.stringify(row.arguments)).not.toMatch(/MARKER-[23]/);
    // The digest is of the arguments as sent, secrets included, computed when the relay gave none.
    expect(row.arguments_digest).toBe(argumentsDigest(args));
  });

  it('stores nothing Postgres would refuse, and caps what it keeps', () => {
    const row = toAuditRow(
      entry({ name: 'a\u0000b', error: 'x'.repeat(10_000), arguments: { t: 'nul\u0000', big: 'y'.repeat(100_000) } }),
    );
    expect(row.name).toBe('a\uFFFDb');
    expect(row.error!.length).toBe(2_000);
    expect(row.arguments).toEqual({ truncated: true, bytes: expect.any(Number) });
    expect(JSON.stringify(toAuditRow(entry({ arguments: { t: 'nul\u0000' } })).arguments)).not.toContain('\\u0000');
    expect(toAuditRow(entry({ durationMs: Number.NaN, requestBytes: -5 }))).toMatchObject({
      duration_ms: 0,
      request_bytes: 0,
    });
  });
});

describe('the sink', () => {
  it('writes in batches, never blocking record, and flushes what is left on close', async () => {
    const batches: NewGatewayAuditRow[][] = [];
    const sink = createAuditSink(noSql, log, {
      batchSize: 3,
      intervalMs: 60_000,
      write: async (rows) => void batches.push(rows),
    });
    for (let i = 0; i < 7; i++) sink.record(entry({ requestBytes: i }));
    await sink.flush();
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
    sink.record(entry());
    await sink.close();
    expect(batches.flat()).toHaveLength(8);
  });

  it('writes on its interval', async () => {
    const written: NewGatewayAuditRow[] = [];
    const sink = createAuditSink(noSql, log, { intervalMs: 20, write: async (rows) => void written.push(...rows) });
    sink.record(entry());
    await new Promise((r) => setTimeout(r, 150));
    expect(written).toHaveLength(1);
    await sink.close();
  });

  it('keeps rows while the database is away, and drops only a row the database refuses', async () => {
    let up = false;
    const written: NewGatewayAuditRow[] = [];
    const sink = createAuditSink(noSql, log, {
      batchSize: 10,
      intervalMs: 60_000,
      write: async (rows) => {
        if (!up) throw new Error('connect ECONNREFUSED');
        if (rows.some((r) => r.name === 'bad')) throw new PgError('invalid input');
        written.push(...rows);
      },
    });
    sink.record(entry({ name: 'a' }));
    sink.record(entry({ name: 'bad' }));
    sink.record(entry({ name: 'c' }));
    await sink.flush();
    expect(written).toHaveLength(0);
    up = true;
    await sink.close();
    expect(written.map((r) => r.name)).toEqual(['a', 'c']);
  });

  it('holds at most maxBuffered rows, dropping the oldest', async () => {
    const written: NewGatewayAuditRow[] = [];
    const sink = createAuditSink(noSql, log, {
      batchSize: 1_000,
      maxBuffered: 5,
      intervalMs: 60_000,
      write: async (rows) => void written.push(...rows),
    });
    for (let i = 0; i < 8; i++) sink.record(entry({ requestBytes: i }));
    await sink.close();
    expect(written.map((r) => r.request_bytes)).toEqual([3, 4, 5, 6, 7]);
  });
});
