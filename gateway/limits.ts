// What the gateway refuses for volume: requests per token and calls per tool (token buckets, in each
// gateway process), and open sessions per token (counted in the ledger, so across every replica),
// with sessions unused for GATEWAY_SESSION_IDLE_SECONDS over. The relay turns a refusal into HTTP 429
// with Retry-After and a JSON-RPC error.
import { createHash } from 'node:crypto';
import type { Sql } from '../lib/db.js';
import type { Env } from '../lib/env.js';
import {
  closeOpenSession,
  countOpenSessions,
  expireOpenSessions,
  openSessionIdleFor,
  recordOpenSession,
  touchOpenSessions,
} from '../lib/ledger/gateway-sessions.js';
import type { Logger } from '../lib/logger.js';
import type { Rate } from '../lib/rate.js';
import type { GatewayLimits, GatewayPrincipal, LimitVerdict } from './contracts.js';

export type LimitsEnv = Pick<
  Env,
  'GATEWAY_RATE_PER_TOKEN' | 'GATEWAY_RATE_PER_TOOL' | 'GATEWAY_MAX_SESSIONS_PER_TOKEN' | 'GATEWAY_SESSION_IDLE_SECONDS'
>;

export interface LimitsOptions {
  log?: Logger;
  /** Milliseconds since the epoch (tests move it). */
  now?: () => number;
  /** Buckets held before full ones (which equal absent ones) are dropped. */
  maxBuckets?: number;
}

const OK: LimitVerdict = { ok: true };

export const describeRate = (rate: Rate) =>
  rate.perSecond >= 1 ? `${+rate.perSecond.toFixed(3)}/s` : `${+(rate.perSecond * 60).toFixed(3)}/min`;

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets of one rate, by key. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly rate: Rate,
    private readonly maxBuckets = 100_000,
  ) {}

  /** The bucket refilled to `now` (a new one is full). */
  private refilled(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxBuckets) this.evict(now);
      bucket = { tokens: this.rate.burst, at: now };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.rate.burst, bucket.tokens + elapsed * this.rate.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** Seconds until a request may pass (0: now), without taking anything. */
  waitSeconds(key: string, now: number): number {
    const bucket = this.refilled(key, now);
    return bucket.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate.perSecond));
  }

  take(key: string, now: number): void {
    this.refilled(key, now).tokens -= 1;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** A full bucket is the same as none: those go first, then the least recently used. */
  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.rate.perSecond;
      if (tokens >= this.rate.burst) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxBuckets) return;
    let drop = Math.ceil(this.maxBuckets / 10);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}

/** Requests that never count: notifications and the client's answers to the server. */
const uncounted = (method: string) => method === 'response' || method.startsWith('notifications/');

/** The rate limits alone (pure: no sessions, no database). */
export function rateLimits(env: LimitsEnv, options: LimitsOptions = {}): GatewayLimits['check'] {
  const now = options.now ?? Date.now;
  const perToken = env.GATEWAY_RATE_PER_TOKEN && new TokenBuckets(env.GATEWAY_RATE_PER_TOKEN, options.maxBuckets);
  const perTool = env.GATEWAY_RATE_PER_TOOL && new TokenBuckets(env.GATEWAY_RATE_PER_TOOL, options.maxBuckets);
  return (principal, serverId, method, name) => {
    if (uncounted(method)) return OK;
    const t = now();
    const toolKey = perTool && method === 'tools/call' && name !== null ? `${serverId ?? ''}\u0000${name}` : undefined;
    // Both are asked before either is charged: a request one limit refuses costs the other nothing.
    const tokenWait = perToken ? perToken.waitSeconds(principal.subject, t) : 0;
    const toolWait = perTool && toolKey !== undefined ? perTool.waitSeconds(toolKey, t) : 0;
    if (tokenWait > 0 && perToken) {
      return {
        ok: false,
        reason: `rate limit: this token may make ${describeRate(perToken.rate)} requests (burst ${perToken.rate.burst})`,
        retryAfterSeconds: Math.max(tokenWait, toolWait),
      };
    }
    if (toolWait > 0 && perTool) {
      return {
        ok: false,
        reason: `rate limit: tool ${name} takes ${describeRate(perTool.rate)} calls (burst ${perTool.rate.burst})`,
        retryAfterSeconds: toolWait,
      };
    }
    perToken?.take(principal.subject, t);
    if (perTool && toolKey !== undefined) perTool.take(toolKey, t);
    return OK;
  };
}

interface LocalSession {
  holder: string;
  seen: number;
  written: number;
}

/** Session ids are long and carry routing data: the ledger keys them by digest. */
const keyOf = (sessionId: string) => createHash('sha256').update(sessionId).digest('base64url');

/**
 * The gateway's limits. Given the database, open sessions are counted in the ledger (every replica sees the
 * same count; two sessions opened at the same instant may both pass the last free place); without,
 * in this process.
 */
