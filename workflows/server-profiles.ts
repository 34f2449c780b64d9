// How the server workflow calls its activities: one profile per kind of work, each with the
// timeouts and retries that work needs.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';

/** Ledger writes: quick, retried until the database answers; a server that is gone stays gone. */
export const ledger = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s', nonRetryableErrorTypes: [ErrorType.ServerNotFound] },
});

/** git ls-remote: a wrong URL or branch will not fix itself; network trouble might. */
export const git = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [ErrorType.GitSourceInvalid] },
});

/** Resolving a package's version at its registry: a missing package will not appear; a registry away might come back. */
export const packages = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 5, initialInterval: '2s', nonRetryableErrorTypes: [ErrorType.BuildFailed] },
});

/**
 * Deciding, launching, stopping and removing: pulls and starts a container (a side effect that
 * replaces the previous one, so safe to retry). Attempts are spaced out (2 s, 4 s, 8 s, …) so a
 * database or daemon that is restarting is waited out rather than turning the server to error.
 */
export const runtime = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: {
    maximumAttempts: 5,
    initialInterval: '2s',
    nonRetryableErrorTypes: [ErrorType.LaunchFailed, ErrorType.ServerNotFound],
  },
});

/** A server needs a moment to answer: keep asking for about half a minute before calling it unhealthy. */
export const health = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 1.5,
    maximumInterval: '5s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [ErrorType.WorkloadExited, ErrorType.LaunchFailed],
  },
});

/**
 * Provisioning a VM: the hypervisor boots it and attests it. A refused request or an answer the
 * client cannot use will not fix itself; an unreachable hypervisor might.
 */
export const vm = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: [
      ErrorType.HypervisorRejected,
      ErrorType.HypervisorInvalidResponse,
      ErrorType.ServerNotFound,
    ],
  },
});

/**
 * Waiting for a pod to become ready: as long as K8S_READY_TIMEOUT_SECONDS (the activity answers
 * `timeout` itself); heartbeats carry a stop's cancellation.
 */
export const pods = proxyActivities<Activities>({
  startToCloseTimeout: '25h',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** A health probe and the settings: a failed probe is a result; these retry only the ledger and the registry. */
export const supervisor = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes: [ErrorType.ServerNotFound] },
});

/**
 * Waiting for the workload to exit: as long as it runs; the heartbeats carry the supervisor's
 * cancellation, and their timeout hands the wait to another worker within seconds of a crash.
 */
export const exits = proxyActivities<Activities>({
  startToCloseTimeout: '30d',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '10s' },
});
