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
