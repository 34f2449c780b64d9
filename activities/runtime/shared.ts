// What the executors share: a cached probe of what they offer, log text cut into lines, and a
// server's resource limits.
import { ApplicationFailure } from '@temporalio/activity';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import type { ExecutorDescriptor } from '../../lib/policy/decide.js';
import { ResourceLimitError, serverResources, type ServerResources } from '../../lib/runtime/resources.js';
import type { ConfigValues } from '../../lib/schemas/secrets.js';

/** What an executor offers changes rarely: ask at most every few seconds, not on every decision. */
const EXECUTOR_TTL_MS = 5_000;

/** Caches an executor probe for EXECUTOR_TTL_MS. */
export function cachedProbe(probe: () => Promise<ExecutorDescriptor | undefined>) {
  let cached: { at: number; executor: ExecutorDescriptor | undefined } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > EXECUTOR_TTL_MS) cached = { at: Date.now(), executor: await probe() };
    return cached.executor;
  };
}

/** The complete lines of a text stream, newlines dropped; a last line without one is not sent. */
export async function* linesOf(text: NodeJS.ReadableStream): AsyncGenerator<string> {
  let buffer = '';
  for await (const chunk of text) {
    buffer += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
}

/** The limits `workload` launches with; config over the operator maximum fails the launch (no retry helps). */
export function launchResources(
  workload: string,
  config: ConfigValues,
  env: Env,
): ServerResources {
  try {
    return serverResources(config, env);
  } catch (err) {
    if (err instanceof ResourceLimitError)
      throw ApplicationFailure.nonRetryable(`${workload} not launched: ${err.message}`, ErrorType.LaunchFailed);
    throw err;
  }
}
