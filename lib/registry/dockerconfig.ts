// Registry credentials from a dockerconfigjson file (`{"auths": {"<host>": {...}}}`), the format
// of `docker login` and of Kubernetes `kubernetes.io/dockerconfigjson` secrets. Error messages
// name the file and the problem, never the file's content: it holds passwords.
import { readFile, stat } from 'node:fs/promises';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface DockerConfigEntry {
  auth?: string;
  username?: string;
  password?: string;
}

export interface DockerConfig {
  auths: Record<string, DockerConfigEntry>;
}

export class DockerConfigError extends Error {
  override readonly name = 'DockerConfigError';
}

/** Parses dockerconfigjson text. Entries that are not objects or have non-string fields are dropped. */
export function parseDockerConfig(text: string): DockerConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the offending input, which may be a password.
    throw new DockerConfigError('dockerconfig is not valid JSON');
  }
  if (!isObject(parsed)) throw new DockerConfigError('dockerconfig must be a JSON object');
  const auths = parsed.auths ?? {};
  if (!isObject(auths)) throw new DockerConfigError('dockerconfig "auths" must be an object');
  const result: Record<string, DockerConfigEntry> = {};
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) continue;
    const clean: DockerConfigEntry = {};
    for (const field of ['auth', 'username', 'password'] as const) {
      const v = entry[field];
      if (typeof v === 'string') clean[field] = v;
    }
    result[key] = clean;
  }
  return { auths: result };
}

/** Keys under which `docker login <host>` and other tools store the entry for `host`. */
export function authKeysFor(host: string): string[] {
  const keys = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  // `docker login` without a host stores Docker Hub under its legacy index URL.
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) keys.push('https://index.docker.io/v1/');
  return keys;
}

/** The first valid entry for `host`; undefined when there is none. */
export function findCredentials(config: DockerConfig, host: string): RegistryCredentials | undefined {
  const wanted = host.toLowerCase();
  const byKey = new Map(Object.entries(config.auths).map(([k, v]) => [k.toLowerCase(), v]));
  for (const key of authKeysFor(wanted)) {
    const entry = byKey.get(key);
    const creds = entry && entryCredentials(entry);
    if (creds) return creds;
  }
  return undefined;
}

/** `auth` (base64 `user:pass`) wins when it decodes; otherwise username + password. */
export function entryCredentials(entry: DockerConfigEntry): RegistryCredentials | undefined {
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth.trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** Reads and parses the file; failures become DockerConfigError. */
export async function readDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DockerConfigError(`cannot read dockerconfig: ${errnoText(err)}`);
  }
  try {
    return parseDockerConfig(text);
  } catch (err) {
    throw new DockerConfigError(`${path}: ${(err as Error).message}`);
  }
}

/** Credentials for `host` from the file at `path`; undefined when the file has no entry for it. */
export async function loadCredentials(path: string, host: string): Promise<RegistryCredentials | undefined> {
  return findCredentials(await readDockerConfig(path), host);
}

/** What the credential-health probe needs to know about the file, gathered without throwing. */
export type DockerConfigFacts =
  | { ok: false; error: string }
  | { ok: true; mtimeMs: number | null; config: DockerConfig | undefined; problem?: string };

export async function inspectDockerConfig(path: string): Promise<DockerConfigFacts> {
  let mtimeMs: number | null;
  try {
    const s = await stat(path);
    mtimeMs = Number.isFinite(s.mtimeMs) && s.mtimeMs > 0 ? s.mtimeMs : null;
  } catch (err) {
    return { ok: false, error: errnoText(err) };
  }
  try {
    return { ok: true, mtimeMs, config: await readDockerConfig(path) };
  } catch (err) {
    return { ok: true, mtimeMs, config: undefined, problem: (err as Error).message };
  }
}

/**
 * Value of Docker's `X-Registry-Auth` header: JSON `{username, password, serveraddress}` in
 * base64url *with* padding, which is what the daemon's decoder (Go base64.URLEncoding) expects.
 */
export function xRegistryAuth(creds: RegistryCredentials, serveraddress: string): string {
  const json = JSON.stringify({ username: creds.username, password: creds.password, serveraddress });
  return Buffer.from(json, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Node's fs messages name the errno, syscall and path; never file content.
function errnoText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
