// CORS for browser clients of the gateway (an MCP inspector, a web agent): a preflight from an origin
// the Origin policy allows is answered with what MCP Streamable HTTP needs; any other origin is
// refused (403, no CORS headers, so the browser blocks the call). Answers to allowed origins name the
// origin and expose the MCP headers a client must read (the session id above all).

const METHODS = 'GET, POST, DELETE';
/** Request headers an MCP client sends; `Mcp-*` of newer revisions (`Mcp-Method`, `Mcp-Param-*`) pass too. */
const HEADERS = new Set([
  'authorization',
  'content-type',
  'accept',
  'last-event-id',
  'mcp-session-id',
  'mcp-protocol-version',
  'traceparent',
  'tracestate',
]);
const EXPOSED = 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After';
const MAX_AGE_SECONDS = '600';

/** The headers an answer to an allowed browser origin carries. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': EXPOSED,
    vary: 'Origin',
  };
}

/**
 * The answer to an OPTIONS request: 204 with the allowed methods and headers for an allowed origin
 * (only the requested headers the gateway knows of are allowed back), else 403.
 */
export function preflight(
  origin: string | undefined,
  requestedHeaders: string | undefined,
  allowed: (origin: string) => boolean,
): { status: 204 | 403; headers: Record<string, string>; body?: string } {
  if (origin === undefined || !allowed(origin)) {
    return {
      status: 403,
      headers: { 'content-type': 'application/json', vary: 'Origin' },
      body: JSON.stringify({
        error: { code: 'origin_not_allowed', message: `origin ${origin ?? '(none)'} may not call this gateway` },
      }),
    };
  }
  const headers = (requestedHeaders ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '' && (HEADERS.has(h) || /^mcp-[a-z0-9-]+$/.test(h)));
  return {
    status: 204,
    headers: {
      ...corsHeaders(origin),
      'access-control-allow-methods': METHODS,
      'access-control-allow-headers': [...new Set([...HEADERS, ...headers])].join(', '),
      'access-control-max-age': MAX_AGE_SECONDS,
      vary: 'Origin, Access-Control-Request-Headers',
    },
  };
}
