// The Bearer-token flow (Docker Hub / GHCR style) against a minimal in-process double: a token
// endpoint plus a registry that demands its tokens. The Basic flow and the real API semantics are
// covered against distribution itself in test/integration/registry-client.int.test.ts.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MediaType, RegistryClient, RegistryError, parseChallenge, sha256Digest } from './client.js';

interface TokenRequest {
  authorization: string | undefined;
  service: string | null;
  scopes: string[];
  account: string | null;
}

const USER = 'robot';
const PASSWORD = 'pa55-w0rd';

class TokenRegistryDouble {
  server!: Server;
  base = '';
  tokenRequests: TokenRequest[] = [];
  tokenField: 'token' | 'access_token' = 'token';
  sendDigestHeader = true;
  rejectAllTokens = false;
  manifests = new Map<string, { type: string; bytes: Buffer }>();
  private issued = new Map<string, string[]>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  reset(): void {
    this.tokenRequests = [];
    this.tokenField = 'token';
    this.sendDigestHeader = true;
    this.rejectAllTokens = false;
    this.manifests.clear();
    this.issued.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.base);

    if (url.pathname === '/token') {
      const request: TokenRequest = {
        authorization: req.headers.authorization,
        service: url.searchParams.get('service'),
        scopes: url.searchParams.getAll('scope'),
        account: url.searchParams.get('account'),
      };
      this.tokenRequests.push(request);
      const anonymous = request.authorization === undefined;
      const good = request.authorization === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
      if (!anonymous && !good) return void res.writeHead(401).end('{"details":"incorrect username or password"}');
      const token = `tok-${this.tokenRequests.length}`;
      this.issued.set(token, anonymous ? request.scopes.filter((s) => s.endsWith(':pull')) : request.scopes);
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ [this.tokenField]: token, expires_in: 300 }));
    }

    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    const repo = m?.[1] ?? '';
    const needed = url.pathname === '/v2/' ? '' : `repository:${repo}:${req.method === 'PUT' ? 'pull,push' : 'pull'}`;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const granted = token ? this.issued.get(token) : undefined;
    if (this.rejectAllTokens || !granted || (needed && !granted.includes(needed))) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${this.base}/token",service="double.test",scope="${needed}"`.replace(
          ',scope=""',
          '',
        ),
        'content-type': 'application/json',
      });
      return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    if (url.pathname === '/v2/')
      return void res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
    if (!m) return void res.writeHead(404).end();

    const key = `${repo}:${m[2]}`;
    if (req.method === 'PUT') {
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const stored = { type: req.headers['content-type'] ?? '', bytes: body };
      this.manifests.set(key, stored);
      this.manifests.set(`${repo}:${digest}`, stored);
      return void res.writeHead(201, this.sendDigestHeader ? { 'docker-content-digest': digest } : {}).end();
    }
    const found = this.manifests.get(key);
    if (!found) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    }
    res.writeHead(200, { 'content-type': found.type, 'content-length': found.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : found.bytes);
  }
}

const double = new TokenRegistryDouble();
beforeAll(() => double.start());
afterAll(() => double.stop());
beforeEach(() => double.reset());

const digestOf = (s: string) => sha256Digest(s);
const amd64 = {
  mediaType: MediaType.OciManifest,
  digest: digestOf('amd64'),
  size: 501,
  platform: { os: 'linux', architecture: 'amd64' },
};
const armv7 = {
  mediaType: MediaType.DockerManifest,
  digest: digestOf('armv7'),
  size: 428,
  platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
};

/** `null`: no credentials at all. */
function client(credentials: { username: string; password: string } | null = { username: USER, password: PASSWORD }) {
  return new RegistryClient({ apiBase: double.base, credentials: credentials ?? undefined });
}

async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

