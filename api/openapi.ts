// Route-declaration helpers: every route is declared once, with zod schemas that both validate the
// request and generate the OpenAPI document. The document is linted by Redocly in `npm test`
// (npm run lint:openapi, redocly.yaml) and the web console's typed client is generated from it.
import { createRoute, OpenAPIHono, type RouteConfig, type z } from '@hono/zod-openapi';
import { ErrorBody } from '../lib/schemas/common.js';
import type { AppEnv } from './context.js';
import { describeZodError, errorBody } from './errors.js';

export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return undefined;
      const { message, field } = describeZodError(result.error);
      // A bad path id is a malformed request; a bad body or query is an unprocessable one.
      const status = result.target === 'param' ? 400 : 422;
      return c.json(errorBody(status === 400 ? 'invalid_path' : 'validation_failed', message, field), status);
    },
  });
}

/**
 * Declare a route: `createRoute` with an `operationId` required, since the console's generated client
 * and the reference page name operations by it (camelCase verb + noun, unique: `listServers`).
 * Every /api route needs a bearer token (the document's default `security`); a route that takes
 * none (a probe, a signed webhook) says `security: []`. api/routes/ uses this, never createRoute
 * (eslint.config.js enforces it).
 */
export function defineRoute<P extends string, R extends Omit<RouteConfig, 'path'> & { path: P; operationId: string }>(
  config: R,
) {
  return createRoute(config);
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { content: { 'application/json': { schema } }, required: true } as const;
}

/** A JSON body that may be left out (then validated as `{}`). */
export function optionalJsonBody<T extends z.ZodType>(schema: T) {
  return { content: { 'application/json': { schema } }, required: false } as const;
}

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { 'application/json': { schema } }, description } as const;
}

const error = (description: string) => ({ content: { 'application/json': { schema: ErrorBody } }, description });

/** The error answers every authenticated route may give. */
export const commonErrors = {
  400: error('Malformed request: invalid JSON or path id'),
  401: error('Missing, invalid, expired or revoked token'),
  403: error('Your role does not allow this'),
  422: error('The body or query failed validation; `field` names the culprit'),
} as const;

export const notFoundError = { 404: error('Not found, or not yours') } as const;
export const conflictError = { 409: error('Not allowed in the current state') } as const;
export const unavailableError = { 503: error('A dependency (Temporal worker) did not answer in time') } as const;
export const rateLimitedError = { 429: error('Too many requests; `Retry-After` says when to try again') } as const;
export const tooLargeError = { 413: error('Request body too large') } as const;
/** Node's HTTP parser answers this (api/server.ts) before any route runs: the one 4xx a probe can get. */
export const headersTooLargeError = { 431: error('Request line or headers too large (the URL included)') } as const;
