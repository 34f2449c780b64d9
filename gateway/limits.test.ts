import { describe, expect, it } from 'vitest';
import { everyOwner } from '../lib/ledger/scope.js';
import { parseRate } from '../lib/rate.js';
import type { GatewayPrincipal } from './contracts.js';
import { createGatewayLimits, rateLimits, TokenBuckets, type LimitsEnv } from './limits.js';

const principal = (subject: string): GatewayPrincipal => ({
  userId: 1,
  email: 'a@example.com',
  role: 'admin',
  tokenId: 1,
  subject,
  scope: everyOwner,
  grants: null,
});

const env = (over: Partial<LimitsEnv> = {}): LimitsEnv => ({
  GATEWAY_RATE_PER_TOKEN: undefined,
  GATEWAY_RATE_PER_TOOL: undefined,
  GATEWAY_MAX_SESSIONS_PER_TOKEN: 0,
  GATEWAY_SESSION_IDLE_SECONDS: 0,
  ...over,
});

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('token buckets', () => {
  it('allows a burst, then one request per refill, and says how long to wait', () => {
    const c = clock();
    const buckets = new TokenBuckets(parseRate('2/min')!);
    expect(buckets.waitSeconds('k', c.now())).toBe(0);
    buckets.take('k', c.now());
    buckets.take('k', c.now());
    expect(buckets.waitSeconds('k', c.now())).toBe(30);
    c.advance(29_000);
    expect(buckets.waitSeconds('k', c.now())).toBe(1);
    c.advance(1_000);
    expect(buckets.waitSeconds('k', c.now())).toBe(0);
    // Other keys have buckets of their own.
    expect(buckets.waitSeconds('other', c.now())).toBe(0);
  });

  it('never holds more than the burst, and drops full buckets when it holds too many', () => {
    const c = clock();
    const buckets = new TokenBuckets(parseRate('10/s,burst=3')!, 100);
    c.advance(60_000);
    for (let i = 0; i < 3; i++) buckets.take('k', c.now());
    expect(buckets.waitSeconds('k', c.now())).toBe(1);
    for (let i = 0; i < 500; i++) buckets.waitSeconds(`key-${i}`, c.now());
    expect(buckets.size).toBeLessThanOrEqual(100);
  });
});

