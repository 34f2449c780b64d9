// A small client for the OCI distribution HTTP API (manifests, blob uploads, index publishing),
// over global fetch. It speaks both auth styles registries use: Basic (distribution with
// htpasswd, many self-hosted registries) and Bearer tokens from a realm (Docker Hub, GHCR,
// Harbor, distribution with token auth).
//
// Errors are RegistryError with a `kind` callers branch on (auth → refresh credentials,
// transport → retry, not_found, remote). Messages name the request, never credentials or tokens.
import { createHash } from 'node:crypto';
import type { RegistryCredentials } from './dockerconfig.js';
import { RegistryReferenceError, assertImageName, isDigest, isTag } from './reference.js';

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const INDEX_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];

/** Without an Accept list the registry may answer with (or down-convert to) schema 1. */
export const DEFAULT_MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

export type RegistryErrorKind = 'auth' | 'not_found' | 'transport' | 'remote';

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth another attempt as is: the network failed or the registry had a server-side problem. */
  get retryable(): boolean {
    if (this.kind === 'transport') return true;
    return this.kind === 'remote' && (this.status === undefined || this.status >= 500 || this.status === 429);
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface IndexEntry extends Descriptor {
  platform: Platform;
}

/** A manifest or index as JSON; only the fields this project reads are typed. */
export interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Array<Partial<Descriptor> & { platform?: Partial<Platform> }>;
  [field: string]: unknown;
}

export interface Manifest extends Descriptor {
  body: ManifestJson;
}

/** The runtime part of an image config; only the fields this project reads are typed. */
export interface ImageConfig {
  Labels?: Record<string, string> | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  User?: string;
}

export interface IndexPlatform {
  digest: string;
  /** `os/arch[/variant]`, or null for entries without a platform (e.g. attestations). */
  platform: string | null;
}

export interface RegistryClientOptions {
  /** `http(s)://host[:port]`, see `apiBase()` in reference.ts. */
  apiBase: string;
  credentials?: RegistryCredentials;
  userAgent?: string;
  fetch?: typeof fetch;
  /** Per HTTP request, including reading the body. */
  timeoutMs?: number;
  /** Aborts every request (e.g. an activity's cancellation signal); its reason is rethrown as is. */
  signal?: AbortSignal;
}

type Body = Uint8Array | string;

