// A running server as operators see it: its logs (tail and live), the MCP manifest its health
// check read, and the policy decisions behind each launch. Logs come from where the server was
// recorded to run (server_runtimes), so they work after any restart of the API or the worker.
import { PassThrough } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import type Docker from 'dockerode';
import { streamSSE } from 'hono/streaming';
import { Log } from '@kubernetes/client-node';
import { kubernetesWorkloads } from '../../activities/kubernetes/executor.js';
import { createHypervisorClient } from '../../activities/vm/hypervisor.js';
import { createKubeClient, kubeError, kubeStatus } from '../../lib/kubernetes/client.js';
import { CONTAINER_NAME } from '../../lib/kubernetes/manifests.js';
import { ApiError } from '../../lib/errors.js';
import { policyDecisions, serverManifest, workloadOf } from '../../lib/ledger/runtime.js';
import { findServer } from '../../lib/ledger/servers.js';
import { IdParam, Timestamp } from '../../lib/schemas/common.js';
import { visibleScope } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { commonErrors, createRouter, json, notFoundError } from '../openapi.js';

const tags = ['runtime'];

const Manifest = z
  .object({
    name: z.string().nullable(),
    version: z.string().nullable(),
    protocol_version: z.string().nullable(),
    tools: z.array(z.object({ name: z.string(), description: z.string().nullable(), input_schema: z.unknown() })),
    checked_at: Timestamp,
  })
  .openapi('McpManifest');

const Decision = z
  .object({
    id: z.number().int(),
    decided_at: Timestamp,
    backend: z.string(),
    candidate_backend: z.string(),
    executor_name: z.string().nullable(),
    image: z.string().nullable(),
    requires_build: z.boolean(),
    artifact_run_id: z.number().int().nullable(),
    manifest_digest: z.string().nullable(),
    policy_version: z.string(),
    tier: z.string().nullable(),
    health_overall: z.string().nullable(),
    capability_requirements: z.array(z.string()),
    capabilities_satisfied: z.boolean(),
    evaluation_required: z.boolean(),
    governance_required: z.boolean(),
    launchable: z.boolean(),
    notes: z.array(z.string()),
  })
  .openapi('PolicyDecision');

const LogsQuery = z
  .object({
    tail: z
      .string()
      .regex(/^\d{1,5}$/, 'must be an integer between 1 and 10000')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 10_000, 'must be an integer between 1 and 10000')
      .optional(),
  })
  .strict();

/** Docker multiplexes stdout and stderr into one stream (no TTY): split them back into text. */
function demux(docker: Docker, raw: NodeJS.ReadableStream): PassThrough {
  const out = new PassThrough();
  docker.modem.demuxStream(raw, out, out);
  raw.on('end', () => out.end());
  raw.on('error', (err) => out.destroy(err));
  return out;
}

