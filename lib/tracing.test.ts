import { describe, expect, it } from 'vitest';
import { parseEnvironment } from './env.js';
import { startTracing, tracesUrl } from './tracing.js';

describe('tracing switch', () => {
  it('is off by default: no URL, and startTracing loads nothing', async () => {
    const env = parseEnvironment({});
    expect(tracesUrl(env)).toBeUndefined();
    expect(await startTracing(env, 'x')).toBeUndefined();
  });

  it('turns on with an endpoint, following the OTLP conventions for the traces path', () => {
    expect(tracesUrl(parseEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(tracesUrl(parseEnvironment({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otel.example/api/traces' }))).toBe(
      'https://otel.example/api/traces',
    );
    expect(tracesUrl(parseEnvironment({ OTEL_TRACES_ENABLED: 'true' }))).toBe('http://127.0.0.1:4318/v1/traces');
    expect(
      tracesUrl(
        parseEnvironment({ OTEL_TRACES_ENABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
      ),
    ).toBeUndefined();
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() => parseEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      'invalid environment: OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL',
    );
  });
});

describe('relay spans', () => {
  it("continue the caller's trace and hand a child of it to the next hop", async () => {
    // Spans are batched: nothing is sent to this (absent) collector during the test.
    const tracing = (await startTracing(
      parseEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }),
      'relay-test',
    ))!;
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const incoming = { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=x' };
    const sent = await tracing.relay.span('MCP tools/call', incoming, { 'mcp.server.id': 3 }, async (h) => h);
    expect(sent.traceparent).toMatch(new RegExp(`^00-${traceId}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
    expect(sent.tracestate).toBe('vendor=x');
    const fresh = await tracing.relay.span('MCP ping', {}, {}, async (h) => h);
    expect(fresh.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.traceparent).not.toContain(traceId);
  });
});
