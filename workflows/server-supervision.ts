// The supervisor of a launched server, run by serverLifecycle's loop while the server has no intent
// to carry out: it waits for the workload's exit (awaitWorkloadExit, noticed within a heartbeat, not
// at the next probe) and probes it on a durable timer, judging each probe (lib/server-health.ts):
// running → degraded → unhealthy → a restart after a delay that doubles (a relaunch of what ran,
// through launch()) → crashloop after too many restarts in the window. Every status change is a
// transition (a server_events row, an SSE event); every probe a server_probes row. It returns
// when an intent arrives or the history is long enough to continue as new; what it counts is
// carried (ServerEntity.health), so a new run, or a replay on another worker, does not restart twice.
//
// A Kubernetes server is probed the same way, but its pods are restarted by Kubernetes, not here:
// the kubelet restarts a container that exits or fails its liveness probe (an MCP probe too) with
// its own back-off, and the ReplicaSet replaces a deleted pod. A relaunch from here would replace
// the Deployment's template (a new ReplicaSet per restart) and race the kubelet's restart of the
// same pod. So the supervisor watches the pod (awaitKubernetesPodChange, heartbeating: a crash is
// noticed within seconds), counts each restart the pod status shows, and says what it sees:
// unhealthy while the pod is not Ready or just restarted, crashloop past the same thresholds, then
// what the probes say once it is Ready again.
//
// A virtual machine is supervised as a Docker server is (the same statuses, thresholds and backoff),
// its exit noticed by the hypervisor's state of the instance (awaitWorkloadExit asks every few
// seconds) and probed over MCP when its hypervisor reports an endpoint, by that state otherwise.
// Its restart starts the same instance again (its attestation stands); only an instance the
// hypervisor no longer holds is launched anew.
import { CancellationScope, condition, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import {
  crashloopReason,
  judgeProbe,
  planRestart,
  podChanged,
  podCrashloopReason,
  podRestartsSince,
  podUnwellReason,
  restartReason,
  type HealthSettings,
  type PodObservation,
  type ProbeOutcome,
} from '../lib/server-health.js';
import { SUPERVISED } from '../lib/server-status.js';
import type { RestartVmResult } from '../activities/runtime/vm.js';
import { reasonOf, type ServerEntity } from './server-entity.js';
import { launch } from './server-launch.js';
import { exits, supervisor, vm } from './server-profiles.js';

/** A restart held by a gate can be superseded by an intent (server-lifecycle.ts has the same id). */
const ROLLBACK_PATCH = 'rollback-v1';

/** Kubernetes servers are supervised too (probes, the pod watch, restarts counted); older runs left them alone. */
const K8S_SUPERVISION_PATCH = 'k8s-supervision-v1';

/**
 * A Kubernetes server's failed probe looks at its pod before it is counted: the pod watch in flight
 * may be on a worker that died (retried elsewhere only once its heartbeat times out), and a
 * restart it has not reported yet is what the failure is.
 */
const K8S_POD_CHECK_PATCH = 'k8s-supervision-pod-check-v1';

/** Virtual machines are supervised too (probes, exits, restarts by a start); older runs left them alone. */
const VM_SUPERVISION_PATCH = 'vm-supervision-v1';

/** Every backend's workloads are supervised here; each since its patch. */
export function supervises(server: ServerEntity): boolean {
  if (!SUPERVISED.includes(server.currentStatus)) return false;
  const backend = server.launched?.backend;
  return (
    backend === 'docker' ||
    (backend === 'kubernetes' && patched(K8S_SUPERVISION_PATCH)) ||
    (backend === 'virtual-machine' && patched(VM_SUPERVISION_PATCH))
  );
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
  if (server.launched?.backend === 'virtual-machine') return server.supervisedLaunch(() => restartInstance(server));
  // A restart the gate holds (the digest's promotion was rolled back) gives way to the next intent,
  // such as the rollback's relaunch; older runs waited on the gate regardless.
  if (patched(ROLLBACK_PATCH)) return server.supervisedLaunch(() => launch(server, server.launched?.artifactRunId));
  await launch(server, server.launched?.artifactRunId);
  return true;
}

/** A VM's instance started again; a start the hypervisor refuses leaves it unhealthy (the next restart backs off more). */
async function restartInstance(server: ServerEntity): Promise<void> {
  let restarted: RestartVmResult;
  try {
    restarted = await vm.restartVm({ serverId: server.serverId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    await server.transition('starting', 'starting the virtual machine again');
    await server.transition('unhealthy', `the virtual machine did not start again: ${reasonOf(err)}`);
    return;
  }
  if (restarted.status === 'gone') return launch(server, server.launched?.artifactRunId);
  await server.transition('starting', `virtual machine ${restarted.instanceId} asked to start again`);
  await server.transition('running', `virtual machine ${restarted.instanceId} started again`);
}

const interruptedFor = (server: ServerEntity) => () => server.hasQueued() || workflowInfo().continueAsNewSuggested;

/** One probe over the gateway's path, recorded (a server_probes row). */
const probeOnce = (server: ServerEntity, s: HealthSettings) =>
  supervisor.probeServer({ serverId: server.serverId, probeKey: server.nextKey(), timeoutMs: s.probeTimeoutMs });

/** Judges a probe's outcome; the status it leaves the server in is recorded. */
async function judge(server: ServerEntity, s: HealthSettings, result: ProbeOutcome): Promise<void> {
  const health = server.health;
  const verdict = judgeProbe(s, health.failures, result);
  health.failures = verdict.failures;
  if (verdict.status === 'unhealthy') health.reason = verdict.reason;
  // A Kubernetes server in crashloop stays so while it fails: Kubernetes, not a verdict, restarts it.
  const to = server.currentStatus === 'crashloop' && verdict.status === 'unhealthy' ? 'crashloop' : verdict.status;
  if (to !== server.currentStatus) await server.transition(to, verdict.reason);
}

export async function supervise(server: ServerEntity): Promise<void> {
  const { serverId } = server;
  const settings = await supervisor.supervisionSettings();
  if (server.launched?.backend === 'kubernetes') return superviseKubernetes(server, settings);
  const interrupted = interruptedFor(server);
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
      const result =
        current.exited !== undefined
          ? { ok: false, method: 'ping', latencyMs: null, error: current.exited, exited: true }
          : await probeOnce(server, settings);
      if (result.exited) {
        current.scope.cancel();
        watch = undefined;
      }
      await judge(server, settings, result);
    }
  } finally {
    watch?.scope.cancel();
  }
}

interface PodWatch {
  scope: CancellationScope;
  /** The pod as it is once it changed from what was seen. */
  changed?: PodObservation;
  failed?: string;
}

function watchPod(serverId: number, last: PodObservation | undefined): PodWatch {
  const watch: PodWatch = { scope: new CancellationScope() };
  const seen = last && { pod: last.pod, restarts: last.restarts, ready: last.ready };
  watch.scope
    .run(() => exits.awaitKubernetesPodChange({ serverId, ...(seen && { seen }) }))
    .then(
      (observed) => void (watch.changed = observed),
      (err: unknown) => {
        if (!isCancellation(err)) watch.failed = `watching the pod failed: ${reasonOf(err)}`;
      },
    );
  return watch;
}

/**
 * Counts the restarts a pod observation shows and records what it means: unhealthy while the pod
 * is not Ready or has just been restarted, crashloop past the thresholds. Whether it is Ready.
 */
async function judgePod(server: ServerEntity, s: HealthSettings, observed: PodObservation): Promise<boolean> {
  const health = server.health;
  const restarted = podRestartsSince(health.pod, observed);
  if (observed.pod !== null) health.pod = { name: observed.pod, restarts: observed.restarts, ready: observed.ready };
  const now = Date.now();
  for (let i = 0; i < restarted; i += 1) health.restarts.push(now);
  health.restarts = health.restarts.filter((t) => now - t < s.crashloopWindowMs);
  if (observed.ready && restarted === 0) return true;
  const reason = podUnwellReason(observed, restarted);
  health.reason = reason;
  health.failures = 0;
  // Crashloop is reached through unhealthy, as a Docker server's is: each says why.
  if (server.currentStatus !== 'unhealthy' && server.currentStatus !== 'crashloop')
    await server.transition('unhealthy', reason);
  if (health.restarts.length >= s.crashloopRestarts && server.currentStatus !== 'crashloop')
    await server.transition('crashloop', podCrashloopReason(s, health.restarts.length, reason));
  return observed.ready;
}

/** A Kubernetes server: the pod watch decides while the pod is not Ready; the probes while it is. */
async function superviseKubernetes(server: ServerEntity, settings: HealthSettings): Promise<void> {
  const interrupted = interruptedFor(server);
  let last: PodObservation | undefined;
  let watch: PodWatch | undefined;
  try {
    while (!interrupted() && supervises(server)) {
      watch ??= watchPod(server.serverId, last);
      const current = watch;
      const settled = () => current.changed !== undefined || current.failed !== undefined || interrupted();
      // A pod that is not Ready is not probed (its Service sends it nothing): its next change is awaited.
      if (last && !last.ready) await condition(settled);
      else await condition(settled, settings.probeIntervalMs);
      if (interrupted()) return;
      if (current.changed ?? current.failed) watch = undefined;
      if (current.changed) {
        last = current.changed;
        if (!(await judgePod(server, settings, last))) continue;
      }
      const result = await probeOnce(server, settings);
      if (!result.ok && patched(K8S_POD_CHECK_PATCH)) {
        // Without `seen`, the pod as it is now. Changed: the pod explains the failure (a restart
        // counted once, with its exit), and the watch goes on from it; unchanged: the probe counts.
        const now = await supervisor.awaitKubernetesPodChange({ serverId: server.serverId });
        if (podChanged(last, now)) {
          watch?.scope.cancel();
          watch = undefined;
          last = now;
          await judgePod(server, settings, now);
          continue;
        }
      }
      await judge(server, settings, result);
    }
  } finally {
    watch?.scope.cancel();
  }
}