export function createGatewayLimits(env: LimitsEnv, sql?: Sql, options: LimitsOptions = {}): GatewayLimits {
  const now = options.now ?? Date.now;
  const log = options.log;
  const max = env.GATEWAY_MAX_SESSIONS_PER_TOKEN;
  const idleSeconds = env.GATEWAY_SESSION_IDLE_SECONDS;
  const idleMs = idleSeconds * 1000;
  const local = new Map<string, LocalSession>();
  const touched = new Set<string>();
  // Use is written to the ledger in batches, often enough that no replica takes a live session for idle.
  const touchEveryMs = idleSeconds > 0 ? Math.min(30_000, Math.max(1_000, idleMs / 4)) : 0;
  const tracks = max > 0 || idleSeconds > 0;

  const failOpen = (what: string) => (err: unknown) => {
    log?.warn({ err: (err as Error).message }, `gateway limits: ${what} failed; allowed`);
  };

  const timers: NodeJS.Timeout[] = [];
  const flushTouches = async () => {
    if (!sql || touched.size === 0) return;
    const keys = [...touched];
    touched.clear();
    await touchOpenSessions(sql, keys).catch(failOpen('recording session use'));
  };
  if (sql && tracks && touchEveryMs > 0) {
    timers.push(setInterval(() => void flushTouches(), touchEveryMs));
    timers.push(
      setInterval(
        () => {
          const t = now();
          for (const [key, s] of local) if (t - s.seen >= idleMs) local.delete(key);
          void expireOpenSessions(sql, idleSeconds).catch(failOpen('expiring sessions'));
        },
        Math.min(60_000, Math.max(1_000, idleMs / 2)),
      ),
    );
    for (const timer of timers) timer.unref();
  }

  const refuseSessions = (retryAfterSeconds: number): LimitVerdict => ({
    ok: false,
    reason: `this token holds ${max} open sessions, the most it may; end one (DELETE) or wait for one to go idle`,
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
  });

  const localCount = (holder: string) => {
    const t = now();
    let open = 0;
    let firstIdleIn = Infinity;
    for (const s of local.values()) {
      if (s.holder !== holder || (idleMs > 0 && t - s.seen >= idleMs)) continue;
      open++;
      if (idleMs > 0) firstIdleIn = Math.min(firstIdleIn, (s.seen + idleMs - t) / 1000);
    }
    return { open, firstIdleIn: Number.isFinite(firstIdleIn) ? firstIdleIn : 60 };
  };

  return {
    check: rateLimits(env, options),

    async openSession(principal: GatewayPrincipal) {
      if (max === 0) return OK;
      if (!sql) {
        const { open, firstIdleIn } = localCount(principal.subject);
        return open >= max ? refuseSessions(firstIdleIn) : OK;
      }
      try {
        const { open, firstIdleInSeconds } = await countOpenSessions(sql, principal.subject, idleSeconds);
        return open >= max ? refuseSessions(firstIdleInSeconds ?? 60) : OK;
      } catch (err) {
        failOpen('counting sessions')(err);
        return OK;
      }
    },

    async sessionOpened(principal, sessionId) {
      if (!tracks) return;
      const key = keyOf(sessionId);
      const t = now();
      local.set(key, { holder: principal.subject, seen: t, written: t });
      if (sql) await recordOpenSession(sql, key, principal.subject).catch(failOpen('recording a session'));
    },

    async sessionActive(principal, sessionId) {
      if (!tracks) return true;
      const key = keyOf(sessionId);
      const t = now();
      const mine = local.get(key);
      if (mine && (idleMs === 0 || t - mine.seen < idleMs)) {
        mine.seen = t;
        if (sql && touchEveryMs > 0 && t - mine.written >= touchEveryMs) {
          mine.written = t;
          touched.add(key);
        }
        return true;
      }
      if (!sql) {
        // Without a ledger a session this process never saw (it restarted) is taken as it comes.
        if (mine) {
          local.delete(key);
          return false;
        }
        local.set(key, { holder: principal.subject, seen: t, written: t });
        return true;
      }
      // Another replica may have served it since, or this one restarted: the ledger decides.
      let idleFor: number | undefined;
      try {
        idleFor = await openSessionIdleFor(sql, key);
      } catch (err) {
        failOpen('reading a session')(err);
        return true;
      }
      if (idleFor === undefined || (idleSeconds > 0 && idleFor >= idleSeconds)) {
        local.delete(key);
        if (idleFor !== undefined) await closeOpenSession(sql, key).catch(failOpen('ending an idle session'));
        return false;
      }
      local.set(key, { holder: principal.subject, seen: t, written: t });
      if (touchEveryMs > 0) touched.add(key);
      return true;
    },

    async sessionClosed(sessionId) {
      if (!tracks) return;
      const key = keyOf(sessionId);
      local.delete(key);
      touched.delete(key);
      if (sql) await closeOpenSession(sql, key).catch(failOpen('ending a session'));
    },

    async close() {
      for (const timer of timers) clearInterval(timer);
      await flushTouches();
    },
  };
}
