// A small HTTP client for tests: status, parsed JSON body, raw text. Every JSON answer is checked
// against the route's declared response schema (the OpenAPI document's source).
import { contractViolation } from './response-contract.js';

export interface HttpResult<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export function httpClient(baseUrl: string) {
  return async function call<T = any>(
    method: string,
    path: string,
    opts: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
  ): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const violation = contractViolation(method, baseUrl + path, res.status, res.headers.get('content-type'), parsed);
    if (violation) throw new Error(`response does not match the OpenAPI declaration: ${violation}`);
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  };
}

/** Collects SSE frames from a stream until stopped. */
export function collectSse(url: string, token: string, headers: Record<string, string> = {}) {
  const frames: { event?: string; id?: string; data?: any }[] = [];
  const controller = new AbortController();
  const done = (async () => {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      signal: controller.signal,
    });
    if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: { event?: string; id?: string; data?: any } = {};
          for (const line of raw.split('\n')) {
            if (line.startsWith(':')) continue;
            const [key, ...rest] = line.split(':');
            const value = rest.join(':').replace(/^ /, '');
            if (key === 'event') frame.event = value;
            else if (key === 'id') frame.id = value;
            else if (key === 'data') frame.data = JSON.parse(value);
          }
          if (frame.event) frames.push(frame);
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  return {
    frames,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

/**
 * Polls `fn` until it returns a value. On timeout the error carries `diagnose()`'s account of the
 * state waited on, so a failed run says what it saw instead of only what it wanted.
 */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
  diagnose?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = diagnose
        ? await diagnose().then(
            (text) => `; seen:\n${text}`,
            (err: Error) => `; (the diagnosis failed too: ${err.message})`,
          )
        : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls a server until its status is one of `statuses`; returns the server. */
export function waitForStatus(
  call: ReturnType<typeof httpClient>,
  token: string,
  id: number,
  statuses: string[],
  what: string,
  timeoutMs = 240_000,
) {
  return eventually(
    async () => {
      const s = (await call('GET', `/api/servers/${id}`, { token })).body;
      return statuses.includes(s.status) ? s : undefined;
    },
    timeoutMs,
    what,
  );
}
