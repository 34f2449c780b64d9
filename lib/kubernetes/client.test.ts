import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubeError, kubeStatus } from './client.js';

describe('kubeError', () => {
  it("keeps the status code and the API server's message, not the body or headers client-node prints", () => {
    const body = JSON.stringify({
      kind: 'Status',
      message: 'secrets "pull" is forbidden',
      reason: 'Forbidden',
      details: { data: 'eyJhdXRocyI6e319' },
    });
    const err = new ApiException(
      403,
      `HTTP-Code: 403 Message: Unknown API Status Code! Body: ${body} Headers: {"authorization":"Bearer t0ken"}`,
      body,
      { authorization: 'Bearer t0ken' },
    );
    const out = kubeError('patching secret mcp/pull', err);
    expect(out.message).toBe('patching secret mcp/pull: HTTP 403 secrets "pull" is forbidden');
    expect(out.message).not.toContain('eyJhdXRocyI6e319');
    expect(out.message).not.toContain('t0ken');
    expect(kubeStatus(err)).toBe(403);
  });

  it('names the transport error of an API server that is not there, on one line', () => {
    const err = Object.assign(
      new Error('request to https://127.0.0.1:6443/api failed, reason: connect ECONNREFUSED\nstack'),
      { code: 'ECONNREFUSED' },
    );
    expect(kubeError('reading pod p', err).message).toBe(
      'reading pod p: ECONNREFUSED request to https://127.0.0.1:6443/api failed, reason: connect ECONNREFUSED',
    );
    expect(kubeStatus(err)).toBeUndefined();
  });
});
