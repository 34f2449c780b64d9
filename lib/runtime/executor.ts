// What every executor (Docker, Kubernetes, virtual machines) offers, whatever runs the workload:
// launch, stop, remove, logs (a tail and live), inspect. A server's workload is found through what
// was recorded when it launched (server_runtimes), never an in-memory cache, so all of this works
// after any restart of the API or the worker. The implementations live in activities/runtime/; the
// API reaches them only through this interface.
import type { Backend, ExecutorDescriptor } from '../policy/decide.js';
import type { ConfigValues } from '../schemas/secrets.js';

export type { Backend };

/** A launch on a container executor (Docker, Kubernetes): the image the policy decision named. */
export interface LaunchInput {
  serverId: number;
  decisionId: number;
  image: string;
  useGpu: boolean;
  config: ConfigValues;
}

export interface Launched {
  workload: string;
  /** The Streamable HTTP URL; null while it is not known yet. */
  endpoint: string | null;
  /** How clients reach the server: every container executor serves stdio images through the stdio bridge. */
  transport: 'streamable-http' | 'stdio';
  /** Set when the image speaks stdio and the stdio bridge serves it as Streamable HTTP. */
  bridgedFrom?: 'stdio';
}

/** Where a server was recorded to run. */
export interface RecordedWorkload {
  serverId: number;
  backend: Backend;
  /** The container, pod or VM instance. */
  workload: string;
  transport: 'streamable-http' | 'stdio';
  /** The Streamable HTTP URL; null while it is not known yet (and for stdio servers launched before the stdio bridge). */
  endpoint: string | null;
}

/** A workload as its executor sees it now. */
export interface WorkloadState {
  /** `exited` will not answer again without a new launch; `gone` is no longer there at all. */
  state: 'running' | 'starting' | 'exited' | 'gone';
  reason: string;
}

/** Live log lines of a workload; `stop` ends them (the client went away). */
export interface LogFollow {
  lines: AsyncIterable<string>;
  stop(): void;
  /** Said to the client once the lines end. */
  endReason: string;
}

/** The workload has written nothing yet (not scheduled, not started): a 409, not a fault. */
export class NoLogsYet extends Error {
  override readonly name = 'NoLogsYet';
}

/** The executor could not be asked for the logs: a 502. */
export class LogsUnavailable extends Error {
  override readonly name = 'LogsUnavailable';
}

export interface Executor<LaunchIn = never, LaunchOut = unknown> {
  readonly backend: Backend;
  /** What this executor offers now; undefined when it cannot take launches (not configured, not answering). */
  describe(): Promise<ExecutorDescriptor | undefined>;
  /** Starts the server's workload, replacing an earlier one, and records where it runs. */
  launch(input: LaunchIn): Promise<LaunchOut>;
  /** Stops the workload; its record stays, so the next start finds where it ran. */
  stop(workload: RecordedWorkload): Promise<void>;
  /** Removes the workload and everything the executor made for the server. */
  remove(workload: RecordedWorkload): Promise<void>;
  /**
   * Removes what the server may have left on this executor although its record names another (a
   * VM torn down after failed attestation, its launch routed to Docker). Absent: nothing is left.
   */
  removeStray?(serverId: number): Promise<void>;
  /** The last `tail` lines of the workload's output (the executor's default when omitted). */
  logs(workload: RecordedWorkload, options: { tail?: number }): Promise<string>;
  /** The workload's output as it is written, from `tail` lines back; null when it has no live log. */
  followLogs(workload: RecordedWorkload, options: { tail?: number }): Promise<LogFollow | null>;
  inspect(workload: RecordedWorkload): Promise<WorkloadState>;
  /**
   * Resolves once the workload is no longer running (at once when it is not), with why; `signal`
   * ends the wait. Absent: the supervisor asks `inspect` every few seconds instead.
   */
  awaitExit?(workload: RecordedWorkload, signal: AbortSignal): Promise<WorkloadState>;
}

/** Every executor of this installation, and where each server runs. */
export interface ExecutorRegistry {
  all(): readonly Executor[];
  /** Where the server was recorded to run, with the executor that runs it; undefined when never launched. */
  find(serverId: number): Promise<{ executor: Executor; workload: RecordedWorkload } | undefined>;
}
