// Finding the build run to follow, and following its log to the end.
//
// A build intent is answered (202) before its run exists: the server's workflow queues it behind
// any intent under way, moves to `building`, resolves the branch to a revision, and only then opens
// the run (`build_artifact_runs`). So `builds start --watch` follows the server's status events from
// before its request: the first move to `building` once earlier work has settled is its build, and
// the run opened after that move is its run; a settled status before a run opens means the build
// ended without one (an `error` naming why, e.g. a missing branch).
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import type { BuildLogLine, BuildRun } from '../lib/schemas/builds.js';
import type { Server, ServerEvent } from '../lib/schemas/servers.js';
import type { ApiClient } from './client.js';
import { followStream, parseData, retryable } from './follow.js';
import { ApiHttpError, CliError } from './handle-error.js';
import { plain } from './output.js';
import { isServerEvent } from './watch.js';

export type LogLine = z.infer<typeof BuildLogLine>;

/** Statuses in which the server may still open a build run. */
const MAY_BUILD: readonly string[] = ['creating', 'starting', 'redeploying', 'building'];
/** Statuses of work under way, which a new intent waits behind. */
const BUSY: readonly string[] = [...MAY_BUILD, 'stopping', 'deleting'];

/** `[platform] line`, `[build]` for the lines of the run as a whole; one terminal line each. */
export function logLineText(line: Pick<LogLine, 'platform' | 'line'>): string {
  return `[${plain(line.platform ?? 'build')}] ${plain(line.line)}`.trimEnd();
}

/** Undefined for a run that succeeded, otherwise the one-line reason it did not. */
export function runFailure(run: Pick<BuildRun, 'id' | 'status' | 'failure_reason'>): string | undefined {
  if (run.status === 'succeeded') return undefined;
  if (run.status === 'running') return `build ${run.id} is still running`;
  return `build ${run.id} ${run.status}: ${plain(run.failure_reason ?? 'no reason recorded')}`;
}

/** The newest run of a server, if it has any. */
export async function newestRun(client: ApiClient, serverId: number): Promise<BuildRun | undefined> {
  return (await client.get<BuildRun[]>(`/api/servers/${serverId}/builds?limit=1`))[0];
}

async function getServer(client: ApiClient, serverId: number, gone: string): Promise<Server> {
  try {
    return await client.get<Server>(`/api/servers/${serverId}`);
  } catch (err) {
    if (err instanceof ApiHttpError && err.status === 404) throw new CliError(gone);
    throw err;
  }
}

const failedEarly = (serverId: number, reason: string | null) =>
  new CliError(
    `the build of server ${serverId} failed before a build run opened: ${plain(reason ?? 'no reason recorded')}`,
  );

export interface StartBuildOptions {
  /** Sends the build intent; called once the status events are subscribed to. */
  start: () => Promise<void>;
  /** Bounds the wait for the run to open, counted from when the build's turn comes. */
  timeoutMs: number;
  pollMs?: number;
  onNote: (note: string) => void;
}

