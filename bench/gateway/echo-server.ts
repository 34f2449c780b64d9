// bench/gateway: the trivial MCP server every case of the benchmark calls, built with the official
// SDK the way a hosted server is: one `echo` tool. `--stdio` speaks stdio (for the peer bridge, which
// starts one per session); `--port N` speaks Streamable HTTP at /mcp, stateful (a session per
// `initialize`), answering POSTs as SSE as the SDK does by default, with the GET stream.
// It imports no relative module and uses erasable TypeScript only, so Node runs it without a
// loader: the peer starts dozens of them, and a loader's start-up per child would be measured too.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench-echo', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function serveHttp(port: number): Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer((req, res) => {
    void (async () => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') {
        res.writeHead(404).end();
        return;
      }
      const id = req.headers['mcp-session-id'];
      const known = typeof id === 'string' ? sessions.get(id) : undefined;
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      if (known) return known.handleRequest(req, res, body);
      if (id !== undefined) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'No session' } }));
        return;
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, transport),
      });
      transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
      await echoServer().connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  process.stdout.write(`listening on ${port}\n`);
  process.once('SIGTERM', () => process.exit(0));
}

const portArg = process.argv.indexOf('--port');
if (process.argv.includes('--stdio')) {
  await echoServer().connect(new StdioServerTransport());
} else if (portArg !== -1) {
  await serveHttp(Number(process.argv[portArg + 1]));
} else {
  process.stderr.write('usage: echo-server.ts --stdio | --port N\n');
  process.exit(2);
}
