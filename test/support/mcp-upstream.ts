// A hosted MCP server for gateway tests, in the test process: the official SDK's McpServer on its
// Streamable HTTP transport with sessions, recording the headers of every request it receives (so a
// test can show what the gateway forwards, and what it never does). Tools: `echo`, `ask` (asks the
// client for a sampling completion), `slow` (reports progress until done or cancelled).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface RecordingUpstream {
  url: string;
  /** Headers of every request received, oldest first. */
  seen: { method: string; headers: IncomingHttpHeaders }[];
  /** `slow` calls that ended by cancellation. */
  cancelled: number;
  close(): Promise<void>;
}

export async function startRecordingUpstream(host = '127.0.0.1'): Promise<RecordingUpstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const state: RecordingUpstream = {
    url: '',
    seen: [],
    cancelled: 0,
    close: async () => {},
  };

  const newServer = () => {
    const server = new McpServer({ name: 'recording-upstream', version: '1.0.0' });
    server.registerTool('echo', { description: 'Echo the text', inputSchema: { text: z.string() } }, ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    server.registerTool(
      'ask',
      { description: 'Ask the client to sample', inputSchema: { q: z.string() } },
      async ({ q }) => {
        const answer = await server.server.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: q } }],
          maxTokens: 10,
        });
        const text = answer.content.type === 'text' ? answer.content.text : '';
        return { content: [{ type: 'text', text: `sampled: ${text}` }] };
      },
    );
    server.registerTool(
      'slow',
      { description: 'Report progress until done or cancelled', inputSchema: { steps: z.number() } },
      async ({ steps }, extra) => {
        for (let i = 1; i <= steps; i++) {
          if (extra.signal.aborted) {
            state.cancelled++;
            return { content: [{ type: 'text', text: 'cancelled' }] };
          }
          const token = extra._meta?.progressToken;
          if (token !== undefined) {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress: i, total: steps },
            });
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        if (extra.signal.aborted) state.cancelled++;
        return { content: [{ type: 'text', text: `done ${steps}` }] };
      },
    );
    return server;
  };

  const http: Server = createServer((req, res) => {
    state.seen.push({ method: req.method ?? '', headers: req.headers });
    const id = req.headers['mcp-session-id'];
    const existing = typeof id === 'string' ? transports.get(id) : undefined;
    if (existing) {
      void existing.handleRequest(req, res);
      return;
    }
    if (typeof id === 'string') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => void transports.set(sid, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    void newServer()
      .connect(transport)
      .then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((resolve) => http.listen(0, host, resolve));
  state.url = `http://${host}:${(http.address() as AddressInfo).port}/mcp`;
  state.close = async () => {
    for (const t of transports.values()) await t.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return state;
}