/** Sends a build intent (`start`) and answers the build run it opens. */
export async function startBuildAndFindRun(
  client: ApiClient,
  serverId: number,
  opts: StartBuildOptions,
): Promise<BuildRun> {
  const pollMs = opts.pollMs ?? 1000;
  const events: ServerEvent[] = [];
  let subscribed = false;
  let streamEnded = false;
  let streamError: unknown;
  let wake: (() => void) | undefined;
  const stop = new AbortController();

  const follower = followStream(client, {
    path: `/api/servers/stream?server_id=${serverId}`,
    stop: stop.signal,
    onNote: opts.onNote,
    onFrame: (frame) => {
      if (frame.event === 'ready') subscribed = true;
      else if (frame.event === 'status' || frame.event === 'deleted') {
        const event = parseData(frame, isServerEvent);
        if (frame.event === 'deleted') event.status = 'deleted';
        events.push(event);
      }
      wake?.();
    },
  }).then(
    () => {
      streamEnded = true;
    },
    (err: unknown) => {
      streamEnded = true;
      streamError = err;
    },
  );
  /** Until an event, the end of the stream, or `ms`. */
  const pause = async (ms: number) => {
    const timer = new AbortController();
    await Promise.race([
      new Promise<void>((resolve) => (wake = resolve)),
      sleep(ms, undefined, { signal: timer.signal }).catch(() => {}),
    ]);
    timer.abort();
    wake = undefined;
  };
  const rethrowStreamEnd = () => {
    if (streamError !== undefined) throw streamError;
    if (streamEnded) throw new CliError(`the status stream of server ${serverId} ended`);
  };

  try {
    while (!subscribed) {
      rethrowStreamEnd();
      await pause(pollMs);
    }
    // Subscribed: every status change from here on arrives as an event.
    const server = await getServer(client, serverId, `server ${serverId} not found`);
    const before = await newestRun(client, serverId);
    await opts.start();

    // earlier: work under way when the build was asked for; queued: the build's turn has come but it has
    // not moved to `building` yet; ours: it has, at `since`, and the next run opened is the build's.
    let phase: 'earlier' | 'queued' | 'ours' = BUSY.includes(server.status) ? 'earlier' : 'queued';
    if (phase === 'earlier') opts.onNote(`server ${serverId} is ${server.status}; the build starts once that is done`);
    let since = '';
    let deadline = phase === 'queued' ? Date.now() + opts.timeoutMs : Infinity;
    let lastStatus: string = server.status;
    const ours = async () => {
      const run = await newestRun(client, serverId);
      return run && run.id > (before?.id ?? 0) && run.started_at >= since ? run : undefined;
    };

    for (;;) {
      for (let event = events.shift(); event; event = events.shift()) {
        lastStatus = event.status;
        if (event.status === 'deleted')
          throw new CliError(`server ${serverId} was deleted before its build run opened`);
        const settled = !BUSY.includes(event.status);
        if (phase === 'earlier') {
          if (settled) {
            phase = 'queued';
            deadline = Date.now() + opts.timeoutMs;
          }
        } else if (phase === 'queued') {
          if (event.status === 'building') {
            phase = 'ours';
            since = event.at;
          }
        } else if (settled) {
          // The build is over; its run may have opened (and closed) since the last look.
          const run = await ours();
          if (run) return run;
          if (event.status === 'error') throw failedEarly(serverId, event.reason);
          throw new CliError(
            `the build of server ${serverId} ended before a build run opened (server ${event.status})`,
          );
        }
      }
      rethrowStreamEnd();
      if (phase === 'ours') {
        try {
          const run = await ours();
          if (run) return run;
        } catch (err) {
          if (!retryable(err)) throw err; // a passing outage: look again next time
        }
      }
      if (Date.now() >= deadline) {
        throw new CliError(
          `timed out after ${opts.timeoutMs / 1000}s waiting for the build run of server ${serverId} to open (server status: ${lastStatus}); ` +
            'a longer --timeout waits longer',
        );
      }
      await pause(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    }
  } finally {
    stop.abort();
    await follower;
  }
}

export interface WaitForRunOptions {
  /** Only a run with a larger id counts (0: any). */
  afterRunId: number;
  /** The server's `updated_at` when the wait began: a later `error` means the build ended without a run. */
  serverUpdatedAt: string;
  /** Bounds the wait for the run to open, not the build. */
  timeoutMs: number;
  pollMs?: number;
}

/**
 * The first run newer than `afterRunId`, polling while the server may still open one; undefined when
 * it settles without one (an `error` newer than the wait fails, naming its reason).
 */
export async function waitForRun(
  client: ApiClient,
  serverId: number,
  opts: WaitForRunOptions,
): Promise<BuildRun | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const fresh = async () => {
    const run = await newestRun(client, serverId);
    return run && run.id > opts.afterRunId ? run : undefined;
  };
  for (;;) {
    const run = await fresh();
    if (run) return run;
    const server = await getServer(client, serverId, `server ${serverId} was deleted before a build run opened`);
    if (!MAY_BUILD.includes(server.status)) {
      // The run may have opened (and closed) between the two requests.
      const late = await fresh();
      if (late) return late;
      if (server.status === 'error' && server.updated_at !== opts.serverUpdatedAt)
        throw failedEarly(serverId, server.status_reason);
      return undefined;
    }
    if (Date.now() >= deadline) {
      throw new CliError(
        `timed out after ${opts.timeoutMs / 1000}s waiting for a build run of server ${serverId} to open (server status: ${server.status}); ` +
          'a longer --timeout waits longer',
      );
    }
    await sleep(Math.min(opts.pollMs ?? 1000, Math.max(0, deadline - Date.now())));
  }
}

/**
 * The run `builds watch --server` follows: the newest, unless the server is building and that run
 * is from before (it opened before the server's latest status change): then the one being opened.
 */
export async function runToWatch(
  client: ApiClient,
  serverId: number,
  opts: { timeoutMs: number; pollMs?: number; onNote: (note: string) => void },
): Promise<BuildRun> {
  const server = await getServer(client, serverId, `server ${serverId} not found`);
  if (server.source.type === 'image')
    throw new CliError(`server ${serverId} runs an image; only servers with a git or package source are built`);
  let run = await newestRun(client, serverId);
  const current = run && (run.status === 'running' || run.started_at >= server.updated_at);
  if (MAY_BUILD.includes(server.status) && !current) {
    opts.onNote(`server ${serverId} is ${server.status}; waiting for its build run to open`);
    const next = await waitForRun(client, serverId, {
      afterRunId: run?.id ?? 0,
      serverUpdatedAt: server.updated_at,
      ...opts,
    });
    if (next) run = next;
    else {
      run = await newestRun(client, serverId);
      if (run) opts.onNote(`server ${serverId} settled without opening a build run; following its newest`);
    }
  }
  if (!run)
    throw new CliError(`server ${serverId} has no build runs; start one with \`mcpctl builds start ${serverId}\``);
  return run;
}

export interface FollowLogOptions {
  onLine: (line: LogLine) => void;
  onNote: (note: string) => void;
}

/** Prints the run's log from its first line until `event: end`, then answers the run as it ended. */
export async function followBuildLog(client: ApiClient, runId: number, opts: FollowLogOptions): Promise<BuildRun> {
  await followStream(client, {
    path: `/api/builds/${runId}/logs/stream`,
    onNote: opts.onNote,
    onFrame: (frame) => {
      if (frame.event === 'log') opts.onLine(parseData(frame, isLogLine));
      return frame.event === 'end';
    },
  });
  return client.get<BuildRun>(`/api/builds/${runId}`);
}

function isLogLine(value: unknown): value is LogLine {
  const line = value as LogLine | null;
  return (
    typeof line === 'object' &&
    line !== null &&
    typeof line.line === 'string' &&
    (line.platform === null || typeof line.platform === 'string')
  );
}
