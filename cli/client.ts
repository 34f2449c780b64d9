// The one HTTP client: base URL, bearer token, timeouts, and mapping every failure to a clear message.
import type { Command } from 'commander';
import { z } from 'zod';
import { ApiHttpError, apiErrorFrom, CliError, ConnectionError } from './handle-error.js';
import { readSse, type SseFrame } from './sse.js';
import { checkOption, Seconds } from './validate.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export interface ClientConfig {
  /** Without a trailing slash; may carry a path prefix when the API sits behind a proxy. */
  baseUrl: string;
  token: string;
  timeoutMs: number;
}

/** The program's global options, as commander hands them over (env already applied). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  timeout?: string;
}

const HttpUrl = z
  .string()
  .refine(
    (url) => URL.canParse(url) && ['http:', 'https:'].includes(new URL(url).protocol),
    'must be an http:// or https:// URL',
  )
  .transform((url) => url.replace(/\/+$/, ''));

export function resolveConfig(opts: GlobalOptions): ClientConfig {
  const baseUrl = checkOption('--url', HttpUrl, opts.url ?? DEFAULT_URL);
  const timeoutMs = checkOption('--timeout', Seconds, opts.timeout ?? '30') * 1000;
  const token = opts.token?.trim();
  if (!token) throw new CliError('no API token; set MCPCTL_TOKEN or pass --token');
  // fetch would reject such a header with a message about headers, not about the token.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new CliError('the API token (MCPCTL_TOKEN or --token) must be printable ASCII without spaces');
  return { baseUrl, token, timeoutMs };
}

/**
 * The client for a command's global options. `defaultTimeoutMs` replaces the default --timeout (not
 * one the operator gave) for requests that take long by design, such as a credential rotation.
 */
export function clientFrom(cmd: Command, opts: { defaultTimeoutMs?: number } = {}): ApiClient {
  const config = resolveConfig(cmd.optsWithGlobals<GlobalOptions>());
  if (opts.defaultTimeoutMs !== undefined && cmd.getOptionValueSourceWithGlobals('timeout') === 'default') {
    config.timeoutMs = Math.max(config.timeoutMs, opts.defaultTimeoutMs);
  }
  return new ApiClient(config);
}

export class ApiClient {
  constructor(readonly config: ClientConfig) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.exchange<T>(method, path, body)).body;
  }

  /** A GET of plain text (e.g. a server's logs). */
  async text(path: string): Promise<string> {
    try {
      const res = await fetch(this.config.baseUrl + path, {
        headers: this.headers('text/plain'),
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      const text = await res.text();
      if (!res.ok) throw apiErrorFrom(res.status, res.statusText, text);
      return text;
    } catch (err) {
      throw this.failure(err, 'GET', path);
    }
  }

  /** A GET whose response headers matter too (e.g. the marketplace's X-Next-Cursor). */
  getWithHeaders<T>(path: string): Promise<{ body: T; headers: Headers }> {
    return this.exchange<T>('GET', path);
  }

  private async exchange<T>(method: string, path: string, body?: unknown): Promise<{ body: T; headers: Headers }> {
    const headers = this.headers('application/json');
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      // The timeout covers reading the body too, not just the headers.
      const res = await fetch(this.config.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      const text = await res.text();
      if (!res.ok) throw apiErrorFrom(res.status, res.statusText, text);
      if (res.status === 204) return { body: undefined as T, headers: res.headers }; // No Content
      try {
        return { body: JSON.parse(text) as T, headers: res.headers };
      } catch {
        throw new CliError(`the API answered ${method} ${path} with something other than JSON`);
      }
    } catch (err) {
      throw this.failure(err, method, path);
    }
  }

  /**
   * Follows a text/event-stream. Only `signal` ends it: a stream runs for as long as it is read.
   * A refused or broken connection is a ConnectionError, so callers can tell it apart and reconnect.
   */
  async *stream(path: string, lastEventId: string | undefined, signal: AbortSignal): AsyncGenerator<SseFrame> {
    const headers = this.headers('text/event-stream');
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    let res: Response;
    try {
      res = await fetch(this.config.baseUrl + path, { headers, signal });
      if (!res.ok) throw apiErrorFrom(res.status, res.statusText, await res.text());
    } catch (err) {
      throw this.failure(err, 'GET', path);
    }
    if (!res.body) throw new ConnectionError(`the API sent an empty event stream for ${path}`);
    try {
      yield* readSse(res.body);
    } catch (err) {
      throw new ConnectionError(`the event stream from ${this.config.baseUrl} broke: ${reasonOf(err)}`);
    }
  }

  private headers(accept: string): Record<string, string> {
    return { Accept: accept, Authorization: `Bearer ${this.config.token}` };
  }

  private failure(err: unknown, method: string, path: string): Error {
    if (err instanceof ApiHttpError || err instanceof CliError) return err;
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new ConnectionError(
        `no answer from the API at ${this.config.baseUrl} within ${this.config.timeoutMs / 1000}s (${method} ${path})`,
      );
    }
    return new ConnectionError(`cannot reach the API at ${this.config.baseUrl}: ${reasonOf(err)}`);
  }
}

/** fetch says only "fetch failed"; the cause holds the useful part (ECONNREFUSED, ENOTFOUND, ...). */
function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown; errors?: { code?: unknown }[] } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
  if (typeof code === 'string' && code) return code;
  return err instanceof Error ? err.message : String(err);
}
