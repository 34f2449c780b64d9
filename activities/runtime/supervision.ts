// What the supervisor of a running server (workflows/server-supervision.ts) asks of the world: its
// settings, one health probe, and a wait that ends when the workload exits. The probe goes the way
// the gateway goes (the endpoint recorded for the server: the server itself, or the stdio bridge in
// front of a stdio server): MCP initialize, then `ping` (`tools/list` for a server without it),
// timed, then `tools/list` for the tool surface's digest. A virtual machine whose hypervisor
// reports no endpoint has no MCP path to probe: its instance's state, read from the hypervisor, is
// the probe instead. Every probe is a server_probes row.
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { Context } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { certifiedSurface, recordProbe } from '../../lib/ledger/probes.js';
import type { ExecutorRegistry, WorkloadState } from '../../lib/runtime/executor.js';
import type { HealthSettings } from '../../lib/server-health.js';
import { surfaceDifference, surfaceDigest, type SurfaceTool } from '../../lib/runtime/tool-surface.js';

export interface ProbeResult {
  ok: boolean;
  method: 'ping' | 'tools/list' | 'instance state';
  latencyMs: number | null;
  /** Why the probe failed. */
  error: string | null;
  /** The workload is not running at all (exited, gone): no further probe will answer. */
  exited: boolean;
  toolsDigest: string | null;
  /**
   * How the tools differ from those the server was certified with (`added tool shout`); null when
   * they are the same, or nothing was certified to compare with.
   */
  drift?: { certified: string; difference: string[] } | null;
}

/** When awaitExit is not offered: how often the workload is inspected instead. */
const INSPECT_EVERY_MS = 2_000;
const HEARTBEAT_EVERY_MS = 2_000;

