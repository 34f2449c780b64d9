// The first read of a workflow's own row (lib/creation-lock.ts, workflows/first-read.ts): the
// failure when the row is not there after its creator's lock.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../../lib/errors.js';

/**
 * Attempts (200 ms apart, growing to 3 s: about 30 s) after which a row missing after the lock is
 * final. Until then it is retried: an API from before the lock may commit later.
 */
const MISSING_ROW_ATTEMPTS = 15;

/** The failure for a row not found after the lock: retryable, or final from MISSING_ROW_ATTEMPTS on. */
export function rowMissing(what: string): ApplicationFailure {
  const attempt = currentAttempt();
  return attempt >= MISSING_ROW_ATTEMPTS
    ? ApplicationFailure.nonRetryable(
        `${what} does not exist: its creating transaction rolled back`,
        ErrorType.RowRolledBack,
      )
    : ApplicationFailure.retryable(`${what} is not visible yet`, ErrorType.RowNotYetVisible);
}

/** This activity attempt's number; 1 outside an activity (a script or a test calling it directly). */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
