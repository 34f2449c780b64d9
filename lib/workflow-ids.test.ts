import { describe, expect, it } from 'vitest';
import { workflowIdsFor, workflowIdsOf } from './workflow-ids.js';

describe('workflow ids', () => {
  const ids = workflowIdsFor('3f9c2a1b');

  it('carry the installation first, then the business key', () => {
    expect(ids.server(1)).toBe('3f9c2a1b/server/1');
    expect(ids.build(1, 'abcdef1234567890abcdef')).toBe('3f9c2a1b/build/1/abcdef123456');
    expect(ids.credentials('127.0.0.1:5000')).toBe('3f9c2a1b/credentials/127.0.0.1:5000');
    expect([ids.governance(2), ids.promotion(3), ids.certification(4)]).toEqual([
      '3f9c2a1b/governance/2',
      '3f9c2a1b/promotion/3',
      '3f9c2a1b/certification/4',
    ]);
  });

  it('are bare for an installation from before the id', () => {
    expect(workflowIdsFor('').server(1)).toBe('server/1');
  });

  it("name other workflows of the same installation from a workflow's own id", () => {
    expect(workflowIdsOf(ids.server(7)).build(7, 'abcdef1234567890')).toBe('3f9c2a1b/build/7/abcdef123456');
    expect(workflowIdsOf(ids.promotion(9)).governance(12)).toBe('3f9c2a1b/governance/12');
    expect(workflowIdsOf(ids.governance(12)).server(7)).toBe('3f9c2a1b/server/7');
    // Bare ids (and ids of no known shape) stay bare: recorded histories replay with the same commands.
    expect(workflowIdsOf('server/7').build(7, 'abcdef1234567890')).toBe('build/7/abcdef123456');
    expect(workflowIdsOf('promotion/9').governance(12)).toBe('governance/12');
    expect(workflowIdsOf('credentials-test-1').server(1)).toBe('server/1');
  });

  it('refuse an installation id of another shape', () => {
    expect(() => workflowIdsFor('Prod/1')).toThrow('not an installation id');
  });
});
