import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { dependencyUnavailable, handleError } from './errors.js';

describe('dependencyUnavailable: outages are 503s, not 500s', () => {
  it.each([
    [
      'postgres refused',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      'database',
    ],
    [
      'postgres shutting down',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      'database',
    ],
    [
      'postgres.js connection closed',
      Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }),
      'database',
    ],
    [
      'temporal unavailable, wrapped',
      Object.assign(new Error('Failed to start workflow'), {
        name: 'ServiceError',
        cause: Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }),
      }),
      'temporal',
    ],
    ['temporal deadline', Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4 }), 'temporal'],
  ])('%s', (_name, err, expected) => {
    expect(dependencyUnavailable(err)).toBe(expected);
  });

  it.each([
    ['a unique violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a not-found from Temporal', Object.assign(new Error('5 NOT_FOUND'), { code: 5 })],
    ['a plain bug', new TypeError('x is undefined')],
  ])('%s is not an outage', (_name, err) => {
    expect(dependencyUnavailable(err)).toBeUndefined();
  });
});

describe('handleError: a workflow id Temporal already holds', () => {
  it('is a 409 naming the id, not a 500', async () => {
    const app = new Hono();
    app.post('/api/servers', () => {
      throw new WorkflowExecutionAlreadyStartedError(
        'Workflow execution already started',
        'server/1',
        'serverLifecycle',
      );
    });
    app.onError((err, c) => handleError(err, c, createLogger('test', 'silent')));
    const res = await app.request('/api/servers', { method: 'POST' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('workflow_exists');
    expect(body.error.message).toContain('server/1');
  });
});
