// What the tests of supervised servers share: HEALTH_* settings short enough for a file to run in
// about a minute, one tool call through the gateway with the official MCP SDK client, and one raw
// message to the gateway (to see its refusals as they are).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Harness } from './harness.js';

export const FAST_HEALTH = {
  HEALTH_PROBE_INTERVAL_MS: '1000',
  HEALTH_PROBE_TIMEOUT_MS: '1500',
  HEALTH_DEGRADED_LATENCY_MS: '1000',
  HEALTH_FAILURE_THRESHOLD: '2',
  HEALTH_RESTART_BACKOFF_MS: '1000',
  HEALTH_RESTART_BACKOFF_MAX_MS: '8000',
  HEALTH_CRASHLOOP_RESTARTS: '3',
  HEALTH_CRASHLOOP_WINDOW_MS: '120000',
};

/** One JSON-RPC message posted to `/mcp/<id>` as the admin, as an MCP client sends it: the raw answer. */
export function gatewayPost(h: Harness, id: number, message: object): Promise<Response> {
  return fetch(`${h.apiUrl}/mcp/${id}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${h.adminToken}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...message }),
  });
}

/** hello-mcp's `echo` called through `/mcp/<id>` as the admin: what the tool answered. */
export async function gatewayEcho(h: Harness, id: number, text: string): Promise<unknown> {
  const client = new Client({ name: 'supervised-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.apiUrl}/mcp/${id}`), {
    requestInit: { headers: { authorization: `Bearer ${h.adminToken}` } },
  });
  await client.connect(transport);
  try {
    return await client.callTool({ name: 'echo', arguments: { text } });
  } finally {
    await client.close();
  }
}
