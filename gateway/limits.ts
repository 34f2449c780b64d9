// What the gateway refuses for volume: requests per token and calls per tool (token buckets every
// replica shares, each call decided on a local copy: SharedTokenBuckets), and open sessions per token
// (counted in the ledger, so across every replica), with sessions unused for
// GATEWAY_SESSION_IDLE_SECONDS over. The relay turns a refusal into HTTP 429 with Retry-After and a
// JSON-RPC error.
import { hash } from 'node:crypto';
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
import { pruneRateBuckets, spendRateBuckets } from '../lib/ledger/gateway-rates.js';
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

  /** What the bucket holds at `now`, as another source (the shared bucket) says. */
  set(key: string, tokens: number, now: number): void {
    const bucket = this.refilled(key, now);
    bucket.tokens = Math.min(this.rate.burst, tokens);
    bucket.at = now;
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

/** What the rate limits ask of a set of buckets: one process's, or the ones every replica shares. */
export interface Buckets {
  readonly rate: Rate;
  waitSeconds(key: string, now: number): number;
  take(key: string, now: number): void;
}

/** Where shared buckets live (gateway_rate_buckets): spends what this replica took, says what each holds now. */
export interface BucketStore {
  spend(rate: Rate, buckets: string[], spent: number[]): Promise<Map<string, number>>;
  prune(prefix: string, rate: Rate): Promise<unknown>;
}

/** The least time between two reconciliations of one replica (a bound on the statements it sends). */
const SYNC_MIN_MS = 5;
/** How often buckets used lately are read again, to see what other replicas spent. */
const REFRESH_MS = 1_000;
/** A bucket used within this long is refreshed; after, it is left until it is used again. */
const WATCH_MS = 30_000;
/** Buckets per reconciling statement. */
const SYNC_BATCH = 500;
/** After a failed reconciliation, the next waits this long (the local buckets decide meanwhile). */
const RETRY_MS = 1_000;

/**
 * Token buckets of one rate that every gateway replica shares. Each call is decided on this replica's
 * copy of the bucket, with no round trip; what was taken is sent to the shared bucket right after (at
 * most one statement in flight, one every SYNC_MIN_MS at most, all buckets in one), and the copy is
 * set to what the shared bucket holds, less what was taken meanwhile. Buckets used lately are read
 * again every REFRESH_MS.
 *
 * So a replica never refuses a call the shared bucket would admit (its copy misses only what other
 * replicas took, which can only lower it), and it may over-admit only what the other replicas took
 * and it has not seen yet: those replicas' takes since this replica's last reconciliation — one
 * database round trip after each call it admits, REFRESH_MS at most for a bucket it only refuses
 * from. With R replicas calling at once on a bucket that was quiet (their copies full) that is at
 * most (R − 1) × burst, once; a bucket being drained goes below zero by what was over-admitted, and
 * that debt (to one burst) is paid from the next refills, so over a longer period the rate holds.
 * When the database cannot be reached, each replica goes on with its own copy (the limit then holds
 * per replica), and what it took is sent once the database answers.
 */
export class SharedTokenBuckets implements Buckets {
  private readonly local: TokenBuckets;
  /** Taken here and not sent yet, by key. */
  private unsent = new Map<string, number>();
  /** Keys used lately, and when: refreshed so this replica sees what others spent. */
  private readonly watched = new Map<string, number>();
  private readonly names = new Map<string, string>();
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextAt = 0;
  private failing = false;
  /** The next reconciliation reads the watched buckets too, not only those taken from. */
  private refreshDue = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly rate: Rate,
    /** Names this family of buckets in the store (`token:`, `tool:`). */
    private readonly prefix: string,
    private readonly store: BucketStore,
    private readonly options: { now: () => number; log?: Logger; maxBuckets?: number },
  ) {
    this.local = new TokenBuckets(rate, options.maxBuckets);
    const refresh = setInterval(() => {
      const now = options.now();
      for (const [key, at] of this.watched) if (now - at > WATCH_MS) this.watched.delete(key);
      if (this.watched.size === 0) return;
      this.refreshDue = true;
      this.schedule();
    }, REFRESH_MS);
    const prune = setInterval(
      () => void store.prune(prefix, rate).catch((err: unknown) => this.warn('forgetting refilled buckets', err)),
      60_000,
    );
    this.timers.push(refresh, prune);
    for (const t of this.timers) t.unref();
  }

  waitSeconds(key: string, now: number): number {
    const wait = this.local.waitSeconds(key, now);
    if (wait > 0) this.watched.set(key, now);
    return wait;
  }

  take(key: string, now: number): void {
    this.local.take(key, now);
    this.unsent.set(key, (this.unsent.get(key) ?? 0) + 1);
    this.watched.set(key, now);
    this.schedule();
  }

  /** Sends what is unsent and stops refreshing. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    if (this.unsent.size > 0) await this.sync();
  }

  private schedule(): void {
    if (this.sending || this.timer || this.closed) return;
    const wait = Math.max(0, this.nextAt - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, wait);
    this.timer.unref();
  }

  private nameOf(key: string): string {
    let name = this.names.get(key);
    if (name === undefined) {
      // A digest: keys carry tool names as clients sent them (any length, any character).
      name = this.prefix + hash('sha256', key, 'base64url');
      if (this.names.size >= 100_000) this.names.clear();
      this.names.set(key, name);
    }
    return name;
  }

  private sync(): Promise<void> {
    const run = async () => {
      const keys = [...this.unsent.keys()];
      if (this.refreshDue) {
        this.refreshDue = false;
        const due: string[] = [];
        for (const key of this.watched.keys()) {
          if (keys.length + due.length >= SYNC_BATCH) break;
          if (!this.unsent.has(key)) due.push(key);
        }
        // Those read go to the back: with more than a batch watched, the next refresh reads the others.
        for (const key of due) {
          const at = this.watched.get(key)!;
          this.watched.delete(key);
          this.watched.set(key, at);
        }
        keys.push(...due);
      }
      if (keys.length === 0) return;
      const sent = new Map<string, number>();
      for (const key of keys.slice(0, SYNC_BATCH)) {
        sent.set(key, this.unsent.get(key) ?? 0);
        this.unsent.delete(key);
      }
      const batch = [...sent.keys()].map((key) => ({ key, name: this.nameOf(key) }));
      batch.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      try {
        const held = await this.store.spend(
          this.rate,
          batch.map((b) => b.name),
          batch.map((b) => sent.get(b.key)!),
        );
        const at = this.options.now();
        for (const { key, name } of batch) {
          const tokens = held.get(name);
          if (tokens !== undefined) this.local.set(key, tokens - (this.unsent.get(key) ?? 0), at);
        }
        this.nextAt = Date.now() + SYNC_MIN_MS;
        if (this.failing) this.options.log?.info(`gateway limits: ${this.prefix} buckets shared again`);
        this.failing = false;
      } catch (err) {
        // Kept for the next attempt: the shared bucket is charged late rather than never.
        for (const [key, n] of sent) if (n > 0) this.unsent.set(key, (this.unsent.get(key) ?? 0) + n);
        this.nextAt = Date.now() + RETRY_MS;
        if (!this.failing) this.warn('sharing rate buckets (each replica limits alone meanwhile)', err);
        this.failing = true;
      }
    };
    this.sending = run().finally(() => {
      this.sending = undefined;
      if (this.unsent.size > 0) this.schedule();
    });
    return this.sending;
  }

  private warn(what: string, err: unknown): void {
    this.options.log?.warn({ err: (err as Error).message }, `gateway limits: ${what} failed`);
  }
}

/** Requests that never count: notifications and the client's answers to the server. */
const uncounted = (method: string) => method === 'response' || method.startsWith('notifications/');

/** The rate limits alone: in this process, or shared by every replica through `store`. */
export function rateLimits(
  env: LimitsEnv,
  options: LimitsOptions = {},
  store?: BucketStore,
): { check: GatewayLimits['check']; close(): Promise<void> } {
  const now = options.now ?? Date.now;
  const buckets = (rate: Rate | undefined, prefix: string): Buckets | undefined =>
    rate &&
    (store
      ? new SharedTokenBuckets(rate, prefix, store, { now, log: options.log, maxBuckets: options.maxBuckets })
      : new TokenBuckets(rate, options.maxBuckets));
  const perToken = buckets(env.GATEWAY_RATE_PER_TOKEN, 'token:');
  const perTool = buckets(env.GATEWAY_RATE_PER_TOOL, 'tool:');
  const close = async () => {
    for (const b of [perToken, perTool]) if (b instanceof SharedTokenBuckets) await b.close();
  };
  const check: GatewayLimits['check'] = (principal, serverId, method, name) => {
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
  return { check, close };
}

interface LocalSession {
  holder: string;
  seen: number;
  written: number;
}

/** Session ids are long and carry routing data: the ledger keys them by digest. */
const digestOf = (sessionId: string) => hash('sha256', sessionId, 'base64url');

/** Digests of ids seen lately: a session sends its id on every request, and a digest each time is waste. */
const KEYS_MAX = 20_000;
function sessionKeys(): (sessionId: string) => string {
  const keys = new Map<string, string>();
  return (sessionId) => {
    let key = keys.get(sessionId);
    if (key === undefined) {
      key = digestOf(sessionId);
      if (keys.size >= KEYS_MAX) keys.clear();
      keys.set(sessionId, key);
    }
    return key;
  };
}

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
  const keyOf = sessionKeys();
  const touched = new Set<string>();
  // Use is written to the ledger in batches, often enough that no replica takes a live session for idle.
  const touchEveryMs = idleSeconds > 0 ? Math.min(30_000, Math.max(1_000, idleMs / 4)) : 0;
  const tracks = max > 0 || idleSeconds > 0;
  const rates = rateLimits(
    env,
    options,
    sql && {
      spend: (rate, buckets, spent) => spendRateBuckets(sql, rate, buckets, spent),
      prune: (prefix, rate) => pruneRateBuckets(sql, prefix, rate),
    },
  );

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
    check: rates.check,

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
      await rates.close();
    },
  };
}
