import { describe, expect, it } from 'vitest';
import { refusalReasons, waitingFor } from './notes.js';

describe('waitingFor', () => {
  it('names the missing certification and the promotion a held launch waits for', () => {
    const notes = [
      'evaluation:missing-certification:gold:Router:smoke',
      'evaluation:required',
      'governance:track:prod:launch-stage:production',
      'promotion:missing:prod:production',
      'governance:required',
      'executor:docker:capabilities-satisfied:image-build',
    ];
    expect(waitingFor(notes)).toEqual([
      'evaluation:missing-certification:gold:Router:smoke',
      'promotion:missing:prod:production',
    ]);
  });

  it('leaves out what is already met or only informs', () => {
    const notes = [
      'evaluation:certified:gold:Router:smoke',
      'evaluation:provenance:gold:Router:smoke:{}',
      'evaluation:satisfied',
      'evaluation:not-required',
      'governance:satisfied:prod',
      'governance:not-required',
    ];
    expect(waitingFor(notes)).toEqual([]);
  });

  it('keeps a stale or failed certification, where a promotion stands, and the VM attestation requirement', () => {
    const notes = [
      'promotion:status:prod:staging:active',
      'evaluation:stale:gold:Router:smoke:missing-next-refresh',
      'evaluation:failed:gold:Router:smoke',
      'evaluation:required:vm-attestation',
    ];
    expect(waitingFor(notes)).toEqual(notes);
  });
});

describe('refusalReasons', () => {
  it('names what is unsatisfied, unusable, missing or unavailable', () => {
    const notes = [
      'capabilities:unsatisfied:docker:gpu',
      'artifact:unusable:failed',
      'evaluation:missing-manifest',
      'executor:unavailable:kubernetes',
      'runtime_override:kubernetes',
      'evaluation:not-required',
    ];
    expect(refusalReasons(notes)).toEqual(notes.slice(0, 4));
  });

  it('is empty when no note says why', () => {
    expect(refusalReasons(['evaluation:not-required', 'governance:not-required'])).toEqual([]);
  });
});
