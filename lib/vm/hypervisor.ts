// HTTP client of the hypervisor control plane that runs virtual-machine servers:
//
//   POST   /instances                   {server_id, image, policy_version, capabilities, tier?, config?}
//                                         → {instance_id, isolation_tier?, attestation?, image?}
//   POST   /instances/<id>/start | /stop
//   GET    /instances/<id>               → {instance_id, state, endpoint?, exit_reason?}
//   DELETE /instances/<id>
//   GET    /instances/<id>/logs?tail=N   → text
//   GET    /instances/<id>/logs/stream   → 204 (no stream) or newline-delimited lines
//
// Bearer token when configured, UA `mcp-host-runtime/1.0`, a timeout on every request (body
// included). Failures are HypervisorError with the request named ("hypervisor rejected provisioning
// request: 503"); messages never carry the token, and a response body quoted in one is redacted.
import { z } from 'zod';

export const HYPERVISOR_USER_AGENT = 'mcp-host-runtime/1.0';

export type HypervisorErrorKind = 'rejected' | 'transport' | 'invalid-response';

export class HypervisorError extends Error {
  override readonly name = 'HypervisorError';
  constructor(
    readonly kind: HypervisorErrorKind,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth another attempt: the network failed, or the hypervisor had a server-side problem. */
  get retryable(): boolean {
    if (this.kind === 'transport') return true;
    return this.kind === 'rejected' && this.status !== undefined && (this.status >= 500 || this.status === 429);
  }
}

export interface HypervisorClientOptions {
  /** Base URL; may carry a path prefix. */
  endpoint: string;
  token?: string;
  /** Per request, reading the body included (streams: until the headers arrive). Default 30 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface ProvisionRequest {
  serverId: number;
  image: string;
  policyVersion: string;
  capabilities: readonly string[];
  tier?: string | null;
  config?: Record<string, unknown>;
  /** Sent as Idempotency-Key: a hypervisor that honours it answers a repeated request with the same instance. */
  idempotencyKey?: string;
}

export interface ProvisionedInstance {
  instanceId: string;
  isolationTier: string | null;
  /** The attestation evidence exactly as received (null when there was none). */
  attestation: unknown;
  image: string | null;
}

/**
 * An instance as the hypervisor sees it now. `state` is provisioning, running, stopped or failed
 * (a hypervisor may name others: they are read as not running yet); `endpoint` is the Streamable
 * HTTP URL of the server inside, when the hypervisor exposes one.
 */
export interface InstanceStatus {
  instanceId: string;
  state: string;
  endpoint: string | null;
  /** Why a stopped or failed instance stopped, in the hypervisor's words. */
  exitReason: string | null;
}

export interface HypervisorClient {
  provision(request: ProvisionRequest): Promise<ProvisionedInstance>;
  start(instanceId: string): Promise<void>;
  /** Null when the hypervisor no longer knows the instance (404). */
  status(instanceId: string): Promise<InstanceStatus | null>;
  /** False when the hypervisor no longer knows the instance (404): nothing left to stop. */
  stop(instanceId: string): Promise<boolean>;
  /** False when the instance was already gone (404). */
  teardown(instanceId: string): Promise<boolean>;
  /** The last `tail` log lines, newlines kept. */
  logs(instanceId: string, tail: number): Promise<string>;
  /** Live log lines, or null when the hypervisor has no stream for the instance (204). */
  streamLogs(instanceId: string, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<string> | null>;
}

/** Instance ids go into paths and notes: printable, bounded. */
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

const INSTANCE_STATUS = z.object({
  instance_id: z.string().regex(INSTANCE_ID),
  state: z.string().regex(/^[a-z][a-z_-]{0,31}$/, 'a lower-case word'),
  endpoint: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .nullish(),
  exit_reason: z.string().max(2000).nullish(),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createHypervisorClient(options: HypervisorClientOptions): HypervisorClient {
  const base = options.endpoint.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const doFetch = options.fetch ?? fetch;
  const token = options.token;

  /** A response body as a short, single-line, token-free detail for an error message. */
  const detail = (text: string) => {
    let flat = text.replace(/\s+/g, ' ').trim();
    if (token) flat = flat.split(token).join('***');
    if (flat.length > 200) flat = `${flat.slice(0, 200)}…`;
    return flat ? ` (${flat})` : '';
  };
  const redact = (text: string) => (token ? text.split(token).join('***') : text);

  const path = (instanceId: string, suffix = '') => {
    if (!INSTANCE_ID.test(instanceId))
      throw new HypervisorError(
        'invalid-response',
        `invalid VM instance id ${JSON.stringify(instanceId.slice(0, 64))}`,
      );
    return `/instances/${encodeURIComponent(instanceId)}${suffix}`;
  };

  /** One request; `op` and `instanceId` name it in errors ("start request for instance vm-1"). */
  async function send(
    op: string,
    instanceId: string | undefined,
    method: string,
    url: string,
    opts: {
      body?: unknown;
      headers?: Record<string, string>;
      accept?: string;
      missingOk?: boolean;
      stream?: boolean;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response | null> {
    const headers: Record<string, string> = {
      'User-Agent': HYPERVISOR_USER_AGENT,
      Accept: opts.accept ?? 'application/json',
      ...opts.headers,
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error('timeout')), timeoutMs);
    const signal = opts.signal ? AbortSignal.any([timeout.signal, opts.signal]) : timeout.signal;
    const clear = () => clearTimeout(timer);
    const what = `${op} request${instanceId === undefined ? '' : ` for instance ${instanceId}`}`;
    const failure = (err: unknown): never => {
      clear();
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (timeout.signal.aborted) {
        throw new HypervisorError(
          'transport',
          `hypervisor did not answer the ${what} within ${timeoutMs} ms`,
          undefined,
          { cause: err },
        );
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new HypervisorError(
        'transport',
        `hypervisor unreachable during ${what}: ${redact(String(reason))}`,
        undefined,
        { cause: err },
      );
    };

    let res: Response;
    try {
      res = await doFetch(base + url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal,
      });
    } catch (err) {
      return failure(err);
    }
    if (res.status === 404 && opts.missingOk) {
      await res.body?.cancel().catch(() => {});
      clear();
      return null;
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      clear();
      throw new HypervisorError('rejected', `hypervisor rejected ${what}: ${res.status}${detail(text)}`, res.status);
    }
    if (opts.stream) {
      clear(); // a stream runs as long as it runs; only the wait for its headers is bounded
      return res;
    }
    try {
      // Read the body under the same timeout, then hand back a response that no longer waits on the network.
      const bytes = await res.arrayBuffer();
      clear();
      return new Response(res.status === 204 ? null : bytes, { status: res.status, headers: res.headers });
    } catch (err) {
      return failure(err);
    }
  }

  return {
    async provision(request) {
      const body: Record<string, unknown> = {
        server_id: request.serverId,
        image: request.image,
        policy_version: request.policyVersion,
        capabilities: [...request.capabilities],
      };
      if (request.tier) body.tier = request.tier;
      if (request.config) body.config = request.config;
      const headers: Record<string, string> = request.idempotencyKey
        ? { 'Idempotency-Key': request.idempotencyKey }
        : {};
      const res = (await send('provisioning', undefined, 'POST', '/instances', { body, headers }))!;
      let json: unknown;
      try {
        json = await res.json();
      } catch {
        throw new HypervisorError(
          'invalid-response',
          'hypervisor sent an invalid provisioning response: not JSON',
          res.status,
        );
      }
      if (!isObject(json) || typeof json.instance_id !== 'string' || !INSTANCE_ID.test(json.instance_id)) {
        throw new HypervisorError(
          'invalid-response',
          'hypervisor sent an invalid provisioning response: instance_id missing or invalid',
          res.status,
        );
      }
      return {
        instanceId: json.instance_id,
        isolationTier:
          typeof json.isolation_tier === 'string' && json.isolation_tier ? json.isolation_tier : (request.tier ?? null),
        attestation: json.attestation ?? null,
        image: typeof json.image === 'string' ? json.image : null,
      };
    },

    async start(instanceId) {
      await send('start', instanceId, 'POST', path(instanceId, '/start'));
    },

    async status(instanceId) {
      const res = await send('status', instanceId, 'GET', path(instanceId), { missingOk: true });
      if (!res) return null;
      const invalid = (why: string) =>
        new HypervisorError(
          'invalid-response',
          `hypervisor sent an invalid status response for instance ${instanceId}: ${why}`,
          res.status,
        );
      let json: unknown;
      try {
        json = await res.json();
      } catch {
        throw invalid('not JSON');
      }
      const parsed = INSTANCE_STATUS.safeParse(json);
      if (!parsed.success) {
        throw invalid(
          parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`.slice(0, 200)).join('; '),
        );
      }
      if (parsed.data.instance_id !== instanceId) throw invalid(`it describes instance ${parsed.data.instance_id}`);
      return {
        instanceId,
        state: parsed.data.state,
        endpoint: parsed.data.endpoint ?? null,
        exitReason: parsed.data.exit_reason ? redact(parsed.data.exit_reason) : null,
      };
    },

    async stop(instanceId) {
      return (await send('stop', instanceId, 'POST', path(instanceId, '/stop'), { missingOk: true })) !== null;
    },

    async teardown(instanceId) {
      return (await send('teardown', instanceId, 'DELETE', path(instanceId), { missingOk: true })) !== null;
    },

    async logs(instanceId, tail) {
      const lines = Math.max(1, Math.floor(tail));
      const res = (await send('log', instanceId, 'GET', path(instanceId, `/logs?tail=${lines}`), {
        accept: 'text/plain',
      }))!;
      return res.text();
    },

    async streamLogs(instanceId, opts = {}) {
      const res = (await send('log stream', instanceId, 'GET', path(instanceId, '/logs/stream'), {
        accept: 'text/plain',
        stream: true,
        signal: opts.signal,
      }))!;
      if (res.status === 204 || !res.body) {
        await res.body?.cancel().catch(() => {});
        return null;
      }
      return lines(res.body);
    },
  };
}

/** Newline-delimited lines of a byte stream; a trailing partial line is flushed at the end. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        yield pending.slice(0, newline).replace(/\r$/, '');
        pending = pending.slice(newline + 1);
      }
    }
    pending += decoder.decode();
    if (pending) yield pending;
  } finally {
    await reader.cancel().catch(() => {});
  }
}
