// Writes registry/lifecycle telemetry (usage_metrics) and build log lines (build_logs). Both tables
// are tailed by the API's streams. Log lines are batched so a chatty build is a few inserts a second.
import type { Sql } from '../lib/db.js';
import { appendLogLines } from '../lib/ledger/builds.js';
import { recordMetric } from '../lib/ledger/metrics.js';
import type { Logger } from '../lib/logger.js';

export interface Telemetry {
  metric(
    serverId: number,
    runId: number | null,
    eventType: string,
    details: Record<string, unknown> | null,
  ): Promise<void>;
  /** A line writer for one build (and platform); call flush() before the activity returns. */
  buildLog(runId: number, platform: string | null): BuildLog;
  /** Step timings of one build activity; flush() records them as one `step_timings` event. */
  steps(serverId: number, runId: number, activity: string, platform: string | null): StepTimer;
}

/**
 * Where a build's or a launch's time goes, inside its activities (Temporal's history has each
 * activity's own start and end): the steps of one activity, recorded together so timing them costs
 * one insert.
 */
export interface StepTimer {
  time<T>(step: string, fn: () => Promise<T>): Promise<T>;
  flush(): Promise<void>;
}

export interface BuildLog {
  line(text: string): void;
  flush(): Promise<void>;
}

/**
 * A step timer for one activity of `serverId` (a build's, with its run and platform, or a launch's
 * with neither). Steps may overlap: each keeps its own start. A failed write is reported to `lost`
 * and never fails the activity whose steps they are.
 */
export function createStepTimer(
  sql: Sql,
  of: { serverId: number; runId: number | null; activity: string; platform: string | null },
  lost: (err: unknown) => void,
): StepTimer {
  const steps: { step: string; started_at: string; ms: number }[] = [];
  return {
    async time(step, fn) {
      const startedAt = new Date();
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        steps.push({ step, started_at: startedAt.toISOString(), ms: Math.round((performance.now() - t0) * 10) / 10 });
      }
    },
    async flush() {
      if (steps.length === 0) return;
      const details = { activity: of.activity, platform: of.platform, steps: steps.splice(0) };
      await recordMetric(sql, { serverId: of.serverId, runId: of.runId, eventType: 'step_timings', details }).catch(
        lost,
      );
    },
  };
}

const FLUSH_MS = 250;
const MAX_LINE = 4_000;

export function createTelemetry(sql: Sql, log: Logger): Telemetry {
  return {
    async metric(serverId, runId, eventType, details) {
      await recordMetric(sql, { serverId, runId, eventType, details });
      log.info({ target: 'registry.push', serverId, runId, eventType, ...details }, eventType);
    },
    steps(serverId, runId, activity, platform) {
      return createStepTimer(sql, { serverId, runId, activity, platform }, (err) =>
        log.warn({ err, runId }, 'step timings lost'),
      );
    },
    buildLog(runId, platform) {
      let pending: string[] = [];
      let timer: NodeJS.Timeout | undefined;
      let writing: Promise<void> = Promise.resolve();
      const write = () => {
        timer = undefined;
        const lines = pending;
        pending = [];
        if (lines.length === 0) return writing;
        writing = writing.then(() =>
          appendLogLines(sql, runId, platform, lines).then(
            () => undefined,
            (err: unknown) => log.warn({ err, runId }, 'build log lines lost'),
          ),
        );
        return writing;
      };
      return {
        line(text) {
          for (const raw of text.split(/\r?\n/)) {
            const line = raw.trimEnd();
            if (line.trim() === '') continue;
            pending.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line);
          }
          timer ??= setTimeout(write, FLUSH_MS);
        },
        async flush() {
          clearTimeout(timer);
          await write();
        },
      };
    },
  };
}
