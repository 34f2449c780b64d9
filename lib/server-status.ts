// Server status vocabulary and the state machine that the serverLifecycle workflow enforces.
// Pure: imported by workflows (deterministic), activities, the API and tests alike.

// A build's checkout is not a status of its own: it is part of `building`, and the build's log says
// when the clone runs.
export const SERVER_STATUSES = [
  'creating',
  'starting',
  'building',
  'ready',
  'running',
  // Supervision after launch (workflows/server-supervision.ts): probes slow or failing under the
  // limit, N failures in a row, a restart under way, too many restarts in the window, and a tool
  // surface that is not the one certified.
  'degraded',
  'unhealthy',
  'restarting',
  'crashloop',
  'drifted',
  'stopping',
  'stopped',
  'redeploying',
  'pending-governance',
  'provisioning',
  'pending-attestation',
  'blocked',
  'error',
  'deleting',
] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

/** Operator intents; each arrives as a workflow update on `server/<id>`. */
export const SERVER_INTENTS = ['start', 'stop', 'redeploy', 'build', 'delete'] as const;
export type ServerIntent = (typeof SERVER_INTENTS)[number];

/** Statuses in which the server runs or is on its way to running ('ready' is built, not started). */
const ACTIVE: readonly ServerStatus[] = [
  'starting',
  'building',
  'running',
  'degraded',
  'unhealthy',
  'restarting',
  'crashloop',
  'drifted',
  'redeploying',
  'pending-governance',
  'provisioning',
  'pending-attestation',
];

/** Statuses the supervisor watches over: the workload was launched and has not been stopped. */
export const SUPERVISED: readonly ServerStatus[] = ['running', 'degraded', 'unhealthy', 'crashloop', 'drifted'];

/** Allowed edges. `deleting` ends in removal of the row, which is not a status. */
const TRANSITIONS: Record<ServerStatus, readonly ServerStatus[]> = {
  creating: ['starting', 'building', 'stopped', 'redeploying', 'deleting', 'error'],
  starting: [
    'building',
    'ready',
    'running',
    'unhealthy',
    'pending-governance',
    'provisioning',
    'redeploying',
    'stopping',
    'deleting',
    'error',
  ],
  building: ['ready', 'starting', 'running', 'pending-governance', 'redeploying', 'stopping', 'deleting', 'error'],
  ready: [
    'building',
    'starting',
    'running',
    'pending-governance',
    'redeploying',
    'stopping',
    'stopped',
    'deleting',
    'error',
  ],
  running: ['degraded', 'unhealthy', 'restarting', 'drifted', 'stopping', 'redeploying', 'deleting', 'error'],
  degraded: ['running', 'unhealthy', 'restarting', 'drifted', 'stopping', 'redeploying', 'deleting', 'error'],
  unhealthy: [
    'running',
    'degraded',
    'restarting',
    'crashloop',
    'drifted',
    'stopping',
    'redeploying',
    'deleting',
    'error',
  ],
  // A restart is a launch: it goes through starting, as any launch does.
  restarting: ['starting', 'crashloop', 'stopping', 'redeploying', 'deleting', 'error'],
  // A Kubernetes server in crashloop answers again once its pod is Ready: as what its probe finds.
  crashloop: ['restarting', 'running', 'degraded', 'drifted', 'stopping', 'redeploying', 'deleting', 'error'],
  drifted: ['running', 'degraded', 'unhealthy', 'restarting', 'stopping', 'redeploying', 'deleting', 'error'],
  stopping: ['stopped', 'deleting', 'error'],
  stopped: ['starting', 'building', 'redeploying', 'deleting'],
  redeploying: ['building', 'ready', 'starting', 'running', 'pending-governance', 'stopping', 'deleting', 'error'],
  'pending-governance': ['starting', 'redeploying', 'stopping', 'deleting', 'error'],
  // Virtual machines: provisioned, then running (trusted), waiting for attestation (unknown)
  // or blocked (untrusted: torn down, and left blocked — not overwritten by error).
  provisioning: ['running', 'pending-attestation', 'blocked', 'redeploying', 'stopping', 'deleting', 'error'],
  'pending-attestation': ['running', 'blocked', 'starting', 'redeploying', 'stopping', 'deleting', 'error'],
  blocked: ['starting', 'redeploying', 'stopping', 'stopped', 'deleting', 'error'],
  error: ['starting', 'building', 'redeploying', 'stopping', 'stopped', 'deleting'],
  deleting: [],
};

export function canTransition(from: ServerStatus, to: ServerStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export interface IntentVerdict {
  ok: boolean;
  /** Why the intent is refused, phrased for the operator. */
  reason?: string;
}

/**
 * Whether an intent makes sense from the current status. The API answers 409 with the reason
 * when it does not; repeating an intent already under way is refused the same way.
 */
export function checkIntent(status: ServerStatus, intent: ServerIntent): IntentVerdict {
  if (status === 'deleting') return { ok: false, reason: 'server is being deleted' };
  switch (intent) {
    case 'start':
      if (ACTIVE.includes(status)) return { ok: false, reason: `server is already ${status}` };
      if (status === 'stopping') return { ok: false, reason: 'server is stopping; start it once it has stopped' };
      return { ok: true };
    case 'stop':
      if (status === 'stopped' || status === 'stopping' || status === 'creating') {
        return { ok: false, reason: `server is not running (status ${status})` };
      }
      return { ok: true };
    case 'redeploy':
      if (status === 'redeploying') return { ok: false, reason: 'server is already redeploying' };
      if (status === 'stopping') return { ok: false, reason: 'server is stopping; redeploy it once it has stopped' };
      return { ok: true };
    case 'build':
      if (status === 'building') return { ok: false, reason: 'a build is already running' };
      if (status === 'stopping') return { ok: false, reason: 'server is stopping; build once it has stopped' };
      // A build ends in `ready`, which would misstate a workload that keeps running the old image:
      // a launched server is rebuilt by a redeploy, which builds and relaunches.
      if (!canTransition(status, 'building'))
        return { ok: false, reason: `server is ${status}: redeploy it to build and relaunch, or stop it first` };
      return { ok: true };
    case 'delete':
      return { ok: true };
  }
}

/** The status an accepted intent moves the server to first. */
export function firstStatusFor(intent: ServerIntent): ServerStatus {
  switch (intent) {
    case 'start':
      return 'starting';
    case 'stop':
      return 'stopping';
    case 'redeploy':
      return 'redeploying';
    case 'build':
      return 'building';
    case 'delete':
      return 'deleting';
  }
}
