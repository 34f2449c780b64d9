// OpenTelemetry tracing through Temporal's interceptors, off by default. When the env does not turn it
// on, `startTracing` answers undefined and not one OpenTelemetry module is loaded (they are imported
// here, lazily), so the API and the worker run exactly as without it.
//
// On: spans go to an OTLP/HTTP (JSON) endpoint in batches. The API's requests get a span each; the
// Temporal client interceptor opens StartWorkflow:/UpdateWorkflow:/QueryWorkflow: spans and carries
// their context in the workflow's headers; the worker continues the trace in RunWorkflow:,
// StartActivity: and RunActivity: spans (workflow spans leave the sandbox through a sink).
import { createRequire } from 'node:module';
import type { IncomingHttpHeaders } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { Env } from './env.js';

type TracingEnv = Pick<
  Env,
  'OTEL_TRACES_ENABLED' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_SERVICE_NAME'
>;

export interface Tracing {
  /** Where spans are sent. */
  url: string;
  /** For the Temporal client (`new Client({ interceptors: { workflow } })`). */
  clientInterceptors: WorkflowClientInterceptor[];
  /** Interceptors and the workflow span sink, for Worker.create. */
  workerOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** A span per HTTP request, parent of whatever the handler does. */
  middleware: MiddlewareHandler;
  /** For proxies (the MCP gateway): spans that continue the caller's trace and hand it on. */
  relay: RelaySpans;
  /** Flushes pending spans. */
  shutdown(): Promise<void>;
}

export interface RelaySpans {
  /**
   * Runs `fn` in a span whose parent is the caller's W3C trace context (`traceparent`/`tracestate` of
   * `incoming`, a new trace without one); `fn` gets the headers that carry this span on to the next hop.
   */
  span<T>(
    name: string,
    incoming: IncomingHttpHeaders,
    attributes: Record<string, string | number>,
    fn: (traceHeaders: Record<string, string>) => Promise<T>,
  ): Promise<T>;
}

/** The OTLP traces URL when tracing is on, else undefined. */
export function tracesUrl(env: TracingEnv): string | undefined {
  const explicit = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const on = env.OTEL_TRACES_ENABLED ?? Boolean(explicit ?? base);
  if (!on) return undefined;
  // The OTLP convention: a base endpoint gets /v1/traces appended, a signal-specific one is used as is.
  return explicit ?? `${(base ?? 'http://127.0.0.1:4318').replace(/\/+$/, '')}/v1/traces`;
}

export async function startTracing(env: TracingEnv, defaultServiceName: string): Promise<Tracing | undefined> {
  const url = tracesUrl(env);
  if (!url) return undefined;
  const otel = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { Resource } = await import('@opentelemetry/resources');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const temporalOtel = await import('@temporalio/interceptors-opentelemetry');

  const resource = new Resource({ 'service.name': env.OTEL_SERVICE_NAME ?? defaultServiceName });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Global: the interceptors use the global tracer and propagator; async-local context makes the
  // request's span the parent of the workflow start made inside it.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  const tracer = otel.trace.getTracer('mcp-host');
  const workflowInterceptorsModule = createRequire(import.meta.url).resolve(
    '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
  );

  return {
    url,
    clientInterceptors: [new temporalOtel.OpenTelemetryWorkflowClientInterceptor()],
    workerOptions: () => ({
      interceptors: {
        workflowModules: [workflowInterceptorsModule],
        activity: [
          (ctx) => ({
            inbound: new temporalOtel.OpenTelemetryActivityInboundInterceptor(ctx),
            outbound: new temporalOtel.OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
      },
      sinks: { exporter: temporalOtel.makeWorkflowExporter(processor, resource) },
    }),
    middleware: async (c, next) =>
      tracer.startActiveSpan(`${c.req.method} ${c.req.path}`, { kind: otel.SpanKind.SERVER }, async (span) => {
        try {
          await next();
          // The route pattern, not the concrete path: ids stay out of span names.
          span.updateName(`${c.req.method} ${c.req.routePath}`);
          span.setAttributes({
            'http.request.method': c.req.method,
            'http.route': c.req.routePath,
            'http.response.status_code': c.res.status,
          });
          if (c.res.status >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
        } finally {
          span.end();
        }
      }),
    relay: {
      span(name, incoming, attributes, fn) {
        const parent = otel.propagation.extract(otel.ROOT_CONTEXT, incoming, {
          get: (carrier, key) => carrier[key],
          keys: (carrier) => Object.keys(carrier),
        });
        return tracer.startActiveSpan(name, { kind: otel.SpanKind.SERVER, attributes }, parent, async (span) => {
          const traceHeaders: Record<string, string> = {};
          otel.propagation.inject(otel.context.active(), traceHeaders);
          try {
            return await fn(traceHeaders);
          } catch (err) {
            span.setStatus({ code: otel.SpanStatusCode.ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        });
      },
    },
    shutdown: () => provider.shutdown(),
  };
}
