// OpenTelemetry tracing through the Temporal interceptors, against a real OTLP/HTTP receiver (a node
// http server that decodes the JSON exports): off by default — nothing is sent even with an endpoint
// configured when OTEL_TRACES_ENABLED=false — and on, one trace runs from the API request through the
// workflow start to the workflow and its activities in the worker.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/stack/process.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

let collector: Server;
let endpoint: string;
const spans: ReceivedSpan[] = [];
let exports = 0;

beforeAll(async () => {
  const port = await freePort();
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports += 1;
      // The OTLP/HTTP exporter's JSON encoding: ids as hex strings.
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value
          ?.stringValue;
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? [])
            spans.push({
              service,
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
            });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(port, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await new Promise((resolve) => collector?.close(resolve));
});

const imageServer = (name: string) => ({
  name,
  server_type: 'Router',
  source: { type: 'image', image: 'registry.local:5000/team/router:1.0' },
  start: false,
});

/** Creates a server (its workflow starts and runs activities), then deletes it (a workflow update). */
async function createAndDelete(h: Harness, name: string): Promise<void> {
  const call = httpClient(h.apiUrl);
  const created = await call('POST', '/api/servers', { token: h.adminToken, json: imageServer(name) });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status !== 'creating',
    30_000,
    'created',
  );
  expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
    30_000,
    'deleted',
  );
}

describe('tracing', () => {
  it('is off when OTEL_TRACES_ENABLED=false, even with an endpoint: nothing is sent', async () => {
    const h = await startHarness('tracing-off', {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_TRACES_ENABLED: 'false',
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    try {
      await createAndDelete(h, 'trace-off');
      // Longer than the batch processor's 5 s export delay.
      await new Promise((r) => setTimeout(r, 7_000));
    } finally {
      await h.stop();
    }
    expect(exports).toBe(0);
    expect(readFileSync(h.worker.logFile, 'utf8')).not.toContain('tracing on');
  }, 120_000);

  it('on: the API request, the workflow start, the workflow run and its activities share one trace', async () => {
    const h = await startHarness('tracing-on', {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    try {
      await createAndDelete(h, 'trace-on');
      const start = await eventually(
        async () => spans.find((s) => s.name === 'StartWorkflow:serverLifecycle'),
        30_000,
        'StartWorkflow span',
      );
      const trace = () => spans.filter((s) => s.traceId === start.traceId);
      await eventually(
        async () =>
          trace().some((s) => s.name === 'RunWorkflow:serverLifecycle') &&
          trace().some((s) => s.name.startsWith('RunActivity:')),
        30_000,
        'workflow and activity spans',
      );
      const names = trace().map((s) => s.name);
      console.log(`trace ${start.traceId}: ${[...new Set(names)].join(', ')}`);

      // The API's request span is the root; StartWorkflow is its child.
      const request = trace().find((s) => s.name === 'POST /api/servers');
      expect(request, names.join(', ')).toBeDefined();
      expect(request!.service).toBe('mcp-host-api');
      expect(start.parentSpanId).toBe(request!.spanId);
      expect(start.service).toBe('mcp-host-api');
      // The worker continued it: the workflow run under the start, activities scheduled from the run.
      const run = trace().find((s) => s.name === 'RunWorkflow:serverLifecycle')!;
      expect(run.service).toBe('mcp-host-worker');
      expect(run.parentSpanId).toBe(start.spanId);
      expect(names.some((n) => n.startsWith('StartActivity:'))).toBe(true);
      const activity = trace().find((s) => s.name.startsWith('RunActivity:'))!;
      expect(activity.service).toBe('mcp-host-worker');
      // The delete intent is an update whose span is in the DELETE request's own trace.
      const update = await eventually(
        async () => spans.find((s) => s.name.startsWith('StartWorkflowUpdate:')),
        30_000,
        'update span',
      );
      const del = spans.find((s) => s.spanId === update.parentSpanId);
      expect(del?.name).toBe('DELETE /api/servers/:id');
    } finally {
      await h.stop();
    }
  }, 180_000);
});
