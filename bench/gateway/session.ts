// bench/gateway: a raw Streamable HTTP client for load generation (the SDK Client's own overhead
// would be measured with every call). A session is opened the way an MCP client opens one
// (`initialize`, then `notifications/initialized`, then `Mcp-Session-Id` and `MCP-Protocol-Version`
// on every request) and then calls `tools/call` over one keep-alive connection of its own (node:http,
// the cheapest client at hand: the load generator shares the machine with what it measures); answers
// are read as JSON or as SSE, whichever the server chose, and checked.
import { Agent, request, type IncomingMessage } from 'node:http';

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

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

export class McpSession {
  private nextId = 1;
  private constructor(
    private readonly agent: Agent,
    private readonly url: URL,
    private readonly baseHeaders: Record<string, string>,
    readonly sessionId: string | undefined,
  ) {}

  /** Opens a session at `url` (an MCP endpoint) on a connection of its own. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<McpSession> {
    const target = new URL(url);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const base = {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const probe = new McpSession(agent, target, base, undefined);
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
      agent,
      target,
      { ...base, 'mcp-protocol-version': PROTOCOL_VERSION, ...(sid ? { 'mcp-session-id': sid } : {}) },
      sid,
    );
    const note = await session.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    if (note.status !== 202) throw new Error(`notifications/initialized at ${url}: HTTP ${note.status} ${note.body}`);
    return session;
  }

  private send(
    method: 'GET' | 'POST' | 'DELETE',
    headers: Record<string, string>,
    body?: string,
    agent: Agent | false = this.agent,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { method, agent, headers }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  }

  private async post(
    message: object,
  ): Promise<{ status: number; contentType: string; body: string; sessionId: string | undefined }> {
    const res = await this.send('POST', this.baseHeaders, JSON.stringify(message));
    const body = await readBody(res);
    const sessionId = res.headers['mcp-session-id'];
    return {
      status: res.statusCode ?? 0,
      contentType: res.headers['content-type'] ?? '',
      body,
      sessionId: Array.isArray(sessionId) ? sessionId[0] : sessionId,
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
    const res = await this.send('GET', { ...this.baseHeaders, accept: 'text/event-stream' }, undefined, false);
    const type = res.headers['content-type'] ?? '';
    if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      const body = await readBody(res);
      throw new Error(`GET stream: HTTP ${res.statusCode} ${type} ${body}`);
    }
    res.on('data', () => {});
    res.on('error', () => {});
    return { close: () => void res.destroy() };
  }

  /** Ends the session (DELETE) and its connection. */
  async close(): Promise<void> {
    if (this.sessionId) {
      const res = await this.send('DELETE', this.baseHeaders).catch(() => undefined);
      res?.resume();
    }
    this.agent.destroy();
  }
}
