// How a supervised server's health is judged: a probe's outcome → the status it leaves the server
// in, and the restart schedule (exponential backoff, crashloop after too many restarts in a window).
// Pure and deterministic: the supervisor workflow (workflows/server-supervision.ts) decides with it,
// and unit tests pin it.
import type { ServerStatus } from './server-status.js';

/** What the supervisor needs of the HEALTH_* settings (activities/runtime/supervision.ts reads them). */
export interface HealthSettings {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  degradedLatencyMs: number;
  failureThreshold: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  crashloopRestarts: number;
  crashloopWindowMs: number;
}

/** What the supervisor carries from one probe (and one workflow run) to the next. */
export interface HealthCarried {
  /** Probes failed in a row. */
  failures: number;
  /** When each restart within the crashloop window began (workflow time, ms). */
  restarts: number[];
  /** Why the server needs a restart, for the restart's reason. */
  reason: string | null;
  /** A Kubernetes server: its pod as last observed, so each restart the kubelet makes is counted once. */
  pod?: PodSeen;
}

/** A Kubernetes server's pod as the supervisor last saw it. */
export interface PodSeen {
  name: string;
  /** Its server container's restartCount. */
  restarts: number;
  ready: boolean;
}

/**
 * What the pod watch reports of a Kubernetes server: the pod of its Deployment's current template
 * that stands for it (null: none yet, a replacement not created), its container's restarts, whether
 * it is Ready (the kubelet's MCP probe passed), and why not, with the container's last termination.
 */
export interface PodObservation {
  pod: string | null;
  restarts: number;
  ready: boolean;
  reason: string;
  lastTermination: string | null;
}

/** Whether an observation says something the supervisor has not seen (nothing seen: it does). */
export const podChanged = (seen: Pick<PodObservation, 'pod' | 'restarts' | 'ready'> | undefined, now: PodObservation) =>
  !seen || seen.pod !== now.pod || seen.restarts !== now.restarts || seen.ready !== now.ready;

export const freshHealth = (): HealthCarried => ({ failures: 0, restarts: [], reason: null });

export interface ProbeOutcome {
  ok: boolean;
  method: string;
  latencyMs: number | null;
  error: string | null;
  /** The workload is not running at all: counted as the last failure allowed at once. */
  exited: boolean;
  /** The tools differ from the certified ones (the digest certified, and how). */
  drift?: { certified: string; difference: string[] } | null;
}

export interface HealthVerdict {
  status: Extract<ServerStatus, 'running' | 'degraded' | 'unhealthy' | 'drifted'>;
  reason: string;
  failures: number;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** The status a probe leaves the server in, and the failures in a row after it. */
export function judgeProbe(s: HealthSettings, failuresBefore: number, probe: ProbeOutcome): HealthVerdict {
  if (probe.ok && probe.drift) {
    // What it offers is not what was certified: that outweighs how fast it answers.
    return { status: 'drifted', reason: driftReason(probe.drift), failures: 0 };
  }
  if (probe.ok) {
    const latency = probe.latencyMs ?? 0;
    return latency > s.degradedLatencyMs
      ? {
          status: 'degraded',
          reason: `${probe.method} answered in ${latency} ms, slower than ${s.degradedLatencyMs} ms`,
          failures: 0,
        }
      : { status: 'running', reason: `${probe.method} answered in ${latency} ms`, failures: 0 };
  }
  const failures = probe.exited ? Math.max(failuresBefore + 1, s.failureThreshold) : failuresBefore + 1;
  const error = probe.error ?? 'no answer';
  if (failures >= s.failureThreshold) {
    return {
      status: 'unhealthy',
      reason: probe.exited ? error : `${failures} probes failed in a row: ${error}`,
      failures,
    };
  }
  return { status: 'degraded', reason: `probe failed (${failures} of ${s.failureThreshold}): ${error}`, failures };
}

/** `tools differ from those certified for sha256:…: added tool shout` — the gateway's refusal quotes it. */
export function driftReason(drift: { certified: string; difference: string[] }): string {
  return `tools differ from those certified for ${drift.certified}: ${drift.difference.join('; ')}`;
}

export interface RestartPlan {
  /** Restarts within the window, before this one. */
  recent: number[];
  delayMs: number;
  /** Too many restarts within the window: the server is in crashloop while it waits. */
  crashloop: boolean;
}

/** When the next restart happens: the delay doubles with each restart still inside the window. */
export function planRestart(s: HealthSettings, restarts: readonly number[], now: number): RestartPlan {
  const recent = restarts.filter((t) => now - t < s.crashloopWindowMs);
  const delayMs = Math.min(s.restartBackoffMs * 2 ** recent.length, s.restartBackoffMaxMs);
  return { recent, delayMs, crashloop: recent.length >= s.crashloopRestarts };
}

export function crashloopReason(s: HealthSettings, plan: RestartPlan, last: string | null): string {
  return `${plan.recent.length} restarts within ${seconds(s.crashloopWindowMs)}; next in ${seconds(plan.delayMs)}; last failure: ${last ?? 'unknown'}`;
}

export function restartReason(plan: RestartPlan, last: string | null): string {
  return `restart ${plan.recent.length + 1} after waiting ${seconds(plan.delayMs)}: ${last ?? 'unhealthy'}`;
}

/**
 * How many restarts a pod observation shows since the one before: the container's restartCount
 * grew, or the pod was replaced (deleted, evicted: its ReplicaSet made another, one restart plus its
 * own). With none before (a fresh launch) every restart of the pod counts: they are this launch's.
 */
export function podRestartsSince(before: PodSeen | undefined, now: PodObservation): number {
  if (now.pod === null) return 0;
  if (!before) return now.restarts;
  if (now.pod === before.name) return Math.max(0, now.restarts - before.restarts);
  return 1 + now.restarts;
}

/** Why a pod observation makes a Kubernetes server unhealthy: not Ready, or restarted by the kubelet. */
export function podUnwellReason(now: PodObservation, restarted: number): string {
  const restart =
    restarted > 0
      ? `restarted by Kubernetes (${restarted === 1 ? 'once' : `${restarted} times`})` +
        (now.lastTermination ? `, last exit: ${now.lastTermination}` : '')
      : '';
  if (now.ready) return `pod ${now.pod} ${restart}`;
  return restart ? `${now.reason}; ${restart}` : now.reason;
}

/** A Kubernetes server restarted too often: the kubelet's back-off is what delays the next start. */
export function podCrashloopReason(s: HealthSettings, recent: number, last: string | null): string {
  return `${recent} restarts within ${seconds(s.crashloopWindowMs)} (Kubernetes restarts it, backing off); last failure: ${last ?? 'unknown'}`;
}
