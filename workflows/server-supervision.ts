// The supervisor of a launched server, run by serverLifecycle's loop while the server has no intent
// to carry out: it waits for the workload's exit (awaitWorkloadExit, noticed within a heartbeat, not
// at the next probe) and probes it on a durable timer, judging each probe (lib/server-health.ts):
// running → degraded → unhealthy → a restart after a delay that doubles (a relaunch of what ran,
// through launch()) → crashloop after too many restarts in the window. Every status change is a
// transition (a server_events row, an SSE event); every probe a server_probes row. It returns
// when an intent arrives or the history is long enough to continue as new; what it counts is
// carried (ServerEntity.health), so a new run, or a replay on another worker, does not restart twice.
import { CancellationScope, condition, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import { crashloopReason, judgeProbe, planRestart, restartReason, type HealthSettings } from '../lib/server-health.js';
import { SUPERVISED } from '../lib/server-status.js';
import { reasonOf, type ServerEntity } from './server-entity.js';
import { launch } from './server-launch.js';
import { exits, supervisor } from './server-profiles.js';

/** A restart held by a gate can be superseded by an intent (server-lifecycle.ts has the same id). */
const ROLLBACK_PATCH = 'rollback-v1';

/** Only Docker's workloads are supervised here (Kubernetes' have the kubelet's probes). */
export function supervises(server: ServerEntity): boolean {
  return server.launched?.backend === 'docker' && SUPERVISED.includes(server.currentStatus);
}

interface ExitWatch {
  scope: CancellationScope;
  /** Why the workload stopped running, once it has. */
  exited?: string;
}

function watchExit(serverId: number): ExitWatch {
  const watch: ExitWatch = { scope: new CancellationScope() };
  watch.scope
    .run(() => exits.awaitWorkloadExit({ serverId }))
    .then(
      ({ reason }) => void (watch.exited = reason),
      (err: unknown) => {
        if (!isCancellation(err)) watch.exited = `watching the workload failed: ${reasonOf(err)}`;
      },
    );
  return watch;
}

/** Waits out the backoff (an intent ends the wait: false), then relaunches what ran. */
async function restart(server: ServerEntity, s: HealthSettings, interrupted: () => boolean): Promise<boolean> {
  const health = server.health;
  // The launch of the last restart may have failed since: its reason is the newest.
  health.reason = server.currentReason ?? health.reason;
  const plan = planRestart(s, health.restarts, Date.now());
  health.restarts = plan.recent;
  if (plan.crashloop && server.currentStatus !== 'crashloop') {
    await server.transition('crashloop', crashloopReason(s, plan, health.reason));
  }
  if (await condition(interrupted, plan.delayMs)) return false;
  await server.transition('restarting', restartReason(plan, health.reason));
  health.restarts.push(Date.now());
  health.failures = 0;
  // A restart the gate holds (the digest's promotion was rolled back) gives way to the next intent,
  // such as the rollback's relaunch; older runs waited on the gate regardless.
  if (patched(ROLLBACK_PATCH)) return server.supervisedLaunch(() => launch(server, server.launched?.artifactRunId));
  await launch(server, server.launched?.artifactRunId);
  return true;
}

export async function supervise(server: ServerEntity): Promise<void> {
  const { serverId } = server;
  const settings = await supervisor.supervisionSettings();
  const health = server.health;
  const interrupted = () => server.hasQueued() || workflowInfo().continueAsNewSuggested;
  let watch: ExitWatch | undefined;
  try {
    while (!interrupted() && supervises(server)) {
      const status = server.currentStatus;
      if (status === 'unhealthy' || status === 'crashloop') {
        watch?.scope.cancel();
        watch = undefined;
        if (!(await restart(server, settings, interrupted))) return;
        continue;
      }
      watch ??= watchExit(serverId);
      const current = watch;
      await condition(() => current.exited !== undefined || interrupted(), settings.probeIntervalMs);
      if (interrupted()) return;
      const probe =
        current.exited !== undefined
          ? { ok: false, method: 'ping', latencyMs: null, error: current.exited, exited: true }
          : await supervisor.probeServer({ serverId, probeKey: server.nextKey(), timeoutMs: settings.probeTimeoutMs });
      if (probe.exited) {
        current.scope.cancel();
        watch = undefined;
      }
      const verdict = judgeProbe(settings, health.failures, probe);
      health.failures = verdict.failures;
      if (verdict.status === 'unhealthy') health.reason = verdict.reason;
      if (verdict.status !== server.currentStatus) await server.transition(verdict.status, verdict.reason);
    }
  } finally {
    watch?.scope.cancel();
  }
}