describe('Bearer token auth', () => {
  it('gets a token for the scope, retries, and reuses the cached token', async () => {
    const c = client();
    const digest = await c.putIndex('demo/app', 'latest', [amd64, armv7], 'oci');
    expect(double.tokenRequests).toHaveLength(1);
    expect(double.tokenRequests[0]).toEqual({
      authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
      service: 'double.test',
      scopes: ['repository:demo/app:pull,push'],
      account: USER,
    });

    const index = await c.getManifest('demo/app', 'latest');
    const again = await c.getManifest('demo/app', digest);
    expect(again.digest).toBe(digest);
    // One more token for the pull scope; the second GET uses the cached one.
    expect(double.tokenRequests.map((r) => r.scopes)).toEqual([
      ['repository:demo/app:pull,push'],
      ['repository:demo/app:pull'],
    ]);

    expect(index.mediaType).toBe(MediaType.OciIndex);
    expect(index.digest).toBe(digest);
    expect(index.body).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        {
          mediaType: MediaType.OciManifest,
          digest: amd64.digest,
          size: 501,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          mediaType: MediaType.DockerManifest,
          digest: armv7.digest,
          size: 428,
          platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
        },
      ],
    });
    expect(await c.listIndexPlatforms('demo/app', 'latest')).toEqual([
      { digest: amd64.digest, platform: 'linux/amd64' },
      { digest: armv7.digest, platform: 'linux/arm/v7' },
    ]);
    expect(await c.headManifest('demo/app', 'latest')).toEqual({
      mediaType: MediaType.OciIndex,
      digest,
      size: index.size,
    });
  });

  it('accepts access_token and computes the digest when the registry sends none', async () => {
    double.tokenField = 'access_token';
    double.sendDigestHeader = false;
    const c = client();
    const digest = await c.putIndex('demo/app', 'latest', [amd64], 'docker');
    const stored = double.manifests.get('demo/app:latest')!;
    expect(digest).toBe(`sha256:${createHash('sha256').update(stored.bytes).digest('hex')}`);
    expect(stored.type).toBe(MediaType.DockerManifestList);
  });

  it('pulls anonymously when no credentials are configured', async () => {
    await client().putIndex('demo/app', 'latest', [amd64], 'oci');
    double.tokenRequests = [];
    const anon = client(null);
    expect((await anon.getManifest('demo/app', 'latest')).mediaType).toBe(MediaType.OciIndex);
    expect(double.tokenRequests[0]?.authorization).toBeUndefined();
    expect(double.tokenRequests[0]?.account).toBeNull();
    // The anonymous token carries no push right, so the registry keeps refusing: that is auth.
    const err = await rejection(anon.putIndex('demo/app', 'latest', [amd64], 'oci'));
    expect(err.kind).toBe('auth');
  });

  it('reports rejected credentials as auth without leaking the password', async () => {
    const err = await rejection(client({ username: USER, password: 'wrong-secret' }).getManifest('demo/app', 'latest'));
    expect(err.kind).toBe('auth');
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/token service rejected the credentials/);
    expect(err.message).not.toContain('wrong-secret');
    expect(err.retryable).toBe(false);
  });

  it('reports a registry that refuses a fresh token as auth', async () => {
    double.rejectAllTokens = true;
    const err = await rejection(client().ping());
    expect(err).toMatchObject({ kind: 'auth', status: 401 });
  });

  it('answers ping with the API version', async () => {
    expect(await client().ping()).toEqual({ apiVersion: 'registry/2.0' });
  });

  it('maps 404 to not_found with the registry error code', async () => {
    const err = await rejection(client().getManifest('demo/none', 'latest'));
    expect(err).toMatchObject({ kind: 'not_found', status: 404 });
    expect(err.message).toMatch(/MANIFEST_UNKNOWN: manifest unknown/);
    expect(await client().headManifest('demo/none', 'latest')).toBeUndefined();
    expect(await client().listIndexPlatforms('demo/none', 'latest')).toEqual([]);
  });
});