/** One MCP session: the timed ping (or tools/list), then the tool surface. */
async function probeEndpoint(endpoint: string, timeoutMs: number) {
  const transport = new StreamableHTTPClientTransport(new URL(endpoint));
  const client = new Client({ name: 'mcp-host-supervisor', version: '0.1.0' });
  const signal = AbortSignal.timeout(timeoutMs);
  const options = { signal, timeout: timeoutMs };
  try {
    await client.connect(transport, options);
    let method: ProbeResult['method'] = 'ping';
    let started = performance.now();
    let tools: SurfaceTool[] | undefined;
    try {
      await client.ping(options);
    } catch (err) {
      if (!(err instanceof McpError && err.code === ErrorCode.MethodNotFound)) throw err;
      method = 'tools/list';
      started = performance.now();
      tools = (await client.listTools(undefined, options)).tools.map(toSurface);
    }
    const latencyMs = Math.round(performance.now() - started);
    tools ??= (await client.listTools(undefined, options)).tools.map(toSurface);
    return { method, latencyMs, tools };
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

const toSurface = (t: { name: string; description?: string; inputSchema: unknown }): SurfaceTool => ({
  name: t.name,
  description: t.description ?? null,
  input_schema: t.inputSchema,
});

export function createSupervisionActivities(sql: Sql, env: Env, executors: ExecutorRegistry) {
  return {
    /** How the supervisor judges and restarts (the HEALTH_* settings), read once per supervision run. */
    async supervisionSettings(): Promise<HealthSettings> {
      return {
        probeIntervalMs: env.HEALTH_PROBE_INTERVAL_MS,
        probeTimeoutMs: env.HEALTH_PROBE_TIMEOUT_MS,
        degradedLatencyMs: env.HEALTH_DEGRADED_LATENCY_MS,
        failureThreshold: env.HEALTH_FAILURE_THRESHOLD,
        restartBackoffMs: env.HEALTH_RESTART_BACKOFF_MS,
        restartBackoffMaxMs: Math.max(env.HEALTH_RESTART_BACKOFF_MAX_MS, env.HEALTH_RESTART_BACKOFF_MS),
        crashloopRestarts: env.HEALTH_CRASHLOOP_RESTARTS,
        crashloopWindowMs: env.HEALTH_CRASHLOOP_WINDOW_MS,
      };
    },

    /** One probe of the server, recorded; a failure is a result (the workflow counts them), not an error. */
    async probeServer({
      serverId,
      probeKey,
      timeoutMs,
    }: {
      serverId: number;
      probeKey: string;
      timeoutMs: number;
    }): Promise<ProbeResult> {
      const found = await executors.find(serverId);
      let result: ProbeResult;
      if (!found || (!found.workload.endpoint && found.workload.backend !== 'virtual-machine')) {
        result = fail(`server ${serverId} has no recorded endpoint`, true);
      } else {
        const started = performance.now();
        const state = await found.executor
          .inspect(found.workload)
          .catch((err: Error): WorkloadState => ({ state: 'gone', reason: `cannot inspect: ${err.message}` }));
        if (state.state === 'exited' || state.state === 'gone') {
          result = fail(state.reason, true);
        } else if (!found.workload.endpoint) {
          result =
            state.state === 'running'
              ? {
                  ok: true,
                  method: 'instance state',
                  latencyMs: Math.round(performance.now() - started),
                  error: null,
                  exited: false,
                  toolsDigest: null,
                }
              : { ...fail(state.reason, false), method: 'instance state' };
        } else {
          try {
            const probed = await probeEndpoint(found.workload.endpoint, timeoutMs);
            const digest = surfaceDigest(probed.tools);
            const certified = await certifiedSurface(sql, serverId);
            const difference =
              certified && certified.digest !== digest ? surfaceDifference(certified.tools, probed.tools) : [];
            result = {
              ok: true,
              method: probed.method,
              latencyMs: probed.latencyMs,
              error: null,
              exited: false,
              toolsDigest: digest,
              drift: difference.length > 0 ? { certified: certified!.manifestDigest, difference } : null,
            };
          } catch (err) {
            result = fail(`MCP probe of ${found.workload.endpoint} failed: ${(err as Error).message}`, false);
          }
        }
      }
      await recordProbe(sql, {
        serverId,
        probeKey,
        ok: result.ok,
        method: result.method,
        latencyMs: result.latencyMs,
        error: result.error,
        toolsDigest: result.toolsDigest,
      });
      return result;
    },

    /**
     * Waits, heartbeating, until the server's workload stops running, and says why (an OOM kill, the
     * exit code). Cancelled when the supervisor stops watching (an intent, a restart, continue-as-new);
     * after a worker crash it is retried and finds an exit that happened meanwhile at once.
     */
    async awaitWorkloadExit({ serverId }: { serverId: number }): Promise<{ reason: string }> {
      const ctx = Context.current();
      const found = await executors.find(serverId);
      if (!found) return { reason: `server ${serverId} has no recorded workload` };
      const { executor, workload } = found;
      const abort = new AbortController();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      const cancelled = ctx.cancelled.finally(() => abort.abort());
      try {
        const exited = executor.awaitExit
          ? executor.awaitExit(workload, abort.signal)
          : (async () => {
              for (;;) {
                const state = await executor.inspect(workload);
                if (state.state === 'exited' || state.state === 'gone') return state;
                await delay(INSPECT_EVERY_MS, undefined, { signal: abort.signal });
              }
            })();
        exited.catch(() => {}); // rejected by the abort below once the race is decided
        const state = await Promise.race([exited, cancelled]);
        return { reason: state.reason };
      } catch (err) {
        // A container removed under the wait is an exit too; anything else (the daemon) is retried.
        if ((err as { statusCode?: number }).statusCode === 404) return { reason: `${workload.workload} is gone` };
        throw err;
      } finally {
        clearInterval(beat);
        abort.abort();
      }
    },
  };
}

function fail(error: string, exited: boolean): ProbeResult {
  return { ok: false, method: 'ping', latencyMs: null, error, exited, toolsDigest: null };
}
