// The hop from the gateway to a hosted server: which headers cross it in each direction, and the
// request itself, on node:http with a keep-alive agent (a connection per in-flight request, reused
// between requests; undici's fetch cost a quarter of the gateway's CPU per call for the same job).
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';

/**
 * Never sent upstream: the client's credentials (a hosted server must not see the token that reached
 * the gateway, nor its cookies), the hop-by-hop headers, and what the new hop sets itself.
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
  'access-control-expose-headers',
]);

/** The client's headers as the hosted server gets them; the session id and trace context are the caller's to set. */
export function upstreamHeaders(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = { 'accept-encoding': 'identity' };
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || REQUEST_DROPPED.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The hosted server's response headers as the client gets them (session id added by the caller). */
export function downstreamHeaders(upstream: IncomingHttpHeaders, bodyRewritten: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || RESPONSE_DROPPED.has(name) || (bodyRewritten && name === 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

export interface UpstreamRequest {
  endpoint: string;
  method: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** An upstream request in flight: its response, and a way to drop it (the client went away). */
export interface UpstreamCall {
  response: Promise<IncomingMessage>;
  abort(): void;
}

// Keep-alive, no cap on sockets per server (each in-flight request needs its own: MCP has no
// pipelining), idle sockets kept a little under the usual servers' keep-alive timeouts (Node's 5 s).
const agentOptions = {
  keepAlive: true,
  keepAliveMsecs: 1_000,
  maxFreeSockets: 256,
  timeout: 0,
  scheduling: 'lifo' as const,
};
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);

interface Target {
  https: boolean;
  hostname: string;
  port: string;
  path: string;
}
/** Parsed endpoints: a server's endpoint changes only with a launch, and URL parsing is not free. */
const targets = new Map<string, Target>();
function targetOf(endpoint: string): Target {
  let t = targets.get(endpoint);
  if (!t) {
    const url = new URL(endpoint);
    t = {
      https: url.protocol === 'https:',
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      path: `${url.pathname}${url.search}`,
    };
    if (targets.size >= 10_000) targets.clear();
    targets.set(endpoint, t);
  }
  return t;
}

/** Sends the request; the response rejects only when the server could not be reached (or the call was aborted). */
export function sendUpstream(r: UpstreamRequest): UpstreamCall {
  const t = targetOf(r.endpoint);
  const headers: OutgoingHttpHeaders = r.headers;
  if (r.body) headers['content-length'] = r.body.byteLength;
  const req = (t.https ? https : http).request({
    hostname: t.hostname,
    port: t.port || undefined,
    path: t.path,
    method: r.method,
    headers,
    agent: t.https ? httpsAgent : httpAgent,
    // A TLS server name is for https only: left unset, the agent works one out (the Host header read
    // back, an IP-address test) for every plain-http request too.
    ...(t.https ? {} : { servername: '' }),
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    // Kept on: the request may also fail after its response began (its body then errors too).
    req.on('error', reject);
  });
  req.end(r.body);
  return {
    response,
    abort() {
      req.destroy();
    },
  };
}
