import { describe, expect, it } from 'vitest';
import { parseRate } from './rate.js';

describe('rates', () => {
  it('reads requests per second, minute or hour, with an optional burst', () => {
    expect(parseRate('10/s')).toEqual({ perSecond: 10, burst: 10 });
    expect(parseRate('600/min')).toEqual({ perSecond: 10, burst: 600 });
    expect(parseRate(' 120 / minute , burst = 5 ')).toEqual({ perSecond: 2, burst: 5 });
    expect(parseRate('3600/hour')).toEqual({ perSecond: 1, burst: 3600 });
  });

  it('refuses what is not a rate', () => {
    for (const bad of ['', '10', '0/s', '10/fortnight', '-1/s', '1.5/s', '10/s,burst=0', '10/s burst=2'])
      expect(parseRate(bad), bad).toBeUndefined();
  });
});
