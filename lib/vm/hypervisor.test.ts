// The hypervisor client over a scripted fetch: request shape, error messages, redaction, timeouts.
import { describe, expect, it } from 'vitest';
import { createHypervisorClient, HypervisorError } from './hypervisor.js';

const TOKEN = 'hv-secret-token';

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;

function client(handler: Handler, opts: { timeoutMs?: number; token?: string } = {}) {
  const calls: { url: URL; init: RequestInit }[] = [];
  const fakeFetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    calls.push({ url, init });
    return handler(url, init);
  }) as typeof fetch;
  const hv = createHypervisorClient({
    endpoint: 'http://hv.test/api/',
    token: opts.token ?? TOKEN,
    timeoutMs: opts.timeoutMs ?? 1_000,
    fetch: fakeFetch,
  });
  return { hv, calls };
}

async function errorOf(promise: Promise<unknown>): Promise<HypervisorError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HypervisorError);
  return err as HypervisorError;
}

describe('hypervisor client', () => {
  it('provisions with bearer token, user agent, idempotency key and the provision body', async () => {
    const { hv, calls } = client(() =>
      Response.json({ instance_id: 'vm-123', attestation: { quote: {} } }, { status: 201 }),
    );
    const instance = await hv.provision({
      serverId: 7,
      image: 'img:1',
      policyVersion: 'p1',
      capabilities: ['gpu'],
      tier: 'silver:Router',
      idempotencyKey: 'k-1',
    });
    expect(instance).toEqual({
      instanceId: 'vm-123',
      isolationTier: 'silver:Router',
      attestation: { quote: {} },
      image: null,
    });
    const [{ url, init }] = calls as [(typeof calls)[number]];
    expect(`${init.method} ${url.pathname}`).toBe('POST /api/instances');
    expect(init.headers).toMatchObject({
      Authorization: `Bearer ${TOKEN}`,
      'User-Agent': 'mcp-host-runtime/1.0',
      'Content-Type': 'application/json',
      'Idempotency-Key': 'k-1',
    });
    expect(JSON.parse(String(init.body))).toEqual({
      server_id: 7,
      image: 'img:1',
      policy_version: 'p1',
      capabilities: ['gpu'],
      tier: 'silver:Router',
    });
  });

  it('sends no Authorization header without a token', async () => {
    const { hv, calls } = client(() => new Response('a\nb\n'), { token: '' });
    expect(await hv.logs('vm-1', 200)).toBe('a\nb\n');
    expect(calls[0]!.init.headers).not.toHaveProperty('Authorization');
    expect(calls[0]!.url.pathname + calls[0]!.url.search).toBe('/api/instances/vm-1/logs?tail=200');
  });

  it('names the request and status, quoting the body with the token redacted', async () => {
    const { hv } = client(() => new Response(`overloaded; you sent Bearer ${TOKEN}\n\n`, { status: 503 }));
    const err = await errorOf(hv.provision({ serverId: 1, image: 'i', policyVersion: 'p', capabilities: [] }));
    expect(err.message).toBe('hypervisor rejected provisioning request: 503 (overloaded; you sent Bearer ***)');
    expect(err).toMatchObject({ kind: 'rejected', status: 503, retryable: true });
  });

  it.each([
    [400, false],
    [409, false],
    [429, true],
    [500, true],
  ])('a %i rejection is retryable: %s', async (status, retryable) => {
    const { hv } = client(() => new Response('', { status }));
    const err = await errorOf(hv.start('vm-1'));
    expect(err.message).toBe(`hypervisor rejected start request for instance vm-1: ${status}`);
    expect(err.retryable).toBe(retryable);
  });

  it('treats 404 on stop and teardown as already gone, and on start as an error', async () => {
    const { hv } = client(() => new Response('', { status: 404 }));
    expect(await hv.stop('vm-1')).toBe(false);
    expect(await hv.teardown('vm-1')).toBe(false);
    expect((await errorOf(hv.start('vm-1'))).status).toBe(404);
  });

  it("reads an instance's status: state, endpoint and exit reason; 404 is null", async () => {
    const { hv, calls } = client((url) =>
      url.pathname.endsWith('/vm-1')
        ? Response.json({ instance_id: 'vm-1', state: 'failed', exit_reason: `kernel panic (${TOKEN})` })
        : url.pathname.endsWith('/vm-2')
          ? Response.json({ instance_id: 'vm-2', state: 'running', endpoint: 'http://10.0.0.5:8080/mcp' })
          : new Response('', { status: 404 }),
    );
    expect(await hv.status('vm-1')).toEqual({
      instanceId: 'vm-1',
      state: 'failed',
      endpoint: null,
      exitReason: 'kernel panic (***)',
    });
    expect(await hv.status('vm-2')).toEqual({
      instanceId: 'vm-2',
      state: 'running',
      endpoint: 'http://10.0.0.5:8080/mcp',
      exitReason: null,
    });
    expect(await hv.status('vm-3')).toBeNull();
    expect(calls.map((c) => `${c.init.method} ${c.url.pathname}`)).toEqual([
      'GET /api/instances/vm-1',
      'GET /api/instances/vm-2',
      'GET /api/instances/vm-3',
    ]);
  });

  it.each([
    [{ state: 'running' }, 'instance_id: '],
    [{ instance_id: 'vm-1', state: 'Running!' }, 'state: a lower-case word'],
    [{ instance_id: 'vm-1', state: 'running', endpoint: 'file:///etc/passwd' }, 'endpoint: '],
    [{ instance_id: 'vm-1', state: 'running', exit_reason: 7 }, 'exit_reason: '],
    [{ instance_id: 'vm-9', state: 'running' }, 'it describes instance vm-9'],
  ])('refuses a status answer %j, naming what is wrong', async (body, named) => {
    const { hv } = client(() => Response.json(body));
    const err = await errorOf(hv.status('vm-1'));
    expect(err).toMatchObject({ kind: 'invalid-response', retryable: false });
    expect(err.message).toContain('hypervisor sent an invalid status response for instance vm-1: ');
    expect(err.message).toContain(named);
  });

  it('refuses provisioning answers without a usable instance id', async () => {
    for (const body of [{}, { instance_id: '' }, { instance_id: '../etc' }, { instance_id: 'a b' }]) {
      const { hv } = client(() => Response.json(body));
      const err = await errorOf(hv.provision({ serverId: 1, image: 'i', policyVersion: 'p', capabilities: [] }));
      expect(err.kind).toBe('invalid-response');
      expect(err.retryable).toBe(false);
    }
    const { hv } = client(() => new Response('not json'));
    expect(
      (await errorOf(hv.provision({ serverId: 1, image: 'i', policyVersion: 'p', capabilities: [] }))).message,
    ).toMatch(/not JSON/);
  });

  it('times out a request that does not answer, body included', async () => {
    const { hv } = client(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) =>
          init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
      { timeoutMs: 50 },
    );
    const err = await errorOf(hv.logs('vm-1', 10));
    expect(err.message).toBe('hypervisor did not answer the log request for instance vm-1 within 50 ms');
    expect(err.retryable).toBe(true);

    const slowBody = client(
      (_url, init) =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('partial'));
              init.signal!.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
            },
          }),
        ),
      { timeoutMs: 50 },
    );
    expect((await errorOf(slowBody.hv.logs('vm-1', 10))).kind).toBe('transport');
  });

  it('streams lines, flushing a trailing partial line; 204 means no stream', async () => {
    const chunks = ['line-o', 'ne\r\nline-', 'two\npart', 'ial'];
    const { hv } = client(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
              controller.close();
            },
          }),
        ),
      { timeoutMs: 50 },
    );
    const lines: string[] = [];
    for await (const line of (await hv.streamLogs('vm-1'))!) lines.push(line);
    expect(lines).toEqual(['line-one', 'line-two', 'partial']);

    const none = client(() => new Response(null, { status: 204 }));
    expect(await none.hv.streamLogs('vm-1')).toBeNull();
  });
});
