import { describe, expect, it } from 'vitest';
import { canTransition, checkIntent, firstStatusFor, SERVER_STATUSES, type ServerStatus } from './server-status.js';

describe('server status state machine', () => {
  it('never leaves deleting, and every status can be deleted', () => {
    for (const to of SERVER_STATUSES) expect(canTransition('deleting', to)).toBe(false);
    for (const from of SERVER_STATUSES.filter((s) => s !== 'deleting'))
      expect(canTransition(from, 'deleting')).toBe(true);
  });

  it('refuses jumps an operator would find absurd', () => {
    expect(canTransition('stopped', 'running')).toBe(false); // must start first
    expect(canTransition('stopped', 'stopping')).toBe(false);
    expect(canTransition('running', 'starting')).toBe(false);
    expect(canTransition('stopping', 'running')).toBe(false);
    expect(canTransition('stopped', 'provisioning')).toBe(false); // a VM is provisioned by a launch
    expect(canTransition('blocked', 'running')).toBe(false); // an untrusted VM was torn down
  });

  it('allows the first status of each accepted intent from where the intent is accepted', () => {
    for (const from of SERVER_STATUSES) {
      for (const intent of ['start', 'stop', 'redeploy', 'build', 'delete'] as const) {
        if (checkIntent(from, intent).ok)
          expect(canTransition(from, firstStatusFor(intent)), `${from} ${intent}`).toBe(true);
      }
    }
  });

  it.each<[ServerStatus, 'start' | 'stop' | 'redeploy' | 'build' | 'delete', boolean]>([
    ['stopped', 'start', true],
    ['error', 'start', true],
    ['starting', 'start', false],
    ['running', 'start', false],
    ['stopping', 'start', false],
    ['running', 'stop', true],
    ['pending-governance', 'stop', true],
    ['stopped', 'stop', false],
    ['stopping', 'stop', false],
    ['running', 'redeploy', true],
    ['stopping', 'redeploy', false],
    ['deleting', 'delete', false],
    ['deleting', 'start', false],
    ['creating', 'delete', true],
    ['provisioning', 'start', false],
    ['pending-attestation', 'start', false],
    ['pending-attestation', 'stop', true],
    ['blocked', 'start', true],
    ['blocked', 'stop', true],
    ['blocked', 'redeploy', true],
    ['stopped', 'build', true],
    ['ready', 'build', true],
    ['error', 'build', true],
    ['building', 'build', false],
    // A launched workload is rebuilt by a redeploy: a build alone would end in ready while it runs.
    ['running', 'build', false],
    ['degraded', 'build', false],
    ['crashloop', 'build', false],
    ['pending-governance', 'build', false],
  ])('%s + %s → %s', (status, intent, ok) => {
    const verdict = checkIntent(status, intent);
    expect(verdict.ok).toBe(ok);
    if (!ok) expect(verdict.reason).toMatch(/\w/);
  });
});
