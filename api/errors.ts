// One mapping from every failure to `{error: {code, message, field?}}`. Driver and stack text never leaks.
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
  if (err instanceof HTTPException) {
    const status = err.status;
    if (status === 413) return c.json(errorBody('payload_too_large', 'request body is too large'), 413);
    if (status === 400) return c.json(errorBody('invalid_json', 'request body is not valid JSON'), 400);
    if (status >= 400 && status < 500) return c.json(errorBody('bad_request', err.message || 'bad request'), status);
  }
  log.error({ err, path: c.req.path, method: c.req.method }, 'unhandled error');
  return c.json(errorBody('internal', 'internal error; see the server log for the request id'), 500);
}
