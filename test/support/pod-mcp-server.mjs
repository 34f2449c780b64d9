// What the kubelet stand-in runs for a pod's server container in the Kubernetes tests: a small MCP
// server (the official SDK, Streamable HTTP, stateless) on 127.0.0.1:$PORT at /mcp, with one tool,
// `echo`. Plain JavaScript, run by node as a process of its own, so a test can stop it (SIGSTOP: it
// stops answering, as a wedged server does) or kill it, and the stand-in can restart it.
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.env.PORT);
createServer(async (req, res) => {
  if (!req.url?.startsWith('/mcp')) {
    res.writeHead(404).end();
    return;
  }
  const server = new McpServer({ name: 'pod-server', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  // Stateless: every request gets its own server and transport.
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}).listen(port, '127.0.0.1', () => console.log(`pod-server listening on ${port}`));
