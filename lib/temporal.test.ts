import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEnvironment } from './env.js';
import { connectionOptions } from './temporal.js';

describe('Temporal connection settings', () => {
  it('is plain for a local dev server', () => {
    expect(connectionOptions(parseEnvironment({}))).toEqual({ address: '127.0.0.1:7233' });
  });

  it('uses TLS with an API key (Temporal Cloud), and TLS alone when asked', () => {
    const cloud = connectionOptions(
      parseEnvironment({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key-123' }),
    );
    expect(cloud).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'key-123' });
    expect(connectionOptions(parseEnvironment({ TEMPORAL_TLS: 'true' })).tls).toBe(true);
  });

  it('reads an mTLS client certificate pair, and refuses half of one at start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-tls-'));
    writeFileSync(join(dir, 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const env = parseEnvironment({
      TEMPORAL_TLS_CERT_PATH: join(dir, 'client.pem'),
      TEMPORAL_TLS_KEY_PATH: join(dir, 'client.key'),
    });
    const { tls } = connectionOptions(env);
    expect(tls).toEqual({ clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') } });
    expect(() => parseEnvironment({ TEMPORAL_TLS_CERT_PATH: join(dir, 'client.pem') })).toThrow(
      'invalid environment: TEMPORAL_TLS_CERT_PATH: expected together with TEMPORAL_TLS_KEY_PATH (both or neither)',
    );
  });
});