describe('rate limits', () => {
  it('refuses a token past its rate with the time to wait; other tokens are unaffected', () => {
    const c = clock();
    const limits = createGatewayLimits(env({ GATEWAY_RATE_PER_TOKEN: parseRate('2/min') }), undefined, c);
    const a = principal('token:1');
    expect(limits.check(a, 3, 'tools/call', 'echo')).toEqual({ ok: true });
    expect(limits.check(a, 3, 'tools/list', null)).toEqual({ ok: true });
    const refused = limits.check(a, 3, 'tools/call', 'echo');
    expect(refused).toMatchObject({ ok: false, retryAfterSeconds: 30 });
    expect(refused.ok === false && refused.reason).toMatch(/this token may make 2\/min requests/);
    // Notifications and the client's answers never count.
    expect(limits.check(a, 3, 'notifications/initialized', null)).toEqual({ ok: true });
    expect(limits.check(a, 3, 'response', null)).toEqual({ ok: true });
    expect(limits.check(principal('token:2'), 3, 'tools/call', 'echo')).toEqual({ ok: true });
    c.advance(30_000);
    expect(limits.check(a, 3, 'tools/call', 'echo')).toEqual({ ok: true });
  });

  it('limits each tool of each server across tokens, charging nothing when refused', () => {
    const c = clock();
    const limits = createGatewayLimits(
      env({ GATEWAY_RATE_PER_TOOL: parseRate('1/s'), GATEWAY_RATE_PER_TOKEN: parseRate('3/min') }),
      undefined,
      c,
    );
    const a = principal('token:1');
    expect(limits.check(a, 3, 'tools/call', 'echo').ok).toBe(true);
    expect(limits.check(principal('token:2'), 3, 'tools/call', 'echo')).toMatchObject({
      ok: false,
      retryAfterSeconds: 1,
      reason: expect.stringMatching(/tool echo takes 1\/s calls/),
    });
    expect(limits.check(a, 3, 'tools/call', 'arch').ok).toBe(true);
    expect(limits.check(a, 4, 'tools/call', 'echo').ok).toBe(true);
    // token:1 has spent 3 of its 3; token:2's refused call cost it nothing.
    expect(limits.check(a, 5, 'tools/call', 'x').ok).toBe(false);
    c.advance(1_000);
    expect(limits.check(principal('token:2'), 3, 'tools/call', 'echo').ok).toBe(true);
  });

  it('decides on the local copy of shared buckets while the database has not answered, and sends what it took', async () => {
    const c = clock();
    const sent: { buckets: string[]; spent: number[] }[] = [];
    // A database that takes its time: nothing the calls below wait for.
    let answer: (held: Map<string, number>) => void = () => {};
    const store = {
      spend: (_rate: unknown, buckets: string[], spent: number[]) => {
        sent.push({ buckets, spent });
        if (sent.length > 1) return Promise.resolve(new Map<string, number>());
        return new Promise<Map<string, number>>((resolve) => (answer = resolve));
      },
      prune: async () => 0,
    };
    const rates = rateLimits(env({ GATEWAY_RATE_PER_TOKEN: parseRate('3/min') }), c, store);
    const a = principal('token:1');
    for (let i = 0; i < 3; i++) expect(rates.check(a, 3, 'tools/call', 'echo').ok).toBe(true);
    expect(rates.check(a, 3, 'tools/call', 'echo').ok).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    // One statement for the three calls, naming the bucket by a digest of the token's subject.
    expect(sent).toHaveLength(1);
    expect(sent[0]!.spent).toEqual([3]);
    expect(sent[0]!.buckets[0]).toMatch(/^token:[\w-]{43}$/);
    // The shared bucket says another replica spent more: this copy follows it.
    answer(new Map([[sent[0]!.buckets[0]!, -1]]));
    await new Promise((r) => setTimeout(r, 0));
    c.advance(20_000);
    expect(rates.check(a, 3, 'tools/call', 'echo')).toMatchObject({ ok: false, retryAfterSeconds: 20 });
    c.advance(20_000);
    expect(rates.check(a, 3, 'tools/call', 'echo').ok).toBe(true);
    await rates.close();
  });

  it('limits nothing when no rate is set', () => {
    const limits = createGatewayLimits(env());
    for (let i = 0; i < 1_000; i++) expect(limits.check(principal('token:1'), 3, 'tools/call', 'echo').ok).toBe(true);
  });
});

describe('sessions in one process', () => {
  it('refuses a session past the maximum per token until one ends or goes idle', async () => {
    const c = clock();
    const limits = createGatewayLimits(
      env({ GATEWAY_MAX_SESSIONS_PER_TOKEN: 2, GATEWAY_SESSION_IDLE_SECONDS: 60 }),
      undefined,
      c,
    );
    const a = principal('token:1');
    expect(await limits.openSession(a)).toEqual({ ok: true });
    await limits.sessionOpened!(a, 's1');
    c.advance(10_000);
    await limits.sessionOpened!(a, 's2');
    expect(await limits.openSession(a)).toMatchObject({ ok: false, retryAfterSeconds: 50 });
    expect(await limits.openSession(principal('token:2'))).toEqual({ ok: true });
    await limits.sessionClosed!('s2');
    expect(await limits.openSession(a)).toEqual({ ok: true });
    await limits.sessionOpened!(a, 's3');
    expect((await limits.openSession(a)).ok).toBe(false);
    // s1 is used, s3 is not: s3 goes idle first, then a new session fits.
    c.advance(40_000);
    expect(await limits.sessionActive!(a, 's1')).toBe(true);
    c.advance(20_000);
    expect(await limits.openSession(a)).toEqual({ ok: true });
    expect(await limits.sessionActive!(a, 's3')).toBe(false);
    expect(await limits.sessionActive!(a, 's1')).toBe(true);
  });

  it('counts nothing and ends no session when neither limit is set', async () => {
    const c = clock();
    const limits = createGatewayLimits(env(), undefined, c);
    const a = principal('token:1');
    await limits.sessionOpened!(a, 's1');
    c.advance(86_400_000);
    expect(await limits.sessionActive!(a, 's1')).toBe(true);
    expect(await limits.openSession(a)).toEqual({ ok: true });
  });
});