describe('errors without a registry double', () => {
  const stub = (handler: (url: URL, init: RequestInit | undefined) => Response | Promise<Response>): typeof fetch =>
    (async (input: string | URL | Request, init?: RequestInit) =>
      handler(new URL(String(input)), init)) as typeof fetch;

  it('classifies a refused connection as transport (retryable)', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await rejection(new RegistryClient({ apiBase: `http://127.0.0.1:${port}` }).ping());
    expect(err).toMatchObject({ kind: 'transport', status: undefined });
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.retryable).toBe(true);
  });

  it('classifies a timeout as transport', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const err = await rejection(new RegistryClient({ apiBase: `http://127.0.0.1:${port}`, timeoutMs: 200 }).ping());
      expect(err.kind).toBe('transport');
      expect(err.message).toMatch(/no answer within 200 ms/);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('rethrows the caller abort reason instead of wrapping it', async () => {
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    const c = new RegistryClient({ apiBase: double.base, signal: controller.signal });
    await expect(c.ping()).rejects.toBe(reason);
  });

  it('classifies 5xx as a retryable remote error and 403 as auth', async () => {
    const c5 = new RegistryClient({
      apiBase: 'https://r.example.com',
      fetch: stub(() => new Response('boom', { status: 503 })),
    });
    expect(await rejection(c5.ping())).toMatchObject({ kind: 'remote', status: 503, retryable: true });
    const c4 = new RegistryClient({
      apiBase: 'https://r.example.com',
      fetch: stub(() => new Response('', { status: 403 })),
    });
    expect(await rejection(c4.ping())).toMatchObject({ kind: 'auth', status: 403, retryable: false });
  });

  it('uses Basic when challenged and sends it up front afterwards', async () => {
    const seen: Array<string | undefined> = [];
    const expected = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const c = new RegistryClient({
      apiBase: 'https://r.example.com',
      credentials: { username: 'u', password: 'p' },
      fetch: stub((_url, init) => {
        const auth = (init?.headers as Record<string, string>).authorization;
        seen.push(auth);
        return auth === expected
          ? new Response('{}', { status: 200 })
          : new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      }),
    });
    await c.ping();
    await c.ping();
    expect(seen).toEqual([undefined, expected, expected]);
  });

  it('refuses to send credentials to a plain-http token realm of an https registry', async () => {
    const c = new RegistryClient({
      apiBase: 'https://r.example.com',
      credentials: { username: 'u', password: 'p' },
      fetch: stub(
        () =>
          new Response('', {
            status: 401,
            headers: { 'www-authenticate': 'Bearer realm="http://auth.example.com/token"' },
          }),
      ),
    });
    expect(await rejection(c.ping())).toMatchObject({
      kind: 'auth',
      message: expect.stringMatching(/plain-http token realm/),
    });
  });

  it('sends no Authorization to another origin (e.g. an upload Location elsewhere)', async () => {
    const calls: Array<{ url: string; auth: string | undefined }> = [];
    const c = new RegistryClient({
      apiBase: 'https://r.example.com',
      credentials: { username: 'u', password: 'p' },
      fetch: stub((url, init) => {
        const auth = (init?.headers as Record<string, string>).authorization;
        calls.push({ url: url.origin, auth });
        if (url.origin === 'https://r.example.com' && !auth) {
          return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
        }
        if (init?.method === 'HEAD') return new Response(null, { status: 404 });
        if (init?.method === 'POST')
          return new Response(null, { status: 202, headers: { location: 'https://blobs.example.net/up/1' } });
        return new Response(null, { status: 201 });
      }),
    });
    await c.uploadBlob('demo/app', 'layer');
    expect(calls.at(-1)).toEqual({ url: 'https://blobs.example.net', auth: undefined });
  });

  it('validates index entries before sending', async () => {
    const c = new RegistryClient({
      apiBase: 'https://r.example.com',
      fetch: stub(() => new Response(null, { status: 500 })),
    });
    await expect(c.putIndex('demo/app', 'latest', [], 'oci')).rejects.toThrow(/at least one entry/);
    await expect(c.putIndex('demo/app', 'latest', [{ ...amd64, size: 0 }], 'oci')).rejects.toThrow(/positive size/);
    await expect(c.putIndex('demo/app', 'latest', [amd64, { ...amd64, digest: digestOf('x') }], 'oci')).rejects.toThrow(
      /platform linux\/amd64 twice/,
    );
    await expect(c.putIndex('demo/app', 'bad tag', [amd64], 'oci')).rejects.toThrow(/tag "bad tag" is invalid/);
    await expect(c.deleteManifest('demo/app', 'latest')).rejects.toThrow(/not a digest/);
    await expect(c.getManifest('../etc', 'latest')).rejects.toThrow(/invalid/);
  });
});

describe('parseChallenge', () => {
  it('reads quoted parameters containing commas', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:a/b:pull,push',
      },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
    expect(parseChallenge(null)).toBeUndefined();
  });
});
