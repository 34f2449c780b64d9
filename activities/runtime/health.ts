// MCP health check: connect to the running server with the MCP SDK (Streamable HTTP: stdio servers
// answer it through the stdio bridge), initialize, list its tools, and keep what it said as the
// server's manifest. The workflow marks the server
// `running` only once this succeeds; while the server is still starting, the first attempt asks
// again itself for a moment, then Temporal retries it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import { ErrorType } from '../../lib/errors.js';
import { recordManifest } from '../../lib/ledger/runtime.js';
import type { ExecutorRegistry } from '../../lib/runtime/executor.js';

export interface McpManifest {
  name: string | null;
  version: string | null;
  protocol_version: string | null;
  tools: { name: string; description: string | null; input_schema: unknown }[];
  checked_at: string;
}

const CHECK_TIMEOUT_MS = 10_000;

/**
 * A server just started is usually answering within moments: the first attempt asks again itself,
 * after 20 ms, then twice as long each time, for this long, before leaving the retries to Temporal
 * (whose first is half a second away, then longer).
 */
const FIRST_ATTEMPT_MS = 2_000;
const FIRST_PAUSE_MS = 20;

/**
 * Connects, initializes, lists the tools, and ends the session: what the server says it is. The
 * session is deleted, so a bridged stdio server stops the child it started for the check.
 */
export async function readManifest(endpoint: string): Promise<McpManifest> {
  const transport = new StreamableHTTPClientTransport(new URL(endpoint));
  const client = new Client({ name: 'mcp-host', version: '0.1.0' });
  try {
    const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);
    await client.connect(transport, { signal, timeout: CHECK_TIMEOUT_MS });
    const { tools } = await client.listTools(undefined, { signal, timeout: CHECK_TIMEOUT_MS });
    const info = client.getServerVersion();
    return {
      name: info?.name ?? null,
      version: info?.version ?? null,
      protocol_version: transport.protocolVersion ?? null,
      tools: tools.map((t) => ({ name: t.name, description: t.description ?? null, input_schema: t.inputSchema })),
      checked_at: new Date().toISOString(),
    };
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

export function createHealthActivities(sql: Sql, executors: ExecutorRegistry) {
  return {
    async checkMcpHealth({ serverId }: { serverId: number }): Promise<{ name: string | null; tools: string[] }> {
      const found = await executors.find(serverId);
      const endpoint = found?.workload.endpoint;
      if (!found || !endpoint) {
        throw ApplicationFailure.nonRetryable(`server ${serverId} has no recorded endpoint`, ErrorType.LaunchFailed);
      }
      const { executor, workload } = found;
      // A workload that exited will not answer: say why instead of timing out.
      const assertNotExited = async () => {
        const state = await executor.inspect(workload);
        if (state.state === 'exited') throw ApplicationFailure.nonRetryable(state.reason, ErrorType.WorkloadExited);
      };
      await assertNotExited();
      const t0 = Date.now();
      const budget = Context.current().info.attempt === 1 ? FIRST_ATTEMPT_MS : 0;
      for (let pause = FIRST_PAUSE_MS; ; pause *= 2) {
        let manifest: McpManifest;
        try {
          manifest = await readManifest(endpoint);
        } catch (err) {
          if (Date.now() - t0 + pause > budget)
            throw ApplicationFailure.retryable(`MCP health check of ${endpoint} failed: ${(err as Error).message}`);
          await sleep(pause);
          await assertNotExited();
          continue;
        }
        await recordManifest(sql, serverId, manifest);
        return { name: manifest.name, tools: manifest.tools.map((t) => t.name) };
      }
    },
  };
}