interface SendOptions {
  scope?: string;
  headers?: Record<string, string>;
  body?: Body;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function sha256Digest(bytes: Body): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export class RegistryClient {
  private readonly base: URL;
  private readonly credentials: RegistryCredentials | undefined;
  private readonly userAgent: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  /** Set once the registry answered with a Basic challenge: later requests send Basic up front. */
  private basic = false;
  private readonly tokens = new Map<string, { token: string; expiresAtMs: number }>();

  constructor(options: RegistryClientOptions) {
    let base: URL;
    try {
      base = new URL(options.apiBase);
    } catch {
      throw new RegistryReferenceError(`registry API base "${options.apiBase}" is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new RegistryReferenceError(`registry API base must be http(s), got "${base.protocol}"`);
    }
    this.base = new URL(base.origin);
    this.credentials = options.credentials;
    this.userAgent = options.userAgent ?? 'mcp-host/0.1';
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.signal = options.signal;
  }

  /** Checks that `/v2/` answers and accepts our credentials (or anonymous access). */
  async ping(): Promise<{ apiVersion: string | null }> {
    const res = await this.send('GET', '/v2/', {});
    await this.expectOk(res, 'GET /v2/');
    await discard(res);
    return { apiVersion: res.headers.get('docker-distribution-api-version') };
  }

  async getManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = DEFAULT_MANIFEST_ACCEPT,
  ): Promise<Manifest> {
    checkRepo(repo);
    checkReference(reference);
    const what = `GET manifest ${repo}:${reference}`;
    const res = await this.send('GET', `/v2/${repo}/manifests/${reference}`, {
      scope: pullScope(repo),
      headers: { accept: accept.join(', ') },
    });
    await this.expectOk(res, what);
    const bytes = await this.readBytes(res, what);
    const computed = sha256Digest(bytes);
    if (isDigest(reference) && reference.startsWith('sha256:') && reference !== computed) {
      throw new RegistryError('remote', `${what}: content does not match the requested digest`, res.status);
    }
    const body = parseManifest(bytes, what);
    return {
      mediaType: manifestMediaType(res.headers.get('content-type'), body),
      digest: res.headers.get('docker-content-digest') ?? computed,
      size: bytes.byteLength,
      body,
    };
  }

  /** Descriptor of `repo:reference`, or undefined when the registry has no such manifest. */
  async headManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = DEFAULT_MANIFEST_ACCEPT,
  ): Promise<Descriptor | undefined> {
    checkRepo(repo);
    checkReference(reference);
    const what = `HEAD manifest ${repo}:${reference}`;
    const res = await this.send('HEAD', `/v2/${repo}/manifests/${reference}`, {
      scope: pullScope(repo),
      headers: { accept: accept.join(', ') },
    });
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    await this.expectOk(res, what);
    await discard(res);
    const digest = res.headers.get('docker-content-digest');
    const length = Number(res.headers.get('content-length'));
    // The digest header is optional in the spec; without it only the body tells.
    if (!digest || !Number.isSafeInteger(length)) {
      const { body: _body, ...descriptor } = await this.getManifest(repo, reference, accept);
      return descriptor;
    }
    return { mediaType: stripParams(res.headers.get('content-type')) ?? '', digest, size: length };
  }

  /** Uploads the exact bytes as a manifest under a tag or digest. */
  async putManifest(
    repo: string,
    reference: string,
    mediaType: string,
    manifest: Body | ManifestJson,
  ): Promise<Descriptor> {
    checkRepo(repo);
    checkReference(reference);
    const bytes = typeof manifest === 'string' || manifest instanceof Uint8Array ? manifest : JSON.stringify(manifest);
    const computed = sha256Digest(bytes);
    if (isDigest(reference) && reference !== computed) {
      throw new RegistryReferenceError(`manifest bytes do not match the digest reference ${reference}`);
    }
    const what = `PUT manifest ${repo}:${reference}`;
    const res = await this.send('PUT', `/v2/${repo}/manifests/${reference}`, {
      scope: pushScope(repo),
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    await this.expectOk(res, what);
    await discard(res);
    return {
      mediaType,
      digest: res.headers.get('docker-content-digest') ?? computed,
      size: typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength,
    };
  }

  /**
   * Publishes a multi-platform index under `tag`: an OCI image index or a Docker manifest list.
   * Entries keep the media type and size of what was actually pushed (BuildKit may push OCI
   * manifests, and `size` is required by both formats). Returns the index digest.
   */
  async putIndex(repo: string, tag: string, entries: readonly IndexEntry[], format: 'oci' | 'docker'): Promise<string> {
    if (!isTag(tag)) throw new RegistryReferenceError(`tag "${tag}" is invalid`);
    checkIndexEntries(entries);
    const mediaType = format === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList;
    const index = {
      schemaVersion: 2,
      mediaType,
      manifests: entries.map((e) => ({
        mediaType: e.mediaType,
        digest: e.digest,
        size: e.size,
        platform: {
          architecture: e.platform.architecture,
          os: e.platform.os,
          ...(e.platform.variant ? { variant: e.platform.variant } : {}),
        },
      })),
    };
    return (await this.putManifest(repo, tag, mediaType, JSON.stringify(index))).digest;
  }

  /** Deletes a manifest by digest (distribution refuses deletes by tag). */
  async deleteManifest(repo: string, digest: string): Promise<'deleted' | 'not_found'> {
    checkRepo(repo);
    if (!isDigest(digest))
      throw new RegistryReferenceError(`"${digest}" is not a digest; manifests are deleted by digest`);
    const what = `DELETE manifest ${repo}@${digest}`;
    const res = await this.send('DELETE', `/v2/${repo}/manifests/${digest}`, { scope: deleteScope(repo) });
    if (res.status === 404) {
      await discard(res);
      return 'not_found';
    }
    await this.expectOk(res, what);
    await discard(res);
    return 'deleted';
  }

  /**
   * Entries of the index currently under `tag` (for pruning). [] when the tag does not exist or
   * holds a single-platform manifest, since then there is no per-platform entry to prune.
   */
  async listIndexPlatforms(repo: string, tag: string): Promise<IndexPlatform[]> {
    let manifest: Manifest;
    try {
      manifest = await this.getManifest(repo, tag);
    } catch (err) {
      if (err instanceof RegistryError && err.kind === 'not_found') return [];
      throw err;
    }
    if (!INDEX_TYPES.includes(manifest.mediaType) || !Array.isArray(manifest.body.manifests)) return [];
    const result: IndexPlatform[] = [];
    for (const entry of manifest.body.manifests) {
      if (!entry || typeof entry.digest !== 'string' || !entry.digest) continue;
      const p = entry.platform;
      const spec =
        p && typeof p.os === 'string' && p.os && typeof p.architecture === 'string' && p.architecture
          ? [p.os, p.architecture, ...(typeof p.variant === 'string' && p.variant ? [p.variant] : [])].join('/')
          : null;
      result.push({ digest: entry.digest, platform: spec });
    }
    return result;
  }

  /**
   * The image config of `repo:reference` (its labels, ENTRYPOINT, CMD, USER), for `architecture`
   * when the reference is an index (the first linux entry when it has none for it).
   */
  async getImageConfig(repo: string, reference: string, architecture: string): Promise<ImageConfig> {
    let manifest = await this.getManifest(repo, reference);
    if (INDEX_TYPES.includes(manifest.mediaType)) {
      const entries = (manifest.body.manifests ?? []).filter(
        (e) => typeof e.digest === 'string' && e.platform?.os === 'linux',
      );
      const entry = entries.find((e) => e.platform?.architecture === architecture) ?? entries[0];
      if (!entry) throw new RegistryError('not_found', `${repo}:${reference} has no linux image`);
      manifest = await this.getManifest(repo, entry.digest!);
    }
    const digest = manifest.body.config?.digest;
    if (!digest || !isDigest(digest)) throw new RegistryError('remote', `${repo}:${reference} has no image config`);
    const what = `GET config ${repo}@${digest}`;
    const res = await this.send('GET', `/v2/${repo}/blobs/${digest}`, { scope: pullScope(repo) });
    await this.expectOk(res, what);
    const bytes = await this.readBytes(res, what);
    if (digest.startsWith('sha256:') && sha256Digest(bytes) !== digest)
      throw new RegistryError('remote', `${what}: content does not match its digest`, res.status);
    try {
      return (JSON.parse(Buffer.from(bytes).toString('utf8')) as { config?: ImageConfig }).config ?? {};
    } catch {
      throw new RegistryError('remote', `${what}: not JSON`, res.status);
    }
  }

  /** Uploads a blob (config or layer) unless the repository already has it. */
  async uploadBlob(repo: string, data: Body): Promise<{ digest: string; size: number }> {
    checkRepo(repo);
    const digest = sha256Digest(data);
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    const scope = pushScope(repo);

    const head = await this.send('HEAD', `/v2/${repo}/blobs/${digest}`, { scope });
    await discard(head);
    if (head.ok) return { digest, size };
    if (head.status !== 404) await this.expectOk(head, `HEAD blob ${repo}@${digest}`);

    const started = await this.send('POST', `/v2/${repo}/blobs/uploads/`, { scope });
    await this.expectOk(started, `start blob upload to ${repo}`);
    await discard(started);
    const location = started.headers.get('location');
    if (!location)
      throw new RegistryError('remote', `start blob upload to ${repo}: no Location header`, started.status);
    const target = new URL(location, this.base);
    target.searchParams.set('digest', digest);

    const done = await this.send('PUT', target, {
      scope,
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    await this.expectOk(done, `upload blob ${repo}@${digest}`);
    await discard(done);
    return { digest, size };
  }

  // --- HTTP and auth -------------------------------------------------------------------------

  /**
   * One request with at most one auth round: on 401 read the challenge, get Basic or a Bearer
   * token for the scope, and send again. Credentials go only to the registry's own origin.
   */
  private async send(method: string, target: string | URL, options: SendOptions): Promise<Response> {
    const url = typeof target === 'string' ? new URL(target, this.base) : target;
    const ownOrigin = url.origin === this.base.origin;
    const what = `${method} ${url.origin}${url.pathname}`;
    const sent = ownOrigin ? this.cachedAuthorization(options.scope) : undefined;
    const res = await this.fetchOnce(method, url, options, sent, what);
    if (res.status !== 401 || !ownOrigin) return res;

    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    await discard(res);
    const authorization = await this.authorize(challenge, options.scope, sent, what);
    const retried = await this.fetchOnce(method, url, options, authorization, what);
    if (retried.status === 401) {
      await discard(retried);
      throw new RegistryError('auth', `${what}: 401 the registry rejected the credentials`, 401);
    }
    return retried;
  }

  private cachedAuthorization(scope: string | undefined): string | undefined {
    const token = this.tokens.get(scope ?? '');
    if (token && token.expiresAtMs > Date.now()) return `Bearer ${token.token}`;
    if (this.basic && this.credentials) return basicHeader(this.credentials);
    return undefined;
  }

  private async authorize(
    challenge: Challenge | undefined,
    scope: string | undefined,
    sent: string | undefined,
    what: string,
  ): Promise<string> {
    if (challenge?.scheme === 'basic') {
      if (!this.credentials)
        throw new RegistryError('auth', `${what}: 401 the registry requires credentials and none are configured`, 401);
      const header = basicHeader(this.credentials);
      if (sent === header) throw new RegistryError('auth', `${what}: 401 the registry rejected the credentials`, 401);
      this.basic = true;
      return header;
    }
    if (challenge?.scheme === 'bearer') {
      const token = await this.fetchToken(challenge, scope, what);
      return `Bearer ${token}`;
    }
    throw new RegistryError('auth', `${what}: 401 without a Basic or Bearer challenge`, 401);
  }

  /** Token from the challenge's realm (distribution token spec; Docker Hub and GHCR style). */
  private async fetchToken(challenge: Challenge, scope: string | undefined, what: string): Promise<string> {
    const realmText = challenge.params.realm;
    let realm: URL;
    try {
      realm = new URL(realmText ?? '');
    } catch {
      throw new RegistryError('auth', `${what}: Bearer challenge without a valid realm`, 401);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new RegistryError('auth', `${what}: Bearer realm must be http(s)`, 401);
    }
    if (this.credentials && realm.protocol === 'http:' && this.base.protocol === 'https:') {
      throw new RegistryError('auth', `${what}: refusing to send credentials to a plain-http token realm`, 401);
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    // Ask for what this request needs and what the registry said it needs (as containerd does).
    const scopes = new Set([scope, challenge.params.scope].filter((s): s is string => !!s));
    for (const s of scopes) realm.searchParams.append('scope', s);
    if (this.credentials) realm.searchParams.set('account', this.credentials.username);

    const tokenWhat = `GET token ${realm.origin}${realm.pathname}`;
    const res = await this.fetchOnce(
      'GET',
      realm,
      {},
      this.credentials ? basicHeader(this.credentials) : undefined,
      tokenWhat,
    );
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new RegistryError(
        'auth',
        `${tokenWhat}: ${res.status} the token service rejected the credentials`,
        res.status,
      );
    }
    if (!res.ok) throw await this.errorFrom(res, tokenWhat);
    const bytes = await this.readBytes(res, tokenWhat);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new RegistryError('remote', `${tokenWhat}: response is not JSON`, res.status);
    }
    const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || !token)
      throw new RegistryError('remote', `${tokenWhat}: response has no token`, res.status);
    // The token spec's default lifetime is 60 s; keep a margin for clock skew and slow requests.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope ?? '', { token, expiresAtMs: Date.now() + Math.max(lifetime - 10, 1) * 1000 });
    return token;
  }

  private async fetchOnce(
    method: string,
    url: URL,
    options: SendOptions,
    authorization: string | undefined,
    what: string,
  ): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...options.headers };
    if (authorization) headers.authorization = authorization;
    try {
      return await this.fetchImpl(url, { method, headers, body: options.body, signal: this.requestSignal() });
    } catch (err) {
      throw this.transportError(err, what);
    }
  }

  private requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
  }

  private transportError(err: unknown, what: string): unknown {
    if (this.signal?.aborted) return this.signal.reason;
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new RegistryError('transport', `${what}: no answer within ${this.timeoutMs} ms`, undefined, {
        cause: err,
      });
    }
    const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
    const reason = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    return new RegistryError('transport', `${what}: ${reason}`, undefined, { cause: err });
  }

  private async readBytes(res: Response, what: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw this.transportError(err, what);
    }
  }

  private async expectOk(res: Response, what: string): Promise<void> {
    if (!res.ok) throw await this.errorFrom(res, what);
  }

  /** Maps a non-2xx answer; the registry's `{errors: [{code, message}]}` body becomes the reason. */
  private async errorFrom(res: Response, what: string): Promise<RegistryError> {
    let text = '';
    try {
      text = await res.text();
    } catch {
      // The status alone still says what happened.
    }
    const kind: RegistryErrorKind =
      res.status === 401 || res.status === 403 ? 'auth' : res.status === 404 ? 'not_found' : 'remote';
    return new RegistryError(
      kind,
      `${what}: ${res.status} ${describeErrorBody(text) || res.statusText}`.trim(),
      res.status,
    );
  }
}

function describeErrorBody(text: string): string {
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors
        .map((e) => [e.code, e.message].filter((v) => typeof v === 'string' && v).join(': '))
        .join('; ');
    }
  } catch {
    // Not the registry's JSON error shape; fall back to a short excerpt.
  }
  const compact = text.replace(/\s+/g, ' ').trim();
  return compact.length > 200 ? `${compact.slice(0, 200)}…` : compact;
}

/** Parses one `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

function basicHeader(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;
const deleteScope = (repo: string) => `repository:${repo}:delete`;

function checkRepo(repo: string): void {
  assertImageName(repo);
}

function checkReference(reference: string): void {
  if (!isTag(reference) && !isDigest(reference))
    throw new RegistryReferenceError(`"${reference}" is neither a tag nor a digest`);
}

function checkIndexEntries(entries: readonly IndexEntry[]): void {
  if (entries.length === 0) throw new RangeError('an index needs at least one entry');
  const seen = new Set<string>();
  for (const e of entries) {
    if (!isDigest(e.digest)) throw new RangeError(`index entry digest "${e.digest}" is invalid`);
    if (!Number.isSafeInteger(e.size) || e.size <= 0)
      throw new RangeError(`index entry ${e.digest} needs a positive size`);
    if (!e.mediaType) throw new RangeError(`index entry ${e.digest} needs a media type`);
    if (!e.platform.os || !e.platform.architecture)
      throw new RangeError(`index entry ${e.digest} needs platform os and architecture`);
    const spec = [e.platform.os, e.platform.architecture, e.platform.variant ?? ''].join('/');
    if (seen.has(spec)) throw new RangeError(`index lists platform ${spec.replace(/\/$/, '')} twice`);
    seen.add(spec);
  }
}

function parseManifest(bytes: Uint8Array, what: string): ManifestJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new RegistryError('remote', `${what}: manifest is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RegistryError('remote', `${what}: manifest is not a JSON object`);
  }
  return parsed as ManifestJson;
}

function stripParams(contentType: string | null): string | undefined {
  const t = contentType?.split(';')[0]?.trim();
  return t ? t : undefined;
}

/** The served Content-Type, unless it is a generic one; then the manifest's own field. */
function manifestMediaType(contentType: string | null, body: ManifestJson): string {
  const served = stripParams(contentType);
  if (served && served.includes('vnd.')) return served;
  if (typeof body.mediaType === 'string' && body.mediaType) return body.mediaType;
  return served ?? '';
}

/** Frees the connection of a response whose body we do not need. */
async function discard(res: Response): Promise<void> {
  if (res.bodyUsed || !res.body) return;
  await res.body.cancel().catch(() => {});
}
