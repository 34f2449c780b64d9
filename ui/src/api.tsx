// The typed client: generated from the API's own OpenAPI document (npm run ui:client writes
// api-schema.d.ts), so a route or schema change that the console does not follow fails its type
// check. The token lives in sessionStorage only (gone with the tab) and travels in the
// Authorization header — never in a URL, where logs and history would keep it.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './api-schema';

export type Schemas = components['schemas'];
const TOKEN_KEY = 'mcp-host.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer that was not 2xx, with the API's error body (`{error: {code, message, field?}}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const t = token.get();
    if (t) request.headers.set('authorization', `Bearer ${t}`);
    return request;
  },
};

export const client = createClient<paths>({ baseUrl: window.location.origin });
client.use(auth);

/** Unwraps an openapi-fetch result: the data, or an ApiError the error display shows. */
export async function call<T>(promise: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await promise;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: { code?: string; message?: string; field?: string } };
  throw new ApiError(
    response.status,
    body.error?.code ?? 'http_error',
    body.error?.message ?? `HTTP ${response.status}`,
    body.error?.field,
  );
}

/**
 * Follows a server-sent event stream with the token in a header (EventSource cannot send one, and
 * the token must not go in the URL). Reconnects with Last-Event-ID until the signal aborts; ends
 * when the server sends `event: end`.
 */
export async function followStream(
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastId: string | undefined;
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      const t = token.get();
      if (t) headers.authorization = `Bearer ${t}`;
      if (lastId) headers['last-event-id'] = lastId;
      const res = await fetch(path, { headers, signal });
      if (!res.ok || !res.body) throw new ApiError(res.status, 'stream_failed', `stream answered ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            else if (line.startsWith('id:')) lastId = line.slice(3).trim();
          }
          if (event === 'end') return;
          if (data.length === 0) continue;
          const text = data.join('\n');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // A plain-text frame (a log line) is passed on as it is.
          }
          onEvent(event, parsed);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
    }
    // A dropped connection: try again shortly, resuming after the last event seen.
    await new Promise((r) => setTimeout(r, 1500));
  }
}

/**
 * The `data` of a servers-stream frame (lib/schemas/servers.ts ServerEvent). An event stream's frames
 * are not in the OpenAPI document (it types the stream as a string), so this one shape is written here.
 */
export interface ServerEvent {
  id: number;
  event_id: number;
  status: string;
  previous_status: string | null;
  reason: string | null;
  at: string;
}
