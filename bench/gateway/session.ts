// bench/gateway: a raw Streamable HTTP client for load generation (the SDK Client's own overhead
// would be measured with every call). A session is opened the way an MCP client opens one
// (`initialize`, then `notifications/initialized`, then `Mcp-Session-Id` and `MCP-Protocol-Version`
// on every request) and then calls `tools/call` over one keep-alive connection of its own; answers
// are read as JSON or as SSE, whichever the server chose, and checked.
import { Client, type Dispatcher } from 'undici';

export const PROTOCOL_VERSION = '2025-11-25';

interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
}

/** The JSON-RPC response with `id` in a JSON or SSE body (notifications before it are skipped). */
export function responseIn(contentType: string, body: string, id: number): JsonRpcResponse | undefined {
  const messages: unknown[] = [];
  if (contentType.startsWith('text/event-stream')) {
    for (const line of body.split('\n')) if (line.startsWith('data:')) messages.push(JSON.parse(line.slice(5)));
  } else if (body) {
    const parsed: unknown = JSON.parse(body);
    messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  return messages.find((m): m is JsonRpcResponse => (m as JsonRpcResponse).id === id);
}

export class McpSession {
  private nextId = 1;
  private constructor(
    private readonly http: Dispatcher,
    private readonly url: URL,
    private readonly baseHeaders: Record<string, string>,
    readonly sessionId: string | undefined,
    /** Whether the connection is this session's own (closed with it) or shared. */
    private readonly ownsHttp: boolean,
  ) {}

  /** Opens a session at `url` (an MCP endpoint) on a connection of its own. */
  static async open(url: string, headers: Record<string, string> = {}, http?: Dispatcher): Promise<McpSession> {
    const target = new URL(url);
    const dispatcher = http ?? new Client(target.origin, { pipelining: 1, keepAliveTimeout: 60_000 });
    const base = {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const probe = new McpSession(dispatcher, target, base, undefined, false);
    const init = await probe.post({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'bench-gateway', version: '1' },
      },
    });
    const reply = responseIn(init.contentType, init.body, 0);
    if (init.status !== 200 || !reply?.result)
      throw new Error(`initialize at ${url}: HTTP ${init.status} ${init.body}`);
    const sid = init.sessionId;
    const session = new McpSession(
      dispatcher,
      target,
      { ...base, 'mcp-protocol-version': PROTOCOL_VERSION, ...(sid ? { 'mcp-session-id': sid } : {}) },
      sid,
      http === undefined,
    );
    const note = await session.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    if (note.status !== 202) throw new Error(`notifications/initialized at ${url}: HTTP ${note.status} ${note.body}`);
    return session;
  }

  private async post(
    message: object,
  ): Promise<{ status: number; contentType: string; body: string; sessionId: string | undefined }> {
    const res = await this.http.request({
      origin: this.url.origin,
      path: this.url.pathname + this.url.search,
      method: 'POST',
      headers: this.baseHeaders,
      body: JSON.stringify(message),
    });
    const body = await res.body.text();
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return {
      status: res.statusCode,
      contentType: header('content-type') ?? '',
      body,
      sessionId: header('mcp-session-id'),
    };
  }

  /** One `tools/call` of `echo`; true when the answer is the text sent. */
  async echo(text: string): Promise<boolean> {
    const id = this.nextId++;
    const res = await this.post({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text } },
    });
    if (res.status !== 200) return false;
    const result = responseIn(res.contentType, res.body, id)?.result as
      { content?: { text?: string }[]; isError?: boolean } | undefined;
    return result?.isError !== true && result?.content?.[0]?.text === text;
  }

  /**
   * Opens the session's GET stream on a connection of its own and keeps reading it; resolves once
   * the answer's headers (200, text/event-stream) are in. `close` ends it.
   */
  async openStream(): Promise<{ close: () => void }> {
    const conn = new Client(this.url.origin, { pipelining: 1, bodyTimeout: 0 });
    const res = await conn.request({
      path: this.url.pathname + this.url.search,
      method: 'GET',
      headers: { ...this.baseHeaders, accept: 'text/event-stream' },
    });
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      const body = await res.body.text();
      await conn.close();
      throw new Error(`GET stream: HTTP ${res.statusCode} ${type} ${body}`);
    }
    res.body.on('data', () => {});
    res.body.on('error', () => {});
    return {
      close: () => {
        res.body.destroy();
        void conn.destroy();
      },
    };
  }

  /** Ends the session (DELETE) and its connection. */
  async close(): Promise<void> {
    if (this.sessionId) {
      const res = await this.http
        .request({
          origin: this.url.origin,
          path: this.url.pathname + this.url.search,
          method: 'DELETE',
          headers: this.baseHeaders,
        })
        .catch(() => undefined);
      await res?.body.text().catch(() => '');
    }
    if (this.ownsHttp) await this.http.close();
  }
}
