// The hop from the gateway to a hosted server: which headers cross it in each direction, and the
// request itself (fetch keeps its connections to each server alive between requests).

/**
 * Never sent upstream: the client's credentials (a hosted server must not see the token that reached
 * the gateway, nor its cookies), the hop-by-hop headers, and what fetch sets for the new hop itself.
 * Origin is the client's browser origin, which the server's own DNS-rebinding check would refuse.
 */
const REQUEST_DROPPED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'origin',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'accept-encoding',
  'expect',
  'mcp-session-id',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'traceparent',
  'tracestate',
]);

/** Never sent back: hop-by-hop headers, cookies a hosted server would set on mcp-host's origin, and the session id (rewritten). */
const RESPONSE_DROPPED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'set-cookie',
  'mcp-session-id',
  'content-encoding',
  'access-control-allow-origin',
  'access-control-allow-credentials',
]);

/** The client's headers as the hosted server gets them; the session id and trace context are the caller's to set. */
export function upstreamHeaders(incoming: Headers): Record<string, string> {
  const out: Record<string, string> = { 'accept-encoding': 'identity' };
  incoming.forEach((value, name) => {
    if (!REQUEST_DROPPED.has(name)) out[name] = value;
  });
  return out;
}

/** The hosted server's response headers as the client gets them (session id added by the caller). */
export function downstreamHeaders(upstream: Headers, bodyRewritten: boolean): Headers {
  const out = new Headers();
  upstream.forEach((value, name) => {
    if (RESPONSE_DROPPED.has(name) || (bodyRewritten && name === 'content-length')) return;
    out.set(name, value);
  });
  return out;
}

export interface UpstreamRequest {
  endpoint: string;
  method: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: Uint8Array;
  signal: AbortSignal;
}

/** Sends the request; rejects only when the server could not be reached (or the client went away). */
export function sendUpstream(r: UpstreamRequest): Promise<Response> {
  return fetch(r.endpoint, {
    method: r.method,
    headers: r.headers,
    body: r.body,
    signal: r.signal,
    redirect: 'manual',
  });
}
