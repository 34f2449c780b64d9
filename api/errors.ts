// One mapping from every failure to `{error: {code, message, field?}}`. Driver and stack text never leaks.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError, type z } from 'zod';
import { isPgError, PgCode } from '../lib/db.js';
import { ApiError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export function errorBody(code: string, message: string, field?: string) {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

/** The first zod issue, named by its dotted path (unknown keys are named themselves). */
export function describeZodError(error: ZodError | z.core.$ZodError): { message: string; field?: string } {
  const issue = error.issues[0];
  if (!issue) return { message: 'invalid request' };
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const field = [...path, key].join('.');
    return { field, message: `${field}: unknown field` };
  }
  const field = path.length > 0 ? path.join('.') : undefined;
  return { field, message: field ? `${field}: ${issue.message}` : issue.message };
}

/** Postgres connection failures and shutdowns; Temporal's gRPC UNAVAILABLE / DEADLINE_EXCEEDED. */
const PG_DOWN = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
]);
export function dependencyUnavailable(err: unknown): 'database' | 'temporal' | undefined {
  for (
    let cur = err as { code?: unknown; cause?: unknown; name?: string } | undefined, depth = 0;
    cur && depth < 5;
    cur = cur.cause as typeof cur, depth++
  ) {
    if (typeof cur.code === 'string' && PG_DOWN.has(cur.code)) return 'database';
    if (cur.name === 'ConnectionError' || cur.code === 14 || cur.code === 4) return 'temporal';
  }
  return undefined;
}

export function handleError(err: unknown, c: Context, log: Logger): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.field), err.status);
  }
  if (err instanceof ZodError) {
    const { message, field } = describeZodError(err);
    return c.json(errorBody('validation_failed', message, field), 422);
  }
  // Postgres refuses NUL characters in text and JSON; that is bad input, not a server fault.
  if (isPgError(err, PgCode.characterNotInRepertoire) || isPgError(err, PgCode.untranslatableCharacter)) {
    return c.json(errorBody('invalid_characters', 'a value contains a NUL or otherwise unstorable character'), 422);
  }
  // A workflow id Temporal already holds: the namespace keeps the workflows of another installation
  // or of an earlier database. Nothing was created (the row's transaction rolled back).
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    log.warn({ workflowId: err.workflowId, path: c.req.path }, 'workflow id already taken in the Temporal namespace');
    return c.json(
      errorBody(
        'workflow_exists',
        `Temporal already holds a workflow ${err.workflowId} (another installation's, or an earlier database's, on this namespace); nothing was created`,
      ),
      409,
    );
  }
  // A dependency that is down (restarting, failing over) is a 503 the client may retry, not a 500.
  const unavailable = dependencyUnavailable(err);
  if (unavailable) {
    log.warn({ err: (err as Error).message, path: c.req.path, dependency: unavailable }, 'dependency unavailable');
    return c.json(
      errorBody(
        `${unavailable}_unavailable`,
        `${unavailable === 'database' ? 'the database' : 'Temporal'} is unavailable; retry shortly`,
      ),
      503,
      { 'Retry-After': '2' },
    );
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    if (status === 413) return c.json(errorBody('payload_too_large', 'request body is too large'), 413);
    if (status === 400) return c.json(errorBody('invalid_json', 'request body is not valid JSON'), 400);
    if (status >= 400 && status < 500) return c.json(errorBody('bad_request', err.message || 'bad request'), status);
  }
  log.error({ err, path: c.req.path, method: c.req.method }, 'unhandled error');
  return c.json(errorBody('internal', 'internal error; see the server log for the request id'), 500);
}
