// Request rates as operators write them (`600/min`, `10/s`, `600/min,burst=50`): a token bucket's
// refill per second and its capacity. The burst defaults to one period's worth of requests.
export interface Rate {
  /** Tokens added per second. */
  perSecond: number;
  /** The bucket's capacity: requests that may come at once after a quiet period. */
  burst: number;
}

const PERIODS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 };

const RATE = /^(\d{1,9})\s*\/\s*([a-z]+)(?:\s*,\s*burst\s*=\s*(\d{1,9}))?$/;

/** The rate, or undefined when the text is not one. */
export function parseRate(text: string): Rate | undefined {
  const match = RATE.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const count = Number(match[1]);
  const period = PERIODS[match[2]!];
  const burst = match[3] === undefined ? count : Number(match[3]);
  if (period === undefined || count < 1 || burst < 1) return undefined;
  return { perSecond: count / period, burst };
}