export function runtimeRoutes(deps: ApiDeps) {
  const { sql, docker, env } = deps;
  // VM servers' output comes from the hypervisor (§9.4), Docker servers' from the daemon.
  const hypervisor = createHypervisorClient({ endpoint: env.VM_HYPERVISOR_ENDPOINT, token: env.VM_HYPERVISOR_TOKEN });
  // Kubernetes servers' output comes through the API server (from the pod's kubelet).
  const kube = createKubeClient(env);
  const pods = kubernetesWorkloads(kube);
  const podLogError = (pod: string, err: unknown) =>
    // 204: the pod is on no node yet; 400: its container has not started: nothing to read.
    [204, 400, 404].includes(kubeStatus(err) ?? 0)
      ? new ApiError(409, 'no_logs', `${kubeError(`pod ${pod} has no logs yet`, err).message}`)
      : new ApiError(502, 'logs_unavailable', kubeError(`reading logs of pod ${pod}`, err).message);
  return createRouter()
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/logs',
        tags,
        summary: 'The last lines of the server\'s output (stdout and stderr)',
        request: { params: IdParam, query: LogsQuery },
        responses: { 200: { description: 'Log text', content: { 'text/plain': { schema: z.string() } } }, ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const runtime = await workloadOf(sql, server.id);
        if (runtime.backend === 'virtual-machine') {
          return c.text(await hypervisor.logs(runtime.workload, c.req.valid('query').tail ?? env.VM_LOG_TAIL_LINES), 200);
        }
        if (runtime.backend === 'kubernetes') {
          const text = await pods.logs(runtime.workload, c.req.valid('query').tail ?? 100).catch((err: unknown) => {
            throw podLogError(runtime.workload, err);
          });
          return c.text(text, 200);
        }
        const raw = (await docker.getContainer(runtime.workload).logs({ stdout: true, stderr: true, tail: c.req.valid('query').tail ?? 100, follow: false })) as unknown as Buffer;
        const out = demux(docker, PassThrough.from(raw) as unknown as NodeJS.ReadableStream);
        const chunks: Buffer[] = [];
        for await (const chunk of out) chunks.push(chunk as Buffer);
        return c.text(Buffer.concat(chunks).toString('utf8'), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/logs/stream',
        tags,
        summary: 'Follow the server\'s output live (SSE `event: log`, one line each)',
        request: { params: IdParam, query: LogsQuery },
        responses: { 200: { description: 'Event stream', content: { 'text/event-stream': { schema: z.string() } } }, ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        const runtime = await workloadOf(sql, server.id);
        if (runtime.backend === 'virtual-machine') {
          const lines = await hypervisor.streamLogs(runtime.workload, { signal: c.req.raw.signal });
          return streamSSE(c, async (stream) => {
            await stream.writeSSE({ event: 'ready', data: JSON.stringify({ workload: runtime.workload }) });
            for await (const line of lines ?? []) await stream.writeSSE({ event: 'log', data: JSON.stringify({ line }) });
            await stream.writeSSE({ event: 'end', data: JSON.stringify({ reason: lines ? 'the stream ended' : 'the instance has no live log' }) });
          });
        }
        let stop: () => void;
        let text: NodeJS.ReadableStream;
        if (runtime.backend === 'kubernetes') {
          const out = new PassThrough();
          const request = await new Log(kube.config())
            .log(kube.namespace, runtime.workload, CONTAINER_NAME, out, () => out.end(), { follow: true, tailLines: c.req.valid('query').tail ?? 20 })
            .catch((err: unknown) => {
              throw podLogError(runtime.workload, err);
            });
          stop = () => {
            request.abort();
            out.end();
          };
          text = out;
        } else {
          const raw = (await docker.getContainer(runtime.workload).logs({ stdout: true, stderr: true, follow: true, tail: c.req.valid('query').tail ?? 20 })) as NodeJS.ReadableStream & { destroy(): void };
          stop = () => raw.destroy();
          text = demux(docker, raw);
        }
        return streamSSE(c, async (stream) => {
          stream.onAbort(() => stop());
          await stream.writeSSE({ event: 'ready', data: JSON.stringify({ workload: runtime.workload }) });
          let buffer = '';
          try {
            for await (const chunk of text) {
              buffer += (chunk as Buffer).toString('utf8');
              let nl: number;
              while ((nl = buffer.indexOf('\n')) >= 0) {
                await stream.writeSSE({ event: 'log', data: JSON.stringify({ line: buffer.slice(0, nl) }) });
                buffer = buffer.slice(nl + 1);
              }
            }
          } catch {
            // the client went away, or the container was removed
          }
          await stream.writeSSE({ event: 'end', data: JSON.stringify({ reason: 'the workload stopped' }) }).catch(() => {});
        });
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/manifest',
        tags,
        summary: 'What the server said about itself at its last health check: name, version, tools',
        request: { params: IdParam },
        responses: { 200: json(Manifest, 'The MCP manifest'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json(await serverManifest<z.infer<typeof Manifest>>(sql, server.id), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{id}/decisions',
        tags,
        summary: 'Policy decisions for this server, newest first',
        request: {
          params: IdParam,
          query: z.object({ limit: LogsQuery.shape.tail }).strict(),
        },
        responses: { 200: json(z.array(Decision), 'Decisions'), ...commonErrors, ...notFoundError },
      }),
      async (c) => {
        const server = await findServer(sql, c.req.valid('param').id, visibleScope(c.get('caller')));
        return c.json(await policyDecisions(sql, server.id, Math.min(c.req.valid('query').limit ?? 20, 200)), 200);
      },
    );
}
